package updater

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// notifySocket is a fake systemd notify socket: every datagram received goes to the channel.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

// TestWatchdogFedWhileSupervisorAnswers runs the watchdog against a real Supervisor loop and a
// fake notify socket: pings arrive while the loop answers, stop while it does not (its goroutine
// gone: from outside, exactly a stuck loop, since nothing reads its requests), and resume when
// it answers again.
func TestWatchdogFedWhileSupervisorAnswers(t *testing.T) {
	sock, pings := notifySocket(t)
	sup, err := NewSupervisor(SupervisorConfig{Binary: filepath.Join(t.TempDir(), "no-agent-yet"), Args: func() []string { return nil },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	supCtx, stopSup := context.WithCancel(ctx)
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(supCtx) }()

	const interval = 200 * time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		feedWatchdog(ctx, WatchdogConfig{Socket: sock, Interval: interval}, sup.Ping, slog.New(slog.DiscardHandler))
	}()

	wantPings := func(n int, what string) {
		t.Helper()
		for i := range n {
			select {
			case p := <-pings:
				if p != "WATCHDOG=1" {
					t.Fatalf("%s: datagram %q, want WATCHDOG=1", what, p)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: %d of %d pings arrived", what, i, n)
			}
		}
	}
	wantPings(3, "supervisor answering")

	// The loop stops: its goroutine returns, so no Ping is answered.
	stopSup()
	<-supDone
	// Drain what was sent before the loop stopped; then nothing may arrive for several
	// watchdog intervals.
	time.Sleep(interval)
	for len(pings) > 0 {
		<-pings
	}
	select {
	case p := <-pings:
		t.Fatalf("ping %q arrived while the supervisor loop was not answering", p)
	case <-time.After(5 * interval):
	}

	// A new loop answers again: pings resume.
	supCtx, stopSup = context.WithCancel(ctx)
	defer stopSup()
	go func() { supDone <- sup.Run(supCtx) }()
	wantPings(2, "supervisor answering again")
	cancel()
	<-done
}

// TestChildEnvDropsNotify: the agent never inherits systemd's notify socket or watchdog.
func TestChildEnvDropsNotify(t *testing.T) {
	env := childEnv([]string{"PATH=/bin", "NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=60000000", "WATCHDOG_PID=1", "VIGIL_SERVER=x"})
	if !slices.Equal(env, []string{"PATH=/bin"}) {
		t.Errorf("child environment %v, want only PATH", env)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "NOTIFY_SOCKET") {
			t.Errorf("child gets %s", kv)
		}
	}
}
