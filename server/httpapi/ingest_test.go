package httpapi

import (
	"bufio"
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

// ingestEnv is an API over a real SQLite store served by a real HTTP server on 127.0.0.1.
type ingestEnv struct {
	svc  *server.Service
	api  *API
	srv  *httptest.Server
	logs *lockedBuffer
}

// lockedBuffer collects log output from the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newIngestEnv(t *testing.T, cfg Config) *ingestEnv {
	t.Helper()
	return newIngestEnvWith(t, cfg, false)
}

// newIngestEnvH2 serves over TLS with HTTP/2.
func newIngestEnvH2(t *testing.T, cfg Config) *ingestEnv {
	t.Helper()
	return newIngestEnvWith(t, cfg, true)
}

func newIngestEnvWith(t *testing.T, cfg Config, h2 bool) *ingestEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := server.New(server.Config{Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(ctx)
	cfg.Service, cfg.Logger = svc, log
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(a)
	if h2 {
		hs.EnableHTTP2 = true
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		svc.Close()
		st.Close()
	})
	return &ingestEnv{svc: svc, api: a, srv: hs, logs: logs}
}

// enroll enrolls a host and returns its ID and credential.
func (e *ingestEnv) enroll(t *testing.T, name string) (id, credential string) {
	t.Helper()
	ctx := context.Background()
	tok, _, err := e.svc.CreateEnrollmentToken(ctx, server.Principal{Name: "test", Role: server.RoleAdmin}, "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.HostID, resp.Credential
}

func reportBody(t *testing.T, seq uint64) []byte {
	t.Helper()
	b, err := json.Marshal(wire.ReportBatch{Reports: []wire.Report{{
		Seq: seq, Time: time.Now().UTC().Truncate(time.Millisecond), AgentVersion: "1.0.0", IntervalSeconds: 10,
		CPU: &wire.CPU{Cores: 2, BusyPct: 10},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends one report and returns the status, the Retry-After header and the error code.
func (e *ingestEnv) post(t *testing.T, credential string, seq uint64) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/reports", bytes.NewReader(reportBody(t, seq)))
	req.Header.Set("Authorization", "Bearer "+credential)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Errorf("POST report: %v", err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	var er wire.ErrorResponse
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &er)
	return resp.StatusCode, resp.Header.Get("Retry-After"), er.Error.Code
}

// slowBody opens a connection and sends a report request's headers and the first bytes of its
// body, promising 1000 bytes, then nothing more. The returned function reads the answer.
func (e *ingestEnv) slowBody(t *testing.T, credential string) (conn net.Conn, answer func() (*http.Response, error)) {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /api/v1/reports HTTP/1.1\r\nHost: vigil\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"reports\":[", credential)
	return conn, func() (*http.Response, error) {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
}

// waitInFlight waits until host has n report requests inside the handler.
func (e *ingestEnv) waitInFlight(t *testing.T, host string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e.api.hostsInFlight.mu.Lock()
		got := e.api.hostsInFlight.n[host]
		e.api.hostsInFlight.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %s has %d reports in flight, want %d", host, got, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSlowBodyHoldsNoSlot: with a single decode slot and almost no queue wait, a host sending its
// body slowly does not stop another host's report (the slot is taken only after the body is in),
// and the slow body itself ends in 408, logged as a warning, not as an error.
func TestSlowBodyHoldsNoSlot(t *testing.T) {
	e := newIngestEnv(t, Config{MaxConcurrentIngest: 1, IngestQueueWait: 50 * time.Millisecond,
		ReportBodyTimeout: 2 * time.Second, HostRate: 1000, HostBurst: 1000})
	slowID, slowCred := e.enroll(t, "slow")
	_, goodCred := e.enroll(t, "good")

	_, answer := e.slowBody(t, slowCred)
	e.waitInFlight(t, slowID, 1)
	for seq := uint64(1); seq <= 5; seq++ {
		if status, _, code := e.post(t, goodCred, seq); status != http.StatusOK {
			t.Fatalf("report %d of another host while a body is slow: %d %s", seq, status, code)
		}
	}
	resp, err := answer()
	if err != nil {
		t.Fatalf("slow body: no answer: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body answered %d, want 408", resp.StatusCode)
	}
	if !e.svc.LastOverload().IsZero() {
		t.Error("a slow body was recorded as the server's overload")
	}
	logs := e.logs.String()
	if strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "level=WARN msg=\"Request body too slow; answered 408.\"") {
		t.Errorf("logs:\n%s", logs)
	}
}

// TestAbortedBodyIs400NotError: a client that closes its connection mid-body is answered (if it
// still listens) 400 and logged at INFO, never as a 500 or at ERROR.
func TestAbortedBodyIs400NotError(t *testing.T) {
	e := newIngestEnv(t, Config{HostRate: 1000, HostBurst: 1000})
	id, cred := e.enroll(t, "abort")
	conn, _ := e.slowBody(t, cred)
	e.waitInFlight(t, id, 1)
	conn.(*net.TCPConn).CloseWrite()
	e.waitInFlight(t, id, 0)
	logs := e.logs.String()
	if strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "level=INFO msg=\"Client did not send its whole request body.\"") {
		t.Errorf("logs:\n%s", logs)
	}
	if status, _, _ := e.post(t, cred, 1); status != http.StatusOK {
		t.Errorf("the same host after an aborted body: %d", status)
	}
}

// TestPerHostInFlightCap: a host may hold MaxReportsInFlightPerHost report requests; one more is
// answered 429 with Retry-After at once, while other hosts are unaffected.
func TestPerHostInFlightCap(t *testing.T) {
	e := newIngestEnv(t, Config{MaxReportsInFlightPerHost: 2, ReportBodyTimeout: 30 * time.Second,
		HostRate: 1000, HostBurst: 1000})
	greedyID, greedy := e.enroll(t, "greedy")
	_, other := e.enroll(t, "other")
	for range 2 {
		e.slowBody(t, greedy)
	}
	e.waitInFlight(t, greedyID, 2)
	status, retry, code := e.post(t, greedy, 1)
	if status != http.StatusTooManyRequests || retry == "" || code != api.CodeRateLimited {
		t.Fatalf("third request of one host: %d Retry-After %q code %q, want 429 with Retry-After", status, retry, code)
	}
	if status, _, code := e.post(t, other, 1); status != http.StatusOK {
		t.Fatalf("another host: %d %s", status, code)
	}
	if !e.svc.LastOverload().IsZero() {
		t.Error("a host over its own cap was recorded as the server's overload")
	}
}

// TestQueueWaitSucceedsWhenSlotFrees: when every decode slot is busy a report waits for one
// instead of being refused, and goes through as soon as one frees.
func TestQueueWaitSucceedsWhenSlotFrees(t *testing.T) {
	e := newIngestEnv(t, Config{MaxConcurrentIngest: 1, IngestQueueWait: time.Minute, HostRate: 1000, HostBurst: 1000})
	waiting := make(chan struct{}, 1)
	e.api.onQueueWait = func() { waiting <- struct{}{} }
	_, cred := e.enroll(t, "patient")

	e.api.ingest <- struct{}{} // a decode in progress holds the only slot
	done := make(chan int, 1)
	go func() {
		status, _, _ := e.post(t, cred, 1)
		done <- status
	}()
	<-waiting
	select {
	case status := <-done:
		t.Fatalf("answered %d while no slot was free", status)
	default:
	}
	<-e.api.ingest // the decode ends
	if status := <-done; status != http.StatusOK {
		t.Fatalf("after the slot freed: %d, want 200", status)
	}
	if !e.svc.LastOverload().IsZero() {
		t.Error("a wait that succeeded was recorded as overload")
	}
}

// TestQueueWaitIsBounded: a report that finds no slot within IngestQueueWait is answered 503 with
// Retry-After, and the Service records the overload for alerting.
func TestQueueWaitIsBounded(t *testing.T) {
	e := newIngestEnv(t, Config{MaxConcurrentIngest: 1, IngestQueueWait: 100 * time.Millisecond, HostRate: 1000, HostBurst: 1000})
	_, cred := e.enroll(t, "unlucky")
	e.api.ingest <- struct{}{}
	defer func() { <-e.api.ingest }()
	before := time.Now()
	status, retry, code := e.post(t, cred, 1)
	if status != http.StatusServiceUnavailable || retry == "" || code != api.CodeOverloaded {
		t.Fatalf("no slot: %d Retry-After %q code %q, want 503 overloaded with Retry-After", status, retry, code)
	}
	if at := e.svc.LastOverload(); at.Before(before) {
		t.Fatalf("LastOverload = %v, want after %v", at, before)
	}
}

// TestByteBudget: a reservation beyond what is free waits and succeeds once enough is released,
// and gives up when its timer fires.
func TestByteBudget(t *testing.T) {
	b := newByteBudget(10)
	never := make(chan time.Time)
	if !b.acquire(context.Background(), 8, never) {
		t.Fatal("first reservation refused")
	}
	fired := make(chan time.Time, 1)
	fired <- time.Now()
	if b.acquire(context.Background(), 5, fired) {
		t.Fatal("reservation beyond the budget granted")
	}
	got := make(chan bool)
	go func() { got <- b.acquire(context.Background(), 5, never) }()
	b.release(8)
	if !<-got {
		t.Fatal("reservation not granted after release")
	}
}

// TestSlowBodyHTTP2: over HTTP/2 the read deadline applies to the stream: a body that stops
// arriving is answered 408 while the connection keeps serving other streams.
func TestSlowBodyHTTP2(t *testing.T) {
	e := newIngestEnvH2(t, Config{ReportBodyTimeout: time.Second, HostRate: 1000, HostBurst: 1000})
	_, cred := e.enroll(t, "slow-h2")
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte(`{"reports":[`)) // then nothing
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/reports", pr)
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("slow body over HTTP/2: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body over HTTP/%d: %d, want HTTP/2 408", resp.ProtoMajor, resp.StatusCode)
	}
	if status, _, code := e.post(t, cred, 1); status != http.StatusOK {
		t.Fatalf("next report on the same connection: %d %s", status, code)
	}
}
