package alert_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// TestAckStopsReminders: an operator acknowledges a firing alert; no reminder goes out after it,
// even though the engine's scan (which re-reads acknowledgements) has not run since, and the engine's
// later saves keep the acknowledgement; the RESOLVED email still goes when the host is back. A
// viewer may not acknowledge, and a resolved or already acknowledged alert is refused.
func TestAckStopsReminders(t *testing.T) {
	h := newHarness(t, func(c *alert.Config) { c.RepeatInterval = 10 * time.Minute; c.ScanInterval = time.Hour })
	id := h.host("web-1", "")
	h.run(41 * time.Second)
	h.wantEmails("FIRING: web-1 is silent")
	a := h.alert("silence/" + id)

	m := alert.NewManager(h.st, h.clock.Now)
	viewer := server.Principal{Name: "vera", User: "vera", Role: server.RoleViewer}
	if _, err := m.AckAlert(h.ctx, viewer, a.ID); !errors.Is(err, server.ErrForbidden) {
		t.Fatalf("viewer acks: %v, want ErrForbidden", err)
	}
	if _, err := m.AckAlert(h.ctx, server.Principal{Name: "olga", Role: server.RoleOperator}, 424242); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("ack of no alert: %v, want ErrNotFound", err)
	}
	h.run(2 * time.Minute)
	op := server.Principal{Name: "olga", User: "olga", Role: server.RoleOperator, Address: "192.0.2.7"}
	got, err := m.AckAlert(h.ctx, op, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AckedBy != "olga" || !got.AckedAt.Equal(t0.Add(2*time.Minute)) || got.State != alert.StateFiring {
		t.Errorf("acked alert = by %q at %s state %s", got.AckedBy, got.AckedAt, got.State)
	}
	if last := got.History[len(got.History)-1]; last.Message != "acknowledged by olga" {
		t.Errorf("last history event %+v", last)
	}
	if _, err := m.AckAlert(h.ctx, op, a.ID); !errors.Is(err, alert.ErrAlreadyAcked) || !errors.Is(err, server.ErrConflict) {
		t.Errorf("second ack: %v, want ErrAlreadyAcked", err)
	}
	// Three repeat intervals pass: no reminder.
	h.run(35 * time.Minute)
	h.wantEmails("FIRING: web-1 is silent")
	// The host comes back: RESOLVED goes; the alert keeps its acknowledgement.
	h.run(37*time.Minute+30*time.Second, id)
	h.wantEmails("FIRING: web-1 is silent", "RESOLVED")
	if a := h.alert("silence/" + id); a.State != alert.StateResolved || a.AckedBy != "olga" {
		t.Errorf("after recovery: state %s acked by %q", a.State, a.AckedBy)
	}
	if _, err := m.AckAlert(h.ctx, op, a.ID); !errors.Is(err, alert.ErrAlertResolved) {
		t.Errorf("ack of a resolved alert: %v, want ErrAlertResolved", err)
	}
	es, err := h.st.SearchAudit(h.ctx, server.AuditFilter{Action: "alert.ack"})
	if err != nil || len(es) != 1 || es[0].User != "olga" || es[0].Address != "192.0.2.7" || es[0].Target != "alert/"+strconv.FormatInt(a.ID, 10) {
		t.Errorf("audit = %+v, %v", es, err)
	}
}
