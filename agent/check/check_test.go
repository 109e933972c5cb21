package check

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// waitResults starts a runner for specs and returns the first result of each check.
func waitResults(t *testing.T, specs ...Spec) map[string]wire.CheckResult {
	t.Helper()
	ch := make(chan wire.CheckResult, 16*len(specs))
	r, err := New(Config{Specs: specs, OnResult: func(res wire.CheckResult) { ch <- res }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r.Start(ctx)
	got := map[string]wire.CheckResult{}
	deadline := time.After(time.Minute) // a bound on a broken test, not a timing assertion
	for len(got) < len(specs) {
		select {
		case res := <-ch:
			if _, ok := got[res.Name]; !ok {
				if err := res.Validate(); err != nil {
					t.Errorf("result %+v is not a valid wire.CheckResult: %v", res, err)
				}
				got[res.Name] = res
			}
		case <-deadline:
			t.Fatalf("only %d of %d checks gave a result: %v", len(got), len(specs), got)
		}
	}
	return got
}

func wantResult(t *testing.T, got map[string]wire.CheckResult, name string, ok bool, msg string) wire.CheckResult {
	t.Helper()
	res := got[name]
	if res.OK != ok || !strings.Contains(res.Message, msg) {
		t.Errorf("%s: ok=%v message %q; want ok=%v and a message containing %q", name, res.OK, res.Message, ok, msg)
	}
	return res
}

// silentListener accepts TCP connections and never writes to them: a target that never answers.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := waitResults(t,
		Spec{Name: "up", Kind: wire.CheckTCP, Target: ln.Addr().String()},
		Spec{Name: "down", Kind: wire.CheckTCP, Target: closedPort(t)},
	)
	up := wantResult(t, got, "up", true, "connected")
	if up.Unit != wire.UnitMillis || up.Value < 0 {
		t.Errorf("up: value %v %q, want a latency in ms", up.Value, up.Unit)
	}
	wantResult(t, got, "down", false, "refused")
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := waitResults(t,
		Spec{Name: "up", Kind: wire.CheckUnix, Target: sock},
		Spec{Name: "missing", Kind: wire.CheckUnix, Target: filepath.Join(dir, "none.sock")},
	)
	wantResult(t, got, "up", true, "connected")
	wantResult(t, got, "missing", false, "no such file")
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			fmt.Fprint(w, `{"status":"ok","db":"up"}`)
		case "/broken":
			http.Error(w, "database down", http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusMovedPermanently)
		case "/big":
			// The match is only looked for in the first MaxBodyBytes.
			w.Write([]byte(strings.Repeat("x", MaxBodyBytes)))
			w.Write([]byte("NEEDLE"))
		}
	}))
	defer srv.Close()
	got := waitResults(t,
		Spec{Name: "ok", Kind: wire.CheckHTTP, Target: srv.URL + "/health"},
		Spec{Name: "contains", Kind: wire.CheckHTTP, Target: srv.URL + "/health", BodyContains: `"db":"up"`},
		Spec{Name: "regexp", Kind: wire.CheckHTTP, Target: srv.URL + "/health", BodyRegexp: `"status":\s*"ok"`},
		Spec{Name: "no-match", Kind: wire.CheckHTTP, Target: srv.URL + "/health", BodyContains: "degraded"},
		Spec{Name: "no-regexp-match", Kind: wire.CheckHTTP, Target: srv.URL + "/health", BodyRegexp: `^ok$`},
		Spec{Name: "status", Kind: wire.CheckHTTP, Target: srv.URL + "/broken"},
		Spec{Name: "expect-503", Kind: wire.CheckHTTP, Target: srv.URL + "/broken", ExpectStatus: 503},
		Spec{Name: "redirect-not-followed", Kind: wire.CheckHTTP, Target: srv.URL + "/moved"},
		Spec{Name: "redirect-expected", Kind: wire.CheckHTTP, Target: srv.URL + "/moved", ExpectStatus: 301},
		Spec{Name: "bounded-read", Kind: wire.CheckHTTP, Target: srv.URL + "/big", BodyContains: "NEEDLE"},
		Spec{Name: "refused", Kind: wire.CheckHTTP, Target: "http://" + closedPort(t) + "/"},
	)
	ok := wantResult(t, got, "ok", true, "status 200")
	if ok.Unit != wire.UnitMillis || ok.Value <= 0 {
		t.Errorf("ok: value %v %q, want a latency in ms", ok.Value, ok.Unit)
	}
	wantResult(t, got, "contains", true, "status 200")
	wantResult(t, got, "regexp", true, "status 200")
	wantResult(t, got, "no-match", false, `do not contain "degraded"`)
	wantResult(t, got, "no-regexp-match", false, `do not match "^ok$"`)
	wantResult(t, got, "status", false, "status 503, want 200")
	wantResult(t, got, "expect-503", true, "status 503")
	wantResult(t, got, "redirect-not-followed", false, "status 301, want 200")
	wantResult(t, got, "redirect-expected", true, "status 301")
	wantResult(t, got, "bounded-read", false, fmt.Sprintf("first %d bytes do not contain", MaxBodyBytes))
	wantResult(t, got, "refused", false, "refused")
}

// testCA is a CA made at test time and a way to issue server certificates from it.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pemPath string
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "check test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pemPath: path}
}

// issue makes a certificate for 127.0.0.1 and localhost valid until notAfter.
func (ca *testCA) issue(t testing.TB, cn string, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-30 * 24 * time.Hour), NotAfter: notAfter,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func tlsServer(t testing.TB, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "healthy")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPSWithCA(t *testing.T) {
	ca := newTestCA(t)
	srv := tlsServer(t, ca.issue(t, "site", time.Now().Add(90*24*time.Hour)))
	got := waitResults(t,
		Spec{Name: "with-ca", Kind: wire.CheckHTTP, Target: srv.URL + "/", CA: ca.pemPath, BodyContains: "healthy"},
		Spec{Name: "system-roots", Kind: wire.CheckHTTP, Target: srv.URL + "/"},
	)
	wantResult(t, got, "with-ca", true, "status 200")
	wantResult(t, got, "system-roots", false, "certificate signed by unknown authority")
}

func TestTLSExpiry(t *testing.T) {
	ca := newTestCA(t)
	soon := ca.issue(t, "soon.example", time.Now().Add(3*24*time.Hour))
	srv := tlsServer(t, soon)
	addr := srv.Listener.Addr().String()
	expired := tlsServer(t, ca.issue(t, "old.example", time.Now().Add(-2*24*time.Hour)))
	certFile := filepath.Join(t.TempDir(), "soon.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: soon.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	got := waitResults(t,
		Spec{Name: "default-14-days", Kind: wire.CheckTLS, Target: addr, CA: ca.pemPath},
		Spec{Name: "2-days-enough", Kind: wire.CheckTLS, Target: addr, CA: ca.pemPath, MinDays: 2},
		Spec{Name: "untrusted", Kind: wire.CheckTLS, Target: addr, MinDays: 2},
		Spec{Name: "expired", Kind: wire.CheckTLS, Target: expired.Listener.Addr().String(), CA: ca.pemPath},
		Spec{Name: "file", Kind: wire.CheckTLS, Target: certFile},
		Spec{Name: "file-2-days", Kind: wire.CheckTLS, Target: certFile, MinDays: 2},
		Spec{Name: "no-file", Kind: wire.CheckTLS, Target: certFile + ".missing"},
	)
	for _, name := range []string{"default-14-days", "2-days-enough", "untrusted", "file", "file-2-days"} {
		if res := got[name]; res.Unit != wire.UnitDays || res.Value < 2.9 || res.Value > 3 {
			t.Errorf("%s: value %v %s, want 3 days less the test's run time", name, res.Value, res.Unit)
		}
	}
	wantResult(t, got, "default-14-days", false, `"soon.example" expires in 3.0 days`)
	wantResult(t, got, "default-14-days", false, "under 14")
	wantResult(t, got, "2-days-enough", true, `"soon.example" expires in 3.0 days`)
	wantResult(t, got, "untrusted", false, "not trusted: x509: certificate signed by unknown authority")
	if res := wantResult(t, got, "expired", false, `"old.example" expired on`); res.Value > -1.9 || res.Value < -2 {
		t.Errorf("expired: value %v, want -2 days", res.Value)
	}
	if strings.Contains(got["expired"].Message, "not trusted") {
		t.Errorf("expired: %q: an expired leaf is reported as expired, not as untrusted", got["expired"].Message)
	}
	wantResult(t, got, "file", false, "under 14")
	wantResult(t, got, "file-2-days", true, "expires in 3.0 days")
	wantResult(t, got, "no-file", false, "no such file")
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	backup := filepath.Join(dir, "db.dump")
	if err := os.WriteFile(backup, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	twoHoursAgo := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(backup, twoHoursAgo, twoHoursAgo); err != nil {
		t.Fatal(err)
	}
	got := waitResults(t,
		Spec{Name: "fresh-enough", Kind: wire.CheckFile, Target: backup, MaxAge: 3 * time.Hour, MinSize: 4096},
		Spec{Name: "too-old", Kind: wire.CheckFile, Target: backup, MaxAge: time.Hour},
		Spec{Name: "too-small", Kind: wire.CheckFile, Target: backup, MinSize: 4097},
		Spec{Name: "missing", Kind: wire.CheckFile, Target: filepath.Join(dir, "none")},
	)
	res := wantResult(t, got, "fresh-enough", true, "written 2h0m0s ago, 4096 bytes")
	if res.Unit != wire.UnitSeconds || res.Value < 7200 || res.Value > 7300 {
		t.Errorf("fresh-enough: value %v %s, want the age, 7200 s", res.Value, res.Unit)
	}
	wantResult(t, got, "too-old", false, "older than 1h0m0s")
	wantResult(t, got, "too-small", false, "smaller than 4097 bytes")
	wantResult(t, got, "missing", false, "no such file")
}

// dnsServer answers A queries for any name with 192.0.2.7 over UDP on 127.0.0.1, and AAAA
// queries with no answer: a real resolver for the Go DNS client to talk to, offline.
func dnsServer(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if n < 12 {
				continue
			}
			end := 12
			for end < n && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5 // the root label, qtype, qclass
			if end > n {
				continue
			}
			qtype := binary.BigEndian.Uint16(q[end-4:])
			resp := append([]byte{}, q[:end]...)
			resp[2], resp[3] = 0x81, 0x80 // a response, recursion desired and available, no error
			binary.BigEndian.PutUint16(resp[6:], 0)
			binary.BigEndian.PutUint16(resp[8:], 0)
			binary.BigEndian.PutUint16(resp[10:], 0)
			if qtype == 1 {
				binary.BigEndian.PutUint16(resp[6:], 1)
				resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7)
			}
			pc.WriteTo(resp, from)
		}
	}()
	return pc.LocalAddr().String()
}

// deafDNSServer reads queries and never answers.
func deafDNSServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestDNS(t *testing.T) {
	got := waitResults(t,
		Spec{Name: "local-resolver", Kind: wire.CheckDNS, Target: "db.internal.example", Server: dnsServer(t)},
		// The system resolver: "localhost" comes from /etc/hosts, with no network.
		Spec{Name: "hosts-file", Kind: wire.CheckDNS, Target: "localhost"},
		Spec{Name: "deaf-resolver", Kind: wire.CheckDNS, Target: "db.internal.example", Server: deafDNSServer(t), Timeout: 300 * time.Millisecond},
	)
	res := wantResult(t, got, "local-resolver", true, "192.0.2.7")
	if res.Unit != wire.UnitMillis || res.Value <= 0 {
		t.Errorf("local-resolver: value %v %s, want a latency in ms", res.Value, res.Unit)
	}
	if r := got["hosts-file"]; !r.OK || !(strings.Contains(r.Message, "127.0.0.1") || strings.Contains(r.Message, "::1")) {
		t.Errorf("hosts-file: %+v, want localhost resolved to a loopback address", r)
	}
	wantResult(t, got, "deaf-resolver", false, "no answer within the timeout")
}

// TestTargetThatNeverAnswers: checks of a target that accepts connections and never answers fail
// at their timeout, and a hanging check neither delays another check nor the results.
func TestTargetThatNeverAnswers(t *testing.T) {
	silent := silentListener(t)
	got := waitResults(t,
		Spec{Name: "http", Kind: wire.CheckHTTP, Target: "http://" + silent + "/", Timeout: 200 * time.Millisecond},
		Spec{Name: "tls", Kind: wire.CheckTLS, Target: silent, Timeout: 200 * time.Millisecond},
	)
	wantResult(t, got, "http", false, "no answer within the timeout")
	wantResult(t, got, "tls", false, "no answer within the timeout")

	// A check that hangs for half an hour (its timeout) beside a fast one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fast := make(chan wire.CheckResult, 4)
	r, err := New(Config{Specs: []Spec{
		{Name: "hangs", Kind: wire.CheckHTTP, Target: "http://" + silent + "/", Interval: time.Hour, Timeout: 30 * time.Minute},
		{Name: "fast", Kind: wire.CheckTCP, Target: ln.Addr().String(), Interval: time.Second},
	}, OnResult: func(res wire.CheckResult) {
		if res.Name == "hangs" {
			t.Errorf("the hanging check gave a result: %+v", res)
		}
		fast <- res
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r.Start(ctx)
	for range 2 { // two runs of the fast check while the other hangs
		select {
		case <-fast:
		case <-time.After(time.Minute):
			t.Fatal("the fast check gave no result while another check hangs")
		}
	}
	now := time.Now()
	res := r.Results(now)
	if len(res) != 1 || res[0].Name != "fast" || !res[0].OK {
		t.Errorf("Results while one check hangs = %+v, want only the fast check's result", res)
	}
	// Once the hanging run is past its timeout (and the grace), it is reported failed.
	res = r.Results(now.Add(31 * time.Minute))
	if len(res) != 2 || res[0].Name != "hangs" || res[0].OK || !strings.Contains(res[0].Message, "no result within the timeout of 30m0s") {
		t.Errorf("Results past the hanging check's timeout = %+v, want it failed first, then the fast one", res)
	}
}

func TestMessageBounded(t *testing.T) {
	long := strings.Repeat("é", wire.MaxCheckMessageLen) + "\x1b[31m"
	got := cleanMessage("bad\nline\x00" + long)
	if len(got) > wire.MaxCheckMessageLen || strings.ContainsAny(got, "\n\x00\x1b") {
		t.Errorf("cleanMessage = %q (%d bytes), want at most %d bytes without control characters", got, len(got), wire.MaxCheckMessageLen)
	}
	res := wire.CheckResult{Name: "x", Kind: "tcp", Message: got, CheckedAt: time.Now()}
	if err := res.Validate(); err != nil {
		t.Error(err)
	}
}

func TestSpecValidate(t *testing.T) {
	abs := "/var/backups/db.dump"
	tests := []struct {
		name string
		spec Spec
		want string // "" valid
	}{
		{"tcp", Spec{Name: "db", Kind: "tcp", Target: "127.0.0.1:5432"}, ""},
		{"http", Spec{Name: "site", Kind: "http", Target: "https://example.com/health", ExpectStatus: 204, CA: "/etc/ca.pem", BodyRegexp: "ok"}, ""},
		{"tls host", Spec{Name: "cert", Kind: "tls", Target: "example.com:443", MinDays: 30}, ""},
		{"tls file", Spec{Name: "cert", Kind: "tls", Target: "/etc/ssl/site.pem"}, ""},
		{"file", Spec{Name: "backup", Kind: "file", Target: abs, MaxAge: 26 * time.Hour, MinSize: 1}, ""},
		{"unix", Spec{Name: "docker", Kind: "unix", Target: "/run/docker.sock"}, ""},
		{"dns", Spec{Name: "resolve", Kind: "dns", Target: "example.com", Server: "127.0.0.53:53"}, ""},
		{"timeouts", Spec{Name: "t", Kind: "tcp", Target: "h:1", Interval: 10 * time.Second, Timeout: 10 * time.Second}, ""},

		{"no name", Spec{Kind: "tcp", Target: "h:1"}, "name"},
		{"name with space", Spec{Name: "my db", Kind: "tcp", Target: "h:1"}, "name"},
		{"unknown kind", Spec{Name: "x", Kind: "ping", Target: "h"}, `kind "ping" unknown`},
		{"no target", Spec{Name: "x", Kind: "tcp"}, "target is required"},
		{"tcp without port", Spec{Name: "x", Kind: "tcp", Target: "example.com"}, "host:port"},
		{"tcp port 0", Spec{Name: "x", Kind: "tcp", Target: "h:0"}, "port"},
		{"http not a URL", Spec{Name: "x", Kind: "http", Target: "example.com/health"}, "not an http"},
		{"http ftp", Spec{Name: "x", Kind: "http", Target: "ftp://example.com/"}, "not an http"},
		{"http credentials", Spec{Name: "x", Kind: "http", Target: "https://u:p@example.com/"}, "no credentials"},
		{"http status", Spec{Name: "x", Kind: "http", Target: "http://h/", ExpectStatus: 99}, "expect_status"},
		{"http both matches", Spec{Name: "x", Kind: "http", Target: "http://h/", BodyContains: "a", BodyRegexp: "b"}, "not both"},
		{"http bad regexp", Spec{Name: "x", Kind: "http", Target: "http://h/", BodyRegexp: "(("}, "body_regexp"},
		{"http ca on http", Spec{Name: "x", Kind: "http", Target: "http://h/", CA: "/ca.pem"}, "https"},
		{"relative ca", Spec{Name: "x", Kind: "http", Target: "https://h/", CA: "ca.pem"}, "absolute"},
		{"status on tcp", Spec{Name: "x", Kind: "tcp", Target: "h:1", ExpectStatus: 200}, "expect_status applies to http checks only"},
		{"max_age on http", Spec{Name: "x", Kind: "http", Target: "http://h/", MaxAge: time.Hour}, "max_age applies to file"},
		{"min_days on file", Spec{Name: "x", Kind: "file", Target: abs, MinDays: 3}, "min_days applies to tls"},
		{"server on tcp", Spec{Name: "x", Kind: "tcp", Target: "h:1", Server: "h:53"}, "server applies to dns"},
		{"ca on tls file", Spec{Name: "x", Kind: "tls", Target: "/c.pem", CA: "/ca.pem"}, "host:port target"},
		{"relative file", Spec{Name: "x", Kind: "file", Target: "db.dump"}, "absolute"},
		{"relative socket", Spec{Name: "x", Kind: "unix", Target: "run/x.sock"}, "absolute"},
		{"dns name with space", Spec{Name: "x", Kind: "dns", Target: "a b"}, "host name"},
		{"dns server without port", Spec{Name: "x", Kind: "dns", Target: "a", Server: "127.0.0.1"}, "server"},
		{"interval too short", Spec{Name: "x", Kind: "tcp", Target: "h:1", Interval: time.Millisecond}, "interval"},
		{"timeout over interval", Spec{Name: "x", Kind: "tcp", Target: "h:1", Interval: 5 * time.Second, Timeout: 6 * time.Second}, "timeout"},
		{"negative min_size", Spec{Name: "x", Kind: "file", Target: abs, MinSize: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
	dup := []Spec{{Name: "a", Kind: "tcp", Target: "h:1"}, {Name: "a", Kind: "dns", Target: "h"}}
	if err := Validate(dup); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `two checks named "a"`) {
		t.Errorf("Validate(duplicates) = %v", err)
	}
	many := make([]Spec, wire.MaxChecks+1)
	for i := range many {
		many[i] = Spec{Name: fmt.Sprintf("c%d", i), Kind: "tcp", Target: "h:1"}
	}
	if err := Validate(many); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate(%d checks) = %v", len(many), err)
	}
	if _, err := New(Config{Specs: []Spec{{Name: "x", Kind: "http", Target: "https://h/", CA: "/nonexistent/ca.pem"}}}); err == nil {
		t.Error("New with a missing CA file succeeded")
	}
}

// TestHTTPSResumesSession checks that an https check makes a new connection every run (the service
// must answer now) and resumes the previous run's TLS session rather than verifying the chain again.
func TestHTTPSResumesSession(t *testing.T) {
	ca := newTestCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "healthy") }))
	resumed := make(chan bool, 8)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "site", time.Now().Add(90*24*time.Hour))},
		VerifyConnection: func(cs tls.ConnectionState) error { resumed <- cs.DidResume; return nil }}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s := Spec{Name: "https", Kind: wire.CheckHTTP, Target: srv.URL + "/", CA: ca.pemPath}.WithDefaults()
	p, err := newProbe(s, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for range 3 {
		if o := p(context.Background()); !o.ok {
			t.Fatalf("run failed: %s", o.msg)
		}
		got = append(got, <-resumed) // one handshake, so one new connection, per run
	}
	if want := []bool{false, true, true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("handshakes resumed: %v, want %v", got, want)
	}
	if len(resumed) != 0 {
		t.Fatalf("%d more handshakes than runs", len(resumed))
	}
}

// TestCertChangesSeen checks that what a tls check keeps between runs (the last verified chain,
// the last parsed PEM file) never hides a change: a server that starts sending a certificate of
// another CA fails the next run, and a PEM file replaced by an expired certificate too.
func TestCertChangesSeen(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	good := ca.issue(t, "site", time.Now().Add(90*24*time.Hour))
	var serve atomic.Pointer[tls.Certificate]
	serve.Store(&good)
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return serve.Load(), nil }}
	srv.StartTLS()
	srv.TLS.Certificates = nil // httptest's own, preferred to GetCertificate when no SNI is sent (an IP)
	t.Cleanup(srv.Close)
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	writeCert := func(c tls.Certificate) {
		if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCert(good)
	tlsCheck, err := newProbe(Spec{Name: "tls", Kind: wire.CheckTLS, Target: srv.Listener.Addr().String(), CA: ca.pemPath}.WithDefaults(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	fileCheck, err := newProbe(Spec{Name: "file", Kind: wire.CheckTLS, Target: certFile}.WithDefaults(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second run uses what the first kept
		if o := tlsCheck(context.Background()); !o.ok {
			t.Fatalf("tls: %s", o.msg)
		}
		if o := fileCheck(context.Background()); !o.ok {
			t.Fatalf("file: %s", o.msg)
		}
	}
	untrusted := other.issue(t, "site", time.Now().Add(90*24*time.Hour))
	serve.Store(&untrusted)
	if o := tlsCheck(context.Background()); o.ok || !strings.Contains(o.msg, "not trusted") {
		t.Errorf("tls after the server's certificate changed CA: ok %v, %q", o.ok, o.msg)
	}
	writeCert(ca.issue(t, "site", time.Now().Add(-24*time.Hour)))
	if o := fileCheck(context.Background()); o.ok || !strings.Contains(o.msg, "expired") {
		t.Errorf("file after it was replaced by an expired certificate: ok %v, %q", o.ok, o.msg)
	}
}

// TestPlanBatches checks the scheduler's plan on a simulated clock: checks of one interval run
// in one batch, a check of a longer interval joins their batch when it is due, a check due a
// little after a batch joins it instead of waking the agent again, and a busy check is skipped.
func TestPlanBatches(t *testing.T) {
	mk := func(name string, iv time.Duration) *state {
		return &state{spec: Spec{Name: name, Interval: iv}}
	}
	checks := []*state{mk("a", 10*time.Second), mk("b", 10*time.Second), mk("c", 30*time.Second), mk("d", 20*time.Second)}
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, st := range checks {
		st.next = t0
	}
	checks[3].next = t0.Add(500 * time.Millisecond) // configured a moment apart: joins the first batch
	notBusy := func(*state) bool { return false }
	runs := map[string]int{}
	var batches []string
	now := t0
	for now.Before(t0.Add(60 * time.Second)) {
		batch, wake := plan(checks, now, notBusy)
		names := ""
		for _, st := range batch {
			names += st.spec.Name
			runs[st.spec.Name]++
		}
		batches = append(batches, names)
		if !wake.After(now) {
			t.Fatalf("plan at %v: next wake %v is not later", now, wake)
		}
		now = wake.Add(3 * time.Millisecond) // a timer fires a little late
	}
	want := []string{"abcd", "ab", "abd", "abc", "abd", "ab"}
	if !slices.Equal(batches, want) {
		t.Errorf("batches over a minute = %q, want %q (one wake-up per 10 s)", batches, want)
	}
	if runs["a"] != 6 || runs["c"] != 2 || runs["d"] != 3 {
		t.Errorf("runs = %v, want a 6, c 2, d 3", runs)
	}

	// A check still busy from its last run is skipped, and due again one interval on.
	busyA := func(st *state) bool { return st.spec.Name == "a" }
	for _, st := range checks {
		st.next = now
	}
	batch, _ := plan(checks, now, busyA)
	for _, st := range batch {
		if st.spec.Name == "a" {
			t.Error("a busy check was planned")
		}
	}
	if !checks[0].next.Equal(now.Add(10 * time.Second)) {
		t.Errorf("busy check's next run = %v, want one interval on", checks[0].next)
	}
}

// TestHangInBatch checks that a run blocked in a way its context cannot cut (a stat on a hung
// network filesystem) delays neither the checks queued behind it in the same batch nor the later
// batches, and that the extra worker it needed goes away once it returns.
func TestHangInBatch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	results := make(chan wire.CheckResult, 16)
	r, err := New(Config{Specs: []Spec{
		{Name: "hangs", Kind: wire.CheckTCP, Target: addr, Interval: time.Second, Timeout: 100 * time.Millisecond},
		{Name: "fast1", Kind: wire.CheckTCP, Target: addr, Interval: time.Second},
		{Name: "fast2", Kind: wire.CheckTCP, Target: addr, Interval: time.Second},
	}, OnResult: func(res wire.CheckResult) { results <- res }})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	r.checks[0].probe = func(context.Context) outcome { <-release; return outcome{ok: true, msg: "late"} }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r.Start(ctx)
	seen := map[string]int{}
	for seen["fast1"] < 2 || seen["fast2"] < 2 { // the first batch (behind the hang) and the next ones
		select {
		case res := <-results:
			if res.Name == "hangs" {
				t.Fatalf("the blocked check gave a result: %+v", res)
			}
			seen[res.Name]++
		case <-time.After(time.Minute):
			t.Fatalf("checks in the batch of a blocked one gave no results: %v", seen)
		}
	}
	close(release)
	for {
		res := <-results
		if res.Name == "hangs" {
			if res.Message != "late" {
				t.Errorf("the blocked check's result = %+v", res)
			}
			break
		}
	}
	// With the hang over, the extra workers leave after their batch: one remains.
	deadline := time.Now().Add(time.Minute)
	for {
		r.mu.Lock()
		n := r.workers
		r.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers a minute after the hang ended, want 1", n)
		}
		<-results
	}
}
