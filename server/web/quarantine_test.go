package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// TestHostClearQuarantine: a host whose updater rolled back a version shows it as quarantined
// on its page, with a Clear quarantine form for an operator (not for a viewer, and not on a
// host with nothing quarantined). Clearing raises the quarantine generation the updater is
// sent, is audited as the API's clear-quarantine is, and the page then shows nothing
// quarantined until the updater reports a new failure.
func TestHostClearQuarantine(t *testing.T) {
	e := newOpsEnv(t, nil)
	e.enroll("web-1", "web-2")
	ctx := context.Background()
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	bad, good := e.hostIDs[0], e.hostIDs[1]
	post := func(cred string, evs ...wire.UpdateEvent) {
		t.Helper()
		for _, ev := range evs {
			if err := apiclient.New(e.srv.URL, cred, e.hc).Do(ctx, http.MethodPost, "/api/v1/updates/events", ev, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := time.Now().UTC()
	post(e.creds[0],
		wire.UpdateEvent{FromVersion: "1.0.0", ToVersion: "2.0.0", Phase: wire.PhaseTrial, Result: wire.ResultFailed, Reason: "health gate: agent exited", Time: now},
		wire.UpdateEvent{FromVersion: "2.0.0", ToVersion: "1.0.0", Phase: wire.PhaseRollback, Result: wire.ResultOK, Reason: "health gate: agent exited", Time: now})
	post(e.creds[1],
		wire.UpdateEvent{FromVersion: "1.0.0", ToVersion: "1.1.0", Phase: wire.PhaseCommit, Result: wire.ResultOK, Time: now})

	page := e.get("olga", "/hosts/"+bad)
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="quarantine"`) || !strings.Contains(page.body, "vigil-agent <b>2.0.0</b>") ||
		!strings.Contains(page.body, "health gate: agent exited") || !strings.Contains(page.body, `action="/hosts/`+bad+`/clear-quarantine"`) {
		t.Fatalf("operator's page of a host with a quarantined version: %d\n%s", page.status, page.body)
	}
	if p := e.get("vera", "/hosts/"+bad); !strings.Contains(p.body, `id="quarantine"`) || strings.Contains(p.body, "/clear-quarantine\"") {
		t.Errorf("viewer's page: quarantine not shown, or a clear form offered:\n%s", p.body)
	}
	if p := e.get("olga", "/hosts/"+good); strings.Contains(p.body, `id="quarantine"`) || strings.Contains(p.body, "/clear-quarantine\"") {
		t.Errorf("page of a host with nothing quarantined offers a clear:\n%s", p.body)
	}
	gen := func() uint64 {
		t.Helper()
		d, err := e.srv.Service().Desired(ctx, server.Host{ID: bad, Group: "default"})
		if err != nil {
			t.Fatal(err)
		}
		return d.QuarantineGeneration
	}
	refused(t, "viewer clears", e.post("vera", "/hosts/"+bad+"/clear-quarantine", nil, true))
	refused(t, "operator clears without the CSRF token", e.post("olga", "/hosts/"+bad+"/clear-quarantine", nil, false))
	if g := gen(); g != 0 {
		t.Fatalf("refused clears raised the generation to %d", g)
	}
	a := e.post("olga", "/hosts/"+bad+"/clear-quarantine", nil, true)
	if a.status != http.StatusOK || !strings.Contains(a.body, "Quarantine cleared (generation 1)") || strings.Contains(a.body, `id="quarantine"`) {
		t.Fatalf("clear: %d\n%s", a.status, a.body)
	}
	// The page answers the POST at /hosts/{id}/clear-quarantine: its range links still lead to
	// the host page.
	if !strings.Contains(a.body, `href="/hosts/`+bad+`?range=24h"`) {
		t.Errorf("range links after the clear are not absolute:\n%s", a.body)
	}
	if g := gen(); g != 1 {
		t.Errorf("quarantine generation after the clear: %d, want 1", g)
	}
	es, err := e.srv.Service().SearchAudit(ctx, admin, server.AuditFilter{Action: "host.clear_quarantine", Actor: "olga"})
	if err != nil || len(es) != 1 || es[0].Target != "host/"+bad || es[0].Address != "127.0.0.1" {
		t.Errorf("audit of the clear = %+v, %v", es, err)
	}
	// A new failure after the clear shows again.
	post(e.creds[0], wire.UpdateEvent{FromVersion: "2.0.1", ToVersion: "1.0.0", Phase: wire.PhaseRollback, Result: wire.ResultOK, Reason: "again", Time: time.Now().UTC()})
	if p := e.get("olga", "/hosts/"+bad); !strings.Contains(p.body, "vigil-agent <b>2.0.1</b>") || strings.Contains(p.body, "<b>2.0.0</b>") {
		t.Errorf("after a new rollback: 2.0.1 should show and 2.0.0 (cleared) not:\n%s", p.body)
	}
	if a := e.post("olga", "/hosts/nope/clear-quarantine", nil, true); a.status != http.StatusNotFound {
		t.Errorf("clear of no host: %d", a.status)
	}
}
