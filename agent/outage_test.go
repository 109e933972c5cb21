package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/wire"
)

// listen returns a listener that handle serves, closed at the end of the test.
func listen(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().String()
}

// TestClassifyRealFailures provokes each kind of outage for real and checks its class.
func TestClassifyRealFailures(t *testing.T) {
	good, other := sharedPKI(), newTestPKI(t, "other")
	srv := startTLS(t, good)
	goodCA, _ := tlspin.PinnedCA(good.caPEM())
	otherCA, _ := tlspin.PinnedCA(other.caPEM())
	otherFP, _ := tlspin.PinnedCAFingerprint(other.fingerprint(false))
	plain := httptest.NewUnstartedServer(http.NotFoundHandler())
	plain.Config.ErrorLog = quietLog
	plain.Start()
	t.Cleanup(plain.Close)
	block := make(chan struct{}) // closed by the first cleanup, before the servers close
	hanging := startTLSHandler(t, good, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	status := startTLSHandler(t, good, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		http.Error(w, `{"error":{"code":"unavailable","message":"later"}}`, http.StatusServiceUnavailable)
	}))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close() // nothing listens there now
	closing := listen(t, func(c net.Conn) { c.Close() })
	silent := listen(t, func(c net.Conn) {
		<-block
		c.Close()
	})
	proxyRefusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	t.Cleanup(proxyRefusing.Close)
	t.Cleanup(func() { close(block) })

	tests := []struct {
		name  string
		url   string
		tls   *tls.Config
		proxy string
		want  string
	}{
		{"unresolvable name", "https://vigil.invalid:8443", goodCA, "", wire.OutageDNS},
		{"nothing listening", "https://" + refused, goodCA, "", wire.OutageConnect},
		{"listener that closes", "https://" + closing, goodCA, "", wire.OutageConnect},
		{"proxy refuses the tunnel", "https://vigil.test:8443", goodCA, proxyRefusing.URL, wire.OutageConnect},
		{"wrong CA", srv.URL, otherCA, "", wire.OutageTLS},
		{"wrong fingerprint", srv.URL, otherFP, "", wire.OutageTLS},
		{"system roots", srv.URL, nil, "", wire.OutageTLS},
		{"plain HTTP server", strings.Replace(plain.URL, "http:", "https:", 1), goodCA, "", wire.OutageTLS},
		{"no TLS handshake", "https://" + silent, goodCA, "", wire.OutageTimeout},
		{"no answer", hanging.URL, goodCA, "", wire.OutageTimeout},
		{"HTTP status", status.URL, goodCA, "", wire.OutageHTTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			// Short for the servers that never answer; long enough for the others (loading the
			// system roots takes a while under the race detector).
			timeout := 5 * time.Second
			if tt.want == wire.OutageTimeout {
				timeout = 300 * time.Millisecond
			}
			c := newClient(tt.url, tt.tls, timeout, "test", nil)
			proxy := func(*http.Request) (*url.URL, error) { return nil, nil }
			if tt.proxy != "" {
				p, _ := url.Parse(tt.proxy)
				proxy = http.ProxyURL(p)
			}
			c.http = newTransport(transportConfig{server: u, tls: tt.tls, timeout: timeout, proxy: proxy})
			defer c.Close()
			_, err = c.enroll(context.Background(), &wire.EnrollRequest{EnrollmentToken: "enroll-token-1", Hostname: "h"})
			var se *sendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *sendError", err)
			}
			if se.class != tt.want {
				t.Fatalf("class %s, want %s (%v)", se.class, tt.want, err)
			}
			if tt.want == wire.OutageHTTP && (se.status != 503 || se.retryAfter != 7*time.Second || !strings.Contains(se.detail, "unavailable")) {
				t.Fatalf("status %d, retry after %s, detail %q", se.status, se.retryAfter, se.detail)
			}
		})
	}
}

// startTLSHandler serves h over TLS with pki's certificate.
func startTLSHandler(t *testing.T, pki testPKI, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = pki.serverConfig()
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&net.DNSError{Err: "no such host", Name: "x"}, wire.OutageDNS},
		{&url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, wire.OutageConnect},
		{&net.OpError{Op: "proxyconnect", Err: errors.New("refused")}, wire.OutageConnect},
		{context.DeadlineExceeded, wire.OutageTimeout},
		{&tlsHandshakeError{context.DeadlineExceeded}, wire.OutageTimeout},
		{tlspin.ErrFingerprintMismatch, wire.OutageTLS},
		{&tlsHandshakeError{errors.New("tls: no supported versions")}, wire.OutageTLS},
		{&net.OpError{Op: "remote error", Err: tls.AlertError(40)}, wire.OutageTLS},
		{errors.New("tls: looks like TLS but is not typed"), wire.OutageOther},
		{errors.New("weird"), wire.OutageOther},
	}
	for _, tt := range tests {
		if got := classify(tt.err).class; got != tt.want {
			t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}
