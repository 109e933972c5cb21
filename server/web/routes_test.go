package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
)

// pathVar is a gorilla/mux path variable, with its pattern if it has one.
var pathVar = regexp.MustCompile(`\{([a-z]+)(?::([a-z]+)[^}]*)?\}`)

// TestEveryFormNeedsCSRFAndOrigin walks the dashboard's router: every POST route but sign-in
// refuses, as an admin with a valid session, a form without the session's CSRF token and a form
// with it from another origin, with 403 and the page that says to reload; so a route added
// without the form wrapper fails here.
func TestEveryFormNeedsCSRFAndOrigin(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := server.New(server.Config{Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Service: svc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "a long enough password"
	if _, err := svc.CreateUser(ctx, server.Principal{Name: "test", Role: server.RoleAdmin}, "root", server.RoleAdmin, pw); err != nil {
		t.Fatal(err)
	}
	session, _, err := svc.Login(ctx, "root", pw, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	var posts []string
	err = h.mux.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		methods, _ := route.GetMethods()
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		for _, m := range methods {
			if m == http.MethodPost && tpl != "/login" {
				posts = append(posts, tpl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk found the routes (a few known ones stand for all).
	for _, want := range []string{"/logout", "/groups/{name}/pin", "/hosts/{id}/clear-quarantine", "/releases/drafts/{name}/discard"} {
		if !slices.Contains(posts, want) {
			t.Fatalf("the walk missed POST %s: %v", want, posts)
		}
	}
	token := csrfToken(session)
	for _, tpl := range posts {
		path := pathVar.ReplaceAllStringFunc(tpl, func(v string) string {
			m := pathVar.FindStringSubmatch(v)
			if m[2] != "" {
				return m[2] // the first choice of a pattern such as {action:pause|resume|abort}
			}
			return "x"
		})
		for _, c := range []struct {
			name, origin string
			form         url.Values
		}{
			{"no CSRF token", "https://example.com", url.Values{"confirm": {"yes"}}},
			{"wrong CSRF token", "https://example.com", url.Values{"csrf": {strings.Repeat("0", 64)}, "confirm": {"yes"}}},
			{"another origin", "https://evil.example", url.Values{"csrf": {token}, "confirm": {"yes"}}},
		} {
			req := httptest.NewRequest(http.MethodPost, "https://example.com"+path, strings.NewReader(c.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", c.origin)
			req.AddCookie(&http.Cookie{Name: cookieName, Value: session})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Reload the page") {
				t.Errorf("POST %s (%s) with %s: %d, want 403", path, tpl, c.name, rec.Code)
			}
		}
	}
	// The session still works: the refusals changed nothing.
	if _, err := svc.AuthenticateSession(ctx, session, "192.0.2.1"); err != nil {
		t.Errorf("session after the refused forms: %v", err)
	}
}
