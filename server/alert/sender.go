package alert

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/vigilhq/vigil/server"
)

// SMTP URL schemes.
const (
	SchemeSMTP     = "smtp"          // plain, for a local relay
	SchemeSTARTTLS = "smtp+starttls" // STARTTLS required
	SchemeSMTPS    = "smtps"         // implicit TLS
)

// SMTPTarget is a parsed --smtp-url.
type SMTPTarget struct {
	Scheme, Host string
	Port         int
	User, Pass   string
}

// ParseSMTPURL parses smtp://, smtp+starttls:// or smtps:// [user:pass@]host[:port]. Ports
// default to 25, 587 and 465.
func ParseSMTPURL(raw string) (SMTPTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPTarget{}, fmt.Errorf("SMTP URL: %w", errors.New("not a URL")) // the error would echo the password
	}
	t := SMTPTarget{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname()}
	switch t.Scheme {
	case SchemeSMTP:
		t.Port = 25
	case SchemeSTARTTLS:
		t.Port = 587
	case SchemeSMTPS:
		t.Port = 465
	default:
		return SMTPTarget{}, fmt.Errorf("SMTP URL %s: scheme must be smtp, smtp+starttls or smtps", RedactURL(raw))
	}
	if t.Host == "" {
		return SMTPTarget{}, fmt.Errorf("SMTP URL %s: no host", RedactURL(raw))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPTarget{}, fmt.Errorf("SMTP URL %s: bad port", RedactURL(raw))
		}
		t.Port = n
	}
	if u.User != nil {
		t.User = u.User.Username()
		t.Pass, _ = u.User.Password()
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return SMTPTarget{}, fmt.Errorf("SMTP URL %s: no path or query expected", RedactURL(raw))
	}
	return t, nil
}

// RedactURL returns raw with any password replaced, safe to log.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// SenderConfig configures a Sender. Zero values take the defaults in the comments.
type SenderConfig struct {
	// Store holds the outbox. Required.
	Store Store
	// URL is the SMTP server (see ParseSMTPURL). Required unless Send is set.
	URL string
	// From is the sender address. Required unless Send is set.
	From string
	// TLSConfig is the base TLS configuration (RootCAs for a private CA); ServerName is set from
	// the URL. Defaults to the system roots.
	TLSConfig *tls.Config
	// Send, when set, delivers instead of SMTP (tests).
	Send func(ctx context.Context, n Notification) error
	// Logger defaults to slog.Default(); Now to time.Now.
	Logger *slog.Logger
	Now    func() time.Time
	// Owner names this sender in claims. Defaults to a random ID.
	Owner string
	// Lease is how long a claim holds a notification; it must exceed Timeout. One claim takes
	// only as many notifications as can be sent one after another within it. Default 2m (at
	// least 4 × Timeout).
	Lease time.Duration
	// Metrics records deliveries. nil records nothing.
	Metrics *Metrics
	// Timeout bounds one delivery. Default 30s.
	Timeout time.Duration
	// RetryBase and RetryMax bound the exponential backoff between attempts. Default 10s and 10m.
	RetryBase, RetryMax time.Duration
	// MaxAge: a notification still unsent this long after it was queued is skipped (an email
	// about a day-old failure would mislead). Default 24h.
	MaxAge time.Duration
	// Batch is how many notifications one claim takes. Default 1: a claim is a promise to send within
	// the lease, and if this replica dies, whatever it claimed waits for the lease to run out before
	// another replica sends it, so claiming ahead only delays emails nobody tried yet.
	Batch int
}

// Sender drains the outbox over SMTP. Drain is safe to call from several goroutines and several
// replicas: the store's conditional claim hands each notification to one of them.
type Sender struct {
	cfg    SenderConfig
	target SMTPTarget
	log    *slog.Logger
	wake   chan struct{}

	mu     sync.Mutex
	client *mail.Client
	sendMu sync.Mutex // one SMTP session at a time per Sender
}

// NewSender checks cfg and returns a Sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Store == nil {
		return nil, errors.New("alert: SenderConfig.Store is required")
	}
	s := &Sender{cfg: cfg, wake: make(chan struct{}, 1)}
	if cfg.Send == nil {
		t, err := ParseSMTPURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		if cfg.From == "" {
			return nil, errors.New("alert: a From address (--smtp-from) is required to send email")
		}
		s.target = t
	}
	if s.cfg.Logger == nil {
		s.cfg.Logger = slog.Default()
	}
	if s.cfg.Now == nil {
		s.cfg.Now = time.Now
	}
	if s.cfg.Owner == "" {
		b := make([]byte, 8)
		crand.Read(b)
		s.cfg.Owner = "sender-" + hex.EncodeToString(b)
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = 30 * time.Second
	}
	if s.cfg.Lease <= 0 {
		s.cfg.Lease = max(2*time.Minute, 4*s.cfg.Timeout)
	}
	if s.cfg.Lease <= s.cfg.Timeout {
		return nil, fmt.Errorf("alert: SenderConfig.Lease %s must exceed Timeout %s", s.cfg.Lease, s.cfg.Timeout)
	}
	if s.cfg.RetryBase <= 0 {
		s.cfg.RetryBase = 10 * time.Second
	}
	if s.cfg.RetryMax <= 0 {
		s.cfg.RetryMax = 10 * time.Minute
	}
	if s.cfg.MaxAge <= 0 {
		s.cfg.MaxAge = 24 * time.Hour
	}
	if s.cfg.Batch <= 0 {
		s.cfg.Batch = 1
	}
	s.log = s.cfg.Logger
	return s, nil
}

// Wake makes a waiting Run loop drain at once.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Drain sends every due notification it can claim and returns how many went out. It stops
// claiming when ctx ends or leading returns false, but lets a delivery in progress finish (so
// a shutdown does not abandon an email the SMTP server may already have accepted).
func (s *Sender) Drain(ctx context.Context, leading func() bool) (int, error) {
	sent := 0
	for ctx.Err() == nil && (leading == nil || leading()) {
		now := s.cfg.Now()
		leaseEnd := now.Add(s.cfg.Lease)
		ns, err := s.cfg.Store.ClaimNotifications(ctx, s.cfg.Owner, now, s.cfg.Lease, s.claimBatch())
		if err != nil {
			return sent, fmt.Errorf("claim notifications: %w", err)
		}
		if len(ns) == 0 {
			return sent, nil
		}
		failed := false
		for _, n := range ns {
			// A delivery may start only if it ends (Timeout) while the claim still holds: once
			// the lease is over another replica may claim and send the same email.
			if ctx.Err() != nil || (leading != nil && !leading()) || !s.cfg.Now().Add(s.cfg.Timeout).Before(leaseEnd) {
				// Hand the rest back at once rather than after the lease.
				_ = s.cfg.Store.RetryNotification(context.WithoutCancel(ctx), n.ID, s.cfg.Owner, now, n.LastError)
				continue
			}
			outcome, err := s.deliver(ctx, n)
			s.cfg.Metrics.delivery(outcome)
			if err != nil {
				return sent, err
			}
			switch outcome {
			case delivered:
				sent++
			case deferred:
				failed = true
			}
		}
		if failed {
			// The server is probably down; the failed ones wait for their backoff.
			return sent, nil
		}
	}
	return sent, nil
}

// finishRetries are the pauses between attempts to record a delivery's outcome.
var finishRetries = []time.Duration{250 * time.Millisecond, time.Second, 2 * time.Second, 0}

// claimBatch is how many notifications one claim takes: Batch, but no more than can be delivered
// one after another, each taking up to Timeout, within the Lease.
func (s *Sender) claimBatch() int {
	fit := int(s.cfg.Lease/s.cfg.Timeout) - 1
	return max(1, min(s.cfg.Batch, fit))
}

// deliveryOutcome is what became of one claimed notification.
type deliveryOutcome int

const (
	delivered deliveryOutcome = iota // the SMTP server accepted it
	skipped                          // nobody to send it to, or too old to help: recorded, never sent
	deferred                         // sending failed; retried after its backoff
)

// deliver sends one claimed notification and records the outcome.
func (s *Sender) deliver(ctx context.Context, n Notification) (deliveryOutcome, error) {
	bg := context.WithoutCancel(ctx)
	now := s.cfg.Now()
	finish := func(outcome, note string) error {
		// Once the SMTP server accepted the email, failing to record that means sending it again
		// when the claim expires: retry a passing store error (not a lost claim) a few times.
		var err error
		for i, wait := range finishRetries {
			if err = s.cfg.Store.FinishNotification(bg, n.ID, s.cfg.Owner, outcome, s.cfg.Now(), note); err == nil || errors.Is(err, server.ErrConflict) {
				break
			}
			if i < len(finishRetries)-1 {
				s.log.WarnContext(ctx, "Recording an alert email's outcome failed; retrying.", "key", n.Key, logKeyErr, err)
				time.Sleep(wait)
			}
		}
		if err != nil {
			return fmt.Errorf("record notification %d: %w", n.ID, err)
		}
		return nil
	}
	if len(n.To) == 0 {
		s.log.WarnContext(ctx, "Alert email has no recipients; set --alert-email or a group's alert emails.", "key", n.Key)
		return skipped, finish(NotifySkipped, "no recipients configured")
	}
	if now.Sub(n.CreatedAt) > s.cfg.MaxAge {
		s.log.WarnContext(ctx, "Alert email too old to send; skipped.", "key", n.Key, "queued", n.CreatedAt, "attempts", n.Attempts-1, "last_err", n.LastError)
		return skipped, finish(NotifySkipped, fmt.Sprintf("expired after %d attempts; last error: %s", n.Attempts-1, n.LastError))
	}
	sendCtx, cancel := context.WithTimeout(bg, s.cfg.Timeout)
	err := s.send(sendCtx, n)
	cancel()
	if err != nil {
		backoff := s.cfg.RetryBase << min(n.Attempts-1, 20)
		if backoff > s.cfg.RetryMax || backoff <= 0 {
			backoff = s.cfg.RetryMax
		}
		backoff += time.Duration(rand.Int64N(int64(backoff)/10 + 1)) // 10% jitter: replicas and retries spread
		msg := truncate(err.Error(), 500)
		s.log.WarnContext(ctx, "Sending alert email failed; will retry.", "key", n.Key, "attempt", n.Attempts, "retry_in", backoff, logKeyErr, msg)
		if rerr := s.cfg.Store.RetryNotification(bg, n.ID, s.cfg.Owner, now.Add(backoff), msg); rerr != nil {
			return deferred, fmt.Errorf("reschedule notification %d: %w", n.ID, rerr)
		}
		return deferred, nil
	}
	s.log.InfoContext(ctx, "Alert email sent.", "key", n.Key, "to", strings.Join(n.To, ","), "subject", n.Subject)
	return delivered, finish(NotifySent, "")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// send delivers through cfg.Send or SMTP.
func (s *Sender) send(ctx context.Context, n Notification) error {
	if s.cfg.Send != nil {
		return s.cfg.Send(ctx, n)
	}
	m := mail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return fmt.Errorf("from address: %w", err)
	}
	if err := m.To(n.To...); err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	m.Subject(n.Subject)
	m.SetMessageIDWithValue(n.MessageID)
	m.SetDateWithValue(n.CreatedAt)
	m.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	m.SetGenHeader(mail.Header("X-Vigil-Alert"), n.AlertKey)
	m.SetBodyString(mail.TypeTextPlain, n.Text)
	if n.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, n.HTML)
	}
	c, err := s.smtpClient()
	if err != nil {
		return err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	err = c.DialAndSendWithContext(ctx, m)
	if err != nil && m.IsDelivered() {
		// The server accepted the message (250 after DATA); what failed came after it (RSET or
		// QUIT, a connection cut). Sending again would deliver it twice.
		s.log.WarnContext(ctx, "SMTP session ended badly after the server accepted the alert email; not resending.", "key", n.Key, logKeyErr, err)
		return nil
	}
	return err
}

// smtpClient returns the go-mail client, made once.
func (s *Sender) smtpClient() (*mail.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	t := s.target
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLSConfig != nil {
		tc = s.cfg.TLSConfig.Clone()
	}
	tc.ServerName = t.Host
	opts := []mail.Option{mail.WithPort(t.Port), mail.WithTimeout(s.cfg.Timeout), mail.WithTLSConfig(tc)}
	switch t.Scheme {
	case SchemeSMTP:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case SchemeSTARTTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case SchemeSMTPS:
		opts = append(opts, mail.WithSSL())
	}
	if t.User != "" {
		// Over TLS, the strongest mechanism the server offers. Over plain smtp://, PLAIN, which
		// go-mail sends only to localhost: a password never crosses a network in the clear.
		auth := mail.SMTPAuthAutoDiscover
		if t.Scheme == SchemeSMTP {
			auth = mail.SMTPAuthPlain
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(t.User), mail.WithPassword(t.Pass))
	}
	c, err := mail.NewClient(t.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP client for %s: %w", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), err)
	}
	s.client = c
	return c, nil
}
