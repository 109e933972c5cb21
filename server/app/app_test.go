package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/deploy"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/storetest"
	"github.com/vigilhq/vigil/wire"
)

type testServer struct {
	*app.Server
	client *http.Client
	admin  *apiclient.Client
	token  string // the admin API token
}

// get GETs url with bearer as its Bearer token ("" for none).
func (s *testServer) get(url, bearer string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return s.client.Do(req)
}

func startServer(t *testing.T, databaseURL string) *testServer {
	t.Helper()
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{
		DataDir: dir, Listen: "127.0.0.1:0", DatabaseURL: databaseURL, Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HostRate: 1000, HostBurst: 1000,
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	caPEM, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tok, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, app.AdminTokenFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token mode %v, want 0600", fi.Mode().Perm())
	}
	// The first admin user's password: shown once and saved 0600.
	pw, err := os.ReadFile(filepath.Join(dir, app.AdminPasswordFile))
	if err != nil || srv.AdminPassword == "" || strings.TrimSpace(string(pw)) != srv.AdminPassword {
		t.Fatalf("admin password file %q (%v), shown %q", pw, err, srv.AdminPassword)
	}
	if fi, _ := os.Stat(filepath.Join(dir, app.AdminPasswordFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin password mode %v, want 0600", fi.Mode().Perm())
	}
	return &testServer{Server: srv, client: hc, admin: apiclient.New(srv.URL, strings.TrimSpace(string(tok)), hc), token: strings.TrimSpace(string(tok))}
}

func (s *testServer) enroll(t *testing.T, hostname string) wire.EnrollResponse {
	t.Helper()
	ctx := context.Background()
	tok, err := s.admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	var resp wire.EnrollResponse
	status, body := s.post(t, "/api/v1/enroll", "", wire.EnrollRequest{EnrollmentToken: tok.Token, Hostname: hostname, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}, false)
	if status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	// The token admitted one host; a second use is refused.
	status, body = s.post(t, "/api/v1/enroll", "", wire.EnrollRequest{EnrollmentToken: tok.Token, Hostname: "again"}, false)
	if status != http.StatusUnauthorized || !strings.Contains(string(body), api.CodeTokenInvalid) {
		t.Fatalf("reused enrollment token: %d %s", status, body)
	}
	return resp
}

func (s *testServer) post(t *testing.T, path, bearer string, v any, gz bool) (int, []byte) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return s.postRaw(t, path, bearer, data, gz)
}

func (s *testServer) postRaw(t *testing.T, path, bearer string, data []byte, gz bool) (int, []byte) {
	t.Helper()
	body := data
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		body = buf.Bytes()
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func report(seq uint64, cpu float64) wire.Report {
	return wire.Report{
		Seq: seq, Time: time.Now().UTC().Truncate(time.Millisecond), AgentVersion: "1.0.0", IntervalSeconds: 10,
		BootTime: time.Now().Add(-time.Hour).UTC().Truncate(time.Second),
		CPU:      &wire.CPU{Cores: 2, BusyPct: cpu},
		Memory:   &wire.Memory{TotalBytes: 1 << 30, AvailableBytes: 1 << 29, UsedPct: 50},
	}
}

func TestServerEndToEnd(t *testing.T) {
	stores := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return storetest.PostgresURL(t, "apptest") }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := startServer(t, st.url(t))
			ctx := context.Background()
			host := s.enroll(t, "web-1")
			if host.ReportIntervalSeconds != 10 || !strings.HasPrefix(host.Credential, "vgh_") {
				t.Fatalf("enroll response %+v", host)
			}

			// Three reports, gzip-compressed, then the same three again plus one more: the replay
			// is acknowledged but not stored twice.
			status, body := s.post(t, "/api/v1/reports", host.Credential, wire.ReportBatch{Reports: []wire.Report{report(1, 10), report(2, 20), report(3, 30)}}, true)
			if status != http.StatusOK {
				t.Fatalf("reports: %d %s", status, body)
			}
			var ack wire.Ack
			json.Unmarshal(body, &ack)
			if ack.AckedSeq != 3 {
				t.Fatalf("acked %d, want 3", ack.AckedSeq)
			}
			status, body = s.post(t, "/api/v1/reports", host.Credential, wire.ReportBatch{Reports: []wire.Report{report(1, 99), report(2, 99), report(3, 99), report(4, 40)}}, false)
			json.Unmarshal(body, &ack)
			if status != http.StatusOK || ack.AckedSeq != 4 {
				t.Fatalf("replay: %d %s", status, body)
			}
			samples, err := s.Service().Store().ListSamples(ctx, host.HostID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(samples) != 4 {
				t.Fatalf("stored %d samples, want 4 (replayed seqs must not be stored twice)", len(samples))
			}
			for _, sm := range samples {
				if sm.Report.CPU.BusyPct == 99 {
					t.Fatalf("replayed seq %d overwrote the original", sm.Seq)
				}
			}

			// Operators read the host back with its latest metrics.
			hs, err := s.admin.ListHosts(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) != 1 || hs[0].Hostname != "web-1" || hs[0].AckedSeq != 4 || hs[0].Latest == nil || hs[0].Latest.CPU.BusyPct != 40 || hs[0].Group != server.DefaultGroup {
				t.Fatalf("hosts = %+v", hs)
			}
			h, err := s.admin.GetHost(ctx, host.HostID)
			if err != nil || h.LastSeen.IsZero() || h.AgentVersion != "1.0.0" {
				t.Fatalf("host = %+v, %v", h, err)
			}

			// Wrong and missing credentials get 401 with the JSON error shape.
			for _, cred := range []string{"vgh_wrong", "", "garbage"} {
				status, body = s.post(t, "/api/v1/reports", cred, wire.ReportBatch{Reports: []wire.Report{report(5, 1)}}, false)
				var e wire.ErrorResponse
				if status != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil || e.Error.Code != api.CodeUnauthorized {
					t.Fatalf("credential %q: %d %s", cred, status, body)
				}
			}

			// Malformed JSON and invalid reports get 400; nothing is stored.
			status, body = s.postRaw(t, "/api/v1/reports", host.Credential, []byte(`{"reports":[{"seq":5,`), false)
			if status != http.StatusBadRequest || !strings.Contains(string(body), api.CodeInvalid) {
				t.Fatalf("malformed: %d %s", status, body)
			}
			bad := report(5, 150)
			status, _ = s.post(t, "/api/v1/reports", host.Credential, wire.ReportBatch{Reports: []wire.Report{bad}}, false)
			if status != http.StatusBadRequest {
				t.Fatalf("cpu 150%%: %d", status)
			}

			// Revocation: the credential stops working at once.
			if err := s.admin.Do(ctx, http.MethodPost, "/api/v1/hosts/"+host.HostID+"/revoke", nil, nil); err != nil {
				t.Fatal(err)
			}
			status, _ = s.post(t, "/api/v1/reports", host.Credential, wire.ReportBatch{Reports: []wire.Report{report(5, 1)}}, false)
			if status != http.StatusUnauthorized {
				t.Fatalf("revoked credential: %d", status)
			}
			audit, err := s.admin.ListAudit(ctx, 10)
			if err != nil || len(audit) < 2 || audit[0].Action != "host.revoke" {
				t.Fatalf("audit = %+v, %v", audit, err)
			}
		})
	}
}

// TestGzipBomb sends 100 MB of zeros compressed to ~100 KB: the server refuses it with 413 once it
// has decompressed its limit, without allocating the whole thing.
func TestGzipBomb(t *testing.T) {
	s := startServer(t, "")
	host := s.enroll(t, "bomb")
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	zw.Write([]byte(`{"reports":[{"seq":1,"time":"2026-01-01T00:00:00Z","agent_version":"`))
	for range 100 {
		zw.Write(zeros)
	}
	zw.Close()
	if buf.Len() > wire.MaxReportBodyBytes {
		t.Fatalf("bomb is %d bytes compressed; it must pass the wire limit to test decompression", buf.Len())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/reports", bytes.NewReader(buf.Bytes()))
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+host.Credential)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), api.CodeTooLarge) {
		t.Fatalf("gzip bomb: %d %s", resp.StatusCode, body)
	}
	// The server runs in this process, so TotalAlloc also counts its background jobs (alerting,
	// TUF re-signing): bound it loosely here, well under the 100 MB the bomb expands to. The exact
	// claim, that decompression stops at the limit, is httpapi's TestReadReportBodyStopsAtLimit.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 50<<20 {
		t.Fatalf("server allocated %d MB for a gzip bomb; limit is %d MB", grew>>20, wire.MaxReportDecodedBytes>>20)
	}

	// A body over the compressed limit is refused from its Content-Length alone.
	big := make([]byte, wire.MaxReportBodyBytes+1)
	rand.Read(big)
	status, _ := s.postRaw(t, "/api/v1/reports", host.Credential, big, false)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", status)
	}
}

// TestHealthAndMetrics checks the probe and metrics endpoints: /healthz says only "ok" (no build),
// /metrics needs an API token (any role) and then carries the build as vigil_build_info.
func TestHealthAndMetrics(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	viewer, err := s.admin.CreateToken(ctx, api.CreateTokenRequest{Name: "scraper", Role: server.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	// In order: the request counter appears in /metrics once an earlier request was recorded.
	for _, c := range []struct {
		path, token string
		status      int
		want        string
	}{
		{"/healthz", "", 200, "ok\n"},
		{"/readyz", "", 200, "ready\n"},
		{"/metrics", "", 401, api.CodeUnauthorized},
		{"/metrics", "vgt_not-a-token", 401, api.CodeUnauthorized},
		{"/metrics", viewer.Token, 200, "vigil_http_requests_total"},
		{"/metrics", s.token, 200, `vigil_build_info{version="test"} 1`},
	} {
		resp, err := s.get(s.URL+c.path, c.token)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Fatalf("%s (token %t): %d %q, want %d with %q", c.path, c.token != "", resp.StatusCode, b, c.status, c.want)
		}
		if c.path == "/healthz" && string(b) != "ok\n" {
			t.Fatalf("/healthz = %q, want exactly \"ok\\n\" (no build string)", b)
		}
	}
}

// TestMetricsListen: with MetricsListen (--metrics-addr), /metrics is served there over plain HTTP
// without a token, and only /metrics; the main listener still wants a token.
func TestMetricsListen(t *testing.T) {
	s, _ := startWith(t, app.Config{MetricsListen: "127.0.0.1:0"}, "")
	if !strings.HasPrefix(s.MetricsURL, "http://127.0.0.1:") {
		t.Fatalf("MetricsURL = %q", s.MetricsURL)
	}
	resp, err := http.Get(s.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `vigil_build_info{version="test"} 1`) {
		t.Fatalf("metrics listener: %d %.200q", resp.StatusCode, b)
	}
	for _, path := range []string{"/healthz", "/api/v1/hosts", "/"} {
		resp, err := http.Get(strings.TrimSuffix(s.MetricsURL, "/metrics") + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics listener serves %s: %d, want 404", path, resp.StatusCode)
		}
	}
	resp, err = s.get(s.URL+"/metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("main listener /metrics without a token: %d, want 401", resp.StatusCode)
	}
}

// TestInstallFilesServed: the one-line install's script and unit are served without
// authentication, byte for byte the files in deploy/.
func TestInstallFilesServed(t *testing.T) {
	s := startServer(t, "")
	for path, want := range map[string][]byte{"/install.sh": deploy.InstallScript, "/install/vigil-updater.service": deploy.UpdaterUnit} {
		resp, err := s.client.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(b, want) || len(want) == 0 {
			t.Errorf("%s: %d, %d bytes, want the %d bytes of deploy/", path, resp.StatusCode, len(b), len(want))
		}
	}
}

// TestHostRateLimit: a host sending faster than its bucket allows gets 429 with Retry-After, and
// its reports are not lost (they were never acknowledged, so the agent keeps them).
func TestHostRateLimit(t *testing.T) {
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HostRate: 1, HostBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	caPEM, _ := os.ReadFile(srv.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tok, _ := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	s := &testServer{Server: srv, client: hc, admin: apiclient.New(srv.URL, strings.TrimSpace(string(tok)), hc)}
	host := s.enroll(t, "chatty")
	var limited int
	for i := range 6 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/reports", strings.NewReader(
			fmt.Sprintf(`{"reports":[{"seq":%d,"time":"2026-11-21T12:00:00Z"}]}`, i+1)))
		req.Header.Set("Authorization", "Bearer "+host.Credential)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("6 requests at once with a burst of 3 were never limited")
	}

	// An unknown Content-Encoding is refused, not guessed at.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/reports", strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer "+host.Credential)
	req.Header.Set("Content-Encoding", "br")
	time.Sleep(1100 * time.Millisecond) // let one token refill (1/s)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("Content-Encoding br: %d", resp.StatusCode)
	}
}

// TestPprofListen: with PprofListen (--pprof), the Go profiles are served on that loopback
// address and not on the main listener; an address that is not loopback stops the start.
func TestPprofListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		_, err := app.Start(context.Background(), app.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", PprofListen: addr,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil {
			t.Fatalf("PprofListen %q: the server started", addr)
		}
		if addr != "127.0.0.1" && !errors.Is(err, app.ErrPprofNotLoopback) {
			t.Errorf("PprofListen %q: %v, want ErrPprofNotLoopback", addr, err)
		}
	}

	s, _ := startWith(t, app.Config{PprofListen: "127.0.0.1:0"}, "")
	if !strings.HasPrefix(s.PprofURL, "http://127.0.0.1:") || !strings.HasSuffix(s.PprofURL, "/debug/pprof/") {
		t.Fatalf("PprofURL = %q", s.PprofURL)
	}
	for path, want := range map[string]string{"": "Types of profiles available", "goroutine?debug=1": "goroutine profile:"} {
		resp, err := http.Get(s.PprofURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("pprof listener %s: %d %.200q, want %q", path, resp.StatusCode, b, want)
		}
	}
	// No command line (it can hold --database-url's password), and no answer to another host
	// name (DNS rebinding from a browser on this machine).
	resp, err := http.Get(s.PprofURL + "cmdline")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || strings.Contains(string(b), os.Args[0]) {
		t.Errorf("pprof listener serves cmdline: %d %.200q", resp.StatusCode, b)
	}
	for host, want := range map[string]int{"rebound.example:80": http.StatusForbidden, "localhost": http.StatusOK, "[::1]:1": http.StatusOK} {
		req, _ := http.NewRequest(http.MethodGet, s.PprofURL, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("pprof listener, Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
	// The main listener: neither without a token nor with the admin's.
	for _, bearer := range []string{"", s.token} {
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
			resp, err := s.get(s.URL+path, bearer)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body := string(b); strings.Contains(body, "Types of profiles available") || strings.Contains(body, "goroutine profile:") ||
				strings.Contains(body, os.Args[0]) {
				t.Errorf("main listener serves %s (token %v): %d %.200q", path, bearer != "", resp.StatusCode, b)
			}
		}
	}
}
