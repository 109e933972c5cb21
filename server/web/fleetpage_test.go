package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"html"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/wire"
)

// fleetFixture is a real server with four hosts: db-1 (cpu 80, disk 95, agent 1.10.0, group db),
// db-2 (cpu 20, agent 1.9.0, group db), web-1 (cpu 50, agent 1.9.0) and web-2, enrolled but
// silent about itself (late, no figures).
type fleetFixture struct {
	t      *testing.T
	url    string
	hc     *http.Client
	cookie *http.Cookie
	ids    map[string]string // hostname → ID
	creds  map[string]string // hostname → agent credential
	// password is the first admin's; admin the API client with the admin token; enroll a token
	// with uses left.
	password string
	admin    *apiclient.Client
	enroll   string
}

func newFleetFixture(t *testing.T) *fleetFixture {
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tokBytes, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(srv.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	ctx := context.Background()
	admin := apiclient.New(srv.URL, strings.TrimSpace(string(tokBytes)), hc)
	if _, err := admin.CreateGroup(ctx, api.CreateGroupRequest{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	et, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 20})
	if err != nil {
		t.Fatal(err)
	}
	f := &fleetFixture{t: t, url: srv.URL, hc: hc, ids: map[string]string{}, creds: map[string]string{},
		password: srv.AdminPassword, admin: admin, enroll: et.Token}
	anon := apiclient.New(srv.URL, "", hc)
	for _, h := range []struct {
		name, group, version string
		cpu, disk            float64
	}{{"db-1", "db", "1.10.0", 80, 95}, {"db-2", "db", "1.9.0", 20, 40}, {"web-1", "", "1.9.0", 50, 60}, {"web-2", "", "", -1, -1}} {
		var er wire.EnrollResponse
		if err := anon.Do(ctx, http.MethodPost, "/api/v1/enroll", wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: h.name, OS: "linux", Arch: "amd64"}, &er); err != nil {
			t.Fatal(err)
		}
		f.ids[h.name], f.creds[h.name] = er.HostID, er.Credential
		if h.group != "" {
			if err := admin.MoveHost(ctx, er.HostID, h.group); err != nil {
				t.Fatal(err)
			}
		}
		if h.cpu < 0 {
			continue
		}
		// Seven hours old, so it is out of the 6h charts tests draw from reports of their own.
		r := wire.Report{Seq: 1, Time: time.Now().UTC().Add(-7 * time.Hour), AgentVersion: h.version, IntervalSeconds: 10,
			CPU: &wire.CPU{Cores: 2, BusyPct: h.cpu}, Memory: &wire.Memory{TotalBytes: 1 << 30, UsedPct: 30},
			Load: &wire.Load{Load1: h.cpu / 100}, Mounts: []wire.Mount{{Path: "/", UsedPct: h.disk}}}
		if err := apiclient.New(srv.URL, er.Credential, hc).Do(ctx, http.MethodPost, "/api/v1/reports", wire.ReportBatch{Reports: []wire.Report{r}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	f.cookie = signIn(t, hc, srv.URL, "admin", srv.AdminPassword)
	return f
}

// get fetches path with the session (when withCookie) and no redirects followed.
func (f *fleetFixture) get(path string, withCookie bool) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, f.url+path, nil)
	if withCookie {
		req.AddCookie(f.cookie)
	}
	noRedirect := *f.hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, html.UnescapeString(string(b))
}

var hostLink = regexp.MustCompile(`<a href="/hosts/[^"]+">([^<]+)</a>`)

// hostsIn lists the hostnames of the table rows, in order.
func hostsIn(page string) []string {
	body := page
	if i := strings.Index(page, `id="hosts-body"`); i >= 0 {
		body = page[i:]
	}
	out := []string{}
	for _, m := range hostLink.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestFleetFilterSearchSort: filters, search and sort are query parameters the server applies,
// so the page works without a script; a typo in one is refused with what to use instead.
func TestFleetFilterSearchSort(t *testing.T) {
	f := newFleetFixture(t)
	for _, tt := range []struct {
		query string
		want  []string
	}{
		// Default: problems first (web-2 never reported: late), then by name.
		{"/", []string{"web-2", "db-1", "db-2", "web-1"}},
		{"/?group=db", []string{"db-1", "db-2"}},
		{"/?status=late", []string{"web-2"}},
		{"/?status=up&version=1.9.0", []string{"db-2", "web-1"}},
		{"/?q=WEB", []string{"web-2", "web-1"}},
		{"/?q=" + f.ids["db-2"][:6], []string{"db-2"}},
		{"/?q=nothing-like-this", []string{}},
		{"/?sort=cpu", []string{"db-1", "web-1", "db-2", "web-2"}},               // descending by default; no figure last
		{"/?sort=cpu&dir=asc", []string{"db-2", "web-1", "db-1", "web-2"}},       // still last
		{"/?sort=disk&dir=desc&group=db", []string{"db-1", "db-2"}},              // combined with a filter
		{"/?sort=version&dir=desc&status=up", []string{"db-1", "db-2", "web-1"}}, // 1.10.0 after 1.9.0
		{"/?sort=host&dir=desc", []string{"web-2", "web-1", "db-2", "db-1"}},
	} {
		resp, page := f.get(tt.query, true)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", tt.query, resp.StatusCode)
			continue
		}
		if got := hostsIn(page); !slices.Equal(got, tt.want) {
			t.Errorf("GET %s lists %v, want %v", tt.query, got, tt.want)
		}
	}

	// The counts cover the other filters but not the status, and link to each status.
	_, page := f.get("/?group=db&status=late", true)
	if !strings.Contains(page, "2 hosts:") || !strings.Contains(page, "2 up") || !strings.Contains(page, "Showing 0.") ||
		!strings.Contains(page, "No host matches these filters.") {
		t.Errorf("summary of group db filtered to late:\n%s", page)
	}
	if !strings.Contains(page, `href="?group=db&status=up"`) {
		t.Errorf("the up count does not link to group=db&status=up:\n%s", page)
	}
	// The current sort column says so to assistive technology and its link flips the direction.
	_, page = f.get("/?sort=cpu", true)
	if !strings.Contains(page, `<th aria-sort="descending"><a href="?dir=asc&sort=cpu">CPU ▼</a></th>`) {
		t.Errorf("CPU header when sorted by it:\n%s", page)
	}

	for _, bad := range []string{"/?status=dead", "/?sort=ram", "/?sort=cpu&dir=up", "/?q=" + strings.Repeat("x", 201)} {
		resp, page := f.get(bad, true)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "choose") && !strings.Contains(page, "must be") && !strings.Contains(page, "longer than") {
			t.Errorf("GET %s: %d, want 400 saying what to use:\n%s", bad, resp.StatusCode, page)
		}
	}
}

// TestFleetFragment: /fleet/rows answers the summary and table body alone for the same query,
// needs the session like the page, and the page loads its refresh script from 'self' under a
// CSP without unsafe-inline.
func TestFleetFragment(t *testing.T) {
	f := newFleetFixture(t)
	resp, frag := f.get("/fleet/rows?group=db&sort=cpu&dir=asc", true)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("fragment: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if strings.Contains(frag, "<html") || strings.Contains(frag, "<header") || !strings.Contains(frag, `<tbody id="hosts-body">`) ||
		!strings.Contains(frag, `id="summary"`) {
		t.Errorf("fragment is not just the summary and rows:\n%s", frag)
	}
	if got := hostsIn(frag); !slices.Equal(got, []string{"db-2", "db-1"}) {
		t.Errorf("fragment lists %v, want [db-2 db-1]", got)
	}
	if resp, _ := f.get("/fleet/rows?sort=nope", true); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("fragment with a bad sort: %d, want 400", resp.StatusCode)
	}
	if resp, _ := f.get("/fleet/rows", false); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("fragment without a session: %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, page := f.get("/?group=db", true)
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP = %q", csp)
	}
	if !strings.Contains(page, `<script src="/assets/refresh.js" defer></script>`) || !strings.Contains(page, `data-fragment="/fleet/rows?group=db"`) {
		t.Errorf("page lacks the refresh script or its fragment URL:\n%s", page)
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(page) || strings.Contains(page, " onclick=") {
		t.Error("page carries inline script")
	}
	resp, js := f.get("/assets/refresh.js", false)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !strings.Contains(js, "data-swap") || !strings.Contains(page, `data-swap="hosts-body,summary"`) {
		t.Errorf("refresh.js: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
