package updater_test

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
	"github.com/vigilhq/vigil/wire"
)

// TestEventsClockAhead: the host's clock is three days ahead of the server's, which refuses
// every event as stamped too far ahead (400, as the real server). The updater says so at WARN
// once, naming the skew and the fix, and posts each event once more with the server's time and
// the skew in its reason: every outcome reaches the server exactly once and the outbox drains.
func TestEventsClockAhead(t *testing.T) {
	rec := &logRecorder{}
	h := newHarness(t)
	h.logger = slog.New(rec)
	h.start()
	seen := len(h.eventsSeen())

	h.mu.Lock()
	h.serverClock = -72 * time.Hour
	postsBefore := h.eventPosts
	h.mu.Unlock()
	h.publish("good-2.0.0", tuftest.Custom{})
	h.setDesired("2.0.0", "")
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatalf("CheckOnce: %v", err)
	}
	h.assertRunning("2.0.0")
	// A second cause of events (a pinned version the repository does not sign) on a later poll:
	// refused for the same reason, not logged at WARN again.
	h.setDesired("9.9.9", "")
	_ = h.u.CheckOnce(h.ctx)

	all := h.eventsSeen()
	got := all[seen:]
	if len(got) == 0 {
		t.Fatal("no event reached the server")
	}
	ids := map[string]bool{}
	for _, e := range all {
		if ids[e.ID] {
			t.Errorf("event %s recorded twice: %+v", e.ID, e)
		}
		ids[e.ID] = true
	}
	serverNow := time.Now().Add(-72 * time.Hour)
	for _, e := range got {
		if e.Time.After(serverNow) || e.Time.Before(serverNow.Add(-time.Minute)) {
			t.Errorf("%s %s stamped %v, want the server's time (about %v)", e.Phase, e.Result, e.Time, serverNow)
		}
		if skew, ok := notedSkew(e.Reason); !ok || skew < 72*time.Hour-time.Minute || skew > 72*time.Hour+time.Minute {
			t.Errorf("%s %s reason %q does not note the skew of 72h", e.Phase, e.Result, e.Reason)
		}
	}
	for _, ph := range []string{wire.PhaseDownload, wire.PhaseVerify, wire.PhaseInstall, wire.PhaseCommit} {
		if !h.hasEvent(ph, wire.ResultOK, "2.0.0") {
			t.Errorf("no %s ok event for 2.0.0 reached the server: %+v", ph, got)
		}
	}
	if !h.hasEvent(wire.PhaseCheck, wire.ResultRefused, "9.9.9") {
		t.Errorf("the refused check of 9.9.9 did not reach the server: %+v", got)
	}
	// Each event was posted twice: as stamped (refused), then with the server's time.
	h.mu.Lock()
	posts := h.eventPosts - postsBefore
	h.mu.Unlock()
	if posts != 2*len(got) {
		t.Errorf("%d posts for %d events, want 2 each", posts, len(got))
	}
	if n := rec.count(slog.LevelWarn, "refused an update event", "ahead of the server's", "NTP", "ahead of the server's clock (at most 24h0m0s allowed)"); n != 1 {
		t.Errorf("%d WARN records say the clock is ahead over %d refused events, want 1:\n%s", n, len(got), strings.Join(rec.recs, "\n"))
	}
	if n := rec.count(slog.LevelWarn, "refused an update event"); n != 1 {
		t.Errorf("%d WARN records about refused events, want 1", n)
	}
	st, err := updater.ReadStatus(h.state)
	if err != nil || st.Pending != 0 {
		t.Errorf("outbox holds %d events (%v), want 0", st.Pending, err)
	}
}

// skewNote is the note the updater appends to the reason of an event it posts again with the
// server's time.
var skewNote = regexp.MustCompile(`\[host clock (\S+) ahead of the server; time set to the server's\]$`)

// notedSkew returns the skew noted at the end of reason.
func notedSkew(reason string) (time.Duration, bool) {
	m := skewNote.FindStringSubmatch(reason)
	if m == nil {
		return 0, false
	}
	d, err := time.ParseDuration(m[1])
	return d, err == nil
}

// TestEventRefusedWarnsOnce: an event the server refuses for another reason is dropped (posting
// it again cannot help), logged at WARN with the server's message once for that cause, and
// logged at WARN again after an event went through in between.
func TestEventRefusedWarnsOnce(t *testing.T) {
	rec := &logRecorder{}
	h := newHarness(t)
	h.logger = slog.New(rec)
	h.start()
	h.mu.Lock()
	h.refuseEvents = true
	h.mu.Unlock()
	for _, v := range []string{"9.9.7", "9.9.8"} {
		h.setDesired(v, "")
		_ = h.u.CheckOnce(h.ctx)
	}
	if n := rec.count(slog.LevelWarn, "refused an update event", "dropped", "server_message=bad event"); n != 1 {
		t.Errorf("%d WARN records for two refused events, want 1:\n%s", n, strings.Join(rec.recs, "\n"))
	}
	st, err := updater.ReadStatus(h.state)
	if err != nil || st.Pending != 0 {
		t.Errorf("outbox holds %d events (%v), want 0: a refused event is dropped", st.Pending, err)
	}
	h.mu.Lock()
	h.refuseEvents = false
	h.mu.Unlock()
	h.setDesired("9.9.6", "")
	_ = h.u.CheckOnce(h.ctx)
	if !h.hasEvent(wire.PhaseCheck, wire.ResultRefused, "9.9.6") {
		t.Fatal("the refused check of 9.9.6 did not reach the server")
	}
	h.mu.Lock()
	h.refuseEvents = true
	h.mu.Unlock()
	h.setDesired("9.9.5", "")
	_ = h.u.CheckOnce(h.ctx)
	if n := rec.count(slog.LevelWarn, "refused an update event"); n != 2 {
		t.Errorf("%d WARN records, want 2 (the cause came back after an event went through)", n)
	}
}
