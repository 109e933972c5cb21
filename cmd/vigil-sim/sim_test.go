package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/tlspin"
)

// startServer runs the real vigil-server in-process on 127.0.0.1:0 (SQLite, its own CA, default
// per-host rate limits) and returns it with a multi-use enrollment token. Test code may link the
// server; the simulator binary may not (TestDeps).
func startServer(t *testing.T) (*app.Server, string) {
	t.Helper()
	ctx := context.Background()
	srv, err := app.Start(ctx, app.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	tok, _, err := srv.Service().CreateEnrollmentToken(ctx, server.Principal{Name: "test", Role: server.RoleAdmin}, "", time.Hour, 1000)
	if err != nil {
		t.Fatalf("enrollment token: %v", err)
	}
	return srv, tok
}

// fleet is the test's fleet size: the test runs beside the rest of `make test` under -race on two
// cores, where 50 hosts at a 1 s interval took seconds per report and starved the outage replays.
// Load is the benchmark's job (e2e/benchcmd/simbench); this test is about the protocol.
const fleet = 12

func TestSimulatorAgainstRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real server and 12 simulated hosts for ~15 s per client")
	}
	for _, raw := range []bool{false, true} {
		name := "net/http"
		if raw {
			name = "raw"
		}
		t.Run(name, func(t *testing.T) { testAgainstRealServer(t, raw) })
	}
}

func testAgainstRealServer(t *testing.T, raw bool) {
	srv, tok := startServer(t)
	tlsConf, err := tlspin.PinnedCAFingerprint(srv.CAFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(t.TempDir(), "state.json")
	cfg := Config{
		Server: srv.URL, TLS: tlsConf, Hosts: fleet, Interval: time.Second, Jitter: 0.05,
		Warmup: time.Second, Duration: 10 * time.Second, Drain: 15 * time.Second,
		EnrollToken: tok, StatePath: statePath,
		// 20 % of hosts lose the server for 2.5 s: they keep collecting and must replay.
		OutagePct: 20, OutageFor: 2500 * time.Millisecond, OutageStart: 1500 * time.Millisecond,
		// Churn: hosts powering off and back on, and new hosts enrolling during the run.
		SilentPerMin: 60, SilentFor: 2 * time.Second, NewPerMin: 60,
		Updaters: true, Poll: time.Second,
		MaxBackoff: time.Second, RawClient: raw, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	res := runSim(t, cfg)
	if res.EnrolledThisRun < fleet {
		t.Errorf("enrolled %d hosts, want at least the %d of the fleet", res.EnrolledThisRun, fleet)
	}
	if res.WentSilent == 0 || res.OutageAttempts == 0 || res.Polls == 0 {
		t.Errorf("churn did not happen: %d went silent, %d outage attempts, %d updater polls", res.WentSilent, res.OutageAttempts, res.Polls)
	}
	if res.Hosts <= fleet {
		t.Errorf("%d hosts ran: no new host joined during the run", res.Hosts)
	}
	checkServer(t, srv, res, true)

	// A rerun reuses the credentials and continues the sequence numbers.
	cfg.OutagePct, cfg.SilentPerMin, cfg.NewPerMin, cfg.Updaters = 0, 0, 0, false
	cfg.Duration = 2 * time.Second
	cfg.EnrollToken = ""
	res2 := runSim(t, cfg)
	if res2.EnrolledThisRun != 0 {
		t.Errorf("rerun enrolled %d hosts; the state file should have provided them", res2.EnrolledThisRun)
	}
	checkServer(t, srv, res2, false)
}

func runSim(t *testing.T, cfg Config) *Result {
	t.Helper()
	s, err := newSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	res.writeTable(testWriter{t})
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	if res.Unacked != 0 || res.TotalAcked != res.TotalCollected {
		t.Errorf("%d reports collected, %d acknowledged, %d still held: every report sent must be acknowledged",
			res.TotalCollected, res.TotalAcked, res.Unacked)
	}
	if res.AckedInWindow == 0 || res.LatencyP50Ms <= 0 || res.LatencyMaxMs < res.LatencyP99Ms {
		t.Errorf("implausible figures: %d acked in the window, p50 %v ms, p99 %v ms, max %v ms",
			res.AckedInWindow, res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyMaxMs)
	}
	return res
}

// checkServer compares each host's end state with what the server stored: acked_seq is the last
// seq sent, and the samples are exactly seqs 1..last, each once.
func checkServer(t *testing.T, srv *app.Server, res *Result, outage bool) {
	t.Helper()
	ctx := context.Background()
	st := srv.Service().Store()
	replayedHosts := 0
	for _, h := range res.HostsAtEnd {
		got, err := st.GetHost(ctx, h.HostID)
		if err != nil {
			t.Fatalf("host %s: %v", h.HostID, err)
		}
		if got.AckedSeq != h.LastSeq {
			t.Errorf("host %s: server acked_seq %d, simulator's last seq %d", h.HostID, got.AckedSeq, h.LastSeq)
		}
		samples, err := st.ListSamples(ctx, h.HostID, time.Time{}, time.Now().Add(time.Hour), 100000)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]bool{}
		for _, s := range samples {
			if seen[s.Seq] {
				t.Errorf("host %s: seq %d stored twice", h.HostID, s.Seq)
			}
			seen[s.Seq] = true
		}
		if uint64(len(seen)) != h.LastSeq {
			t.Errorf("host %s: %d distinct seqs stored, want 1..%d", h.HostID, len(seen), h.LastSeq)
		}
		if outage && h.InOutage {
			if h.Replayed == 0 {
				t.Errorf("host %s was in the outage but replayed no backlog in batches", h.HostID)
			}
			if o, err := st.ListOutages(ctx, h.HostID, time.Time{}); err != nil || len(o) == 0 {
				t.Errorf("host %s was in the outage but the server has no outage record (%v)", h.HostID, err)
			}
			replayedHosts++
		}
	}
	if want := (fleet*20 + 50) / 100; outage && replayedHosts != want {
		t.Errorf("%d hosts in the outage, want %d (20 %% of %d)", replayedHosts, want, fleet)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
