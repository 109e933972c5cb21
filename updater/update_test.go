package updater_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
	"github.com/vigilhq/vigil/wire"
)

func TestUpdateCommits(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish("good-2.0.0", tuftest.Custom{})
	h.setDesired("2.0.0", "")
	start := time.Now()
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatalf("CheckOnce: %v", err)
	}
	t.Logf("v1 -> v2 committed in %v (grace %v)", time.Since(start).Round(time.Millisecond), time.Second)
	h.assertRunning("2.0.0")
	st, _ := updater.ReadStatus(h.state)
	if st.Journal.Previous != "1.0.0" {
		t.Errorf("backup = %q, want 1.0.0", st.Journal.Previous)
	}
	for _, ph := range []string{wire.PhaseDownload, wire.PhaseVerify, wire.PhaseInstall, wire.PhaseCommit} {
		if !h.hasEvent(ph, wire.ResultOK, "2.0.0") {
			t.Errorf("no %s ok event; events %+v", ph, h.eventsSeen())
		}
	}
	// Nothing changes: one more check makes no download.
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	// A third version: cleanup keeps current and backup only.
	h.publish("good-1.2.0", tuftest.Custom{AllowDowngrade: true})
	h.setDesired("1.2.0", "")
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.assertRunning("1.2.0")
	if got := h.installed(); len(got) != 2 || !contains(got, "1.2.0") || !contains(got, "2.0.0") {
		t.Errorf("installed = %v, want current 1.2.0 and backup 2.0.0", got)
	}
}

func TestChannelResolvedFromSignedMetadata(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish("good-2.0.0", tuftest.Custom{Channels: []string{"beta"}})
	// stable still signs 1.0.0: nothing to do.
	h.setDesired("", "stable")
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.assertRunning("1.0.0")
	h.setDesired("", "beta")
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.assertRunning("2.0.0")
	// A channel that signed metadata does not know is refused.
	h.setDesired("", "nightly")
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrUnknownVersion)
	h.assertRunning("2.0.0")
}

func TestBadBuildsRolledBack(t *testing.T) {
	buildAll(t) // skips under -short here, before any subtest starts
	for _, tt := range []struct {
		build, version string
		want           error
	}{
		{"exit-2.1.0", "2.1.0", updater.ErrHealthGate},  // exits at once
		{"hang-2.2.0", "2.2.0", updater.ErrHealthGate},  // never READY
		{"noack-2.4.0", "2.4.0", updater.ErrHealthGate}, // no ACK although 1.0.0 was delivering
		{"arm-2.3.0", "2.3.0", updater.ErrNotExecutable},
		{"liar-2.5.0", "2.5.0", updater.ErrNotExecutable}, // --version prints another version
	} {
		t.Run(tt.build, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.start()
			h.publish(tt.build, tuftest.Custom{})
			h.setDesired(tt.version, "")
			start := time.Now()
			err := h.u.CheckOnce(h.ctx)
			mustIs(t, err, tt.want)
			t.Logf("%s refused/rolled back after %v (grace 1s, READY deadline 700ms): %v", tt.build, time.Since(start).Round(time.Millisecond), err)
			h.assertRunning("1.0.0")
			if !h.quarantined(tt.version) {
				t.Errorf("%s not quarantined", tt.version)
			}
			if contains(h.installed(), tt.version) {
				t.Errorf("%s still installed", tt.version)
			}
			phase := wire.PhaseRollback
			to := "1.0.0"
			if tt.want == updater.ErrNotExecutable {
				phase, to = wire.PhaseVerify, tt.version
			}
			found := false
			for _, e := range h.eventsSeen() {
				if e.Phase == phase && (e.ToVersion == to) && e.Reason != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s event with a reason; events %+v", phase, h.eventsSeen())
			}
			// Quarantined: the next check refuses without downloading.
			mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrQuarantined)
			h.assertRunning("1.0.0")
		})
	}
}

func TestDowngradeRefusedUnlessSigned(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish("good-0.9.0", tuftest.Custom{})
	h.setDesired("0.9.0", "")
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrDowngrade)
	h.assertRunning("1.0.0")
	if !h.hasEvent(wire.PhaseCheck, wire.ResultRefused, "0.9.0") {
		t.Errorf("refusal not reported: %+v", h.eventsSeen())
	}
	// Release engineers sign allow_downgrade: now it is allowed.
	h.publish("good-0.9.0", tuftest.Custom{AllowDowngrade: true})
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.assertRunning("0.9.0")
}

func TestBelowFloorRefused(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish("good-1.2.0", tuftest.Custom{})
	h.publish("good-2.0.0", tuftest.Custom{MinVersion: "1.5.0"})
	h.setDesired("1.2.0", "")
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrBelowFloor)
	h.assertRunning("1.0.0")
}

func TestRecoverRollsBackTrial(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish("good-2.0.0", tuftest.Custom{})
	h.setDesired("2.0.0", "")
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.assertRunning("2.0.0")
	// Simulate a supervisor that died during a trial of 2.0.0 from 1.0.0... by rewriting the
	// journal the way trial() leaves it, then starting a new supervisor on the same state.
	st, _ := updater.ReadStatus(h.state)
	j := st.Journal
	j.Current, j.Previous = "1.0.0", ""
	j.Trial = &updater.Trial{Version: "2.0.0", Previous: "1.0.0", Started: time.Now()}
	writeJournal(t, h.state, j)
	u2, err := updater.New(h.config())
	if err != nil {
		t.Fatal(err)
	}
	if err := u2.Recover(h.ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = updater.ReadStatus(h.state)
	if st.Linked != "1.0.0" || st.Journal.Trial != nil || st.Journal.Current != "1.0.0" {
		t.Fatalf("after recovery: %+v", st)
	}
	// One interruption proves nothing against the build: counted, not quarantined.
	if h.quarantined("2.0.0") {
		t.Error("2.0.0 quarantined after one interrupted trial")
	}
	if st.Journal.Interrupted["2.0.0"] != 1 {
		t.Errorf("interrupted = %v, want 2.0.0 once", st.Journal.Interrupted)
	}
	// A second interrupted trial of the same version quarantines it.
	j = st.Journal
	j.Trial = &updater.Trial{Version: "2.0.0", Previous: "1.0.0", Started: time.Now()}
	writeJournal(t, h.state, j)
	if err := u2.Recover(h.ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = updater.ReadStatus(h.state)
	if st.Linked != "1.0.0" || st.Journal.Trial != nil || st.Journal.Current != "1.0.0" {
		t.Fatalf("after the second recovery: %+v", st)
	}
	if !h.quarantined("2.0.0") {
		t.Error("2.0.0 not quarantined after a second interrupted trial")
	}
	if st.Pending != 4 {
		t.Errorf("%d events in the outbox, want 4 (trial failed and rollback ok, twice)", st.Pending)
	}
}

func TestRunsInstalledAgentWithoutNetwork(t *testing.T) {
	h := newHarness(t)
	u, err := updater.New(h.config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Install(h.ctx, "1.0.0", ""); err != nil {
		t.Fatal(err)
	}
	h.srv.Close()
	cfg := h.config()
	cfg.Server = "https://127.0.0.1:1" // nothing listens
	h.u, err = updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.run()
	h.assertRunning("1.0.0")
	if err := h.u.CheckOnce(h.ctx); !errors.Is(err, updater.ErrUnavailable) {
		t.Fatalf("CheckOnce without network = %v, want ErrUnavailable", err)
	}
	h.assertRunning("1.0.0")
}

func TestSupervisorRestartsCrashedAgent(t *testing.T) {
	h := newHarness(t)
	h.start()
	c := h.u.Supervisor().Current()
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if n := h.u.Supervisor().Current(); n != nil && n.PID != c.PID {
			h.assertRunning("1.0.0")
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the crashed agent was not restarted")
}
