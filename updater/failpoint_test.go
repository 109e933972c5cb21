package updater_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
	"github.com/vigilhq/vigil/wire"
)

// updaterProcess runs the real vigil-updater binary on the harness's state directory.
func (h *harness) updaterProcess(bin, failpoint string) *exec.Cmd {
	h.t.Helper()
	cmd := exec.Command(bin, "run", "--server", h.srv.URL, "--ca", h.caFile, "--state-dir", h.state,
		"--poll", "100ms", "--grace", "1s", "--agent-user", "")
	cmd.Env = append(os.Environ(), "VIGIL_UPDATER_FAILPOINT="+failpoint)
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	return cmd
}

func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("vigil-updater did not exit within %v", d)
		return nil
	}
}

// runningAgents returns the versions of the fake agents running on the state directory: those
// whose running.<pid> file names a live process (a SIGKILLed agent leaves its file behind).
func runningAgents(state string) []string { return agentsOf(state, 0) }

// agentsOf returns the versions of the live fake agents on the state directory whose parent is
// the process parent (any parent when 0), so a wait for "the agent this updater started" is not
// satisfied by another process's agent that is still shutting down or left a file behind.
func agentsOf(state string, parent int) []string {
	var out []string
	files, _ := filepath.Glob(filepath.Join(state, "agent", "running.*"))
	for _, f := range files {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Ext(f), "."))
		if err != nil {
			continue
		}
		ppid, ok := liveParent(pid)
		if !ok || (parent != 0 && ppid != parent) {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	return out
}

// liveParent returns the parent of process pid from /proc/<pid>/stat, and false when pid is not
// running (gone or a zombie).
func liveParent(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// installV1 installs agent 1.0.0 without running anything.
func (h *harness) installV1() {
	h.t.Helper()
	u, err := updater.New(h.config())
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := u.Install(context.Background(), "1.0.0", ""); err != nil {
		h.t.Fatal(err)
	}
}

// outcome is an update event the server must learn exactly once: phase/result/to_version.
type outcome struct{ phase, result, to string }

var (
	rolledBack20 = []outcome{{wire.PhaseTrial, wire.ResultStarted, "2.0.0"}, {wire.PhaseTrial, wire.ResultFailed, "2.0.0"},
		{wire.PhaseRollback, wire.ResultOK, "1.0.0"}}
	rolledBack21 = []outcome{{wire.PhaseTrial, wire.ResultStarted, "2.1.0"}, {wire.PhaseTrial, wire.ResultFailed, "2.1.0"},
		{wire.PhaseRollback, wire.ResultOK, "1.0.0"}}
)

// outcomes counts, per outcome, the distinct event IDs the server received (the server records
// an ID once, so a repost after a kill is no duplicate); an event without an ID counts as one
// more. It fails the test for an event without an ID.
func (h *harness) outcomes() map[outcome]int {
	ids := map[outcome]map[string]bool{}
	for _, e := range h.eventsSeen() {
		o := outcome{e.Phase, e.Result, e.ToVersion}
		if ids[o] == nil {
			ids[o] = map[string]bool{}
		}
		if e.ID == "" {
			h.t.Errorf("event without an id: %+v", e)
		}
		ids[o][e.ID] = true
	}
	n := map[outcome]int{}
	for o, m := range ids {
		n[o] = len(m)
	}
	return n
}

// TestKillAtEveryJournalStep kills vigil-updater with SIGKILL at each journal step (failpoint),
// restarts it, and checks that exactly one complete, linked version runs: the new one only if the
// commit was journaled, and a trial is never committed silently. An interrupted trial is rolled
// back but not quarantined (it is tried again, see TestInterruptedTrialRetried); a failed one
// is. Every outcome reaches the server exactly once, whatever step the kill fell on.
func TestKillAtEveryJournalStep(t *testing.T) {
	buildAll(t) // skips under -short here, before any subtest starts
	for _, tt := range []struct {
		step, build, version string
		want                 string // version running after the restart
		quarantined          bool
		outcomes             []outcome // each reported exactly once
	}{
		{updater.StepInstalled, "good-2.0.0", "2.0.0", "1.0.0", false, nil},
		{updater.StepTrial, "good-2.0.0", "2.0.0", "1.0.0", false, rolledBack20},
		{updater.StepSwitched, "good-2.0.0", "2.0.0", "1.0.0", false, rolledBack20},
		{updater.StepStarted, "good-2.0.0", "2.0.0", "1.0.0", false, rolledBack20},
		{updater.StepHealthy, "good-2.0.0", "2.0.0", "1.0.0", false, rolledBack20},
		{updater.StepCommitted, "good-2.0.0", "2.0.0", "2.0.0", false,
			[]outcome{{wire.PhaseTrial, wire.ResultStarted, "2.0.0"}, {wire.PhaseCommit, wire.ResultOK, "2.0.0"}}},
		{updater.StepRollbackSwitched, "exit-2.1.0", "2.1.0", "1.0.0", true, rolledBack21},
		{updater.StepRolledBack, "exit-2.1.0", "2.1.0", "1.0.0", true, rolledBack21},
	} {
		t.Run(tt.step, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.installV1()
			h.publish(tt.build, tuftest.Custom{})
			h.setDesired(tt.version, "")
			bin := binPath("vigil-updater-1.0.0")

			cmd := h.updaterProcess(bin, tt.step)
			err := waitExit(t, cmd, 30*time.Second)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("vigil-updater exited with %v, want killed by its failpoint", err)
			}

			h.setDesired("", "") // stay: the restarted updater only recovers and supervises
			cmd = h.updaterProcess(bin, "")
			deadline := time.Now().Add(15 * time.Second)
			var st updater.Status
			for {
				st, err = updater.ReadStatus(h.state)
				if err != nil {
					t.Fatal(err)
				}
				ra := agentsOf(h.state, cmd.Process.Pid)
				delivered := true
				got := h.outcomes()
				for _, o := range tt.outcomes {
					delivered = delivered && got[o] > 0
				}
				if st.Journal.Trial == nil && st.Linked == tt.want && len(ra) == 1 && ra[0] == tt.want && delivered && st.Pending == 0 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("after restart: status %+v, running agents %v, outcomes %v; want %s and %v delivered",
						st, ra, got, tt.want, tt.outcomes)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if st.Journal.Current != tt.want {
				t.Errorf("journal current = %q, want %s", st.Journal.Current, tt.want)
			}
			if fi, err := os.Stat(filepath.Join(h.state, "current", "vigil-agent")); err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Errorf("current/vigil-agent is not runnable: %v", err)
			}
			q := false
			for _, e := range st.Quarantine {
				q = q || e.Version == tt.version
			}
			if q != tt.quarantined {
				t.Errorf("%s quarantined = %v, want %v", tt.version, q, tt.quarantined)
			}
			for _, pat := range []string{".*.tmp*", "current.tmp-*", "versions/*/..complete.tmp*", "tuf/tuf_tmp*", "tuf/.*.tmp*"} {
				if m, _ := filepath.Glob(filepath.Join(h.state, pat)); len(m) != 0 {
					t.Errorf("temporary files survived recovery: %v", m)
				}
			}
			got := h.outcomes()
			for _, o := range tt.outcomes {
				if got[o] != 1 {
					t.Errorf("outcome %v reported %d times, want once (all: %v)", o, got[o], got)
				}
			}
			if tt.step == updater.StepCommitted && got[outcome{wire.PhaseTrial, wire.ResultFailed, "2.0.0"}] != 0 {
				t.Errorf("a committed trial was also reported failed: %v", got)
			}
			for _, v := range st.Installed {
				if v != "1.0.0" && v != "2.0.0" {
					t.Errorf("leftover installed version %s", v)
				}
			}
			// SIGTERM is forwarded: the agent stops with the updater.
			cmd.Process.Signal(syscall.SIGTERM)
			if err := waitExit(t, cmd, 15*time.Second); err != nil {
				t.Errorf("vigil-updater exit after SIGTERM: %v", err)
			}
			if ra := runningAgents(h.state); len(ra) != 0 {
				t.Errorf("agents still running after SIGTERM: %v", ra)
			}
		})
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killedAt runs vigil-updater until its failpoint kills it.
func (h *harness) killedAt(bin, step string) {
	h.t.Helper()
	err := waitExit(h.t, h.updaterProcess(bin, step), 30*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		h.t.Fatalf("vigil-updater exited with %v, want killed at %s", err, step)
	}
}

// TestInterruptedTrialRetried: a supervisor killed during the health window of a good build
// rolls back, counts the trial as interrupted and tries the build again (which then commits); a
// second interruption of the same build quarantines it.
func TestInterruptedTrialRetried(t *testing.T) {
	buildAll(t)
	bin := binPath("vigil-updater-1.0.0")
	t.Run("once", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.installV1()
		h.publish("good-2.0.0", tuftest.Custom{})
		h.setDesired("2.0.0", "")
		h.killedAt(bin, updater.StepStarted)
		cmd := h.updaterProcess(bin, "")
		defer func() { cmd.Process.Signal(syscall.SIGTERM); waitExit(t, cmd, 15*time.Second) }()
		waitFor(t, 30*time.Second, "2.0.0 committed on the retry", func() bool {
			st, err := updater.ReadStatus(h.state)
			ra := agentsOf(h.state, cmd.Process.Pid)
			return err == nil && st.Journal.Current == "2.0.0" && st.Journal.Trial == nil &&
				len(ra) == 1 && ra[0] == "2.0.0" && h.outcomes()[outcome{wire.PhaseCommit, wire.ResultOK, "2.0.0"}] == 1
		})
		if h.quarantined("2.0.0") {
			t.Error("2.0.0 quarantined after one interrupted trial")
		}
		st, _ := updater.ReadStatus(h.state)
		if len(st.Journal.Interrupted) != 0 {
			t.Errorf("interrupted counts kept after the commit: %v", st.Journal.Interrupted)
		}
		got := h.outcomes()
		if got[outcome{wire.PhaseTrial, wire.ResultFailed, "2.0.0"}] != 1 || got[outcome{wire.PhaseTrial, wire.ResultStarted, "2.0.0"}] != 2 {
			t.Errorf("want one failed (interrupted) and two started trials: %v", got)
		}
	})
	t.Run("twice", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.installV1()
		h.publish("good-2.0.0", tuftest.Custom{})
		h.setDesired("2.0.0", "")
		h.killedAt(bin, updater.StepStarted)
		h.killedAt(bin, updater.StepHealthy) // recovers the first, retries, killed again
		cmd := h.updaterProcess(bin, "")
		defer func() { cmd.Process.Signal(syscall.SIGTERM); waitExit(t, cmd, 15*time.Second) }()
		waitFor(t, 30*time.Second, "2.0.0 quarantined, 1.0.0 running", func() bool {
			st, err := updater.ReadStatus(h.state)
			ra := agentsOf(h.state, cmd.Process.Pid)
			return err == nil && st.Journal.Current == "1.0.0" && st.Journal.Trial == nil && len(ra) == 1 &&
				ra[0] == "1.0.0" && h.hasEvent(wire.PhaseCheck, wire.ResultRefused, "2.0.0")
		})
		if !h.quarantined("2.0.0") {
			t.Error("2.0.0 not quarantined after two interrupted trials")
		}
		if n := h.outcomes()[outcome{wire.PhaseTrial, wire.ResultFailed, "2.0.0"}]; n != 2 {
			t.Errorf("%d failed trials of 2.0.0 reported, want 2", n)
		}
	})
}
