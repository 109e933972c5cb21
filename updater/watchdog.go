package updater

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// WatchdogConfig is systemd's service watchdog (WatchdogSec= in the unit; sd_notify(3)). The
// command fills it from $NOTIFY_SOCKET and $WATCHDOG_USEC when $WATCHDOG_PID is unset or names
// this process. The zero value disables it.
//
// What feeds it: the supervisor loop, the goroutine that keeps the agent running. Every
// Interval/2 the updater asks that loop to answer; only when it answers within Interval/2 is
// WATCHDOG=1 sent. A loop that stops answering (deadlocked, or blocked past its own stop
// timeouts) stops the pings, and systemd kills the unit after Interval and restarts it
// (Restart=always). The update check is not part of it: a slow download is no hang, and every
// network step has its own timeout.
type WatchdogConfig struct {
	// Socket is $NOTIFY_SOCKET: a unixgram socket path, or "@name" in the abstract namespace.
	Socket string
	// Interval is $WATCHDOG_USEC: systemd acts when no WATCHDOG=1 arrived for this long.
	Interval time.Duration
}

// Enabled reports whether the watchdog is to be fed.
func (w WatchdogConfig) Enabled() bool { return w.Socket != "" && w.Interval > 0 }

// sdNotify sends one sd_notify datagram (such as "WATCHDOG=1") to socket.
func sdNotify(socket, state string) error {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("dial notify socket: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("write notify socket: %w", err)
	}
	return nil
}

// feedWatchdog sends WATCHDOG=1 every cfg.Interval/2 for as long as alive answers within
// cfg.Interval/2, until ctx is done. It logs a missed ping once per stall, not on every tick.
func feedWatchdog(ctx context.Context, cfg WatchdogConfig, alive func(context.Context) error, log *slog.Logger) {
	half := cfg.Interval / 2
	t := time.NewTicker(half)
	defer t.Stop()
	stalled, sendFailed := false, false
	for {
		actx, cancel := context.WithTimeout(ctx, half)
		err := alive(actx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !stalled {
				log.Error("The supervisor loop does not answer; no longer feeding systemd's watchdog, which will restart the updater.",
					keyError, err, "watchdog", cfg.Interval)
			}
			stalled = true
		default:
			if stalled {
				log.Info("The supervisor loop answers again; feeding systemd's watchdog.")
			}
			stalled = false
			if err := sdNotify(cfg.Socket, "WATCHDOG=1"); err != nil {
				if !sendFailed {
					log.Warn("Cannot notify systemd's watchdog.", keyError, err)
				}
				sendFailed = true
			} else {
				sendFailed = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
