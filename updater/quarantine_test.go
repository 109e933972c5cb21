package updater_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
	"github.com/vigilhq/vigil/wire"
)

// logRecorder is a slog.Handler that keeps every record's level and text (message and values).
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}

// count returns how many records at level contain every one of subs.
func (r *logRecorder) count(level slog.Level, subs ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.recs {
		ok := strings.HasPrefix(s, level.String()+" ")
		for _, sub := range subs {
			ok = ok && strings.Contains(s, sub)
		}
		if ok {
			n++
		}
	}
	return n
}

func (h *harness) desiredCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.desiredCalls
}

// TestQuarantinedPinWarnsOnce: while the group pins a version quarantined here, the updater
// says so at WARN once, not on every poll.
func TestQuarantinedPinWarnsOnce(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish("exit-2.1.0", tuftest.Custom{})
	h.setDesired("2.1.0", "")
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrHealthGate) // quarantines 2.1.0
	if !h.quarantined("2.1.0") {
		t.Fatal("2.1.0 not quarantined after a failed health gate")
	}

	rec := &logRecorder{}
	cfg := h.config()
	cfg.Poll = 50 * time.Millisecond
	cfg.Logger = slog.New(rec)
	u, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	start := h.desiredCount()
	deadline := time.Now().Add(20 * time.Second)
	for h.desiredCount() < start+6 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d polls in 20s", h.desiredCount()-start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := rec.count(slog.LevelWarn, "2.1.0"); n != 1 {
		t.Errorf("%d WARN records name 2.1.0 over %d polls, want 1:\n%s", n, h.desiredCount()-start,
			strings.Join(rec.recs, "\n"))
	}
	if n := rec.count(slog.LevelDebug, "quarantined"); n < 2 {
		t.Errorf("%d DEBUG records say the pin is quarantined, want one per poll", n)
	}
}

func (h *harness) setQuarantineGeneration(g uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.desired.QuarantineGeneration = g
}

// TestQuarantineClearedByServer: a raised quarantine generation in the desired-version answer
// (an operator's clear-quarantine) makes the updater forget its quarantine and try the pinned
// version again, once per generation.
func TestQuarantineClearedByServer(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish("exit-2.1.0", tuftest.Custom{})
	h.setDesired("2.1.0", "")
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrHealthGate)
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrQuarantined)

	h.setQuarantineGeneration(1)
	// Cleared: 2.1.0 is downloaded and tried again (and fails its gate again).
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrHealthGate)
	if n := h.outcomes()[outcome{wire.PhaseTrial, wire.ResultStarted, "2.1.0"}]; n != 2 {
		t.Errorf("2.1.0 tried %d times, want 2 (once more after the clear)", n)
	}
	if !h.quarantined("2.1.0") {
		t.Error("2.1.0 not quarantined again after failing again")
	}
	// The same generation does not clear again.
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrQuarantined)
	st, _ := updater.ReadStatus(h.state)
	if st.Journal.QuarantineGeneration != 1 {
		t.Errorf("journal quarantine generation = %d, want 1", st.Journal.QuarantineGeneration)
	}
	h.assertRunning("1.0.0")
}
