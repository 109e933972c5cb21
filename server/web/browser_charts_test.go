package web_test

import (
	"context"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/wire"
)

// TestFleetAndChartsInBrowser opens the fleet overview in headless Chromium at a laptop's size,
// filters and sorts it by its links, sees a newly enrolled host appear through the live refresh
// (refresh.js, under the page's CSP) without a reload, then opens a host and its charts and
// switches the range. Screenshots fleet-overview.png and host-charts.png go to $VIGIL_SCREENSHOT_DIR, else to a
// temporary directory the log names (docs/img/fleet.png and docs/img/host.png are copies).
func TestFleetAndChartsInBrowser(t *testing.T) {
	browser := chromium(t)
	f := newFleetFixture(t)
	ctx := context.Background()
	// Six hours of history for two hosts, every five minutes, so the charts have lines.
	now := time.Now().UTC()
	for _, name := range []string{"web-1", "db-1"} {
		var rs []wire.Report
		for i := range 72 {
			x := float64(i)
			load := 0.6 + 0.4*math.Sin(x/9)
			if name == "db-1" {
				load *= 2
			}
			rs = append(rs, wire.Report{Seq: uint64(i + 2), Time: now.Add(-time.Duration(72-i) * 5 * time.Minute), AgentVersion: "1.9.0", IntervalSeconds: 300,
				CPU:        &wire.CPU{Cores: 4, BusyPct: 35 + 25*math.Sin(x/7) + 10*math.Sin(x/2)},
				Memory:     &wire.Memory{TotalBytes: 8 << 30, UsedPct: 55 + x/8},
				Load:       &wire.Load{Load1: load},
				Mounts:     []wire.Mount{{Path: "/", UsedPct: 61 + x/30}},
				Interfaces: []wire.NetIO{{Interface: "eth0", RxBytesPS: 4e5 + 3e5*math.Sin(x/5), TxBytesPS: 1e5 + 5e4*math.Cos(x/6)}}})
		}
		rs[len(rs)-1].Processes = []wire.Process{{Name: "nginx", Running: 2}}
		rs[len(rs)-1].Units = []wire.Unit{{Name: "nginx.service", ActiveState: "active", SubState: "running", Result: "success"}}
		rs[40].Outages = []wire.Outage{{Start: now.Add(-3 * time.Hour), End: now.Add(-170 * time.Minute), Class: wire.OutageConnect, Detail: "connection refused"}}
		if err := apiclient.New(f.url, f.creds[name], f.hc).Do(ctx, http.MethodPost, "/api/v1/reports", wire.ReportBatch{Reports: rs}, nil); err != nil {
			t.Fatal(err)
		}
	}
	shots := os.Getenv("VIGIL_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 860),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
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
		chromedp.Navigate(f.url+"/login"),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), f.password),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("hosts")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	screenshot("fleet-overview")
	if got := text("#summary"); !strings.Contains(got, "4 hosts") || !strings.Contains(got, "3 up") || !strings.Contains(got, "1 late") {
		t.Errorf("summary = %q", got)
	}

	// Sort by CPU through the header link, then filter to group db with the form.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.Search(`//th/a[starts-with(text(),"CPU")]`)),
		chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="descending"]`)),
	); err != nil {
		t.Fatalf("sort by CPU: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.SetValue(chromedp.ID("group"), "db"),
		chromedp.Click(chromedp.Search(`//form[@id="fleet-filter"]//button`)),
		chromedp.WaitVisible(chromedp.Search(`//a[text()="Clear"]`)),
	); err != nil {
		t.Fatalf("filter by group: %v", err)
	}
	loc, _ := chromedp.Run(bctx, chromedp.Location())
	if !strings.Contains(loc, "group=db") || !strings.Contains(loc, "sort=cpu") {
		t.Errorf("filtered URL = %s, want the group and the sort kept", loc)
	}
	if got := text("#hosts-body"); !strings.Contains(got, "db-1") || strings.Contains(got, "web-1") {
		t.Errorf("group db lists %q", got)
	}

	// A host enrolled now shows up through the live refresh, without a navigation. The script
	// refreshes on its timer and when the tab becomes visible; the test fires the latter.
	if err := chromedp.Do(bctx, chromedp.Navigate(f.url+"/?sort=host"), chromedp.WaitVisible(chromedp.ID("hosts"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`window.__marker = "same page"; null`)); err != nil {
		t.Fatal(err)
	}
	var er wire.EnrollResponse
	if err := apiclient.New(f.url, "", f.hc).Do(ctx, http.MethodPost, "/api/v1/enroll", wire.EnrollRequest{EnrollmentToken: f.enroll, Hostname: "cache-1", OS: "linux", Arch: "amd64"}, &er); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`document.dispatchEvent(new Event("visibilitychange")); null`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.WaitVisible(chromedp.Search(`//tbody[@id="hosts-body"]//a[text()="cache-1"]`)),
	); err != nil {
		t.Fatalf("live refresh: %v", err)
	}
	if marker, err := chromedp.Run(bctx, chromedp.Evaluate[string](`window.__marker`)); err != nil || marker != "same page" {
		t.Errorf("the page was reloaded (marker %q, %v)", marker, err)
	}
	if got := text("#summary"); !strings.Contains(got, "5 hosts") {
		t.Errorf("summary after the refresh = %q", got)
	}

	// The host page: five charts with their accessible titles, processes, units, outages.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.Search(`//a[text()="db-1"]`)),
		chromedp.WaitVisible(chromedp.ID("chart-cpu")),
	); err != nil {
		t.Fatalf("host page: %v", err)
	}
	titles, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("svg.chart > title")).map(t => t.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(titles, "|") != "CPU busy, last 6 hours|Memory used, last 6 hours|Load (1 min), last 6 hours|Disk used (fullest mount), last 6 hours|Network, last 6 hours" {
		t.Errorf("chart titles = %q", titles)
	}
	lines, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart polyline").length`))
	if err != nil || lines < 6 {
		t.Errorf("%d chart lines drawn (%v), want at least 6 (one per figure, two for the network)", lines, err)
	}
	// The chart is drawn at a readable size on a laptop screen.
	width, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`document.getElementById("chart-cpu").getBoundingClientRect().width`))
	if err != nil || width < 380 {
		t.Errorf("CPU chart is %v px wide (%v), want at least 380", width, err)
	}
	page := text("main")
	for _, want := range []string{"nginx.service", "active/running", "Watched processes", "connection refused", "every report"} {
		if !strings.Contains(page, want) {
			t.Errorf("host page lacks %q", want)
		}
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`window.scrollTo(0, document.getElementById("charts-heading").offsetTop - 8); null`)); err != nil {
		t.Fatal(err)
	}
	screenshot("host-charts")
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.Search(`//nav[@class="ranges"]/a[text()="24h"]`)),
		chromedp.WaitVisible(chromedp.Search(`//nav[@class="ranges"]/strong[text()="24h"]`)),
	); err != nil {
		t.Fatalf("24h range: %v", err)
	}
	if got := text("#charts-heading"); !strings.Contains(got, "one-minute averages") {
		t.Errorf("24h heading = %q", got)
	}
}
