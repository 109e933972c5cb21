package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/e2e/e2eproc"
	"github.com/vigilhq/vigil/wire"
)

// fakeClockTag builds the agent and the updater with their wall-clock seam (package
// internal/wallclock), never used by `make build` or a release.
const fakeClockTag = "vigil_fakeclock"

var droppedRE = regexp.MustCompile(`msg="Server refused a report; dropping it\." seq=(\d+)`)

// fakeClock is the offset file of one process's faked wall clock.
type fakeClock string

func newFakeClock(t *testing.T) fakeClock {
	return fakeClock(filepath.Join(t.TempDir(), "clock-offset"))
}

// Env is the environment entry that points a vigil_fakeclock build at the file.
func (c fakeClock) Env() string { return "VIGIL_FAKECLOCK_FILE=" + string(c) }

// Set steps the process's wall clock to the host's plus d (atomically: write, then rename).
func (c fakeClock) Set(t *testing.T, d time.Duration) {
	t.Helper()
	tmp := string(c) + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, string(c)); err != nil {
		t.Fatal(err)
	}
}

// TestAgentClockJumps steps a real agent's wall clock forwards by 6 h, back by 12 h, forwards by
// 25 h (beyond wire.MaxClockAhead) and back to the right time, a few reports at each, through a
// tap that sees every report on the wire. Scheduling does not notice (monotonic clock); what
// changes: at -12 h the reports go over the kept-alive connection, but after a restart the
// server's certificate (valid from an hour ago) is not yet valid for a new handshake, so the
// agent spools, retries and delivers those reports once the clock is on; at +25 h the
// server refuses each report with a 400 and the agent drops it, logs it and counts it in
// spool_dropped, as documented, and keeps running. Every report not dropped is stored exactly
// once, with the time the agent's clock gave it; none of the dropped ones is stored.
func TestAgentClockJumps(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	per := rounds(3, 10) // reports at each clock
	srv := e2eproc.StartServer(t, e2eproc.ServerConfig{})
	tap := startTap(t, srv)
	clock := newFakeClock(t)
	agentBin := e2eproc.BuildTags(t, "vigil-agent", "1.0.0-faults", fakeClockTag)
	agent := e2eproc.StartProcess(t, "vigil-agent", agentBin, []string{"VIGIL_LOG_LEVEL=debug", clock.Env()},
		"--server", tap.URL, "--ca", tap.CAFile, "--enroll-token", srv.EnrollToken(t),
		"--state-dir", t.TempDir(), "--interval", "1s")
	spooled := func() []uint64 { return logSeqs(t, agent.Log, spooledRE) }
	lastAcked := func() uint64 { return lastSeq(t, agent.Log, ackedRE) }
	alive := func() {
		if !agent.Running() {
			t.Fatalf("vigil-agent exited: %v", agent.Err())
		}
	}
	start := time.Now()
	e2eproc.WaitFor(t, 60*time.Second, "the first acknowledged report", func() (bool, error) { alive(); return lastAcked() >= 1, nil })

	jumps := []time.Duration{6 * time.Hour, -12 * time.Hour, wire.MaxClockAhead + time.Hour, 0}
	for _, d := range jumps {
		clock.Set(t, d)
		mark := len(spooled())
		e2eproc.WaitFor(t, 60*time.Second, fmt.Sprintf("%d reports with the clock at %+v", per, d), func() (bool, error) {
			alive()
			return len(spooled()) >= mark+per, nil
		})
		if d < 0 {
			// Certificates are checked at the handshake: the kept-alive connection carried those
			// reports. A restart needs a new one, which the server's certificate (valid from an
			// hour ago) fails: reports wait in the spool.
			agent.Stop(t, 30*time.Second)
			agent.Start(t)
			mark := len(spooled())
			e2eproc.WaitFor(t, 60*time.Second, fmt.Sprintf("%d reports spooled after a restart at %+v, undelivered", per, d), func() (bool, error) {
				alive()
				return len(spooled()) >= mark+per && e2eproc.LogHas(agent.Log, "not yet valid"), nil
			})
		}
	}
	// Back at the right time: everything spooled so far is delivered or dropped.
	s := spooled()
	last := s[len(s)-1]
	e2eproc.WaitFor(t, 90*time.Second, "delivery of every report once the clock is right", func() (bool, error) {
		alive()
		return lastAcked() >= last, nil
	})
	// The count of the dropped reports and the TLS outage ride on the next report spooled: wait
	// until one spooled from here on (every drop and the outage's end are behind) is acknowledged.
	mark := len(spooled())
	e2eproc.WaitFor(t, 60*time.Second, "a report spooled after the recovery, acknowledged", func() (bool, error) {
		alive()
		s := spooled()
		return len(s) > mark && lastAcked() >= s[mark], nil
	})
	agent.Stop(t, 30*time.Second)
	ctx := context.Background()
	hosts, err := srv.Client().ListHosts(ctx, "")
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts: %v, %v", hosts, err)
	}
	srv.Stop(t, 30*time.Second)
	stored := storedSeqs(ctx, t, srv.DataDir, hosts[0].ID)
	dropped := map[uint64]bool{}
	for _, seq := range logSeqs(t, agent.Log, droppedRE) {
		dropped[seq] = true
	}
	skews := tap.Skews()
	byClock := map[time.Duration]int{}
	for _, seq := range spooled() {
		if seq > lastAcked() {
			continue // spooled after the last acknowledgement, before the stop
		}
		skew, sent := skews[seq]
		switch {
		case !sent:
			t.Errorf("seq %d was never sent", seq)
		case skew > wire.MaxClockAhead && !dropped[seq]:
			t.Errorf("seq %d, %v ahead, was not dropped", seq, skew)
		case skew <= wire.MaxClockAhead && dropped[seq]:
			t.Errorf("seq %d, at %+v, was dropped", seq, skew)
		case dropped[seq] && stored[seq] != 0:
			t.Errorf("seq %d was dropped but is stored", seq)
		}
		if !dropped[seq] {
			byClock[skew]++
		}
	}
	checked := checkExactlyOnce(t, "agent", stored, lastAcked(), dropped)
	for _, d := range jumps[:2] {
		if byClock[d] < per {
			t.Errorf("%d reports stored at %+v, want at least %d", byClock[d], d, per)
		}
	}
	if len(dropped) < per {
		t.Errorf("%d reports dropped at %+v, want at least %d", len(dropped), wire.MaxClockAhead+time.Hour, per)
	}
	// What reached the server about it: the TLS outage, and spool_dropped.
	var tlsOutage bool
	var reportedDrops uint64
	counted := map[uint64]bool{} // a report resent after a lost ack is stored (and counted) once
	for _, r := range tap.Reports() {
		for _, o := range r.Outages {
			tlsOutage = tlsOutage || o.Class == wire.OutageTLS
		}
		if stored[r.Seq] != 0 && !counted[r.Seq] {
			counted[r.Seq] = true
			reportedDrops += r.SpoolDropped
		}
	}
	if !tlsOutage {
		t.Error("no TLS outage reported for the time the clock was 12 h behind")
	}
	if reportedDrops != uint64(len(dropped)) {
		t.Errorf("stored reports count %d dropped reports in spool_dropped, want %d (each refused report once)", reportedDrops, len(dropped))
	}
	if t.Failed() {
		return
	}
	t.Logf("from the agent's start to the end: %v", time.Since(start).Round(100*time.Millisecond))
	var js []string
	for _, j := range jumps[:3] {
		js = append(js, fmt.Sprintf("%+v", j))
	}
	record(t, result{
		Fault: "the real agent's wall clock jumps forwards and backwards (vigil_fakeclock build)",
		Tried: fmt.Sprintf("jumps %s and back, at least %d reports at each clock; one restart at -12h", strings.Join(js, ", "), per),
		Result: fmt.Sprintf("agent kept running; at -12h reports went over the kept-alive connection, and after a restart the server's certificate was not yet valid: reports spooled, delivered when the clock moved on (TLS outage reported); "+
			"the %d reports %s ahead refused (400) and dropped, logged; %d acknowledged reports: lost 0, duplicated 0; spool_dropped reaching the server: %d of %d",
			len(dropped), jumps[2], checked, reportedDrops, len(dropped)),
	})
}
