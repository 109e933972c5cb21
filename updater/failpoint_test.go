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

// TestKillAtEveryJournalStep kills vigil-updater with SIGKILL at each journal step (failpoint),
// restarts it, and checks that exactly one complete, linked version runs: the new one only if the
// commit was journaled, and a trial is never committed silently.
func TestKillAtEveryJournalStep(t *testing.T) {
	buildAll(t) // skips under -short here, before any subtest starts
	for _, tt := range []struct {
		step, build, version string
		want                 string // version running after the restart
		quarantined          bool
	}{
		{updater.StepInstalled, "good-2.0.0", "2.0.0", "1.0.0", false},
		{updater.StepTrial, "good-2.0.0", "2.0.0", "1.0.0", true},
		{updater.StepSwitched, "good-2.0.0", "2.0.0", "1.0.0", true},
		{updater.StepStarted, "good-2.0.0", "2.0.0", "1.0.0", true},
		{updater.StepHealthy, "good-2.0.0", "2.0.0", "1.0.0", true},
		{updater.StepCommitted, "good-2.0.0", "2.0.0", "2.0.0", false},
		{updater.StepRollbackSwitched, "exit-2.1.0", "2.1.0", "1.0.0", true},
		{updater.StepRolledBack, "exit-2.1.0", "2.1.0", "1.0.0", true},
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
				if st.Journal.Trial == nil && st.Linked == tt.want && len(ra) == 1 && ra[0] == tt.want {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("after restart: status %+v, running agents %v; want %s", st, ra, tt.want)
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
