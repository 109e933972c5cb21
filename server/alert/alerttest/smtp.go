// Package alerttest provides an in-process SMTP server speaking the real protocol (on
// github.com/emersion/go-smtp) for tests of alert emails: it records every accepted message by
// Message-ID, can be stopped and restarted on the same port (an SMTP outage), and optionally
// serves implicit TLS or STARTTLS and requires authentication. Only tests import it.
package alerttest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted email.
type Message struct {
	From      string
	To        []string
	MessageID string
	Subject   string
	Header    mail.Header
	Raw       []byte
	// Received is when the server accepted it.
	Received time.Time
}

// Options configure a Server.
type Options struct {
	// TLS, when set, serves implicit TLS (smtps) or, with STARTTLS, offers STARTTLS.
	TLS      *tls.Config
	STARTTLS bool
	// User and Pass, when set, require PLAIN authentication with them.
	User, Pass string
	// Delay is how long the server takes to accept each message (a slow server).
	Delay time.Duration
	// ReplyDelay is how long the server waits, after it recorded a message, before it replies
	// 250: a window in which Stop cuts the connection after the server kept the message but
	// before the client learns so (the client must then send it again; see Messages).
	ReplyDelay time.Duration
}

// Server is an in-process SMTP server. It is safe for concurrent use.
type Server struct {
	opts Options
	addr string

	mu      sync.Mutex
	srv     *smtp.Server
	msgs    []Message
	notify  chan struct{}
	running bool
}

// Start listens on 127.0.0.1:0 and serves.
func Start(opts Options) (*Server, error) {
	s := &Server{opts: opts, addr: "127.0.0.1:0", notify: make(chan struct{}, 1)}
	if err := s.Resume(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// Port is the port.
func (s *Server) Port() string {
	_, p, _ := net.SplitHostPort(s.addr)
	return p
}

// Resume starts serving again on the same address after Stop.
func (s *Server) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger for a moment
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("smtp test server: %w", err)
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = s.opts.TLS == nil
	if s.opts.TLS != nil {
		srv.TLSConfig = s.opts.TLS
		if !s.opts.STARTTLS {
			ln = tls.NewListener(ln, s.opts.TLS)
		}
	}
	s.srv, s.running = srv, true
	go srv.Serve(ln)
	return nil
}

// Stop closes the listener and every connection: an SMTP outage until Resume.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.srv.Close()
		s.running = false
	}
}

// Messages returns the accepted messages, oldest first. A message counts once the server kept it,
// which is just before its 250 reply: when Stop cuts a connection in between, the client never
// learns that the server kept the message and sends it again (with the same Message-ID), as it
// must with a real SMTP server.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// CountByMessageID counts accepted messages per Message-ID.
func (s *Server) CountByMessageID() map[string]int {
	out := map[string]int{}
	for _, m := range s.Messages() {
		out[m.MessageID]++
	}
	return out
}

// Wait waits until match holds for the accepted messages or timeout passes, and returns them.
func (s *Server) Wait(timeout time.Duration, match func([]Message) bool) ([]Message, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		msgs := s.Messages()
		if match(msgs) {
			return msgs, true
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			return s.Messages(), false
		}
	}
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

var errAuth = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Pass {
			return errors.New("bad credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && !ss.authed {
		return errAuth
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(ss.s.opts.Delay)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable message"}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	ss.s.add(Message{
		From: ss.from, To: ss.to, MessageID: strings.Trim(msg.Header.Get("Message-Id"), "<>"), Subject: subject,
		Header: msg.Header, Raw: raw, Received: time.Now(),
	})
	time.Sleep(ss.s.opts.ReplyDelay)
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }
