package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/server/web"
)

// clock is a settable time source shared by the Service and the dashboard.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type dash struct {
	t     *testing.T
	svc   *server.Service
	url   string
	hc    *http.Client
	clock *clock
}

const alicePW = "alice's long password"

func newDash(t *testing.T) *dash {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := server.New(server.Config{Store: st, Logger: log, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.New(web.Config{Service: svc, Logger: log, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewTLSServer(h)
	t.Cleanup(hs.Close)
	hc := hs.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	if _, err := svc.CreateUser(ctx, admin, "alice", server.RoleOperator, alicePW); err != nil {
		t.Fatal(err)
	}
	return &dash{t: t, svc: svc, url: hs.URL, hc: hc, clock: clk}
}

type answer struct {
	status   int
	location string
	body     string
	cookies  []*http.Cookie
}

func (d *dash) do(method, path, session string, form url.Values, hdr map[string]string) answer {
	d.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, d.url+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: "__Host-vigil_session", Value: session})
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), cookies: resp.Cookies()}
}

// login signs in and returns the session cookie's value.
func (d *dash) login(user, pw string) string {
	d.t.Helper()
	a := d.do("POST", "/login", "", url.Values{"user": {user}, "password": {pw}}, nil)
	if a.status != http.StatusSeeOther || a.location != "/" {
		d.t.Fatalf("login %s: %d → %q\n%s", user, a.status, a.location, a.body)
	}
	for _, c := range a.cookies {
		if c.Name == "__Host-vigil_session" {
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
				d.t.Errorf("session cookie attributes: %+v", c)
			}
			if !strings.HasPrefix(c.Value, "vgs_") || len(c.Value) < 40 {
				d.t.Errorf("session cookie value %q is not a random session ID", c.Value)
			}
			return c.Value
		}
	}
	d.t.Fatalf("login set no session cookie: %v", a.cookies)
	return ""
}

// signedIn reports whether the session opens the fleet page.
func (d *dash) signedIn(session string) bool {
	d.t.Helper()
	a := d.do("GET", "/", session, nil, nil)
	switch {
	case a.status == http.StatusOK:
		return true
	case a.status == http.StatusSeeOther && a.location == "/login":
		return false
	}
	d.t.Fatalf("GET / answered %d %q", a.status, a.location)
	return false
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func (d *dash) csrf(session string) string {
	d.t.Helper()
	m := csrfRE.FindStringSubmatch(d.do("GET", "/account", session, nil, nil).body)
	if m == nil {
		d.t.Fatal("no CSRF token on /account")
	}
	return m[1]
}

// TestSessionLogout: a password sign-in starts a session whose cookie is a random ID (never an API
// token); sign-out needs the session's CSRF token and ends the session on the server, so the old
// cookie no longer works.
func TestSessionLogout(t *testing.T) {
	d := newDash(t)
	if a := d.do("POST", "/login", "", url.Values{"user": {"alice"}, "password": {"wrong password!!"}}, nil); a.status != http.StatusUnauthorized ||
		!strings.Contains(a.body, "Wrong user name or password") {
		t.Errorf("wrong password: %d\n%s", a.status, a.body)
	}
	if a := d.do("POST", "/login", "", url.Values{"user": {"nobody"}, "password": {alicePW}}, nil); a.status != http.StatusUnauthorized ||
		!strings.Contains(a.body, "Wrong user name or password") {
		t.Errorf("unknown user: %d", a.status)
	}
	s := d.login("alice", alicePW)
	if !d.signedIn(s) {
		t.Fatal("not signed in after login")
	}
	if d.signedIn("vgs_" + strings.Repeat("A", 43)) {
		t.Error("a made-up session ID was accepted")
	}
	tok := d.csrf(s)
	if a := d.do("POST", "/logout", s, url.Values{"csrf": {tok}}, nil); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("logout: %d %q", a.status, a.location)
	}
	if d.signedIn(s) {
		t.Error("the session still works after sign-out")
	}
}

// TestCSRFRejected: a state-changing form without the session's CSRF token, with another session's
// token, or from another origin is refused with 403 and changes nothing; a cross-site sign-in too.
func TestCSRFRejected(t *testing.T) {
	d := newDash(t)
	s := d.login("alice", alicePW)
	other := d.login("alice", alicePW)
	tok, otherTok := d.csrf(s), d.csrf(other)
	if tok == otherTok {
		t.Fatal("two sessions share a CSRF token")
	}
	newPW := url.Values{"current": {alicePW}, "password": {"a new password here"}, "again": {"a new password here"}}
	with := func(token string) url.Values {
		v := url.Values{}
		for k, vs := range newPW {
			v[k] = vs
		}
		if token != "" {
			v.Set("csrf", token)
		}
		return v
	}
	for _, c := range []struct {
		name string
		path string
		form url.Values
		hdr  map[string]string
	}{
		{"logout without a token", "/logout", url.Values{}, nil},
		{"logout with another session's token", "/logout", url.Values{"csrf": {otherTok}}, nil},
		{"password without a token", "/account/password", with(""), nil},
		{"password with a wrong token", "/account/password", with(strings.Repeat("0", 64)), nil},
		{"password from another origin", "/account/password", with(tok), map[string]string{"Origin": "https://evil.example"}},
		{"password from another site", "/account/password", with(tok), map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"logout over plain http origin", "/logout", url.Values{"csrf": {tok}}, map[string]string{"Origin": "http://" + strings.TrimPrefix(d.url, "https://")}},
	} {
		if a := d.do("POST", c.path, s, c.form, c.hdr); a.status != http.StatusForbidden || !strings.Contains(a.body, "Reload the page") {
			t.Errorf("%s: %d, want 403", c.name, a.status)
		}
	}
	if !d.signedIn(s) || !d.signedIn(other) {
		t.Error("a refused form ended a session")
	}
	if _, _, err := d.svc.Login(context.Background(), "alice", alicePW, "192.0.2.9"); err != nil {
		t.Errorf("the password changed through a refused form: %v", err)
	}
	// The same origin with the right token works.
	if a := d.do("POST", "/logout", s, url.Values{"csrf": {tok}}, map[string]string{"Origin": d.url, "Sec-Fetch-Site": "same-origin"}); a.status != http.StatusSeeOther {
		t.Errorf("same-origin logout: %d", a.status)
	}
	// Sign-in from another site is refused before the password is checked.
	if a := d.do("POST", "/login", "", url.Values{"user": {"alice"}, "password": {alicePW}}, map[string]string{"Origin": "https://evil.example"}); a.status != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d, want 403", a.status)
	}
}

// TestSessionExpiry: a session ends after DefaultSessionIdle without use, and after
// DefaultSessionMax however busy it is.
func TestSessionExpiry(t *testing.T) {
	d := newDash(t)
	idle := d.login("alice", alicePW)
	busy := d.login("alice", alicePW)
	d.clock.advance(server.DefaultSessionIdle - time.Minute)
	if !d.signedIn(busy) {
		t.Fatal("busy session ended early")
	}
	d.clock.advance(2 * time.Minute) // idle: unused for DefaultSessionIdle + 1m
	if d.signedIn(idle) {
		t.Error("a session unused for longer than the idle limit still works")
	}
	if !d.signedIn(busy) {
		t.Fatal("a session used a minute ago ended")
	}
	// Keep using it every half idle period until the absolute limit.
	for elapsed := server.DefaultSessionIdle + time.Minute; elapsed+server.DefaultSessionIdle/2 < server.DefaultSessionMax; elapsed += server.DefaultSessionIdle / 2 {
		d.clock.advance(server.DefaultSessionIdle / 2)
		if !d.signedIn(busy) {
			t.Fatalf("busy session ended after %v", elapsed)
		}
	}
	d.clock.advance(server.DefaultSessionIdle / 2)
	if d.signedIn(busy) {
		t.Error("a session older than the absolute limit still works")
	}
}

// TestPasswordChangeEndsSessions: changing the password (with the current one) ends every session
// of the user, including the one used, and the new password signs in.
func TestPasswordChangeEndsSessions(t *testing.T) {
	d := newDash(t)
	s1, s2 := d.login("alice", alicePW), d.login("alice", alicePW)
	newPW := "alice's new long password"
	form := url.Values{"csrf": {d.csrf(s1)}, "current": {"not the password"}, "password": {newPW}, "again": {newPW}}
	if a := d.do("POST", "/account/password", s1, form, nil); a.status != http.StatusForbidden || !strings.Contains(a.body, "current password is wrong") {
		t.Errorf("wrong current password: %d", a.status)
	}
	form.Set("current", alicePW)
	form.Set("again", "something else entirely")
	if a := d.do("POST", "/account/password", s1, form, nil); a.status != http.StatusBadRequest {
		t.Errorf("mismatched new passwords: %d", a.status)
	}
	form.Set("again", newPW)
	if a := d.do("POST", "/account/password", s1, form, nil); a.status != http.StatusOK || !strings.Contains(a.body, "sessions ended") {
		t.Fatalf("change password: %d\n%s", a.status, a.body)
	}
	if d.signedIn(s1) || d.signedIn(s2) {
		t.Error("a session survived the password change")
	}
	if a := d.do("POST", "/login", "", url.Values{"user": {"alice"}, "password": {alicePW}}, nil); a.status != http.StatusUnauthorized {
		t.Errorf("old password: %d", a.status)
	}
	d.login("alice", newPW)
	// The audit log has it, with the address.
	es, err := d.svc.SearchAudit(context.Background(), server.Principal{Role: server.RoleAdmin}, server.AuditFilter{Action: "user.password"})
	if err != nil || len(es) != 1 || es[0].User != "alice" || es[0].Address != "127.0.0.1" {
		t.Errorf("audit of the password change = %+v, %v", es, err)
	}
}

// TestLoginLockout: after DefaultLoginMaxFailuresUser wrong passwords the account is locked for
// DefaultLoginLockout, even for the right password, with a message saying until when; after it,
// the right password works. Many names tried from one address lock the address.
func TestLoginLockout(t *testing.T) {
	d := newDash(t)
	wrong := url.Values{"user": {"alice"}, "password": {"wrong password!!"}}
	for i := 1; i < server.DefaultLoginMaxFailuresUser; i++ {
		if a := d.do("POST", "/login", "", wrong, nil); a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, a.status)
		}
	}
	a := d.do("POST", "/login", "", wrong, nil)
	if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, "Too many failed sign-ins for this account") {
		t.Fatalf("failure %d: %d\n%s", server.DefaultLoginMaxFailuresUser, a.status, a.body)
	}
	until := d.clock.now().Add(server.DefaultLoginLockout).UTC().Format("15:04")
	if !strings.Contains(a.body, "Try again after "+until) {
		t.Errorf("lockout message lacks %q:\n%s", until, a.body)
	}
	right := url.Values{"user": {"alice"}, "password": {alicePW}}
	if a := d.do("POST", "/login", "", right, nil); a.status != http.StatusTooManyRequests {
		t.Errorf("right password while locked: %d, want 429", a.status)
	}
	d.clock.advance(server.DefaultLoginLockout + time.Second)
	d.login("alice", alicePW)

	// The address: many names, each failing less than the account limit.
	var last answer
	for i := 0; i < server.DefaultLoginMaxFailuresAddress; i++ {
		last = d.do("POST", "/login", "", url.Values{"user": {"guess" + string(rune('a'+i))}, "password": {"wrong password!!"}}, nil)
	}
	// Sign-ins and lockouts are in the audit log, with the address.
	admin := server.Principal{Role: server.RoleAdmin}
	if es, err := d.svc.SearchAudit(context.Background(), admin, server.AuditFilter{Action: "user.lockout", Target: "user/alice"}); err != nil ||
		len(es) != 1 || es[0].Address != "127.0.0.1" || !strings.Contains(es[0].Detail, "this account") {
		t.Errorf("lockout audit = %+v, %v", es, err)
	}
	if es, err := d.svc.SearchAudit(context.Background(), admin, server.AuditFilter{Action: "user.login", Actor: "alice"}); err != nil || len(es) != 1 {
		t.Errorf("sign-in audit = %+v, %v", es, err)
	}
	if last.status != http.StatusTooManyRequests || !strings.Contains(last.body, "your address") {
		t.Errorf("after %d failures from one address: %d", server.DefaultLoginMaxFailuresAddress, last.status)
	}
	if a := d.do("POST", "/login", "", right, nil); a.status != http.StatusTooManyRequests {
		t.Errorf("a good account from a locked address: %d, want 429", a.status)
	}
}

// TestUsersAndTokensPages: an admin adds a user, changes a role and removes a user from the Users
// page, each form needing the CSRF token; a non-admin cannot open it; on the Account page a user
// makes an API token (shown once) at most at their role and revokes it.
func TestUsersAndTokensPages(t *testing.T) {
	d := newDash(t)
	ctx := context.Background()
	if _, err := d.svc.CreateUser(ctx, server.Principal{Role: server.RoleAdmin}, "root", server.RoleAdmin, "root's long password"); err != nil {
		t.Fatal(err)
	}
	admin := d.login("root", "root's long password")
	tok := d.csrf(admin)
	add := url.Values{"name": {"bob"}, "role": {"release"}, "password": {"bob's long password"}}
	if a := d.do("POST", "/users", admin, add, nil); a.status != http.StatusForbidden {
		t.Errorf("add user without CSRF token: %d", a.status)
	}
	add.Set("csrf", tok)
	if a := d.do("POST", "/users", admin, add, nil); a.status != http.StatusOK || !strings.Contains(a.body, "User bob added with role release") {
		t.Fatalf("add user: %d\n%s", a.status, a.body)
	}
	if a := d.do("POST", "/users", admin, add, nil); a.status != http.StatusConflict || !strings.Contains(a.body, "taken") {
		t.Errorf("add bob again: %d", a.status)
	}
	add.Set("name", "Bad Name")
	if a := d.do("POST", "/users", admin, add, nil); a.status != http.StatusBadRequest || !strings.Contains(a.body, "user name") {
		t.Errorf("add a bad name: %d", a.status)
	}
	if a := d.do("POST", "/users/bob/role", admin, url.Values{"csrf": {tok}, "role": {"operator"}}, nil); a.status != http.StatusOK ||
		!strings.Contains(a.body, "bob now has role operator") {
		t.Errorf("set role: %d", a.status)
	}
	bob := d.login("bob", "bob's long password")
	if a := d.do("GET", "/users", bob, nil, nil); a.status != http.StatusForbidden {
		t.Errorf("operator opens /users: %d, want 403", a.status)
	}
	if a := d.do("POST", "/users/root/role", bob, url.Values{"csrf": {d.csrf(bob)}, "role": {"viewer"}}, nil); a.status != http.StatusForbidden {
		t.Errorf("operator demotes the admin: %d, want 403", a.status)
	}
	// Bob's tokens: at most operator.
	btok := d.csrf(bob)
	if a := d.do("POST", "/account/tokens", bob, url.Values{"csrf": {btok}, "name": {"ci"}, "role": {"admin"}}, nil); a.status != http.StatusForbidden ||
		!strings.Contains(a.body, "above your own role") {
		t.Errorf("operator makes an admin token: %d", a.status)
	}
	a := d.do("POST", "/account/tokens", bob, url.Values{"csrf": {btok}, "name": {"ci"}, "role": {"operator"}}, nil)
	m := regexp.MustCompile(`id="new-token">(vgt_[A-Za-z0-9_-]+)<`).FindStringSubmatch(a.body)
	if a.status != http.StatusOK || m == nil {
		t.Fatalf("make a token: %d\n%s", a.status, a.body)
	}
	p, err := d.svc.Authenticate(ctx, m[1])
	if err != nil || p.User != "bob" || p.Role != server.RoleOperator {
		t.Fatalf("the new token = %+v, %v", p, err)
	}
	if strings.Contains(d.do("GET", "/account", bob, nil, nil).body, m[1]) {
		t.Error("the token's secret is shown again")
	}
	id := regexp.MustCompile(`/account/tokens/([0-9a-f]+)/revoke`).FindStringSubmatch(d.do("GET", "/account", bob, nil, nil).body)
	if id == nil {
		t.Fatal("no revoke form for the token")
	}
	if a := d.do("POST", "/account/tokens/"+id[1]+"/revoke", bob, url.Values{"csrf": {btok}}, nil); a.status != http.StatusOK {
		t.Errorf("revoke: %d", a.status)
	}
	if _, err := d.svc.Authenticate(ctx, m[1]); err == nil {
		t.Error("the revoked token still works")
	}
	// Removing bob ends his session.
	if a := d.do("POST", "/users/bob/remove", admin, url.Values{"csrf": {tok}}, nil); a.status != http.StatusOK || !strings.Contains(a.body, "bob removed") {
		t.Errorf("remove: %d", a.status)
	}
	if d.signedIn(bob) {
		t.Error("a removed user's session still works")
	}
	if a := d.do("POST", "/users/root/remove", admin, url.Values{"csrf": {tok}}, nil); a.status != http.StatusBadRequest || !strings.Contains(a.body, "last admin") {
		t.Errorf("remove the last admin: %d", a.status)
	}
}

// TestRefreshesDoNotKeepSessionAlive: the fleet and groups pages' live refreshes (GET /fleet/rows
// and /groups/rows, every few seconds from refresh.js) are answered while the
// session lives but are not a use of it: a session whose only activity is refreshes ends at
// its idle limit, counted from the last real request.
func TestRefreshesDoNotKeepSessionAlive(t *testing.T) {
	d := newDash(t)
	ss := d.login("alice", alicePW)
	if !d.signedIn(ss) { // the last real use
		t.Fatal("new session not signed in")
	}
	step := 5 * time.Minute
	var elapsed time.Duration
	for elapsed+step < server.DefaultSessionIdle {
		d.clock.advance(step)
		elapsed += step
		for _, path := range []string{"/fleet/rows", "/groups/rows"} {
			if a := d.do("GET", path, ss, nil, nil); a.status != http.StatusOK {
				t.Fatalf("refresh %s %v after the last use: %d %q", path, elapsed, a.status, a.location)
			}
		}
	}
	d.clock.advance(server.DefaultSessionIdle - elapsed + time.Second)
	for _, path := range []string{"/fleet/rows", "/groups/rows"} {
		if a := d.do("GET", path, ss, nil, nil); a.status != http.StatusSeeOther || a.location != "/login" {
			t.Errorf("refresh %s past the idle limit: %d %q, want a redirect to /login", path, a.status, a.location)
		}
	}
	if d.signedIn(ss) {
		t.Error("a session whose only activity was refreshes outlived its idle limit")
	}
}
