package httpapi

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// TestAuthorization walks every operator route, and fails for a route the router has that its table
// lacks: a host credential, no credential or a garbage one gets 401; a viewer may read but gets 403
// for every change (it cannot pin); an operator may not touch the release repository (it cannot
// publish) or users; a release engineer may not change the fleet, alerting or users.
func TestAuthorization(t *testing.T) {
	e := newReleaseEnv(t, true)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	opSecret, _, err := e.svc.CreateAPIToken(ctx, boot, "op", server.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	enrollTok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: enrollTok, Hostname: "web-1", MachineID: strings.Repeat("a", 32), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	routes := []struct {
		method, path string
		need         string // role needed; viewer for reads
	}{
		{"GET", "/api/v1/repo/online-keys", server.RoleViewer},
		{"POST", "/api/v1/repo/init", server.RoleAdmin},
		{"GET", "/api/v1/repo/status", server.RoleViewer},
		{"GET", "/api/v1/repo/root", server.RoleViewer},
		{"GET", "/api/v1/repo/targets", server.RoleViewer},
		{"POST", "/api/v1/repo/rotate-root", server.RoleAdmin},
		{"POST", "/api/v1/repo/renew", server.RoleRelease},
		{"GET", "/api/v1/releases", server.RoleViewer},
		{"PUT", "/api/v1/releases/1.0.0/artifacts/vigil-agent-linux-amd64", server.RoleRelease},
		{"POST", "/api/v1/releases/1.0.0/stage", server.RoleRelease},
		{"POST", "/api/v1/releases/1.0.0/promote", server.RoleRelease},
		{"GET", "/api/v1/drafts/1.0.0", server.RoleViewer},
		{"DELETE", "/api/v1/drafts/1.0.0", server.RoleRelease},
		{"GET", "/api/v1/drafts/1.0.0/status", server.RoleViewer},
		{"POST", "/api/v1/drafts/1.0.0/signatures", server.RoleRelease},
		{"DELETE", "/api/v1/drafts/1.0.0/signatures/ab", server.RoleRelease},
		{"POST", "/api/v1/drafts/1.0.0/publish", server.RoleRelease},
		{"GET", "/api/v1/rules", server.RoleViewer},
		{"POST", "/api/v1/rules", server.RoleOperator},
		{"DELETE", "/api/v1/rules/default-cpu", server.RoleOperator},
		{"GET", "/api/v1/alerts", server.RoleViewer},
		{"GET", "/api/v1/alerts/1", server.RoleViewer},
		{"POST", "/api/v1/alerts/1/ack", server.RoleOperator},
		{"GET", "/api/v1/silences", server.RoleViewer},
		{"POST", "/api/v1/silences", server.RoleOperator},
		{"DELETE", "/api/v1/silences/s-1", server.RoleOperator},
		{"GET", "/api/v1/notifications", server.RoleViewer},

		// Fleet.
		{"GET", "/api/v1/hosts", server.RoleViewer},
		{"GET", "/api/v1/hosts/nohost", server.RoleViewer},
		{"POST", "/api/v1/hosts/nohost/revoke", server.RoleOperator},
		{"DELETE", "/api/v1/hosts/nohost", server.RoleOperator},
		{"POST", "/api/v1/hosts/nohost/clear-quarantine", server.RoleOperator},
		{"PUT", "/api/v1/hosts/nohost/group", server.RoleOperator},
		{"GET", "/api/v1/hosts/nohost/updates", server.RoleViewer},
		{"GET", "/api/v1/hosts/nohost/agent-settings", server.RoleViewer},
		{"PUT", "/api/v1/hosts/nohost/agent-settings", server.RoleOperator},
		{"DELETE", "/api/v1/hosts/nohost/agent-settings", server.RoleOperator},
		{"GET", "/api/v1/groups", server.RoleViewer},
		{"POST", "/api/v1/groups", server.RoleOperator},
		{"GET", "/api/v1/groups/nogroup", server.RoleViewer},
		{"PATCH", "/api/v1/groups/nogroup", server.RoleOperator},
		{"PUT", "/api/v1/groups/nogroup", server.RoleOperator},
		{"DELETE", "/api/v1/groups/nogroup", server.RoleOperator},
		{"GET", "/api/v1/groups/nogroup/pin", server.RoleViewer},
		{"PUT", "/api/v1/groups/nogroup/pin", server.RoleOperator},
		{"DELETE", "/api/v1/groups/nogroup/pin", server.RoleOperator},
		{"GET", "/api/v1/groups/nogroup/agent-settings", server.RoleViewer},
		{"PUT", "/api/v1/groups/nogroup/agent-settings", server.RoleOperator},
		{"GET", "/api/v1/groups/nogroup/rollout-policy", server.RoleViewer},
		{"PUT", "/api/v1/groups/nogroup/rollout-policy", server.RoleOperator},
		{"GET", "/api/v1/rollouts", server.RoleViewer},
		{"GET", "/api/v1/rollouts/norollout", server.RoleViewer},
		{"POST", "/api/v1/rollouts/norollout/pause", server.RoleOperator},
		{"POST", "/api/v1/rollouts/norollout/resume", server.RoleOperator},
		{"POST", "/api/v1/rollouts/norollout/abort", server.RoleOperator},
		{"GET", "/api/v1/enrollment-tokens", server.RoleViewer},
		{"POST", "/api/v1/enrollment-tokens", server.RoleOperator},
		{"DELETE", "/api/v1/enrollment-tokens/notoken", server.RoleOperator},
		// Everyone manages their own API tokens (never above their role: TestTokenOwnership).
		{"GET", "/api/v1/tokens", server.RoleViewer},
		{"POST", "/api/v1/tokens", server.RoleViewer},
		{"DELETE", "/api/v1/tokens/notoken", server.RoleViewer},
		{"GET", "/api/v1/audit", server.RoleViewer},

		// People: admin only.
		{"GET", "/api/v1/users", server.RoleAdmin},
		{"POST", "/api/v1/users", server.RoleAdmin},
		{"DELETE", "/api/v1/users/nobody", server.RoleAdmin},
		{"PUT", "/api/v1/users/nobody/role", server.RoleAdmin},
		{"PUT", "/api/v1/users/nobody/password", server.RoleAdmin},
	}
	// Every operator route of the router is in the table (host routes are checked below).
	hostRoutes := map[string]bool{"POST /api/v1/enroll": true, "POST /api/v1/reports": true,
		"GET /api/v1/updates/desired": true, "POST /api/v1/updates/events": true}
	covered := map[string]bool{}
	for _, r := range routes {
		covered[r.method+" "+r.path] = true
	}
	_ = e.api.Router().Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err1 := rt.GetPathTemplate()
		methods, err2 := rt.GetMethods()
		if err1 != nil || err2 != nil || !strings.HasPrefix(tpl, "/api/v1/") {
			return nil
		}
		re, _ := rt.GetPathRegexp()
		for _, m := range methods {
			if hostRoutes[m+" "+tpl] {
				continue
			}
			found := false
			for k := range covered {
				meth, path, _ := strings.Cut(k, " ")
				if meth == m && regexp.MustCompile(re).MatchString(path) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("route %s %s is not in TestAuthorization's table: add it with the role it needs", m, tpl)
			}
		}
		return nil
	})
	do := func(method, path, token string) int {
		req, err := http.NewRequest(method, e.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if takesBody(t, e.api, req) { // a well-formed request: "{}" where a body is taken
			req, _ = http.NewRequest(method, e.base+path, strings.NewReader("{}"))
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, r := range routes {
		for _, tok := range []string{"", host.Credential, "vgt_not-a-token", "garbage"} {
			if got := do(r.method, r.path, tok); got != http.StatusUnauthorized {
				t.Errorf("%s %s with credential %.6q…: %d, want 401", r.method, r.path, tok, got)
			}
		}
		for role, secret := range map[string]string{server.RoleViewer: e.viewerTok, server.RoleOperator: opSecret, server.RoleRelease: e.relTok} {
			allowed := r.need == server.RoleViewer || r.need == role
			got := do(r.method, r.path, secret)
			if !allowed && got != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", r.method, r.path, role, got)
			}
			if allowed && (got == http.StatusForbidden || got == http.StatusUnauthorized) {
				t.Errorf("%s %s as %s: %d, want it allowed", r.method, r.path, role, got)
			}
		}
	}
	// And the other way round: API tokens are not host credentials.
	for _, tok := range []string{e.adminTok, e.viewerTok} {
		if got := do("GET", "/api/v1/updates/desired", tok); got != http.StatusUnauthorized {
			t.Errorf("host endpoint with an API token: %d, want 401", got)
		}
	}
}

// takesBody reports whether the route req matches in a's router takes a request body.
func takesBody(t *testing.T, a *API, req *http.Request) bool {
	t.Helper()
	var m mux.RouteMatch
	if !a.Router().Match(req, &m) || m.Route == nil {
		t.Fatalf("%s %s matches no route", req.Method, req.URL.Path)
	}
	tpl, err := m.Route.GetPathTemplate()
	if err != nil {
		t.Fatal(err)
	}
	_, ok := bodyRoutes[req.Method+" "+tpl]
	return ok
}
