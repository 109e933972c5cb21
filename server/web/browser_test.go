package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/wire"
)

// notice selects the page's notice once it contains text (so a wait cannot match the notice of
// the page before).
func notice(text string) chromedp.Search {
	return chromedp.Search(`//p[contains(@class, "notice") and contains(., "` + text + `")]`)
}

// chromium finds Debian's Chromium, or skips (fails under CI=true, where .ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH; .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// TestDashboardInBrowser signs in with the first admin's password in headless Chromium (a wrong
// password is refused), sees an enrolled host reporting, opens its page, pins the group and sees
// the rollout start, pauses it, acknowledges the alert the engine fired for the host, creates a
// maintenance silence and ends it, finds the changes in the audit page, signs out and checks the
// old session no longer opens a page. Screenshots of the main pages go to $VIGIL_SCREENSHOT_DIR,
// else to a temporary directory the log names.
func TestDashboardInBrowser(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{DataDir: dir, Listen: "127.0.0.1:0", Version: "9.9.9",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// The alert engine looks at new reports often, so the CPU alert below fires at once.
		Alert: app.AlertTuning{EvalInterval: 50 * time.Millisecond, ScanInterval: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tokBytes, _ := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	token := strings.TrimSpace(string(tokBytes))
	pwBytes, err := os.ReadFile(filepath.Join(dir, app.AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pwBytes))
	shots := os.Getenv("VIGIL_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	screenshot := func(bctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("screenshot %s", filepath.Join(shots, name+".png"))
	}

	// Enroll two hosts; one reports, one never does.
	caPEM, _ := os.ReadFile(srv.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	admin := apiclient.New(srv.URL, token, hc)
	ctx := context.Background()
	et, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 2})
	if err != nil {
		t.Fatal(err)
	}
	var web1, db1 wire.EnrollResponse
	anon := apiclient.New(srv.URL, "", hc)
	if err := anon.Do(ctx, http.MethodPost, "/api/v1/enroll", wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: "web-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}, &web1); err != nil {
		t.Fatal(err)
	}
	if err := anon.Do(ctx, http.MethodPost, "/api/v1/enroll", wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: "db-<script>1"}, &db1); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetGroupAgentSettings(ctx, api.DefaultGroup, api.AgentSettings{Interval: api.Duration(30 * time.Second),
		WatchProcesses: []wire.ProcessWatch{{Name: "nginx"}}, WatchUnits: []string{"nginx.service"}}); err != nil {
		t.Fatal(err)
	}
	// A rule the report below trips at once: the alert to acknowledge.
	if _, err := admin.CreateRule(ctx, api.Rule{Kind: api.KindCPU, Threshold: 40}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	batch := wire.ReportBatch{Reports: []wire.Report{{Seq: 1, Time: now, AgentVersion: "1.0.0", IntervalSeconds: 10,
		CPU: &wire.CPU{Cores: 2, BusyPct: 42.5}, Memory: &wire.Memory{TotalBytes: 4 << 30, AvailableBytes: 2 << 30, UsedPct: 50},
		Mounts: []wire.Mount{{Path: "/srv/data", TotalBytes: 100, FreeBytes: 10, UsedPct: 90}},
		Checks: []wire.CheckResult{
			{Name: "site", Kind: wire.CheckHTTP, OK: false, Value: 12.5, Unit: wire.UnitMillis, Message: "status 503, want 200 <b>x</b>", CheckedAt: now},
			{Name: "backup", Kind: wire.CheckFile, OK: true, Value: 3600, Unit: wire.UnitSeconds, Message: "written 1h0m0s ago, 4096 bytes", CheckedAt: now},
		}}}}
	if err := apiclient.New(srv.URL, web1.Credential, hc).Do(ctx, http.MethodPost, "/api/v1/reports", batch, nil); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("ignore-certificate-errors", true), // the test server's CA is not in Chromium's store
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 120*time.Second)
	defer cancel()

	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		t.Fatalf("login page: %v", err)
	}
	screenshot(bctx, "login")
	loginTitle, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), "not the password"),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.CSS(".error")),
	); err != nil {
		t.Fatalf("wrong password: %v", err)
	}
	errText, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(".error")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(loginTitle, "Sign in") || !strings.Contains(errText, "Wrong user name or password") {
		t.Fatalf("login page title %q, error %q", loginTitle, errText)
	}

	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("hosts")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	// The browser holds a session ID, never the API token.
	got, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	cookies := got.Cookies
	var session string
	for _, c := range cookies {
		if c.Value == token {
			t.Errorf("cookie %s holds the admin API token", c.Name)
		}
		if c.Name == "__Host-vigil_session" {
			session = c.Value
			if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("session cookie %+v", c)
			}
		}
	}
	if session == "" {
		t.Fatalf("no session cookie among %d", len(cookies))
	}
	screenshot(bctx, "fleet")
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	summary, table, footer := text("#summary"), text("#hosts"), text("footer")
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.Search(`//a[text()="web-1"]`)),
		chromedp.WaitVisible(chromedp.ID("updates-heading")),
	); err != nil {
		t.Fatalf("host page: %v", err)
	}
	hostPage := text("main")
	screenshot(bctx, "host")
	for _, want := range []string{"2 hosts", "1 up", "1 late", "0 silent", "0 unreachable"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary %q lacks %q", summary, want)
		}
	}
	// The host name with markup is shown as text, not executed.
	// Each host name has its short ID beside it, so two hosts of one name can be told apart.
	if !strings.Contains(table, "web-1 "+web1.HostID[:8]) || !strings.Contains(table, "db-<script>1") || !strings.Contains(table, "42.5%") {
		t.Errorf("hosts table = %q", table)
	}
	for _, want := range []string{"web-1", "42.5%", "/srv/data", "90.0%", "default (not pinned)", "1.0.0",
		"Health checks", "site\thttp\tfailing\t12.5 ms\tstatus 503, want 200 <b>x</b>", "backup\tfile\tok\t3600 s\twritten 1h0m0s ago"} {
		if !strings.Contains(hostPage, want) {
			t.Errorf("host page lacks %q:\n%s", want, hostPage)
		}
	}
	// The groups page shows the agent settings.
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/groups"), chromedp.WaitVisible(chromedp.ID("groups"))); err != nil {
		t.Fatalf("groups page: %v", err)
	}
	if got := text("#groups .agent-settings"); !strings.Contains(got, "every 30s") || !strings.Contains(got, "process nginx") ||
		!strings.Contains(got, "unit nginx.service") {
		t.Errorf("groups page agent settings = %q", got)
	}
	if !strings.Contains(footer, "9.9.9") {
		t.Errorf("footer %q lacks the version", footer)
	}

	// Pin the group to a version not published (force), see the rollout start, pause it.
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS(`#pin-default input[name="target"]`), "2.0.0"),
		chromedp.Click(chromedp.CSS(`#pin-default input[name="force"]`)),
		chromedp.Click(chromedp.CSS(`#pin-default button`)),
		chromedp.WaitVisible(notice("pinned")),
	); err != nil {
		t.Fatalf("pin from the groups page: %v", err)
	}
	if got, ro := text(".notice"), text("#group-default .rollout"); !strings.Contains(got, "pinned to version 2.0.0") ||
		!strings.Contains(ro, "running") || !strings.Contains(ro, "the canaries") || !strings.Contains(ro, "of 2 admitted") {
		t.Errorf("after pinning: notice %q, rollout %q", got, ro)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#group-default button.pause`)),
		chromedp.WaitVisible(chromedp.CSS(`#group-default button.resume`)),
	); err != nil {
		t.Fatalf("pause from the groups page: %v", err)
	}
	if got := text("#group-default .rollout"); !strings.Contains(got, "paused") || !strings.Contains(got, "paused by admin") {
		t.Errorf("after pausing: rollout %q", got)
	}
	if rs, err := admin.ListRollouts(ctx, apiclient.RolloutFilter{Group: api.DefaultGroup}); err != nil || len(rs) != 1 || rs[0].State != "paused" {
		t.Errorf("rollouts after pausing from the page: %+v, %v", rs, err)
	}
	screenshot(bctx, "groups")

	// The alert the CPU rule fired: acknowledge it. The engine runs apart from the page, so
	// reload until it shows (bounded by bctx).
	for {
		if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/alerts"), chromedp.WaitVisible(chromedp.ID("firing"))); err != nil {
			t.Fatalf("alerts page: %v (no alert fired?)", err)
		}
		if strings.Contains(text("#firing"), "CPU busy above 40%") {
			break
		}
		select {
		case <-bctx.Done():
			t.Fatal("the CPU alert never showed on the alerts page")
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#firing .ack button`)),
		chromedp.WaitVisible(notice("acknowledged")),
	); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	if got := text("#firing"); !strings.Contains(got, "acknowledged by admin") {
		t.Errorf("firing alerts after acknowledging: %q", got)
	}
	screenshot(bctx, "alerts")

	// A maintenance silence for web-1, for two hours; then end it early.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/silences"),
		chromedp.WaitVisible(chromedp.ID("new-silence")),
		chromedp.SendKeys(chromedp.ID("silence-host"), "web-1"),
		chromedp.SetValue(chromedp.ID("silence-duration"), "2h"),
		chromedp.SendKeys(chromedp.ID("silence-comment"), "kernel upgrade"),
		chromedp.Click(chromedp.ID("create-silence")),
		chromedp.WaitVisible(notice("holds back alert emails")),
	); err != nil {
		t.Fatalf("create a silence: %v", err)
	}
	if got := text("#silences"); !strings.Contains(got, "kernel upgrade") || !strings.Contains(got, web1.HostID[:8]) || !strings.Contains(got, "in 2 h") {
		t.Errorf("silences after creating one: %q", got)
	}
	screenshot(bctx, "silences")
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#silences button.danger`)),
		chromedp.WaitVisible(notice("ended")),
	); err != nil {
		t.Fatalf("end the silence: %v", err)
	}
	if got := text("#silences"); !strings.Contains(got, "No silence is active") {
		t.Errorf("after ending the silence: current %q", got)
	}
	// Ending early deletes it, as DELETE /api/v1/silences/{id} does.
	if ss, err := admin.ListSilences(ctx, true); err != nil || len(ss) != 0 {
		t.Errorf("silences after ending it from the page: %+v, %v", ss, err)
	}
	for _, page := range []string{"releases", "notifications"} {
		if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/"+page), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatalf("%s page: %v", page, err)
		}
		screenshot(bctx, page)
	}

	// The audit page shows the sign-in's changes with who and from where; filters narrow it.
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/audit?action=group."), chromedp.WaitVisible(chromedp.ID("audit"))); err != nil {
		t.Fatalf("audit page: %v", err)
	}
	if got := text("#audit"); !strings.Contains(got, "group.agent_settings") || !strings.Contains(got, "127.0.0.1") ||
		strings.Contains(got, "enrollment_token.create") {
		t.Errorf("audit page filtered by group. = %q", got)
	}
	screenshot(bctx, "audit")
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/users"), chromedp.WaitVisible(chromedp.ID("users"))); err != nil {
		t.Fatalf("users page: %v", err)
	}
	if got := text("#users"); !strings.Contains(got, "admin") {
		t.Errorf("users page = %q", got)
	}
	screenshot(bctx, "users")

	// Signing out ends the session on the server.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.Navigate(srv.URL+"/groups"),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	url, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(url, "/login") {
		t.Fatalf("after sign-out /groups went to %s", url)
	}
	// The old session ID, replayed, opens nothing.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "__Host-vigil_session", Value: session})
	noRedirect := &http.Client{Transport: hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("replayed session after sign-out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
