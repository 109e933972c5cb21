package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/wire"
)

// TestGroupsRolloutPolicy: the groups page shows each group's rollout policy; an operator sets
// it with the form (empty fields mean the defaults), which stores what vigilctl groups set and
// PUT /api/v1/groups/{name}/rollout-policy store, audited under their name. Input that does not
// parse or is out of range is refused with a message naming the field and stores nothing; a
// viewer and a form without the CSRF token are refused.
func TestGroupsRolloutPolicy(t *testing.T) {
	e := newOpsEnv(t, nil)
	ctx := context.Background()
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	policy := func() rollout.Policy {
		t.Helper()
		p, err := e.srv.Rollouts().Policy(ctx, admin, "default")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	page := e.get("vera", "/groups")
	row := regexp.MustCompile(`(?s)<tr id="group-default">.*?</tr>`).FindString(page.body)
	if !strings.Contains(row, "1 canary · waves of 25% · soak 10m0s · halt above 10% failed · health deadline 15m0s") ||
		strings.Contains(page.body, `action="/groups/default/rollout-policy"`) {
		t.Fatalf("viewer's groups page: policy shown? form hidden?\n%s", page.body)
	}
	if p := e.get("olga", "/groups"); !strings.Contains(p.body, `action="/groups/default/rollout-policy"`) {
		t.Fatalf("operator's groups page has no policy form:\n%s", p.body)
	}
	good := url.Values{"canaries": {"2"}, "wave_percent": {"50"}, "soak": {"90s"}, "failure_threshold": {"20"}, "health_deadline": {""}}
	refused(t, "viewer sets the policy", e.post("vera", "/groups/default/rollout-policy", good, true))
	refused(t, "operator without the CSRF token", e.post("olga", "/groups/default/rollout-policy", good, false))
	for _, tc := range []struct {
		field, value, want string
	}{
		{"canaries", "two", `Canaries "two" is not a whole number`},
		{"canaries", "-1", "canaries -1 not within 0..1000"},
		{"wave_percent", "101", "wave percent 101 not within 1..100"},
		{"soak", "ten minutes", `Soak "ten minutes" is not a duration`},
		{"soak", "-5m", "soak -5m0s not within"},
		{"failure_threshold", "150", "failure threshold 150% not within 0..100"},
		{"health_deadline", "1000h", "health deadline 1000h0m0s not within"},
	} {
		bad := url.Values{}
		for k, v := range good {
			bad[k] = v
		}
		bad.Set(tc.field, tc.value)
		a := e.post("olga", "/groups/default/rollout-policy", bad, true)
		if a.status != http.StatusBadRequest || !strings.Contains(a.body, tc.want) || !strings.Contains(a.body, `class="error"`) {
			t.Errorf("%s=%q: %d, want 400 with %q\n%s", tc.field, tc.value, a.status, tc.want, a.body)
		}
	}
	if p := policy(); p != (rollout.Policy{}) {
		t.Fatalf("refused forms stored a policy: %+v", p)
	}
	a := e.post("olga", "/groups/default/rollout-policy", good, true)
	if a.status != http.StatusOK || !strings.Contains(a.body, "Rollout policy of group default set: 2 canaries, waves of 50%, soak 1m30s, halt above 20% failed, health deadline 15m0s") {
		t.Fatalf("set the policy: %d\n%s", a.status, a.body)
	}
	want := rollout.Policy{Canaries: 2, WavePercent: 50, Soak: 90 * time.Second, FailureThreshold: 20}
	if p := policy(); p != want {
		t.Errorf("stored policy %+v, want %+v (the health deadline left at its default)", p, want)
	}
	// The API reads the same policy back.
	if got, err := e.admin.RolloutPolicy(ctx, "default"); err != nil || got.Canaries != 2 || got.WavePercent != 50 || time.Duration(got.Soak) != 90*time.Second {
		t.Errorf("API policy after the form: %+v, %v", got, err)
	}
	// The form shows what is set, and the defaults as placeholders.
	form := regexp.MustCompile(`(?s)<form[^>]*id="policy-default".*?</form>`).FindString(a.body)
	for _, w := range []string{`name="canaries" inputmode="numeric" size="4" maxlength="6" value="2"`, `name="soak" size="6" maxlength="20" value="1m30s"`,
		`name="health_deadline" size="6" maxlength="20" value="" placeholder="15m0s"`} {
		if !strings.Contains(form, w) {
			t.Errorf("policy form lacks %s:\n%s", w, form)
		}
	}
	if a := e.post("olga", "/groups/nope/rollout-policy", good, true); a.status != http.StatusNotFound {
		t.Errorf("policy of a group that does not exist: %d", a.status)
	}
	es, err := e.srv.Service().SearchAudit(ctx, admin, server.AuditFilter{Action: "group.rollout_policy", Actor: "olga"})
	if err != nil || len(es) != 1 || es[0].Address != "127.0.0.1" || !strings.Contains(es[0].Detail, "canaries=2 wave_percent=50") {
		t.Errorf("audit of the policy = %+v, %v", es, err)
	}
}

// TestGroupsRowsFragment: GET /groups/rows is the table body alone, with the rollout's progress
// and its actions (carrying the session's CSRF token), for refresh.js to swap in; the page
// points the script at it. Without a session it sends the browser to sign in.
func TestGroupsRowsFragment(t *testing.T) {
	e := newOpsEnv(t, nil)
	e.enroll("web-1", "web-2")
	ctx := context.Background()
	if _, err := e.srv.Service().SetPin(ctx, server.Principal{Name: "test", Role: server.RoleAdmin}, "default", server.Pin{Version: "2.0.0"}); err != nil {
		t.Fatal(err)
	}
	page := e.get("olga", "/groups")
	if !strings.Contains(page.body, `data-fragment="/groups/rows"`) || !strings.Contains(page.body, `<script src="/assets/refresh.js" defer></script>`) {
		t.Errorf("groups page does not refresh itself:\n%s", page.body)
	}
	f := e.get("olga", "/groups/rows")
	if f.status != http.StatusOK || !strings.HasPrefix(f.body, `<template id="fragment">`) || strings.Contains(f.body, "<html") ||
		!strings.Contains(f.body, `<tbody id="groups-body">`) || !strings.Contains(f.body, "of 2 admitted") ||
		!strings.Contains(f.body, `action="/rollouts/`) || !strings.Contains(f.body, `name="csrf" value="`+e.csrf["olga"]+`"`) {
		t.Errorf("fragment: %d\n%s", f.status, f.body)
	}
	if f := e.get("vera", "/groups/rows"); f.status != http.StatusOK || strings.Contains(f.body, `action="/rollouts/`) {
		t.Errorf("viewer's fragment offers actions: %d\n%s", f.status, f.body)
	}
	e.cookies["nobody"] = nil
	if f := e.get("nobody", "/groups/rows"); f.status != http.StatusSeeOther || f.location != "/login" {
		t.Errorf("fragment without a session: %d %s", f.status, f.location)
	}
	js := e.get("vera", "/assets/refresh.js")
	if js.status != http.StatusOK || !strings.Contains(js.body, "data-swap") || !strings.Contains(page.body, `data-swap="groups-body"`) {
		t.Errorf("refresh.js: %d", js.status)
	}
}

// TestHaltedRolloutOnlyAborts: a rollout halted by a failed canary shows only Abort on the
// groups page; resume and pause are refused (from the page and the API) with a message saying
// to abort, fix the build and pin again; abort works and puts the pin back.
func TestHaltedRolloutOnlyAborts(t *testing.T) {
	e := newOpsEnv(t, func(c *app.Config) { c.Rollout = app.RolloutTuning{Interval: 20 * time.Millisecond} })
	e.enroll("web-1", "web-2", "web-3")
	ctx := context.Background()
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	a := e.post("olga", "/groups/default/pin", url.Values{"kind": {"version"}, "target": {"2.0.0"}, "force": {"on"}}, true)
	m := regexp.MustCompile(`action="/rollouts/([^/"]+)/abort"`).FindStringSubmatch(a.body)
	if a.status != http.StatusOK || m == nil {
		t.Fatalf("pin: %d\n%s", a.status, a.body)
	}
	id := m[1]
	// Every host's updater tries 2.0.0 and rolls back: the canary's failure halts the rollout.
	now := time.Now().UTC()
	for _, cred := range e.creds {
		hc := apiclient.New(e.srv.URL, cred, e.hc)
		for _, ev := range []wire.UpdateEvent{
			{FromVersion: "1.0.0", ToVersion: "2.0.0", Phase: wire.PhaseTrial, Result: wire.ResultFailed, Reason: "health gate: agent exited", Time: now},
			{FromVersion: "2.0.0", ToVersion: "1.0.0", Phase: wire.PhaseRollback, Result: wire.ResultOK, Reason: "health gate: agent exited", Time: now},
		} {
			if err := hc.Do(ctx, http.MethodPost, "/api/v1/updates/events", ev, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ro, err := e.srv.Rollouts().Get(ctx, admin, id)
		if err != nil {
			t.Fatal(err)
		}
		if ro.State == rollout.StateHalted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollout did not halt: %+v", ro)
		}
		time.Sleep(20 * time.Millisecond)
	}
	row := regexp.MustCompile(`(?s)<tr id="group-default">.*?</tr>`).FindString(e.get("olga", "/groups").body)
	if !strings.Contains(row, "halted") || !strings.Contains(row, `action="/rollouts/`+id+`/abort"`) ||
		strings.Contains(row, "/pause\"") || strings.Contains(row, "/resume\"") || !strings.Contains(row, "it can only be aborted") {
		t.Errorf("halted rollout's row (only Abort, with why):\n%s", row)
	}
	for _, action := range []string{"resume", "pause"} {
		a := e.post("olga", "/rollouts/"+id+"/"+action, nil, true)
		if a.status != http.StatusConflict || !strings.Contains(a.body, "the rollout is halted") || !strings.Contains(a.body, "can only be aborted") ||
			!strings.Contains(a.body, "pin the fixed version") {
			t.Errorf("%s a halted rollout from the page: %d\n%s", action, a.status, a.body)
		}
	}
	if _, err := e.admin.ResumeRollout(ctx, id); err == nil || !strings.Contains(err.Error(), "can only be aborted") || !strings.Contains(err.Error(), "abort it") {
		t.Errorf("resume a halted rollout through the API: %v", err)
	}
	if ro, _ := e.srv.Rollouts().Get(ctx, admin, id); ro.State != rollout.StateHalted {
		t.Fatalf("refused actions changed the rollout: %s", ro.State)
	}
	if a := e.post("olga", "/rollouts/"+id+"/abort", nil, true); a.status != http.StatusOK || !strings.Contains(a.body, "aborted") {
		t.Errorf("abort a halted rollout: %d\n%s", a.status, a.body)
	}
	if g, _ := e.srv.Service().GetGroup(ctx, admin, "default"); g.Pin != (server.Pin{}) {
		t.Errorf("after aborting the halted rollout the pin is %+v", g.Pin)
	}
}
