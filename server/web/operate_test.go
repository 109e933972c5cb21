package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/wire"
)

// opsEnv is a real vigil-server (app.Start: SQLite, release repository, rollouts) with a viewer
// (vera), an operator (olga) and a release engineer (rita) signed in to its dashboard.
type opsEnv struct {
	t        *testing.T
	srv      *app.Server
	hc       *http.Client
	admin    *apiclient.Client
	cookies  map[string]*http.Cookie
	csrf     map[string]string
	hostIDs  []string
	creds    []string // the hosts' credentials, by the index of hostIDs
	adminTok string
}

// Passwords of the test users.
const (
	veraPW = "vera's long password"
	olgaPW = "olga's long password"
	ritaPW = "rita's long password"
)

func newOpsEnv(t *testing.T, tune func(*app.Config)) *opsEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := app.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Alert: app.AlertTuning{Disabled: true}}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, app.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(srv.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	e := &opsEnv{t: t, srv: srv, hc: hc, adminTok: strings.TrimSpace(string(tok)), cookies: map[string]*http.Cookie{}, csrf: map[string]string{}}
	e.admin = apiclient.New(srv.URL, e.adminTok, hc)
	ctx := context.Background()
	for _, u := range []api.CreateUserRequest{{Name: "vera", Role: "viewer", Password: veraPW}, {Name: "olga", Role: "operator", Password: olgaPW},
		{Name: "rita", Role: "release", Password: ritaPW}} {
		if _, err := e.admin.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		e.cookies[u.Name] = signIn(t, hc, srv.URL, u.Name, u.Password)
		m := csrfRE.FindStringSubmatch(e.get(u.Name, "/account").body)
		if m == nil {
			t.Fatalf("no CSRF token for %s", u.Name)
		}
		e.csrf[u.Name] = m[1]
	}
	return e
}

// enroll enrolls n hosts into the default group, each reporting once.
func (e *opsEnv) enroll(names ...string) {
	e.t.Helper()
	ctx := context.Background()
	et, err := e.admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: len(names)})
	if err != nil {
		e.t.Fatal(err)
	}
	anon := apiclient.New(e.srv.URL, "", e.hc)
	for _, name := range names {
		var resp wire.EnrollResponse
		if err := anon.Do(ctx, http.MethodPost, "/api/v1/enroll", wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}, &resp); err != nil {
			e.t.Fatal(err)
		}
		batch := wire.ReportBatch{Reports: []wire.Report{{Seq: 1, Time: time.Now().UTC(), AgentVersion: "1.0.0", IntervalSeconds: 10}}}
		if err := apiclient.New(e.srv.URL, resp.Credential, e.hc).Do(ctx, http.MethodPost, "/api/v1/reports", batch, nil); err != nil {
			e.t.Fatal(err)
		}
		e.hostIDs = append(e.hostIDs, resp.HostID)
		e.creds = append(e.creds, resp.Credential)
	}
}

func (e *opsEnv) do(user, method, path string, form url.Values) answer {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", e.srv.URL)
	}
	if c := e.cookies[user]; c != nil {
		req.AddCookie(c)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != http.StatusSeeOther && (ct == "" || strings.Contains(ct, "unsafe-inline")) {
		e.t.Errorf("%s %s: Content-Security-Policy %q", method, path, ct)
	}
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: html.UnescapeString(string(b))}
}

func (e *opsEnv) get(user, path string) answer {
	e.t.Helper()
	return e.do(user, http.MethodGet, path, nil)
}

// post sends a form as user with the session's CSRF token (withToken) or without it.
func (e *opsEnv) post(user, path string, form url.Values, withToken bool) answer {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if withToken {
		form.Set("csrf", e.csrf[user])
	}
	return e.do(user, http.MethodPost, path, form)
}

// refused checks that a form was refused: 403 for the viewer's role, or for a missing CSRF token.
func refused(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status != http.StatusForbidden {
		t.Errorf("%s: %d, want 403\n%s", what, a.status, a.body)
	}
}

// TestGroupsPinAndRollout: on the groups page an operator pins a group (a version the
// repository does not have is refused unless forced), which starts a rollout shown with its stage
// and counts; the operator pauses, resumes and aborts it from the page (abort puts the pin back),
// each change audited under their name. A viewer sees the page but no forms, and each of
// their posts is refused, as is every post without the CSRF token; nothing changes then.
func TestGroupsPinAndRollout(t *testing.T) {
	e := newOpsEnv(t, nil)
	e.enroll("web-1", "web-2", "web-3")
	ctx := context.Background()
	svc := e.srv.Service()
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}

	page := e.get("vera", "/groups")
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="group-default"`) || strings.Contains(page.body, `action="/groups/default/pin"`) {
		t.Fatalf("viewer's groups page: %d (a pin form shown?)\n%s", page.status, page.body)
	}
	if p := e.get("olga", "/groups"); !strings.Contains(p.body, `action="/groups/default/pin"`) {
		t.Fatalf("operator's groups page has no pin form:\n%s", p.body)
	}
	pin := url.Values{"kind": {"version"}, "target": {"2.0.0"}, "force": {"on"}}
	refused(t, "viewer pins", e.post("vera", "/groups/default/pin", pin, true))
	refused(t, "operator pins without the CSRF token", e.post("olga", "/groups/default/pin", pin, false))
	if g, _ := svc.GetGroup(ctx, admin, "default"); g.Pin != (server.Pin{}) {
		t.Fatalf("a refused pin changed the group: %+v", g.Pin)
	}
	// Not published and not forced: refused with what to do.
	a := e.post("olga", "/groups/default/pin", url.Values{"kind": {"version"}, "target": {"2.0.0"}}, true)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "no published version 2.0.0") || !strings.Contains(a.body, "force") {
		t.Errorf("unforced pin to an unpublished version: %d\n%s", a.status, a.body)
	}
	if a := e.post("olga", "/groups/default/pin", url.Values{"kind": {"channel"}, "target": {"stable"}}, true); a.status != http.StatusBadRequest ||
		!strings.Contains(a.body, `no published release is on channel "stable"`) {
		t.Errorf("pin to an empty channel: %d\n%s", a.status, a.body)
	}
	if a := e.post("olga", "/groups/default/pin", url.Values{"kind": {"version"}, "target": {"2.0"}, "force": {"on"}}, true); a.status != http.StatusBadRequest ||
		!strings.Contains(a.body, "not like 1.2.3") {
		t.Errorf("pin to a malformed version: %d\n%s", a.status, a.body)
	}
	a = e.post("olga", "/groups/default/pin", pin, true)
	if a.status != http.StatusOK || !strings.Contains(a.body, "Group default pinned to version 2.0.0") {
		t.Fatalf("forced pin: %d\n%s", a.status, a.body)
	}
	row := regexp.MustCompile(`(?s)<tr id="group-default">.*?</tr>`).FindString(a.body)
	for _, want := range []string{"version 2.0.0", "running", "the canaries", "of 3 admitted", "healthy", "failed"} {
		if !strings.Contains(row, want) {
			t.Errorf("group row after the pin lacks %q:\n%s", want, row)
		}
	}
	m := regexp.MustCompile(`action="/rollouts/([^/"]+)/pause"`).FindStringSubmatch(row)
	if m == nil {
		t.Fatalf("no pause form in the group row:\n%s", row)
	}
	id := m[1]
	state := func() string {
		t.Helper()
		ro, err := e.srv.Rollouts().Get(ctx, admin, id)
		if err != nil {
			t.Fatal(err)
		}
		return ro.State
	}
	refused(t, "viewer pauses", e.post("vera", "/rollouts/"+id+"/pause", nil, true))
	refused(t, "operator pauses without the CSRF token", e.post("olga", "/rollouts/"+id+"/pause", nil, false))
	if s := state(); s != "running" {
		t.Fatalf("after refused pauses the rollout is %s", s)
	}
	if a := e.post("olga", "/rollouts/"+id+"/pause", nil, true); a.status != http.StatusOK || !strings.Contains(a.body, "paused.") ||
		!strings.Contains(a.body, `action="/rollouts/`+id+`/resume"`) {
		t.Errorf("pause: %d\n%s", a.status, a.body)
	}
	if s := state(); s != "paused" {
		t.Errorf("after pause: %s", s)
	}
	if a := e.post("olga", "/rollouts/"+id+"/pause", nil, true); a.status != http.StatusConflict || !strings.Contains(a.body, "the rollout is paused") {
		t.Errorf("pause twice: %d\n%s", a.status, a.body)
	}
	if a := e.post("olga", "/rollouts/"+id+"/resume", nil, true); a.status != http.StatusOK || state() != "running" {
		t.Errorf("resume: %d, state %s", a.status, state())
	}
	refused(t, "viewer aborts", e.post("vera", "/rollouts/"+id+"/abort", nil, true))
	if a := e.post("olga", "/rollouts/"+id+"/abort", nil, true); a.status != http.StatusOK || !strings.Contains(a.body, "pin is back to not pinned") {
		t.Errorf("abort: %d\n%s", a.status, a.body)
	}
	if g, _ := svc.GetGroup(ctx, admin, "default"); state() != "aborted" || g.Pin != (server.Pin{}) {
		t.Errorf("after abort: rollout %s, pin %+v", state(), g.Pin)
	}
	// Unpin (no rollout: nothing to move).
	if _, err := svc.SetPin(ctx, admin, "default", server.Pin{Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	refused(t, "viewer unpins", e.post("vera", "/groups/default/pin", url.Values{"kind": {"none"}}, true))
	if a := e.post("olga", "/groups/default/pin", url.Values{"kind": {"none"}}, true); a.status != http.StatusOK || !strings.Contains(a.body, "Group default unpinned") {
		t.Errorf("unpin: %d\n%s", a.status, a.body)
	}
	if g, _ := svc.GetGroup(ctx, admin, "default"); g.Pin != (server.Pin{}) {
		t.Errorf("after unpinning: %+v", g.Pin)
	}
	if a := e.post("olga", "/rollouts/nope/pause", nil, true); a.status != http.StatusNotFound {
		t.Errorf("pause of no rollout: %d", a.status)
	}
	for action, n := range map[string]int{"group.pin": 2, "rollout.pause": 1, "rollout.resume": 1, "rollout.abort": 1} {
		es, err := svc.SearchAudit(ctx, admin, server.AuditFilter{Action: action, Actor: "olga"})
		if err != nil || len(es) != n || es[0].Address != "127.0.0.1" {
			t.Errorf("audit of %s by olga = %+v, %v", action, es, err)
		}
	}
}
