package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rawConn is one host's keep-alive HTTP/1.1 connection without net/http (--client raw): the
// host's goroutine writes the request and reads the answer itself on its own tls.Conn, as
// agent/httpclient.go does. net/http gives every connection a read and a write goroutine, which
// costs four goroutine hand-offs and ~40 KB a host; see docs/BENCHMARKS.md for the comparison.
// The server sees the same thing either way: one long-lived HTTP/1.1 TLS connection per host.
//
// It handles what vigil-server answers: a status line, headers, a body framed by Content-Length,
// chunked encoding or the end of the connection, bounded by maxAnswerBytes. A rawConn is NOT safe
// for concurrent use.
type rawConn struct {
	addr, host string
	tls        *tls.Config
	timeout    time.Duration

	conn *tls.Conn
	br   *bufio.Reader
	wbuf []byte
	body []byte
}

var errProto = errors.New("malformed HTTP answer")

func (c *rawConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

func (c *rawConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	tc := tls.Client(nc, c.tls)
	hctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return err
	}
	c.conn, c.br = tc, bufio.NewReaderSize(tc, 4096)
	return nil
}

// roundTrip sends one request with the given header block (lines ending in \r\n) and returns the
// status, the Retry-After header and the body (valid until the next call). A request on a reused
// connection the server had closed (nothing at all read back) is retried once on a new one: both
// requests the simulator makes on it, reports (deduplicated by seq) and desired, are idempotent,
// and enrollment always runs on a fresh connection, which is never retried.
func (c *rawConn) roundTrip(ctx context.Context, method, path string, hdr []byte, body []byte) (int, string, []byte, error) {
	for attempt := 0; ; attempt++ {
		fresh := c.conn == nil
		if fresh {
			if err := c.dial(ctx); err != nil {
				return 0, "", nil, err
			}
		}
		deadline := time.Now().Add(c.timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		c.conn.SetDeadline(deadline)
		conn := c.conn
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		w := append(c.wbuf[:0], method...)
		w = append(w, ' ')
		w = append(w, path...)
		w = append(w, " HTTP/1.1\r\nHost: "...)
		w = append(w, c.host...)
		w = append(w, "\r\n"...)
		w = append(w, hdr...)
		if body != nil {
			w = append(w, "Content-Length: "...)
			w = strconv.AppendInt(w, int64(len(body)), 10)
			w = append(w, "\r\n"...)
		}
		w = append(w, "\r\n"...)
		w = append(w, body...)
		c.wbuf = w
		_, err := c.conn.Write(w)
		var gotAny bool
		var status int
		var retryAfter string
		var keep bool
		if err == nil {
			_, perr := c.br.Peek(1)
			gotAny = perr == nil
			if perr != nil {
				err = perr
			} else {
				status, retryAfter, keep, err = c.readResponse()
			}
		}
		stop()
		if cap(c.wbuf) > 64<<10 {
			c.wbuf = nil // do not keep a replay-sized buffer
		}
		if err != nil {
			c.close()
			if !fresh && !gotAny && attempt == 0 && ctx.Err() == nil {
				continue // the server closed the idle connection
			}
			return 0, "", nil, err
		}
		if !keep {
			c.close()
		}
		return status, retryAfter, c.body, nil
	}
}

func (c *rawConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: header line too long", errProto)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func (c *rawConn) readResponse() (status int, retryAfter string, keep bool, err error) {
	for {
		line, err := c.readLine()
		if err != nil {
			return 0, "", false, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[12-4] != ' ' {
			return 0, "", false, fmt.Errorf("%w: status line %q", errProto, line)
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return 0, "", false, fmt.Errorf("%w: status line %q", errProto, line)
		}
		keep = line[7] == '1'
		cl, chunked := int64(-1), false
		for n := 0; ; n++ {
			h, err := c.readLine()
			if err != nil {
				return 0, "", false, err
			}
			if len(h) == 0 {
				break
			}
			if n > 100 {
				return 0, "", false, fmt.Errorf("%w: too many headers", errProto)
			}
			name, value, ok := bytes.Cut(h, []byte(":"))
			if !ok {
				return 0, "", false, fmt.Errorf("%w: header %q", errProto, h)
			}
			value = bytes.TrimSpace(value)
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				if cl, err = strconv.ParseInt(string(value), 10, 64); err != nil || cl < 0 {
					return 0, "", false, fmt.Errorf("%w: Content-Length %q", errProto, value)
				}
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				chunked = bytes.EqualFold(value, []byte("chunked"))
				if !chunked {
					return 0, "", false, fmt.Errorf("%w: Transfer-Encoding %q", errProto, value)
				}
			case bytes.EqualFold(name, []byte("Connection")):
				if bytes.EqualFold(value, []byte("close")) {
					keep = false
				}
			case bytes.EqualFold(name, []byte("Retry-After")):
				retryAfter = string(value)
			}
		}
		if status >= 100 && status < 200 {
			continue // an interim answer; the real one follows
		}
		c.body = c.body[:0]
		switch {
		case chunked:
			err = c.readChunked()
		case cl >= 0:
			if cl > maxAnswerBytes {
				return 0, "", false, fmt.Errorf("%w: answer of %d bytes", errProto, cl)
			}
			c.body = grow(c.body, int(cl))
			_, err = io.ReadFull(c.br, c.body)
		default:
			keep = false
			c.body, err = io.ReadAll(io.LimitReader(c.br, maxAnswerBytes))
		}
		return status, retryAfter, keep, err
	}
}

func (c *rawConn) readChunked() error {
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errProto, line)
		}
		if n == 0 {
			for { // trailers
				t, err := c.readLine()
				if err != nil || len(t) == 0 {
					return err
				}
			}
		}
		if int64(len(c.body))+n > maxAnswerBytes {
			return fmt.Errorf("%w: answer over %d bytes", errProto, maxAnswerBytes)
		}
		start := len(c.body)
		c.body = grow(c.body, start+int(n))
		if _, err := io.ReadFull(c.br, c.body[start:]); err != nil {
			return err
		}
		if crlf, err := c.readLine(); err != nil || len(crlf) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errProto)
		}
	}
}

// grow returns b resized to n bytes, reusing its array when it is large enough.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return append(b[:cap(b)], make([]byte, n-cap(b))...)[:n]
}
