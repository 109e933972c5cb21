package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/wire"
)

// TestRolloutInBrowser drives a rollout from the groups page in headless Chromium as an
// operator: sets the group's rollout policy with the form, pins the group, watches the canary's
// progress change through the live refresh (refresh.js, under the page's CSP) without a reload,
// pauses and aborts from the page; then opens a host whose updater quarantined a version and
// clears its quarantine from the host page. Screenshots groups-policy.png, groups-rollout.png,
// groups-aborted.png and host-quarantine.png go to $VIGIL_SCREENSHOT_DIR, else to a temporary
// directory the log names.
func TestRolloutInBrowser(t *testing.T) {
	browser := chromium(t)
	e := newOpsEnv(t, func(c *app.Config) { c.Rollout = app.RolloutTuning{Interval: 50 * time.Millisecond} })
	e.enroll("web-1", "web-2", "web-3", "web-4")
	ctx := context.Background()
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	shots := os.Getenv("VIGIL_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
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
	screenshot := func(name string) {
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
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	if err := chromedp.Do(bctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("user"), "olga"),
		chromedp.SendKeys(chromedp.ID("password"), olgaPW),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("hosts")),
		chromedp.Navigate(e.srv.URL+"/groups"),
		chromedp.WaitVisible(chromedp.ID("policy-default")),
	); err != nil {
		t.Fatalf("sign in and open the groups page: %v", err)
	}

	// The rollout policy: a bad value is refused in the page, then a good one is stored.
	if err := chromedp.Do(bctx,
		chromedp.SetValue(chromedp.CSS(`#policy-default input[name="wave_percent"]`), "150"),
		chromedp.Click(chromedp.CSS(`#policy-default button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.error`)),
	); err != nil {
		t.Fatalf("bad policy: %v", err)
	}
	if got := text("p.error"); !strings.Contains(got, "wave percent 150 not within 1..100") {
		t.Errorf("bad policy error = %q", got)
	}
	if err := chromedp.Do(bctx,
		chromedp.SetValue(chromedp.CSS(`#policy-default input[name="canaries"]`), "1"),
		chromedp.SetValue(chromedp.CSS(`#policy-default input[name="wave_percent"]`), "50"),
		chromedp.SetValue(chromedp.CSS(`#policy-default input[name="soak"]`), "1h"),
		chromedp.SetValue(chromedp.CSS(`#policy-default input[name="failure_threshold"]`), "20"),
		chromedp.Click(chromedp.CSS(`#policy-default button`)),
		chromedp.WaitVisible(notice("Rollout policy of group default set")),
	); err != nil {
		t.Fatalf("set the policy: %v", err)
	}
	if got := text("#group-default .policy"); !strings.Contains(got, "1 canary · waves of 50% · soak 1h0m0s · halt above 20% failed") {
		t.Errorf("policy column after setting it = %q", got)
	}
	if p, err := e.srv.Rollouts().Policy(ctx, admin, "default"); err != nil || p != (rollout.Policy{Canaries: 1, WavePercent: 50, Soak: time.Hour, FailureThreshold: 20}) {
		t.Errorf("stored policy %+v, %v", p, err)
	}
	screenshot("groups-policy")

	// Pin: the rollout starts with one canary.
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS(`#pin-default input[name="target"]`), "2.0.0"),
		chromedp.Click(chromedp.CSS(`#pin-default input[name="force"]`)),
		chromedp.Click(chromedp.CSS(`#pin-default button`)),
		chromedp.WaitVisible(notice("pinned")),
	); err != nil {
		t.Fatalf("pin: %v", err)
	}
	if got := text("#group-default .rollout"); !strings.Contains(got, "running") || !strings.Contains(got, "1 of 4 admitted") || !strings.Contains(got, "0 healthy") {
		t.Fatalf("rollout after the pin = %q", got)
	}
	// The canary's updater (the host the server now answers with 2.0.0) installs it and commits.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`window.__marker = "same page"; null`)); err != nil {
		t.Fatal(err)
	}
	canaries := 0
	for _, cred := range e.creds {
		c := apiclient.New(e.srv.URL, cred, e.hc)
		var d wire.UpdateDesired
		if err := c.Do(ctx, http.MethodGet, "/api/v1/updates/desired", nil, &d); err != nil {
			t.Fatal(err)
		}
		if d.Version != "2.0.0" {
			continue
		}
		canaries++
		now := time.Now().UTC()
		for _, ev := range []wire.UpdateEvent{
			{FromVersion: "1.0.0", ToVersion: "2.0.0", Phase: wire.PhaseTrial, Result: wire.ResultStarted, Time: now},
			{FromVersion: "1.0.0", ToVersion: "2.0.0", Phase: wire.PhaseCommit, Result: wire.ResultOK, Time: now},
		} {
			if err := c.Do(ctx, http.MethodPost, "/api/v1/updates/events", ev, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if canaries != 1 {
		t.Fatalf("%d hosts were answered with 2.0.0, want the 1 canary", canaries)
	}
	// The page shows it without a reload: the script swaps the table body.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`document.dispatchEvent(new Event("visibilitychange")); null`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.WaitVisible(chromedp.Search(`//tr[@id="group-default"]/td[contains(@class,"rollout") and contains(., "1 healthy")]`)),
	); err != nil {
		t.Fatalf("live progress: %v (rollout cell %q)", err, text("#group-default .rollout"))
	}
	if marker, err := chromedp.Run(bctx, chromedp.Evaluate[string](`window.__marker`)); err != nil || marker != "same page" {
		t.Errorf("the page was reloaded (marker %q, %v)", marker, err)
	}
	if refreshed, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("groups").getAttribute("data-refreshed") || ""`)); err != nil || refreshed == "" {
		t.Errorf("refresh.js did not refresh the table (%q, %v)", refreshed, err)
	}
	screenshot("groups-rollout")

	// Pause, then abort, from the page (the buttons the refreshed rows carry).
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#group-default button.pause`)),
		chromedp.WaitVisible(chromedp.CSS(`#group-default button.resume`)),
	); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if got := text("#group-default .rollout"); !strings.Contains(got, "paused by olga") {
		t.Errorf("after pausing: %q", got)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#group-default button.abort`)),
		chromedp.WaitVisible(notice("aborted")),
	); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if got := text("#group-default .rollout"); !strings.Contains(got, "aborted") || strings.Contains(got, "Pause") || strings.Contains(got, "Abort") {
		t.Errorf("after aborting: %q", got)
	}
	if g, err := e.srv.Service().GetGroup(ctx, admin, "default"); err != nil || g.Pin != (server.Pin{}) {
		t.Errorf("after aborting from the page the pin is %+v, %v", g.Pin, err)
	}
	screenshot("groups-aborted")

	// A host whose updater rolled back a build: clear its quarantine from its page.
	id := e.hostIDs[3]
	now := time.Now().UTC()
	c := apiclient.New(e.srv.URL, e.creds[3], e.hc)
	for _, ev := range []wire.UpdateEvent{
		{FromVersion: "1.0.0", ToVersion: "2.0.1", Phase: wire.PhaseTrial, Result: wire.ResultFailed, Reason: "health gate: agent exited with status 2", Time: now},
		{FromVersion: "2.0.1", ToVersion: "1.0.0", Phase: wire.PhaseRollback, Result: wire.ResultOK, Reason: "health gate: agent exited with status 2", Time: now},
	} {
		if err := c.Do(ctx, http.MethodPost, "/api/v1/updates/events", ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(e.srv.URL+"/hosts/"+id),
		chromedp.WaitVisible(chromedp.ID("clear-quarantine")),
	); err != nil {
		t.Fatalf("host page with a quarantined version: %v", err)
	}
	if got := text("#quarantine"); !strings.Contains(got, "2.0.1") || !strings.Contains(got, "agent exited with status 2") {
		t.Errorf("quarantine on the host page = %q", got)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`document.getElementById("quarantine").scrollIntoView(); null`)); err != nil {
		t.Fatal(err)
	}
	screenshot("host-quarantine")
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#clear-quarantine button`)),
		chromedp.WaitVisible(notice("Quarantine cleared")),
	); err != nil {
		t.Fatalf("clear quarantine: %v", err)
	}
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#quarantine").length`)); err != nil || n != 0 {
		t.Errorf("after clearing, the quarantine is still shown (%d, %v)", n, err)
	}
	if d, err := e.srv.Service().Desired(ctx, server.Host{ID: id, Group: "default"}); err != nil || d.QuarantineGeneration != 1 {
		t.Errorf("quarantine generation after clearing from the page: %+v, %v", d, err)
	}
	if es, err := e.srv.Service().SearchAudit(ctx, admin, server.AuditFilter{Action: "host.clear_quarantine", Actor: "olga"}); err != nil || len(es) != 1 {
		t.Errorf("audit of the clear = %+v, %v", es, err)
	}
}
