package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bruteEnv is an API with the default brute-force limits over a real SQLite store, on a clock
// the test moves, logging into a buffer.
type bruteEnv struct {
	svc   *server.Service
	base  string
	log   *syncBuffer
	admin string

	mu  sync.Mutex
	now time.Time
}

func newBruteEnv(t *testing.T) *bruteEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &bruteEnv{log: &syncBuffer{}, now: time.Now()}
	log := slog.New(slog.NewTextHandler(e.log, nil))
	if e.svc, err = server.New(server.Config{Store: st, Logger: log}); err != nil {
		t.Fatal(err)
	}
	e.svc.Start(t.Context())
	t.Cleanup(e.svc.Close)
	a, err := New(Config{Service: e.svc, Logger: log, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	t.Cleanup(hs.Close)
	e.base = hs.URL
	if e.admin, _, err = e.svc.CreateAPIToken(ctx, server.Principal{Name: "test", Role: server.RoleAdmin}, "admin", server.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *bruteEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *bruteEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// do sends a request from source address from (127.0.0.x) and returns status, Retry-After and body.
func (e *bruteEnv) do(t *testing.T, from, method, path, bearer string, body any) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestBruteForceAPITokens: bad API tokens from one address are answered 401 DefaultFailureBurst
// times, then 429 with Retry-After, even for a good token from that address, until the address
// has earned attempts back; other addresses are not affected; each failure is logged at WARN with
// the address and a hash prefix, never the token.
func TestBruteForceAPITokens(t *testing.T) {
	e := newBruteEnv(t)
	const attacker, other = "127.0.0.2", "127.0.0.3"
	for i := range DefaultFailureBurst {
		if st, _, body := e.do(t, attacker, "GET", "/api/v1/hosts", fmt.Sprintf("vgt_guess-%d", i), nil); st != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s, want 401", i, st, body)
		}
	}
	st, ra, body := e.do(t, attacker, "GET", "/api/v1/hosts", "vgt_guess-next", nil)
	if st != http.StatusTooManyRequests || ra == "" || !strings.Contains(body, api.CodeRateLimited) {
		t.Fatalf("guess past the burst: %d Retry-After %q %s, want 429 with Retry-After", st, ra, body)
	}
	if st, _, _ := e.do(t, attacker, "GET", "/api/v1/hosts", e.admin, nil); st != http.StatusTooManyRequests {
		t.Fatalf("good token from the blocked address: %d, want 429", st)
	}
	if st, _, body := e.do(t, other, "GET", "/api/v1/hosts", e.admin, nil); st != http.StatusOK {
		t.Fatalf("good token from another address: %d %s", st, body)
	}
	// Attempts come back at DefaultFailureRate per second.
	e.advance(time.Duration(float64(time.Second) * 2 / DefaultFailureRate))
	if st, _, body := e.do(t, attacker, "GET", "/api/v1/hosts", e.admin, nil); st != http.StatusOK {
		t.Fatalf("good token after the address slowed down: %d %s", st, body)
	}

	logs := e.log.String()
	if n := strings.Count(logs, `msg="Authentication failed."`); n != DefaultFailureBurst {
		t.Errorf("%d failures logged, want %d", n, DefaultFailureBurst)
	}
	for _, want := range []string{"level=WARN", "remote_addr=127.0.0.2:", "kind=api_token", "secret_sha256_prefix=" + secretID("vgt_guess-0"),
		`msg="Too many failed authentications; answering 429 until they slow down."`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "vgt_guess") || strings.Contains(logs, e.admin) {
		t.Errorf("a token appears in the log:\n%s", logs)
	}
	// The flood of 429s is logged once per key, not once per attempt.
	if n := strings.Count(logs, "Too many failed authentications"); n != 1 {
		t.Errorf("429 logged %d times, want once", n)
	}
}

// TestBruteForceHostCredential: one revoked host credential retried from many addresses is
// limited by itself (per credential), while the addresses stay free for other hosts; revoked and
// unknown credentials get the same status and body.
func TestBruteForceHostCredential(t *testing.T) {
	e := newBruteEnv(t)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	enroll := func(name string) wire.EnrollResponse {
		tok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 1)
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	revoked, good := enroll("gone"), enroll("good")
	if err := e.svc.RevokeHost(ctx, boot, revoked.HostID); err != nil {
		t.Fatal(err)
	}

	stRevoked, _, bodyRevoked := e.do(t, "127.0.0.2", "GET", "/api/v1/updates/desired", revoked.Credential, nil)
	stUnknown, _, bodyUnknown := e.do(t, "127.0.0.2", "GET", "/api/v1/updates/desired", "vgh_"+strings.Repeat("A", 43), nil)
	if stRevoked != http.StatusUnauthorized || stRevoked != stUnknown || bodyRevoked != bodyUnknown {
		t.Fatalf("revoked: %d %s; unknown: %d %s; want the same 401", stRevoked, bodyRevoked, stUnknown, bodyUnknown)
	}
	if !strings.Contains(e.log.String(), "reason=revoked") {
		t.Errorf("the log does not tell the operator the credential was revoked:\n%s", e.log.String())
	}

	// The revoked credential from ten addresses, a few attempts each: the credential runs out.
	used := 1
	for i := 0; used < DefaultFailureBurst; i++ {
		from := fmt.Sprintf("127.0.1.%d", i%10+1)
		if st, _, body := e.do(t, from, "GET", "/api/v1/updates/desired", revoked.Credential, nil); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s, want 401", used, st, body)
		}
		used++
	}
	if st, ra, _ := e.do(t, "127.0.1.11", "GET", "/api/v1/updates/desired", revoked.Credential, nil); st != http.StatusTooManyRequests || ra == "" {
		t.Fatalf("revoked credential past its burst from a fresh address: %d Retry-After %q, want 429", st, ra)
	}
	// Those addresses are not blocked: the good host still reports from one of them.
	if st, _, body := e.do(t, "127.0.1.1", "GET", "/api/v1/updates/desired", good.Credential, nil); st != http.StatusOK {
		t.Fatalf("good host from an address the revoked one used: %d %s", st, body)
	}
	if strings.Contains(e.log.String(), revoked.Credential) {
		t.Error("the credential appears in the log")
	}
}

// TestBruteForceEnroll: bad enrollment tokens are limited per address like the rest, so a flood
// of /enroll attempts reaches the store DefaultFailureBurst times, then gets 429.
func TestBruteForceEnroll(t *testing.T) {
	e := newBruteEnv(t)
	req := func(i int) wire.EnrollRequest {
		return wire.EnrollRequest{EnrollmentToken: fmt.Sprintf("vge_guess-%d", i), Hostname: "h", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}
	}
	for i := range DefaultFailureBurst {
		if st, _, body := e.do(t, "127.0.0.2", "POST", "/api/v1/enroll", "", req(i)); st != http.StatusUnauthorized || !strings.Contains(body, api.CodeTokenInvalid) {
			t.Fatalf("attempt %d: %d %s", i, st, body)
		}
	}
	if st, ra, _ := e.do(t, "127.0.0.2", "POST", "/api/v1/enroll", "", req(99)); st != http.StatusTooManyRequests || ra == "" {
		t.Fatalf("past the burst: %d Retry-After %q, want 429", st, ra)
	}
	// The pre-enrollment read of the desired version shares the enrollment-token limit.
	if st, _, _ := e.do(t, "127.0.0.2", "GET", "/api/v1/updates/desired", "vge_guess-x", nil); st != http.StatusTooManyRequests {
		t.Fatalf("desired with an enrollment token from the blocked address: %d, want 429", st)
	}
	logs := e.log.String()
	if !strings.Contains(logs, "kind=enrollment_token") || strings.Contains(logs, "vge_guess") {
		t.Errorf("enrollment failures not logged, or logged with the token:\n%s", logs)
	}
}

// TestFailureLimiterBounded: however many addresses and secrets fail, the limiter tracks at most
// maxFailureKeys of them, and dropping refilled buckets first keeps a blocked client blocked.
func TestFailureLimiterBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newFailureLimiter(DefaultFailureRate, DefaultFailureBurst, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	for range DefaultFailureBurst {
		l.failed(r, kindAPIToken, "vgt_same", server.ErrUnauthorized)
	}
	if !l.blocked(r, kindAPIToken, "vgt_other") {
		t.Fatal("address not blocked after its burst")
	}
	// A spray of failures from ever new addresses (one each), while the blocked address keeps
	// failing a little faster than it earns attempts back.
	for i := range 3 * maxFailureKeys {
		o := httptest.NewRequest("GET", "/", nil)
		o.RemoteAddr = fmt.Sprintf("[2001:db8:%x::1]:1", i)
		l.failed(o, kindAPIToken, fmt.Sprintf("vgt_%d", i), server.ErrUnauthorized)
		if i%1000 == 0 {
			now = now.Add(2 * time.Second)
			for range 3 {
				l.failed(r, kindAPIToken, "vgt_same", server.ErrUnauthorized)
			}
		}
		if n := l.tracked(); n > maxFailureKeys {
			t.Fatalf("tracking %d keys, limit %d", n, maxFailureKeys)
		}
	}
	if !l.blocked(r, kindAPIToken, "vgt_other") {
		t.Error("the persistently failing address was forgotten")
	}
	// A request without a secret counts against its address only: tokenless requests from
	// everywhere do not share one bucket.
	fresh := newFailureLimiter(DefaultFailureRate, DefaultFailureBurst, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	n := httptest.NewRequest("GET", "/", nil)
	n.RemoteAddr = "198.51.100.7:1"
	fresh.failed(n, kindAPIToken, "", server.ErrUnauthorized)
	if got := fresh.tracked(); got != 1 {
		t.Errorf("a failure without a secret tracks %d keys, want 1 (its address)", got)
	}
	// IPv6 addresses in one /64 share a bucket.
	a, b := httptest.NewRequest("GET", "/", nil), httptest.NewRequest("GET", "/", nil)
	a.RemoteAddr, b.RemoteAddr = "[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:2"
	if sourceKey(a) != sourceKey(b) {
		t.Errorf("%s and %s are in one /64 but have keys %s and %s", a.RemoteAddr, b.RemoteAddr, sourceKey(a), sourceKey(b))
	}
}
