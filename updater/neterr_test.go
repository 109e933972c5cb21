package updater

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/tlspin/tlspintest"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
	"github.com/vigilhq/vigil/wire"
)

const trustTestCredential = "trust-test-credential"

// trustServer serves a signed repository under /tuf/ and the desired-version API, over TLS with a
// certificate of ca for localhost and 127.0.0.1.
func trustServer(t *testing.T, ca *tlspintest.CA, repo *tuftest.Repo) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/tuf/", repo.Handler())
	mux.HandleFunc("GET /api/v1/updates/desired", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+trustTestCredential {
			http.Error(w, `{"error":{"code":"unauthorized","message":"no"}}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(wire.UpdateDesired{Version: "1.2.3"})
	})
	return tlspintest.Server(t, ca.Leaf(t, "localhost", "127.0.0.1"), mux)
}

// newTrustUpdater builds an Updater for the server at srvURL with its host replaced by host,
// verifying it with tc, the way vigil-updater builds one from --ca or --ca-fingerprint.
func newTrustUpdater(t *testing.T, srvURL, host string, tc *tls.Config, root []byte) *Updater {
	t.Helper()
	u, err := url.Parse(srvURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort(host, u.Port())
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, agentDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, agentDir, "credential"), []byte(trustTestCredential), 0o600); err != nil {
		t.Fatal(err)
	}
	up, err := New(Config{
		Server:      u.String(),
		StateDir:    state,
		TrustedRoot: root,
		HTTP: HTTPConfig{TLS: tc, ConnectTimeout: 2 * time.Second, TLSHandshakeTimeout: 2 * time.Second,
			ResponseHeaderTimeout: time.Second, RequestTimeout: 3 * time.Second},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// pinModes returns tls.Configs pinning ca as vigil-updater's --ca and --ca-fingerprint do.
func pinModes(t *testing.T, ca *tlspintest.CA) map[string]*tls.Config {
	t.Helper()
	byFile, err := tlspin.PinnedCA(ca.PEM)
	if err != nil {
		t.Fatal(err)
	}
	byFP, err := tlspin.PinnedCAFingerprint(tlspin.Fingerprint(ca.Cert.Raw))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*tls.Config{"ca": byFile, "ca-fingerprint": byFP}
}

// TestServerTrust: the updater's API client and TUF client both verify the server with --ca and
// with --ca-fingerprint, whether --server names it by IP address or by DNS name.
func TestServerTrust(t *testing.T) {
	ca := tlspintest.NewCA(t)
	repo := tuftest.New(t)
	srv := trustServer(t, ca, repo)
	for mode, tc := range pinModes(t, ca) {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			t.Run(mode+"/"+host, func(t *testing.T) {
				u := newTrustUpdater(t, srv.URL, host, tc, repo.RootJSON(1))
				d, err := u.api.desired(t.Context())
				if err != nil {
					t.Fatalf("desired: %v", err)
				}
				if d.Version != "1.2.3" {
					t.Errorf("desired = %+v", d)
				}
				if _, err := u.tuf.Refresh(t.Context()); err != nil {
					t.Fatalf("refresh: %v", err)
				}
			})
		}
	}
}

// TestServerTrustRefused: a server whose certificate is from another CA is refused by both pinning
// modes and both clients, as a TLS failure (not "unavailable"); a fingerprint pin says it did not
// match.
func TestServerTrustRefused(t *testing.T) {
	pinned := tlspintest.NewCA(t)
	repo := tuftest.New(t)
	srv := trustServer(t, tlspintest.NewCA(t), repo)
	for mode, tc := range pinModes(t, pinned) {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			t.Run(mode+"/"+host, func(t *testing.T) {
				u := newTrustUpdater(t, srv.URL, host, tc, repo.RootJSON(1))
				_, derr := u.api.desired(t.Context())
				_, rerr := u.tuf.Refresh(t.Context())
				for what, err := range map[string]error{"desired": derr, "refresh": rerr} {
					var re *RequestError
					if !errors.Is(err, ErrTLS) || !errors.As(err, &re) || errors.Is(err, ErrUnavailable) {
						t.Errorf("%s: err = %v, want ErrTLS in a *RequestError, not ErrUnavailable", what, err)
					}
					if mode == "ca-fingerprint" && !errors.Is(err, tlspin.ErrFingerprintMismatch) {
						t.Errorf("%s: err = %v, want tlspin.ErrFingerprintMismatch", what, err)
					}
				}
			})
		}
	}
}

// TestRequestErrorClasses: each way of not getting an answer has its own class; all but TLS are
// "unavailable" (try again later).
func TestRequestErrorClasses(t *testing.T) {
	ca := tlspintest.NewCA(t)
	tc, err := tlspin.PinnedCAFingerprint(tlspin.Fingerprint(ca.Cert.Raw))
	if err != nil {
		t.Fatal(err)
	}
	status := func(code int) string {
		return tlspintest.Server(t, ca.Leaf(t, "127.0.0.1"), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":{"code":"x","message":"y"}}`, code)
		})).URL
	}
	hang := make(chan struct{})
	slow := tlspintest.Server(t, ca.Leaf(t, "127.0.0.1"), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		<-hang
	})).URL
	t.Cleanup(func() { close(hang) }) // before the server's Close, which waits for the handler
	// A port that answers in something else than TLS (not HTTP either: net/http reports an HTTP
	// answer to an HTTPS request with an untyped error, which falls back to ErrUnavailable).
	notTLS, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notTLS.Close() })
	go func() {
		for {
			c, err := notTLS.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n\x00\x00\x00\x00\x00\x00\x00\x00"))
			c.Close()
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()

	for _, tt := range []struct {
		name        string
		server      string
		class       error
		unavailable bool
	}{
		{"connection refused", closed, ErrConnect, true},
		{"no such host", "https://vigil-test.invalid:8443", ErrDNS, true},
		{"not TLS", "https://" + notTLS.Addr().String(), ErrTLS, false},
		{"503", status(http.StatusServiceUnavailable), ErrHTTPStatus, true},
		{"429", status(http.StatusTooManyRequests), ErrHTTPStatus, true},
		{"401", status(http.StatusUnauthorized), ErrHTTPStatus, false},
		{"no response headers", slow, ErrTimeout, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.server)
			if err != nil {
				t.Fatal(err)
			}
			up := newTrustUpdater(t, tt.server, u.Hostname(), tc, nil)
			_, err = up.api.desired(t.Context())
			if !errors.Is(err, tt.class) {
				t.Fatalf("err = %v, want %v", err, tt.class)
			}
			if got := errors.Is(err, ErrUnavailable); got != tt.unavailable {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tt.unavailable)
			}
			for _, other := range []error{ErrTLS, ErrDNS, ErrConnect, ErrTimeout, ErrHTTPStatus} {
				if other != tt.class && errors.Is(err, other) {
					t.Errorf("err = %v also matches %v", err, other)
				}
			}
		})
	}
}

// TestRequestClassTimeoutContext: a whole-request deadline is a timeout too.
func TestRequestClassTimeoutContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1:1/", nil)
	_, err := http.DefaultClient.Do(req)
	if got := requestError(err); !errors.Is(got, ErrTimeout) || !errors.Is(got, ErrUnavailable) {
		t.Fatalf("requestError(%v) = %v, want ErrTimeout", err, got)
	}
}
