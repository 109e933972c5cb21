package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/tufrepo"
	"github.com/vigilhq/vigil/wire"
)

// hostRoutes are the /api/v1 routes hosts call with their credential (enroll with none).
var hostRoutes = map[string]bool{
	"/api/v1/enroll": true, "/api/v1/reports": true, "/api/v1/updates/desired": true, "/api/v1/updates/events": true,
}

// bodyLimits are the routes that accept bodies larger than wire.MaxSmallBodyBytes, and their limit.
var bodyLimits = map[string]int64{
	"POST /api/v1/reports":                            wire.MaxReportBodyBytes,
	"POST /api/v1/repo/init":                          maxMetadataBody,
	"POST /api/v1/repo/rotate-root":                   maxMetadataBody,
	"POST /api/v1/drafts/{name}/signatures":           maxSignatureBody,
	"PUT /api/v1/releases/{version}/artifacts/{name}": badInputMaxBlob,
}

// badInputMaxBlob is the per-build upload limit of the test's release repository.
const badInputMaxBlob = 64 << 10

type badRequest struct {
	kind        string
	body        []byte
	contentType string
	header      map[string]string
}

// badBodies are the bad requests for a route taking a body of kind (bodyJSON, bodyRaw or "" for
// none), of at most limit bytes.
func badBodies(kind string, limit int64) []badRequest {
	over := bytes.Repeat([]byte(" "), int(limit)+1)
	switch kind {
	case bodyRaw:
		sha := map[string]string{api.HeaderSHA256: strings.Repeat("ab", 32)}
		return []badRequest{
			{"malformed (no sha256 header)", []byte("build"), bodyRaw, nil},
			{"wrong-typed sha256 header", []byte("build"), bodyRaw, map[string]string{api.HeaderSHA256: "not-hex"}},
			{"mismatched sha256", []byte("build"), bodyRaw, sha},
			{"oversized", over, bodyRaw, sha},
			{"wrong content type", []byte(`{"build": 1}`), "application/json", sha},
		}
	case bodyJSON:
		return []badRequest{
			{"malformed JSON", []byte(`{"name": `), bodyJSON, nil},
			{"trailing garbage", []byte(`{} {}`), bodyJSON, nil},
			{"wrong-typed: array", []byte(`[1, 2, 3]`), bodyJSON, nil},
			{"wrong-typed: string", []byte(`"hello"`), bodyJSON, nil},
			{"wrong-typed: number", []byte(`1e308`), bodyJSON, nil},
			{"wrong-typed fields", []byte(`{"name": 12, "group": true, "version": [], "channel": {}, "reports": "x", "root": 5, "kind": 7, "hostname": 1}`), bodyJSON, nil},
			{"unknown field", []byte(`{"no_such_field": 1}`), bodyJSON, nil},
			{"oversized", over, bodyJSON, nil},
			{"wrong content type", []byte(`{}`), "text/plain", nil},
			{"form content type", []byte(`name=web`), "application/x-www-form-urlencoded", nil},
		}
	default:
		return []badRequest{
			{"malformed JSON body", []byte(`{"name": `), "", nil},
			{"JSON body", []byte(`{}`), bodyJSON, nil},
			{"oversized body", bytes.Repeat([]byte(" "), wire.MaxSmallBodyBytes+1), "", nil},
		}
	}
}

// TestBadInputOverRouteTable walks the router's own route list, so a route added later cannot
// skip it, and sends every route malformed, oversized, wrong-typed and wrongly typed (Content-Type)
// bodies with the right credential, and well-formed requests with no credential, the wrong kind
// of credential and (for changes) a viewer's token. Every answer must be a 4xx with the JSON error
// shape, never a 2xx or 5xx, and the store and the release repository must be exactly as before.
func TestBadInputOverRouteTable(t *testing.T) {
	if testing.Short() {
		t.Skip("generates online keys (scrypt) and walks every route; skipped with -short")
	}
	e := newReleaseEnvRepo(t, true, nil, func(c *tufrepo.Config) { c.MaxBlobBytes, c.MaxStagedBytes = badInputMaxBlob, 1<<20 })
	ctx := context.Background()
	e.initRepo(t)
	e.stage(t, "1.0.0", []byte("agent build")) // a pending draft "1.0.0"
	if _, err := e.admin.CreateGroup(ctx, api.CreateGroupRequest{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	enrollTok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	// A pool of hosts, so the per-host rate limit (429) does not answer for the handlers.
	var hosts []wire.EnrollResponse
	for i := range 40 {
		h, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: enrollTok, Hostname: fmt.Sprintf("web-%d", i),
			MachineID: fmt.Sprintf("%032x", i+1), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	nextHost := 0
	hostCred := func() string { nextHost = (nextHost + 1) % len(hosts); return hosts[nextHost].Credential }

	vars := func(tpl, name string) string {
		switch {
		case name == "id" && strings.HasPrefix(tpl, "/api/v1/hosts/"):
			return hosts[0].HostID
		case name == "id":
			return "x-1"
		case name == "name" && strings.HasPrefix(tpl, "/api/v1/groups/"):
			return "web"
		case name == "name" && strings.HasPrefix(tpl, "/api/v1/drafts/"):
			return "1.0.0"
		case name == "name" && strings.Contains(tpl, "/artifacts/"):
			return "vigil-agent-linux-amd64"
		case name == "name" && strings.HasPrefix(tpl, "/api/v1/users/"):
			return "nobody"
		case name == "version":
			return "1.1.0"
		case name == "keyid":
			return strings.Repeat("ab", 32)
		}
		t.Fatalf("route %s: no test value for {%s}: add one", tpl, name)
		return ""
	}

	send := func(method, path, token string, br badRequest) (int, wire.ErrorResponse) {
		t.Helper()
		var body io.Reader
		if br.body != nil {
			body = bytes.NewReader(br.body)
		}
		req, err := http.NewRequest(method, e.base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if br.contentType != "" {
			req.Header.Set("Content-Type", br.contentType)
		}
		for k, v := range br.header {
			req.Header.Set(k, v)
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s (%s): %v", method, path, br.kind, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var er wire.ErrorResponse
		_ = json.Unmarshal(b, &er)
		return resp.StatusCode, er
	}
	snapshot := func() string {
		t.Helper()
		var sb strings.Builder
		st := e.svc.Store()
		add := func(name string, v any, err error) {
			if err != nil {
				t.Fatalf("snapshot %s: %v", name, err)
			}
			b, _ := json.Marshal(v)
			fmt.Fprintf(&sb, "%s=%s\n", name, b)
		}
		hs, err := st.ListHosts(ctx, "")
		add("hosts", hs, err)
		gs, err := st.ListGroups(ctx)
		add("groups", gs, err)
		ets, err := st.ListEnrollmentTokens(ctx)
		add("enrollment-tokens", ets, err)
		ts, err := st.ListAPITokens(ctx)
		add("tokens", ts, err)
		au, err := st.ListAudit(ctx, 0, 0)
		add("audit", len(au), err)
		ev, err := st.ListUpdateEvents(ctx, hosts[0].HostID, 0)
		add("update-events", len(ev), err)
		as := st.(alert.Store)
		rs, err := as.ListRules(ctx)
		add("rules", rs, err)
		ss, err := as.ListSilences(ctx, time.Time{})
		add("silences", ss, err)
		repo, err := e.repo.Repo()
		if err != nil {
			t.Fatal(err)
		}
		rst, err := repo.Status(ctx)
		add("repo", rst, err)
		used, _, err := repo.StagingUsage(ctx)
		add("staged-bytes", used, err)
		return sb.String()
	}
	check := func(route, kind string, status int, er wire.ErrorResponse, want ...int) {
		t.Helper()
		if status < 400 || status >= 500 {
			t.Errorf("%s, %s: %d, want a 4xx", route, kind, status)
			return
		}
		if len(want) > 0 && !slices.Contains(want, status) && status != http.StatusTooManyRequests {
			t.Errorf("%s, %s: %d, want one of %v", route, kind, status, want)
		}
		if er.Error.Code == "" || er.Error.Message == "" {
			t.Errorf("%s, %s: %d without the JSON error shape (code and message)", route, kind, status)
		}
	}

	type route struct{ method, tpl, path string }
	var routes []route
	err = e.api.Router().Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := r.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := r.GetMethods()
		if err != nil {
			return nil // the /api/v1 prefix itself
		}
		names, err := r.GetVarNames()
		if err != nil {
			return err
		}
		var pairs []string
		for _, n := range names {
			pairs = append(pairs, n, vars(tpl, n))
		}
		u, err := r.URLPath(pairs...)
		if err != nil {
			return err
		}
		for _, m := range methods {
			routes = append(routes, route{m, tpl, u.Path})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 50 {
		t.Fatalf("walked only %d routes", len(routes))
	}
	for k := range bodyRoutes {
		found := false
		for _, r := range routes {
			found = found || r.method+" "+r.tpl == k
		}
		if !found {
			t.Errorf("bodyRoutes names %q, which the router does not have", k)
		}
	}

	before := snapshot()
	tried := 0
	for _, r := range routes {
		key := r.method + " " + r.tpl
		kind := bodyRoutes[key]
		limit, ok := bodyLimits[key]
		if !ok {
			limit = wire.MaxSmallBodyBytes
		}
		isHost := hostRoutes[r.tpl]
		good := badRequest{kind: "well-formed"}
		switch kind {
		case bodyJSON:
			good.body, good.contentType = []byte(`{}`), bodyJSON
		case bodyRaw:
			good.body, good.contentType = []byte("build"), bodyRaw
		}

		// No credential, garbage, and the other kind of credential: 401 (enroll takes none).
		if r.tpl != "/api/v1/enroll" {
			wrongKind := e.adminTok
			if !isHost {
				wrongKind = hostCred()
			}
			for _, tok := range []string{"", "garbage", wrongKind} {
				g := good
				g.kind = "credential " + map[bool]string{true: "none", false: "wrong"}[tok == ""]
				status, er := send(r.method, r.path, tok, g)
				check(key, g.kind, status, er, http.StatusUnauthorized)
				tried++
			}
		}
		// A viewer may read, never change.
		if !isHost && r.method != http.MethodGet {
			g := good
			g.kind = "viewer's token"
			status, er := send(r.method, r.path, e.viewerTok, g)
			if selfServiceRoutes[key] {
				// Its own tokens and password: the object it names is not its own, or not there.
				check(key, g.kind, status, er, http.StatusForbidden, http.StatusBadRequest, http.StatusNotFound)
			} else {
				check(key, g.kind, status, er, http.StatusForbidden, http.StatusBadRequest)
			}
			tried++
		}
		// Bad bodies with the right credential.
		for _, br := range badBodies(kind, limit) {
			tok := e.adminTok
			if isHost {
				tok = hostCred()
			}
			if r.tpl == "/api/v1/enroll" {
				tok = ""
			}
			status, er := send(r.method, r.path, tok, br)
			check(key, br.kind, status, er)
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				t.Errorf("%s, %s: %d with the right credential: the body was not what was refused", key, br.kind, status)
			}
			tried++
		}
		if after := snapshot(); after != before {
			t.Fatalf("%s: bad requests changed the store or repository:\nbefore:\n%s\nafter:\n%s", key, before, after)
		}
	}
	t.Logf("%d routes, %d bad requests, all refused with a 4xx, nothing written", len(routes), tried)
}
