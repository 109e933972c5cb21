package httpapi

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
)

// TestAuthorizationBeforeValidation walks the router's own route list: every operator route that
// changes something answers a viewer 403 whatever the body (malformed JSON, wrong type, unknown
// fields, empty) and whether or not the object exists, so authorization never depends on
// validation. PATCH /api/v1/groups/{name} for a group that does not exist was a 404 and a bad
// body a 400.
func TestAuthorizationBeforeValidation(t *testing.T) {
	e := newReleaseEnv(t, true)
	vars := regexp.MustCompile(`\{[^}]+\}`)
	bodies := []string{"", "{", "[]", `{"grace": 5}`, `{"no_such_field": true}`, strings.Repeat("x", 100<<10)}
	checked := 0
	err := e.api.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil || !strings.HasPrefix(tpl, "/api/v1/") || hostRoutes[tpl] {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil
		}
		path := vars.ReplaceAllString(tpl, "does-not-exist")
		for _, m := range methods {
			if m == http.MethodGet || m == http.MethodHead || selfServiceRoutes[m+" "+tpl] {
				continue
			}
			checked++
			for _, body := range bodies {
				req, _ := http.NewRequest(m, e.base+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+e.viewerTok)
				req.Header.Set("Content-Type", "application/json")
				resp, err := e.hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s %s as viewer with body %.12q: %d, want 403", m, tpl, body, resp.StatusCode)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 25 {
		t.Fatalf("checked only %d routes: is the walk still seeing the route table?", checked)
	}
	// And an admin-only read.
	req, _ := http.NewRequest(http.MethodGet, e.base+"/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+e.viewerTok)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /api/v1/users as viewer: %d, want 403", resp.StatusCode)
	}
	// Every entry of routeRoles and selfServiceRoutes names a route that exists, so the tables
	// cannot drift silently.
	for key := range selfServiceRoutes {
		m, tpl, _ := strings.Cut(key, " ")
		req, _ := http.NewRequest(m, e.base+vars.ReplaceAllString(tpl, "x"), nil)
		var match mux.RouteMatch
		if !e.api.Router().Match(req, &match) || match.MatchErr != nil {
			t.Errorf("selfServiceRoutes has %q, which is not a route", key)
		}
	}
	for key, role := range routeRoles {
		m, tpl, _ := strings.Cut(key, " ")
		req, _ := http.NewRequest(m, e.base+vars.ReplaceAllString(tpl, "x"), nil)
		var match mux.RouteMatch
		if !e.api.Router().Match(req, &match) || match.MatchErr != nil {
			t.Errorf("routeRoles has %q, which is not a route", key)
		}
		if !server.ValidRole(role) {
			t.Errorf("routeRoles[%q] = %q, not a role", key, role)
		}
	}
}
