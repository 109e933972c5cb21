package faults

import (
	"context"
	"fmt"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// Clock jumps. The agent schedules collection, retries and backoff, and the updater its health
// gate, grace window and polls, with Go's monotonic clock (timers, tickers, time.Now
// comparisons), which a step of the wall clock does not move. What a step does move is every
// wall-clock time they write or judge by: report, outage and event times, certificate validity,
// TUF metadata expiry. Those reads go through package internal/wallclock; the tests here build
// the real vigil-agent and vigil-updater with its test-only tag vigil_fakeclock and step one
// process's wall clock by rewriting its offset file, without touching the host's clock.
// TestHostClockJumps sends the server, directly, what such an agent sends.

// TestHostClockJumps posts reports from a host whose clock jumps forwards by 6 h, backwards by
// 12 h (before its earlier reports), forwards by 23 h and back to the right time. Seqs, not times,
// order and deduplicate reports: every report is acknowledged and stored exactly once. A clock more
// than wire.MaxClockAhead (24 h) ahead is refused with a 400 that says to fix the host's clock
// (documented: the agent then drops that report and counts it in spool_dropped).
func TestHostClockJumps(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	srv := e2eproc.StartServer(t, e2eproc.ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, cred := enrollHost(ctx, t, srv, "jumpy")
	p := &reportPoster{srv: srv, cred: cred}
	boot := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	const per = 10 // reports between jumps
	jumps := []time.Duration{0, 6 * time.Hour, -12 * time.Hour, 23 * time.Hour, 0}
	seq := uint64(0)
	for round := range rounds(1, 3) {
		for _, offset := range jumps {
			for range per {
				seq++
				// Retried until acknowledged, as an agent does (the per-host rate limit answers 429).
				if err := p.postAt(ctx, seq, boot, offset); err != nil {
					t.Fatalf("round %d, clock %+v: seq %d: %v (%d failed attempts)", round, offset, seq, err, p.fails)
				}
				if p.acked != seq {
					t.Fatalf("clock %+v: seq %d acked as %d", offset, seq, p.acked)
				}
			}
		}
	}
	// Beyond the allowed skew: refused, saying what to do (waiting out the rate limit first).
	time.Sleep(2 * time.Second)
	r := wire.Report{Seq: seq + 1, Time: time.Now().Add(wire.MaxClockAhead + time.Hour).UTC(), AgentVersion: "1.0.0", IntervalSeconds: 1, BootTime: boot}
	err := e2eproc.PostJSON(ctx, srv, "/api/v1/reports", cred, wire.ReportBatch{Reports: []wire.Report{r}}, http.StatusBadRequest, nil)
	if err != nil {
		t.Fatalf("a report %s ahead: %v", wire.MaxClockAhead+time.Hour, err)
	}
	srv.Stop(t, 30*time.Second)
	stored := storedSeqs(ctx, t, srv.DataDir, id)
	checked := checkExactlyOnce(t, "jumpy", stored, seq, nil)
	if stored[seq+1] != 0 {
		t.Errorf("the report %s ahead was stored", wire.MaxClockAhead+time.Hour)
	}
	if t.Failed() {
		return
	}
	var js []string
	for _, j := range jumps[1 : len(jumps)-1] {
		js = append(js, fmt.Sprintf("%+v", j))
	}
	record(t, result{
		Fault:  "host clock jumps forwards and backwards (report times, through the real server)",
		Tried:  fmt.Sprintf("%d rounds of jumps %s and back, %d reports each way; one report %s ahead", rounds(1, 3), strings.Join(js, ", "), per, wire.MaxClockAhead+time.Hour),
		Result: fmt.Sprintf("%d reports acknowledged and stored exactly once; the one beyond %s refused with a 400 (fix the clock)", checked, wire.MaxClockAhead),
	})
}
