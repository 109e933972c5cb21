package faults

import (
	"fmt"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpdaterWatchdog runs the real vigil-updater as systemd would with WatchdogSec= set:
// NOTIFY_SOCKET names a unixgram socket the test listens on and WATCHDOG_USEC is 1 s. The updater
// must send WATCHDOG=1 at about half the interval; when the process is frozen (SIGSTOP: from
// systemd's side, a hung updater) the pings stop, and they resume on SIGCONT. The stuck
// supervisor loop inside a running process is tested in package updater
// (TestWatchdogFedWhileSupervisorAnswers); the unit's WatchdogSec= by deploy/verify-units.sh.
func TestUpdaterWatchdog(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	const interval = time.Second
	bin := e2eproc.Build(t, "vigil-updater", "1.0.0-faults")
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	pings := make(chan time.Time, 10000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) != "WATCHDOG=1" {
				t.Errorf("notify datagram %q, want WATCHDOG=1", buf[:n])
			}
			pings <- time.Now()
		}
	}()
	args := []string{"run", "--server", "https://127.0.0.1:1", "--state-dir", filepath.Join(dir, "state")}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("vigil"); err != nil {
			args = append(args, "--agent-user", "nobody")
		}
	}
	upd := e2eproc.StartProcess(t, "vigil-updater", bin,
		[]string{"NOTIFY_SOCKET=" + sockPath, fmt.Sprintf("WATCHDOG_USEC=%d", interval.Microseconds())}, args...)

	waitPings := func(n int, what string) {
		t.Helper()
		for i := range n {
			select {
			case <-pings:
			case <-time.After(60 * time.Second):
				t.Fatalf("%s: %d of %d watchdog pings arrived\n%s", what, i, n, e2eproc.Tail(upd.Log, 20))
			}
		}
	}
	start := time.Now()
	const first = 6
	waitPings(first, "updater running")
	// Half the interval: 6 pings take about 2.5 s (the first is sent at once). Only a lower
	// bound is asserted (no faster than half the interval), never an upper one on a loaded box.
	if el := time.Since(start); el < (first-1)*interval/2-200*time.Millisecond {
		t.Errorf("%d pings in %s: faster than every %s", first, el, interval/2)
	}

	// Frozen: no pings (systemd would kill it after WATCHDOG_USEC).
	if err := syscall.Kill(upd.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(interval / 2) // a ping already in the socket may still be read
	for len(pings) > 0 {
		<-pings
	}
	frozen := 3 * interval
	select {
	case <-pings:
		t.Fatal("a watchdog ping arrived from a stopped updater")
	case <-time.After(frozen):
	}
	if err := syscall.Kill(upd.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitPings(3, "updater continued")
	if !upd.Running() {
		t.Fatal("vigil-updater exited")
	}
	if b, _ := os.ReadFile(upd.Log); !strings.Contains(string(b), "Feeding systemd's watchdog.") {
		t.Error("the updater did not log that it feeds the watchdog")
	}
	record(t, result{
		Fault:  "systemd watchdog: updater frozen (SIGSTOP) under WatchdogSec=",
		Tried:  fmt.Sprintf("1 freeze of %s with WATCHDOG_USEC=%s", frozen, interval),
		Result: "WATCHDOG=1 every WATCHDOG_USEC/2 while running, none while frozen (systemd restarts the unit), resumed after SIGCONT; a stuck supervisor loop stops them (package test)",
	})
}
