package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRawConn(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			if r.Header.Get("Authorization") != "Bearer c" || r.Host == "" {
				http.Error(w, "headers", http.StatusBadRequest)
				return
			}
			w.Write(body)
		case "/chunked":
			for i := range 3 {
				io.WriteString(w, strings.Repeat(string(rune('a'+i)), 3000))
				w.(http.Flusher).Flush()
			}
		case "/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-CA case makes the server log a failed handshake
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	addr := strings.TrimPrefix(srv.URL, "https://")
	c := &rawConn{addr: addr, host: addr, tls: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, timeout: 5 * time.Second}
	defer c.close()
	ctx := context.Background()
	hdr := []byte("Authorization: Bearer c\r\n")

	status, _, b, err := c.roundTrip(ctx, "POST", "/echo", hdr, []byte(`{"x":1}`))
	if err != nil || status != 200 || string(b) != `{"x":1}` {
		t.Fatalf("echo: %d %q %v", status, b, err)
	}
	status, _, b, err = c.roundTrip(ctx, "GET", "/chunked", hdr, nil)
	if err != nil || status != 200 || len(b) != 9000 || b[8999] != 'c' {
		t.Fatalf("chunked: %d, %d bytes, %v", status, len(b), err)
	}
	status, ra, _, err := c.roundTrip(ctx, "POST", "/busy", hdr, []byte("{}"))
	if err != nil || status != 503 || ra != "7" {
		t.Fatalf("busy: %d Retry-After %q %v", status, ra, err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for three requests; want one kept alive", n)
	}
	// The server closes idle connections: the next request goes on a new one, transparently.
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	if status, _, b, err = c.roundTrip(ctx, "POST", "/echo", hdr, []byte("again")); err != nil || status != 200 || string(b) != "again" {
		t.Fatalf("after the server closed the connection: %d %q %v", status, b, err)
	}
	if status, _, _, err = c.roundTrip(ctx, "GET", "/close", hdr, nil); err != nil || status != 200 || c.conn != nil {
		t.Fatalf("Connection: close: %d %v, connection kept %v", status, err, c.conn != nil)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	// A pinned CA that does not match fails as a TLS error.
	bad := &rawConn{addr: addr, host: addr, tls: &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "127.0.0.1"}, timeout: 5 * time.Second}
	if _, _, _, err := bad.roundTrip(ctx, "GET", "/echo", hdr, nil); err == nil || classify(err).kind != "tls" {
		t.Errorf("untrusted server: err %v (kind %v), want a tls error", err, classify(err).kind)
	}
}
