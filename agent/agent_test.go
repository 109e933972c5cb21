package agent

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilhq/vigil/agent/collect"
	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/wire"
)

// fakeServer is a whole working vigil-server for the agent's two endpoints: it enrolls, checks
// every request as the real one should, commits reports deduplicated by seq, and acks the highest
// contiguous committed seq (across gaps the agent declares by the ordering contract). Its failure
// modes are switched by the test.
type fakeServer struct {
	mu         sync.Mutex
	credential string
	committed  map[uint64]int // seq → times received (committed once)
	acked      uint64
	outages    []wire.Outage
	dropped    uint64
	requests   []time.Time
	badReqs    []string

	down       bool          // answer 503
	stall      time.Duration // hold each report request this long before answering
	stalled    int           // report requests held by stall
	retryAfter string
	loseAck    bool      // commit, then fail the answer (a lost ack)
	refuse     bool      // refuse every report batch (400), as the real server one from too far ahead
	unauth     bool      // answer 401
	enrollIntv int       // report_interval_seconds in the enrollment answer
	versions   [2]string // agent and updater version of the newest committed report
	config     *wire.AgentConfig
	reports    chan wire.Report // if set, gets each newly committed report (without blocking)
	bodies     []sentBody       // every decoded report body, in order
}

// sentBody is how a report body arrived.
type sentBody struct {
	gzipped            bool
	jsonBytes, reports int
}

func newFakeServer() *fakeServer {
	return &fakeServer{credential: "cred-secret-1", committed: map[uint64]int{}}
}

func (f *fakeServer) set(fn func(f *fakeServer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	stall := f.stall
	if stall > 0 && r.URL.Path == pathReports {
		f.stalled++
	}
	f.mu.Unlock()
	if stall > 0 && r.URL.Path == pathReports {
		time.Sleep(stall) // outside the lock: a sleeping goroutine is durably blocked, a locked one is not
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == pathReports {
		f.requests = append(f.requests, time.Now())
	}
	bad := func(msg string) {
		f.badReqs = append(f.badReqs, msg)
		http.Error(w, msg, http.StatusBadRequest)
	}
	if r.Header.Get(wire.ProtocolHeader) != "1" {
		bad("no protocol header")
		return
	}
	switch r.URL.Path {
	case pathEnroll:
		var req wire.EnrollRequest
		if err := wire.Decode(r.Body, wire.MaxSmallBodyBytes, true, &req); err != nil {
			bad(err.Error())
			return
		}
		if err := req.Validate(); err != nil || req.EnrollmentToken != "enroll-token-1" {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(wire.EnrollResponse{HostID: "h1", Credential: f.credential, ReportIntervalSeconds: f.enrollIntv})
	case pathReports:
		if f.unauth || r.Header.Get("Authorization") != "Bearer "+f.credential {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if f.down {
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var body io.Reader = r.Body
		gzipped := false
		switch enc := r.Header.Get("Content-Encoding"); enc {
		case "gzip":
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				bad(err.Error())
				return
			}
			body, gzipped = zr, true
		case "":
		default:
			bad("unknown encoding " + enc)
			return
		}
		data, err := io.ReadAll(io.LimitReader(body, wire.MaxReportDecodedBytes))
		if err != nil {
			bad(err.Error())
			return
		}
		var batch wire.ReportBatch
		if err := wire.Unmarshal(data, false, &batch); err != nil {
			bad(err.Error())
			return
		}
		f.bodies = append(f.bodies, sentBody{gzipped: gzipped, jsonBytes: len(data), reports: len(batch.Reports)})
		if err := batch.Validate(); err != nil {
			bad(err.Error())
			return
		}
		if f.refuse {
			http.Error(w, "report time too far ahead", http.StatusBadRequest)
			return
		}
		first := batch.Reports[0].Seq
		if first <= f.acked && f.committed[first] == 0 {
			bad("batch starts below the acked seq with an uncommitted report")
			return
		}
		if first > f.acked+1 {
			f.acked = first - 1 // the agent dropped these (ordering contract)
		}
		for _, rep := range batch.Reports {
			f.committed[rep.Seq]++
			if f.committed[rep.Seq] == 1 {
				f.versions = [2]string{rep.AgentVersion, rep.UpdaterVersion}
				f.outages = append(f.outages, rep.Outages...)
				f.dropped += rep.SpoolDropped
				if f.reports != nil {
					select {
					case f.reports <- rep:
					default:
					}
				}
			}
		}
		for f.committed[f.acked+1] > 0 {
			f.acked++
		}
		if f.loseAck {
			http.Error(w, "lost", http.StatusBadGateway)
			return
		}
		json.NewEncoder(w).Encode(wire.Ack{AckedSeq: f.acked, Config: f.config})
	default:
		http.NotFound(w, r)
	}
}

// pipeDialer serves every connection the agent dials in-process with h, over TLS on a net.Pipe
// with the certificate of pki, so agent tests exercise the agent's own HTTP transport, TLS
// included, and still run inside a synctest bubble.
func pipeDialer(h http.Handler, pki testPKI) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		client, srv := net.Pipe()
		go servePipe(tls.Server(srv, pki.serverConfig()), h)
		return client, nil
	}
}

// servePipe serves HTTP/1.1 requests on c with h until either side closes it.
func servePipe(c net.Conn, h http.Handler) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		io.Copy(io.Discard, req.Body)
		resp := rec.Result()
		resp.ContentLength = int64(rec.Body.Len())
		if err := resp.Write(c); err != nil || req.Close {
			return
		}
	}
}

const fixtureProc = "collect/testdata/host/proc"

func testConfig(t *testing.T, srv http.Handler) Config {
	pki := sharedPKI()
	pinned, err := tlspin.PinnedCA(pki.caPEM())
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Server:      "https://vigil.test",
		TLS:         pinned,
		Dial:        pipeDialer(srv, pki),
		EnrollToken: "enroll-token-1",
		StateDir:    t.TempDir(),
		Interval:    time.Second,
		Version:     "1.0.0",
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Collect: collect.Config{ProcRoot: fixtureProc, SysRoot: "collect/testdata/host/sys",
			Disabled: []string{collect.NameMounts, collect.NameUnits}},
		MaxBackoff: 30 * time.Second,
	}
}

// runFor runs the agent for d of (fake) time and returns it stopped.
func runFor(t *testing.T, a *Agent, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	time.Sleep(d)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func newAgent(t *testing.T, cfg Config) *Agent {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestExactlyOnceDelivery runs the agent through an outage, lost acks and a restart, and checks
// that the server committed every seq exactly once, the outage was reported, and nothing is left.
func TestExactlyOnceDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer()
		cfg := testConfig(t, srv)
		a := newAgent(t, cfg)
		runFor(t, a, 10*time.Second)

		srv.set(func(f *fakeServer) { f.down = true })
		a = newAgent(t, cfg)
		runFor(t, a, 40*time.Second) // outage, with a restart at its start
		srv.set(func(f *fakeServer) { f.down = false; f.loseAck = true })
		a = newAgent(t, cfg)
		runFor(t, a, 20*time.Second) // reports commit but acks are lost: they are resent
		srv.set(func(f *fakeServer) { f.loseAck = false })
		a = newAgent(t, cfg)
		runFor(t, a, 90*time.Second) // back to normal (after at most one MaxBackoff)
		pending := a.spool.Pending()

		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.badReqs) > 0 {
			t.Fatalf("server saw bad requests: %v", srv.badReqs)
		}
		var max uint64
		for seq := range srv.committed {
			max = maxOf(max, seq)
		}
		for seq := uint64(1); seq <= max; seq++ {
			if srv.committed[seq] == 0 {
				t.Errorf("seq %d never arrived", seq)
			}
		}
		if srv.acked != max || pending > 1 {
			t.Errorf("acked %d of %d, %d pending", srv.acked, max, pending)
		}
		if max < 150 {
			t.Errorf("only %d reports in 160 s at a 1 s interval", max)
		}
		var sawDown bool
		for _, o := range srv.outages {
			if o.Class == wire.OutageHTTP && strings.Contains(o.Detail, "503") {
				sawDown = true
			}
		}
		if !sawDown {
			t.Errorf("outage not reported: %+v", srv.outages)
		}
		if srv.dropped != 0 {
			t.Errorf("dropped = %d", srv.dropped)
		}
		resent := 0
		for _, n := range srv.committed {
			if n > 1 {
				resent++
			}
		}
		if resent == 0 {
			t.Errorf("no report was resent after a lost ack: the test did not exercise dedupe")
		}
		// One report goes as it is; a replayed batch of gzipMinBytes or more, compressed.
		var plain, gzipped int
		for _, b := range srv.bodies {
			if b.gzipped != (b.jsonBytes >= gzipMinBytes) {
				t.Errorf("a body of %d reports, %d bytes of JSON: gzipped %v (gzip from %d bytes)", b.reports, b.jsonBytes, b.gzipped, gzipMinBytes)
			}
			if b.gzipped {
				gzipped++
			} else {
				plain++
			}
		}
		if plain == 0 || gzipped == 0 {
			t.Errorf("%d plain and %d gzipped bodies: want both (single reports and a replay)", plain, gzipped)
		}
		t.Logf("%d reports committed once each, %d resent after lost acks, outages %+v; %d bodies plain, %d gzipped", max, resent, srv.outages, plain, gzipped)
	})
}

// TestCrashAfterPartialReplay: an agent killed after the server acknowledged part of a replay (the
// ack mark inside a kept segment, which the spool persists at once) does not send those reports
// again on restart, so each report is committed once and none is lost. The seqs the killed agent
// had leased but not used are skipped, and the server acknowledges across the gap.
func TestCrashAfterPartialReplay(t *testing.T) {
	srv := newFakeServer()
	cfg := testConfig(t, srv)
	a := newAgent(t, cfg)
	ctx := t.Context()
	now := time.Now()
	for i := range 5 { // collected during an outage
		a.cycle(now.Add(time.Duration(i) * time.Second))
	}
	a.batchLimit = 3
	a.deliver(ctx, time.Time{}) // one batch: 1..3 acknowledged, 4..5 pending
	srv.mu.Lock()
	defer srv.mu.Unlock() // the server's handler is done once deliver returns; lock for the race detector
	if srv.acked != 3 || a.spool.Pending() != 2 {
		t.Fatalf("server acked %d, agent has %d pending; want 3 and 2", srv.acked, a.spool.Pending())
	}
	// kill -9: no Close, so the end of the lease is not written back.
	a.client.Close()
	crash(t, a.spool)

	a = newAgent(t, cfg)
	defer a.Close()
	if got := a.spool.Pending(); got != 2 {
		t.Fatalf("after the crash %d reports pending, want 2 (the partial ack of 1..3 persisted)", got)
	}
	a.cycle(now.Add(10 * time.Second))
	srv.mu.Unlock()
	a.deliver(ctx, now.Add(time.Hour))
	srv.mu.Lock()
	if a.spool.Pending() != 0 || len(srv.badReqs) != 0 {
		t.Fatalf("%d pending, bad requests %v", a.spool.Pending(), srv.badReqs)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if got, want := srv.committed[seq], 1; got != want {
			t.Errorf("seq %d received %d times, want %d", seq, got, want)
		}
	}
	var after []uint64
	for seq := range srv.committed {
		if seq > 5 {
			after = append(after, seq)
		}
	}
	if len(after) != 1 || after[0] <= 5+1 || after[0] > 5+seqLease || srv.acked != after[0] {
		t.Errorf("report after the restart has seq %v, server acked %d; want one seq in 7..%d (the rest of the lease skipped), acknowledged",
			after, srv.acked, 5+seqLease)
	}
}

func maxOf(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func TestEnrollStoresCredential(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer()
		cfg := testConfig(t, srv)
		runFor(t, newAgent(t, cfg), 3*time.Second)
		path := filepath.Join(cfg.StateDir, "credential")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("credential mode %v, want 0600", fi.Mode().Perm())
		}
		b, _ := os.ReadFile(path)
		if strings.TrimSpace(string(b)) != srv.credential {
			t.Fatalf("credential file holds %q", b)
		}
		// A later start needs no token.
		cfg.EnrollToken = ""
		runFor(t, newAgent(t, cfg), 3*time.Second)
		if len(srv.badReqs) != 0 || srv.acked < 4 {
			t.Fatalf("acked %d, bad %v", srv.acked, srv.badReqs)
		}
	})
	if _, err := New(Config{Server: "https://x", StateDir: t.TempDir()}); err != ErrNoCredential {
		t.Fatalf("New without credential or token = %v, want ErrNoCredential", err)
	}
}

// TestReportsCarryVersions: reports name the agent's version and, under a supervisor, the updater's.
func TestReportsCarryVersions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer()
		cfg := testConfig(t, srv)
		cfg.UpdaterVersion = "2.1.0"
		runFor(t, newAgent(t, cfg), 3*time.Second)
		if srv.versions != [2]string{"1.0.0", "2.1.0"} {
			t.Fatalf("server saw versions %q", srv.versions)
		}
	})
}

// TestEnrollmentInterval: the server's interval for new hosts applies only when the agent has
// none configured.
func TestEnrollmentInterval(t *testing.T) {
	for _, tt := range []struct {
		local, want time.Duration
	}{{0, 7 * time.Second}, {time.Second, time.Second}} {
		synctest.Test(t, func(t *testing.T) {
			srv := newFakeServer()
			srv.enrollIntv = 7
			cfg := testConfig(t, srv)
			cfg.Interval = tt.local
			a := newAgent(t, cfg)
			runFor(t, a, 3*time.Second)
			if a.Interval() != tt.want {
				t.Fatalf("local interval %s: interval %s after enrollment, want %s", tt.local, a.Interval(), tt.want)
			}
		})
	}
}

func TestUnauthorizedKeepsData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer()
		srv.unauth = true
		cfg := testConfig(t, srv)
		a := newAgent(t, cfg)
		runFor(t, a, 30*time.Second)
		if p := a.spool.Pending(); p < 29 {
			t.Fatalf("only %d reports kept after 30 s of 401s", p)
		}
		// Once the server accepts the credential again, everything is delivered.
		srv.set(func(f *fakeServer) { f.unauth = false })
		a = newAgent(t, cfg)
		runFor(t, a, 60*time.Second)
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for seq := uint64(1); seq <= srv.acked; seq++ {
			if srv.committed[seq] != 1 && srv.committed[seq] != 2 {
				t.Fatalf("seq %d committed %d times", seq, srv.committed[seq])
			}
		}
		if srv.acked < 85 || srv.committed[1] == 0 {
			t.Fatalf("acked %d after recovery", srv.acked)
		}
	})
}

// TestShutdownIsNoOutage stops the agent while a delivery is in flight: the send its own shutdown
// cut short is not a connectivity outage, so none is recorded (the server would otherwise explain
// the host's silence while it was stopped as a network outage).
func TestShutdownIsNoOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer()
		cfg := testConfig(t, srv)
		runFor(t, newAgent(t, cfg), 3*time.Second) // enrolled, delivering
		srv.set(func(f *fakeServer) { f.stall = time.Minute })
		defer time.Sleep(2 * time.Minute) // let the stalled handler finish inside the bubble
		a := newAgent(t, cfg)
		runFor(t, a, 5*time.Second) // cancelled while its first send waits for the answer
		srv.mu.Lock()
		stalled := srv.stalled
		srv.mu.Unlock()
		if stalled == 0 {
			t.Fatal("no report request was in flight at shutdown")
		}
		if a.outages.Open != nil || len(a.outages.done) > 0 {
			t.Fatalf("shutdown recorded as an outage: open %+v, done %+v", a.outages.Open, a.outages.done)
		}
		if _, err := os.Stat(filepath.Join(cfg.StateDir, "outages.json")); err == nil {
			b, _ := os.ReadFile(filepath.Join(cfg.StateDir, "outages.json"))
			if strings.Contains(string(b), "open") {
				t.Fatalf("outages.json after shutdown: %s", b)
			}
		}
	})
}

func TestRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer()
		srv.down, srv.retryAfter = true, "120"
		cfg := testConfig(t, srv)
		cfg.Interval = 10 * time.Second
		start := time.Now()
		runFor(t, newAgent(t, cfg), 5*time.Minute)
		srv.mu.Lock()
		defer srv.mu.Unlock()
		reports := srv.requests
		if reports[0].Sub(start) > 2*time.Second {
			t.Fatalf("first report sent %s after start", reports[0].Sub(start))
		}
		for i := 1; i < len(reports); i++ {
			if gap := reports[i].Sub(reports[i-1]); gap < 120*time.Second {
				t.Fatalf("request %d came %s after the previous one despite Retry-After: 120", i, gap)
			}
		}
		if len(reports) < 2 {
			t.Fatalf("only %d requests", len(reports))
		}
	})
}

func TestBackoffJitterBounds(t *testing.T) {
	const maxDelay = 5 * time.Minute
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{0, time.Second}, {1, 2 * time.Second}, {3, 8 * time.Second}, {8, 256 * time.Second},
		{9, maxDelay}, {40, maxDelay}, {1000, maxDelay},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.attempt), func(t *testing.T) {
			hi := backoff(tt.attempt, maxDelay, func(n int64) int64 { return n - 1 })
			lo := backoff(tt.attempt, maxDelay, func(n int64) int64 { return 0 })
			if hi != tt.ceiling {
				t.Errorf("largest delay = %s, want %s", hi, tt.ceiling)
			}
			if lo != 100*time.Millisecond {
				t.Errorf("smallest delay = %s, want the 100ms floor", lo)
			}
			for range 100 {
				d := backoff(tt.attempt, maxDelay, randInt64N)
				if d < 100*time.Millisecond || d > tt.ceiling {
					t.Fatalf("delay %s outside [100ms, %s]", d, tt.ceiling)
				}
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                                 0,
		"30":                               30 * time.Second,
		"-5":                               0,
		"999999":                           maxRetryAfter,
		"Thu, 01 Jan 2026 00:02:00 GMT":    2 * time.Minute,
		"Thursday, 01-Jan-26 00:03:00 GMT": 3 * time.Minute,
		"Thu Jan  1 00:04:00 2026":         4 * time.Minute,
		"Wed, 31 Dec 2025 23:00:00 GMT":    0,
		"garbage":                          0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestServerConfigBounds(t *testing.T) {
	tests := []struct {
		name         string
		cfg          wire.AgentConfig
		wantInterval time.Duration
	}{
		{"interval applied", wire.AgentConfig{IntervalSeconds: 30}, 30 * time.Second},
		{"zero keeps the default", wire.AgentConfig{}, DefaultInterval},
		{"too long rejected", wire.AgentConfig{IntervalSeconds: 7200}, DefaultInterval},
		{"negative rejected", wire.AgentConfig{IntervalSeconds: -1}, DefaultInterval},
		{"relative exe rejects all", wire.AgentConfig{IntervalSeconds: 30, WatchProcesses: []wire.ProcessWatch{{Exe: "sh"}}}, DefaultInterval},
		{"too many units rejects all", wire.AgentConfig{IntervalSeconds: 30, WatchUnits: make([]string, wire.MaxWatchEntries+1)}, DefaultInterval},
		{"bad unit name rejects all", wire.AgentConfig{IntervalSeconds: 30, WatchUnits: []string{"nginx"}}, DefaultInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, newFakeServer())
			cfg.Interval = 0 // no local interval: the server's may apply
			a := newAgent(t, cfg)
			defer a.Close()
			a.applyConfig(&tt.cfg)
			if a.Interval() != tt.wantInterval {
				t.Fatalf("interval = %s, want %s", a.Interval(), tt.wantInterval)
			}
		})
	}
}

func TestServerConfigFromAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer()
		srv.config = &wire.AgentConfig{IntervalSeconds: 5, WatchProcesses: []wire.ProcessWatch{{Name: "nginx"}}}
		cfg := testConfig(t, srv)
		cfg.Interval = 0
		lines := &lineWriter{}
		cfg.Notify = lines
		a := newAgent(t, cfg)
		runFor(t, a, 28*time.Second) // not a multiple of 5 s: no collection races the stop
		if a.Interval() != 5*time.Second {
			t.Fatalf("interval %s after the server set 5s", a.Interval())
		}
		srv.mu.Lock()
		n := srv.acked
		srv.mu.Unlock()
		if n < 5 || n > 6 { // at 0 s (the first ack sets 5 s), then every 5 s
			t.Fatalf("%d reports in 28 s at 5 s", n)
		}
		got := lines.String()
		if !strings.HasPrefix(got, "READY\nWATCHDOG\nACK\n") || strings.Count(got, "WATCHDOG\n") != int(n) ||
			strings.Count(got, "READY") != 1 || strings.Count(got, "ACK\n") != 1 {
			t.Fatalf("notify lines:\n%s", got)
		}
	})
}

// TestServerSettingsMerge: the server adds watch entries but cannot remove local ones, a local
// interval wins over the server's, and a later config without entries leaves only the local ones.
func TestServerSettingsMerge(t *testing.T) {
	cfg := testConfig(t, newFakeServer())
	cfg.Interval = 3 * time.Second
	cfg.Collect.WatchProcesses = []wire.ProcessWatch{{Name: "sshd"}}
	cfg.Collect.WatchUnits = []string{"ssh.service"}
	a := newAgent(t, cfg)
	defer a.Close()
	a.applyConfig(&wire.AgentConfig{IntervalSeconds: 60,
		WatchProcesses: []wire.ProcessWatch{{Name: "sshd"}, {Exe: "/usr/sbin/nginx"}},
		WatchUnits:     []string{"nginx.service"}})
	if a.Interval() != 3*time.Second {
		t.Errorf("interval %s, want the local 3s", a.Interval())
	}
	procs, units := a.collector.Watches()
	if want := []wire.ProcessWatch{{Name: "sshd"}, {Exe: "/usr/sbin/nginx"}}; !slices.Equal(procs, want) {
		t.Errorf("processes %v, want %v", procs, want)
	}
	if want := []string{"ssh.service", "nginx.service"}; !slices.Equal(units, want) {
		t.Errorf("units %v, want %v", units, want)
	}
	a.applyConfig(&wire.AgentConfig{}) // the operator cleared the settings
	procs, units = a.collector.Watches()
	if !slices.Equal(procs, cfg.Collect.WatchProcesses) || !slices.Equal(units, cfg.Collect.WatchUnits) {
		t.Errorf("after clearing: %v %v, want only the local entries", procs, units)
	}
}

func TestMergeWatchesBound(t *testing.T) {
	local := make([]string, wire.MaxWatchEntries-1)
	for i := range local {
		local[i] = fmt.Sprintf("l%d.service", i)
	}
	_, units := MergeWatches(nil, local, nil, []string{"a.service", "b.service", "l0.service"})
	if len(units) != wire.MaxWatchEntries || units[len(units)-1] != "a.service" || !slices.Equal(units[:len(local)], local) {
		t.Fatalf("merged %d units ending %q", len(units), units[len(units)-1])
	}
}

type lineWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestNotifyPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	n := notifier{w: w, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	n.readyOnce()
	n.readyOnce()
	n.send(NotifyWatchdog)
	n.ackOnce()
	w.Close()
	got, _ := io.ReadAll(r)
	if string(got) != "READY\nWATCHDOG\nACK\n" {
		t.Fatalf("pipe got %q", got)
	}

	// A broken pipe (the supervisor went away) must not kill the agent.
	r, w, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	n = notifier{w: w, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	n.send(NotifyWatchdog)
	n.send(NotifyWatchdog)
	if !n.disabled {
		t.Fatalf("notifier still enabled after a broken pipe")
	}
}

func TestOpenNotifyFD(t *testing.T) {
	for _, v := range []string{"x", "1", "-3"} {
		if _, err := OpenNotifyFD(v); err == nil {
			t.Errorf("OpenNotifyFD(%q) accepted", v)
		}
	}
	if f, err := OpenNotifyFD(""); f != nil || err != nil {
		t.Errorf("empty VIGIL_NOTIFY_FD: %v %v", f, err)
	}
}

// TestPlainHTTPRefused: the credential never travels in clear text.
func TestPlainHTTPRefused(t *testing.T) {
	cfg := testConfig(t, newFakeServer())
	cfg.Server = "http://vigil.test"
	if _, err := New(cfg); !errors.Is(err, ErrPlainHTTP) {
		t.Fatalf("New with %s: %v, want ErrPlainHTTP", cfg.Server, err)
	}
	cfg.Server = "ftp://vigil.test"
	if _, err := New(cfg); err == nil {
		t.Fatalf("New with %s succeeded", cfg.Server)
	}
}
