package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Notify lines written to the supervisor's pipe.
const (
	NotifyReady    = "READY\n"    // after the first collection
	NotifyAck      = "ACK\n"      // after the first acknowledged report
	NotifyWatchdog = "WATCHDOG\n" // every cycle
)

// notifyTimeout bounds a write to the notify pipe, so a supervisor that stops reading cannot stall
// the loop.
const notifyTimeout = time.Second

// OpenNotifyFD opens the inherited notify pipe named by the value of VIGIL_NOTIFY_FD. An empty
// value means the agent runs standalone and returns nil.
func OpenNotifyFD(v string) (*os.File, error) {
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("VIGIL_NOTIFY_FD=%q is not an inherited descriptor", v)
	}
	// Non-blocking makes the descriptor pollable, so writes honour a deadline.
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("VIGIL_NOTIFY_FD=%d: %w", fd, err)
	}
	return os.NewFile(uintptr(fd), "vigil-notify"), nil
}

// notifier writes lines to the supervisor. A broken pipe turns it off; nothing it does can stop
// the agent.
type notifier struct {
	w        io.Writer
	log      *slog.Logger
	ready    bool
	acked    bool
	disabled bool
}

func (n *notifier) send(line string) {
	if n.w == nil || n.disabled {
		return
	}
	if d, ok := n.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		d.SetWriteDeadline(time.Now().Add(notifyTimeout))
	}
	if _, err := io.WriteString(n.w, line); err != nil {
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) {
			n.disabled = true
			n.log.Warn("The supervisor's notify pipe is closed; running on without it.", keyError, err)
			return
		}
		n.log.Warn("Could not write to the notify pipe.", keyError, err)
	}
}

func (n *notifier) readyOnce() {
	if !n.ready {
		n.ready = true
		n.send(NotifyReady)
	}
}

func (n *notifier) ackOnce() {
	if !n.acked {
		n.acked = true
		n.send(NotifyAck)
	}
}
