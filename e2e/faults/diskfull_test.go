package faults

import (
	"context"
	"errors"
	"fmt"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

var lostRE = regexp.MustCompile(`msg="Could not spool the report; it is lost\." seq=(\d+)`)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, or skips the test saying why.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the filesystem is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// TestAgentDiskFull runs a real agent whose state directory (credential and spool) is a 256 KiB
// tmpfs. While the server is down the test fills that disk to the last byte: the agent must keep
// running, lose only the reports it cannot write (logged, with their seqs), and once space frees and
// the server is back deliver everything it had spooled, with spool_dropped on the wire counting
// the reports it lost. Every acknowledged report is stored exactly once; the only seqs missing are
// the ones the agent logged as lost. (Dropping the oldest segments when the disk fills with more
// than one segment on it: package agent, TestSpoolDiskFullDropsOldest.)
func TestAgentDiskFull(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	stateDir := mountTmpfs(t, "256k")
	srv := e2eproc.StartServer(t, e2eproc.ServerConfig{})
	tap := startTap(t, srv)
	agentBin := e2eproc.Build(t, "vigil-agent", "1.0.0-faults")
	agent := e2eproc.StartProcess(t, "vigil-agent", agentBin, []string{"VIGIL_LOG_LEVEL=debug"},
		"--server", tap.URL, "--ca", tap.CAFile, "--enroll-token", srv.EnrollToken(t),
		"--state-dir", stateDir, "--interval", "1s")
	ctx := context.Background()
	lastAcked := func() uint64 { return lastSeq(t, agent.Log, ackedRE) }
	e2eproc.WaitFor(t, 60*time.Second, "the first acknowledged reports", func() (bool, error) { return lastAcked() >= 3, nil })

	// Outage, then a full disk.
	srv.Stop(t, 30*time.Second)
	spooledBefore := len(logSeqs(t, agent.Log, spooledRE))
	e2eproc.WaitFor(t, 60*time.Second, "reports spooled during the outage", func() (bool, error) {
		return len(logSeqs(t, agent.Log, spooledRE)) >= spooledBefore+2, nil
	})
	filler := fill(t, stateDir)
	lostRuns := rounds(4, 10)
	e2eproc.WaitFor(t, 90*time.Second, "reports lost to the full disk", func() (bool, error) {
		if !agent.Running() {
			t.Fatalf("vigil-agent exited on a full disk: %v", agent.Err())
		}
		return e2eproc.LogHas(agent.Log, "this report is lost") && len(logSeqs(t, agent.Log, lostRE))+e2eproc.CountLines(agent.Log, "this report is lost.") >= lostRuns, nil
	})
	if !agent.Running() {
		t.Fatalf("vigil-agent exited on a full disk: %v", agent.Err())
	}

	// Space frees, the server is back: the agent delivers, and says what it lost.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	srv.Start(t)
	mark := lastAcked()
	var dropped uint64
	e2eproc.WaitFor(t, 120*time.Second, "delivery with spool_dropped after space freed", func() (bool, error) {
		dropped = 0
		for _, r := range tap.Reports() {
			dropped = max(dropped, r.SpoolDropped)
		}
		return lastAcked() > mark+5 && dropped > 0, nil
	})
	hosts, err := srv.Client().ListHosts(ctx, "")
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts: %v %v", hosts, err)
	}
	agent.Stop(t, 30*time.Second)
	srv.Stop(t, 30*time.Second)

	lost := map[uint64]bool{}
	for _, seq := range logSeqs(t, agent.Log, lostRE) {
		lost[seq] = true
	}
	acked := lastAcked()
	stored := storedSeqs(ctx, t, srv.DataDir, hosts[0].ID)
	checked := checkExactlyOnce(t, "agent", stored, acked, lost)
	for seq := range lost {
		if stored[seq] != 0 {
			t.Errorf("seq %d was logged as lost but is stored", seq)
		}
	}
	for _, seq := range logSeqs(t, agent.Log, spooledRE) {
		if lost[seq] {
			t.Errorf("seq %d logged both as spooled and lost", seq)
		}
	}
	lostTotal := e2eproc.CountLines(agent.Log, "this report is lost.") + len(lost)
	if dropped == 0 || int(dropped) > lostTotal {
		t.Errorf("spool_dropped on the wire %d, want 1..%d (the reports the agent logged as lost)", dropped, lostTotal)
	}
	if t.Failed() {
		return
	}
	t.Logf("disk full for %d report cycles: %d reports lost (seqs %d), spool_dropped %d on the wire; recovered %s after space freed; %d acknowledged reports stored exactly once",
		lostTotal, lostTotal, len(lost), dropped, time.Since(freed).Round(time.Second), checked)
	record(t, result{
		Fault:  "agent's disk full (256 KiB tmpfs state dir filled) during a server outage",
		Tried:  fmt.Sprintf("1 fill, %d report cycles on a full disk", lostTotal),
		Result: fmt.Sprintf("agent kept running; %d reports it could not write logged and reported as spool_dropped; everything spooled before delivered after space freed; %d acknowledged reports: lost 0, duplicated 0", lostTotal, checked),
	})
}
