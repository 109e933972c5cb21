package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// TestImplausibleReportsRefused: a load of 1e308 and a report from the year 2199 (or a day and a
// minute ahead of the server's clock) are refused with 400 and a message that names the field,
// and nothing is stored; a report at the server's time is taken.
func TestImplausibleReportsRefused(t *testing.T) {
	e := newBruteEnv(t)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	tok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: "h", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock().UTC()
	report := func(seq uint64, mutate func(*wire.Report)) wire.ReportBatch {
		r := wire.Report{Seq: seq, Time: now, Load: &wire.Load{Load1: 0.5, Load5: 0.5, Load15: 0.5}}
		mutate(&r)
		return wire.ReportBatch{Reports: []wire.Report{r}}
	}
	for _, c := range []struct {
		name  string
		batch wire.ReportBatch
		want  string
	}{
		{"load 1e308", report(1, func(r *wire.Report) { r.Load.Load1 = 1e308 }), "load.load1"},
		{"year 2199", report(1, func(r *wire.Report) { r.Time = time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC) }), "ahead of the server's clock"},
		{"a day and a minute ahead", report(1, func(r *wire.Report) { r.Time = now.Add(wire.MaxClockAhead + time.Minute) }), "fix the host's clock"},
	} {
		st, _, body := e.do(t, "127.0.0.1", "POST", "/api/v1/reports", host.Credential, c.batch)
		if st != http.StatusBadRequest || !strings.Contains(body, api.CodeInvalid) || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", c.name, st, body, c.want)
		}
	}
	h, err := e.svc.GetHost(ctx, boot, host.HostID)
	if err != nil {
		t.Fatal(err)
	}
	if h.AckedSeq != 0 {
		t.Fatalf("a refused report was stored: acked seq %d", h.AckedSeq)
	}
	if st, _, body := e.do(t, "127.0.0.1", "POST", "/api/v1/reports", host.Credential, report(1, func(*wire.Report) {})); st != http.StatusOK {
		t.Fatalf("a plausible report: %d %s", st, body)
	}
	// Update events too.
	ev := wire.UpdateEvent{Phase: wire.PhaseCheck, Result: wire.ResultOK, Time: time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC)}
	if st, _, body := e.do(t, "127.0.0.1", "POST", "/api/v1/updates/events", host.Credential, ev); st != http.StatusBadRequest || !strings.Contains(body, "ahead of the server's clock") {
		t.Fatalf("update event in 2199: %d %s, want 400", st, body)
	}
}

// TestClockAheadEventResent: the contract the updater relies on to tell the operator about a
// clock more than wire.MaxClockAhead ahead. Such an event is refused (400) and not stored, and
// the answer carries the server's clock in its Date header; the same event (same ID) stamped with
// that Date and the skew noted in its reason is stored, once however often it is posted.
func TestClockAheadEventResent(t *testing.T) {
	e := newBruteEnv(t)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	tok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: "h", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(ev wire.UpdateEvent) (int, time.Time, string) {
		t.Helper()
		b, _ := json.Marshal(ev)
		req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/updates/events", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+host.Credential)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		date, err := http.ParseTime(resp.Header.Get("Date"))
		if err != nil {
			t.Fatalf("answer %d without a Date header: %v", resp.StatusCode, err)
		}
		return resp.StatusCode, date, string(body)
	}
	ev := wire.UpdateEvent{ID: "0123456789abcdef0123456789abcdef", FromVersion: "1.0.0", ToVersion: "1.1.0",
		Phase: wire.PhaseCheck, Result: wire.ResultFailed, Reason: "timestamp.json is expired",
		Time: time.Now().Add(8 * 24 * time.Hour)}
	st, date, body := post(ev)
	if st != http.StatusBadRequest || !strings.Contains(body, "ahead of the server's clock") {
		t.Fatalf("event 8 days ahead: %d %s, want 400 saying the clock is ahead", st, body)
	}
	if skew := ev.Time.Sub(date); skew <= wire.MaxClockAhead {
		t.Fatalf("Date %v is not the server's clock: the event is only %v ahead of it", date, skew)
	}
	if evs, err := e.svc.ListUpdateEvents(ctx, boot, host.HostID); err != nil || len(evs) != 0 {
		t.Fatalf("after the refusal: %d events stored (%v), want 0", len(evs), err)
	}
	ev.Time = date
	ev.Reason += " [host clock 192h0m0s ahead of the server; time set to the server's]"
	for range 2 {
		if st, _, body := post(ev); st != http.StatusNoContent {
			t.Fatalf("the event at the server's time: %d %s, want 204", st, body)
		}
	}
	evs, err := e.svc.ListUpdateEvents(ctx, boot, host.HostID)
	if err != nil || len(evs) != 1 {
		t.Fatalf("%d events stored (%v), want 1", len(evs), err)
	}
	if got := evs[0]; got.ID != ev.ID || !got.Time.Equal(date) || got.Reason != ev.Reason {
		t.Errorf("stored %+v, want id %s at %v with reason %q", got.UpdateEvent, ev.ID, date, ev.Reason)
	}
}
