package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/wire"
)

// TestHostPageCharts: the host page draws its five charts as inline SVG with accessible titles
// for each range, reading raw reports for 6h and rollups beyond, lists the outages the host
// reported, and refuses an unknown range with the choices.
func TestHostPageCharts(t *testing.T) {
	f := newFleetFixture(t)
	ctx := context.Background()
	agent := apiclient.New(f.url, f.creds["web-1"], f.hc)
	now := time.Now().UTC()
	var reports []wire.Report
	for i := range 30 {
		at := now.Add(-time.Duration(30-i) * 2 * time.Minute)
		reports = append(reports, wire.Report{Seq: uint64(i + 2), Time: at, AgentVersion: "1.9.0", IntervalSeconds: 10,
			CPU: &wire.CPU{Cores: 2, BusyPct: float64(i)}, Memory: &wire.Memory{TotalBytes: 1 << 30, UsedPct: 40},
			Load: &wire.Load{Load1: 0.5}, Mounts: []wire.Mount{{Path: "/", UsedPct: 60}},
			Interfaces: []wire.NetIO{{Interface: "eth0", RxBytesPS: 2000, TxBytesPS: 500}}})
	}
	reports[len(reports)-1].Outages = []wire.Outage{{Start: now.Add(-20 * time.Minute), End: now.Add(-15 * time.Minute), Class: wire.OutageConnect, Detail: "connection refused"}}
	if err := agent.Do(ctx, http.MethodPost, "/api/v1/reports", wire.ReportBatch{Reports: reports}, nil); err != nil {
		t.Fatal(err)
	}
	id := f.ids["web-1"]
	svgs := regexp.MustCompile(`<svg class="chart" id="chart-(\w+)"[^>]*role="img"[^>]*><title id="[^"]+">([^<]+)</title><desc id="[^"]+">([^<]+)</desc>`)
	for _, tt := range []struct{ rng, resolution, title string }{
		{"", "every report", "CPU busy, last 6 hours"},
		{"24h", "one-minute averages", "CPU busy, last 24 hours"},
		{"7d", "one-hour averages", "CPU busy, last 7 days"},
		{"30d", "one-hour averages", "CPU busy, last 30 days"},
	} {
		path := "/hosts/" + id
		if tt.rng != "" {
			path += "?range=" + tt.rng
		}
		resp, page := f.get(path, true)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, page)
		}
		ms := svgs.FindAllStringSubmatch(page, -1)
		var ids []string
		for _, m := range ms {
			ids = append(ids, m[1])
		}
		if strings.Join(ids, ",") != "cpu,memory,load,disk,network" {
			t.Errorf("%s: charts %v, want cpu, memory, load, disk, network", path, ids)
			continue
		}
		if ms[0][2] != tt.title || !strings.Contains(ms[0][3], "busy: mean") {
			t.Errorf("%s: CPU chart title %q, desc %q", path, ms[0][2], ms[0][3])
		}
		if !strings.Contains(ms[4][3], "received: mean 2.0 KB/s") || !strings.Contains(ms[4][3], "sent: mean 500 B/s") {
			t.Errorf("%s: network desc %q", path, ms[4][3])
		}
		if !strings.Contains(page, tt.resolution) {
			t.Errorf("%s does not say it shows %s", path, tt.resolution)
		}
		if !strings.Contains(page, `<table id="outages">`) || !strings.Contains(page, "connection refused") || !strings.Contains(page, "5m0s") {
			t.Errorf("%s lacks the outage", path)
		}
	}
	// Raw 6h: the 30 reports (the fixture's first is 7 hours old); the hourly 30d chart has two or
	// three buckets (the first report's hour and the last hour's one or two).
	if _, page := f.get("/hosts/"+id, true); !strings.Contains(page, "30 points") {
		t.Errorf("6h chart does not read the 30 reports")
	}
	if _, page := f.get("/hosts/"+id+"?range=30d", true); !regexp.MustCompile(`· [23] points ·`).MatchString(page) {
		t.Errorf("30d chart does not read hourly buckets")
	}
	resp, page := f.get("/hosts/"+id+"?range=1y", true)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "choose 6h, 24h, 7d or 30d") {
		t.Errorf("range=1y: %d, want 400 naming the ranges", resp.StatusCode)
	}
	// A host that never reported: charts say there is nothing to draw.
	if _, page := f.get("/hosts/"+f.ids["web-2"], true); strings.Count(page, "No data in this range") < 5 {
		t.Errorf("charts of a silent host do not say there is no data")
	}
}
