package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// TestAlertsAckSilencesNotifications: the alerts page lists firing, pending and resolved alerts;
// an operator acknowledges a firing one (audited, shown with who and when; twice is a 409); a
// viewer sees the pages but cannot acknowledge, create or end a silence; posts without the CSRF
// token are refused. An operator creates a silence for a host named by hostname for a duration
// (typos and bad durations refused with what to do), and ends it early. The notifications page
// shows the outbox with its counts.
func TestAlertsAckSilencesNotifications(t *testing.T) {
	e := newOpsEnv(t, nil)
	e.enroll("web-1", "db-1")
	ctx := context.Background()
	st := e.srv.Service().Store().(alert.Store)
	now := time.Now().UTC()
	firing := &alert.Alert{Key: "cpu/" + e.hostIDs[0] + "/", RuleID: "default-cpu", RuleName: "CPU busy above 90% for 5m", Kind: alert.KindCPU,
		HostID: e.hostIDs[0], Hostname: "web-1", Group: "default", State: alert.StateFiring, StartedAt: now.Add(-10 * time.Minute),
		FiredAt: now.Add(-5 * time.Minute), Summary: "CPU busy 97.0%"}
	note := alert.Notification{Key: "n-1", AlertKey: firing.Key, HostID: firing.HostID, Event: "firing", To: []string{"ops@example.com"},
		Subject: "[vigil] FIRING: web-1 CPU busy", Text: "t", MessageID: "n-1@x", CreatedAt: now, NextAttempt: now}
	if err := st.SaveAlert(ctx, firing, alert.AlertEvent{Time: now, State: firing.State, Message: "firing"}, []alert.Notification{note}); err != nil {
		t.Fatal(err)
	}
	pending := &alert.Alert{Key: "disk/" + e.hostIDs[1] + "//", RuleID: "default-disk", RuleName: "Disk used above 90%", Kind: alert.KindDisk,
		HostID: e.hostIDs[1], Hostname: "db-1", Group: "default", State: alert.StatePending, StartedAt: now, Summary: "/ used 93.0%"}
	if err := st.SaveAlert(ctx, pending, alert.AlertEvent{Time: now, State: pending.State, Message: "pending"}, nil); err != nil {
		t.Fatal(err)
	}
	id := strconvI(firing.ID)

	page := e.get("vera", "/alerts")
	firingTable := regexp.MustCompile(`(?s)<table id="firing">.*?</table>`).FindString(page.body)
	pendingTable := regexp.MustCompile(`(?s)<table id="pending">.*?</table>`).FindString(page.body)
	if page.status != http.StatusOK || !strings.Contains(firingTable, "CPU busy 97.0%") || !strings.Contains(firingTable, "web-1") ||
		!strings.Contains(pendingTable, "/ used 93.0%") || strings.Contains(page.body, "/alerts/"+id+"/ack") {
		t.Fatalf("viewer's alerts page: %d (an ack form shown?)\n%s", page.status, page.body)
	}
	if !strings.Contains(e.get("olga", "/alerts").body, `action="/alerts/`+id+`/ack"`) {
		t.Fatal("no acknowledge form for the operator")
	}
	refused(t, "viewer acknowledges", e.post("vera", "/alerts/"+id+"/ack", nil, true))
	refused(t, "operator acknowledges without the CSRF token", e.post("olga", "/alerts/"+id+"/ack", nil, false))
	if got, _ := st.GetAlert(ctx, firing.ID); got.AckedBy != "" {
		t.Fatalf("a refused acknowledgement was stored: %q", got.AckedBy)
	}
	a := e.post("olga", "/alerts/"+id+"/ack", nil, true)
	if a.status != http.StatusOK || !strings.Contains(a.body, "acknowledged: it sends no more reminders") ||
		!strings.Contains(a.body, "acknowledged by olga") {
		t.Fatalf("acknowledge: %d\n%s", a.status, a.body)
	}
	if a := e.post("olga", "/alerts/"+id+"/ack", nil, true); a.status != http.StatusConflict || !strings.Contains(a.body, "already acknowledged") {
		t.Errorf("acknowledge twice: %d", a.status)
	}
	if got, _ := st.GetAlert(ctx, firing.ID); got.AckedBy != "olga" || got.State != alert.StateFiring {
		t.Errorf("stored alert: acked by %q, state %s", got.AckedBy, got.State)
	}
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	if es, err := e.srv.Service().SearchAudit(ctx, admin, server.AuditFilter{Action: "alert.ack"}); err != nil || len(es) != 1 ||
		es[0].User != "olga" || es[0].Address != "127.0.0.1" {
		t.Errorf("audit of the acknowledgement = %+v, %v", es, err)
	}

	// Silences.
	if p := e.get("vera", "/silences"); p.status != http.StatusOK || strings.Contains(p.body, `id="new-silence"`) {
		t.Errorf("viewer's silences page: %d (a create form shown?)", p.status)
	}
	create := url.Values{"host": {"web-1"}, "duration": {"2h"}, "comment": {"kernel upgrade"}}
	refused(t, "viewer creates a silence", e.post("vera", "/silences", create, true))
	refused(t, "operator creates a silence without the CSRF token", e.post("olga", "/silences", create, false))
	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"bad duration", url.Values{"host": {"web-1"}, "duration": {"2 hours"}}, "give one such as 30m"},
		{"no duration", url.Values{"host": {"web-1"}, "duration": {"0s"}}, "give one such as 30m"},
		{"unknown host", url.Values{"host": {"web-9"}, "duration": {"1h"}}, `no host with ID or hostname "web-9"`},
		{"unknown group", url.Values{"group": {"nope"}, "duration": {"1h"}}, `there is no group "nope"`},
		{"no scope", url.Values{"duration": {"1h"}}, "needs a host, a group or a rule"},
	} {
		if a := e.post("olga", "/silences", c.form, true); a.status != http.StatusBadRequest || !strings.Contains(a.body, c.want) {
			t.Errorf("%s: %d, want 400 saying %q\n%s", c.name, a.status, c.want, a.body)
		}
	}
	if ss, _ := st.ListSilences(ctx, time.Time{}); len(ss) != 0 {
		t.Fatalf("refused forms stored silences: %+v", ss)
	}
	a = e.post("olga", "/silences", create, true)
	if a.status != http.StatusOK || !strings.Contains(a.body, "holds back alert emails until") {
		t.Fatalf("create silence: %d\n%s", a.status, a.body)
	}
	ss, err := st.ListSilences(ctx, time.Time{})
	if err != nil || len(ss) != 1 || ss[0].HostID != e.hostIDs[0] || ss[0].CreatedBy != "olga" || ss[0].Comment != "kernel upgrade" {
		t.Fatalf("stored silences = %+v, %v", ss, err)
	}
	if d := ss[0].EndsAt.Sub(ss[0].StartsAt); d != 2*time.Hour {
		t.Errorf("silence lasts %s, want 2h", d)
	}
	current := regexp.MustCompile(`(?s)<table id="silences">.*?</table>`).FindString(a.body)
	if !strings.Contains(current, ss[0].ID) || !strings.Contains(current, "kernel upgrade") || !strings.Contains(current, "/silences/"+ss[0].ID+"/end") {
		t.Errorf("current silences:\n%s", current)
	}
	refused(t, "viewer ends a silence", e.post("vera", "/silences/"+ss[0].ID+"/end", nil, true))
	refused(t, "operator ends a silence without the CSRF token", e.post("olga", "/silences/"+ss[0].ID+"/end", nil, false))
	a = e.post("olga", "/silences/"+ss[0].ID+"/end", nil, true)
	if a.status != http.StatusOK || !strings.Contains(a.body, "Silence "+ss[0].ID+" ended") {
		t.Errorf("end silence: %d\n%s", a.status, a.body)
	}
	if ss, _ := st.ListSilences(ctx, time.Time{}); len(ss) != 0 {
		t.Errorf("silence still stored after ending it: %+v", ss)
	}
	if a := e.post("olga", "/silences/"+ss[0].ID+"/end", nil, true); a.status != http.StatusNotFound {
		t.Errorf("end an ended silence: %d", a.status)
	}
	for _, action := range []string{"silence.create", "silence.delete"} {
		if es, err := e.srv.Service().SearchAudit(ctx, admin, server.AuditFilter{Action: action, Actor: "olga"}); err != nil || len(es) != 1 {
			t.Errorf("audit of %s = %+v, %v", action, es, err)
		}
	}

	// Notifications: the queued email, for a viewer too.
	p := e.get("vera", "/notifications")
	if p.status != http.StatusOK || !strings.Contains(p.body, "FIRING: web-1 CPU busy") || !strings.Contains(p.body, "0 sent · 0 retrying · 1 queued · 0 skipped") ||
		!strings.Contains(p.body, "ops@example.com") {
		t.Errorf("notifications page: %d\n%s", p.status, p.body)
	}
}

func strconvI(n int64) string { return strconv.FormatInt(n, 10) }
