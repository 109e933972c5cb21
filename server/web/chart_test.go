package web

import (
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

// parsedSVG is what the tests read back from a rendered chart.
type parsedSVG struct {
	XMLName   xml.Name `xml:"svg"`
	Role      string   `xml:"role,attr"`
	Labelled  string   `xml:"aria-labelledby,attr"`
	Title     string   `xml:"title"`
	Desc      string   `xml:"desc"`
	Polylines []struct {
		Class  string `xml:"class,attr"`
		Points string `xml:"points,attr"`
	} `xml:"polyline"`
	Circles []struct {
		Class string `xml:"class,attr"`
		CX    string `xml:"cx,attr"`
		CY    string `xml:"cy,attr"`
	} `xml:"circle"`
	Texts []string `xml:"text"`
}

func parseChart(t *testing.T, html string) parsedSVG {
	t.Helper()
	var s parsedSVG
	if err := xml.Unmarshal([]byte(html), &s); err != nil {
		t.Fatalf("chart is not well-formed XML: %v\n%s", err, html)
	}
	return s
}

func points(t *testing.T, attr string) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, pair := range strings.Fields(attr) {
		x, y, ok := strings.Cut(pair, ",")
		if !ok {
			t.Fatalf("bad point %q", pair)
		}
		fx, err1 := strconv.ParseFloat(x, 64)
		fy, err2 := strconv.ParseFloat(y, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad point %q", pair)
		}
		out = append(out, [2]float64{fx, fy})
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.06 }

var cpuSpec = hostCharts[0]

func cpuPoint(at time.Time, v float64) server.MetricPoint {
	return server.MetricPoint{Time: at, Reports: 1, CPU: server.Figure{Avg: v, Max: v, Valid: true}}
}

// TestChartCoordinates: times map linearly onto the plot's width and values onto its height
// (0 at the bottom, 100% at the top), and the description states mean and peak.
func TestChartCoordinates(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(6 * time.Hour)
	ps := []server.MetricPoint{cpuPoint(from, 0), cpuPoint(from.Add(3*time.Hour), 50), cpuPoint(to, 100)}
	// A 3h step: the points are contiguous.
	s := parseChart(t, string(renderChart(cpuSpec, ps, from, to, 3*time.Hour)))
	if s.Role != "img" || s.Labelled != "chart-cpu-title chart-cpu-desc" {
		t.Errorf("role %q, aria-labelledby %q", s.Role, s.Labelled)
	}
	if s.Title != "CPU busy, last 6 hours" {
		t.Errorf("title = %q", s.Title)
	}
	if s.Desc != "busy: mean 50.0%, peak 100.0%." {
		t.Errorf("desc = %q", s.Desc)
	}
	if len(s.Polylines) != 1 {
		t.Fatalf("%d polylines, want 1", len(s.Polylines))
	}
	got := points(t, s.Polylines[0].Points)
	want := [][2]float64{{chartLeft, chartTop + plotH}, {chartLeft + plotW/2.0, chartTop + plotH/2.0}, {chartLeft + plotW, chartTop}}
	if len(got) != len(want) {
		t.Fatalf("points %v, want %v", got, want)
	}
	for i := range want {
		if !near(got[i][0], want[i][0]) || !near(got[i][1], want[i][1]) {
			t.Errorf("point %d = %v, want %v", i, got[i], want[i])
		}
	}
	if !strings.Contains(strings.Join(s.Texts, "|"), "00:00|03:00|06:00") {
		t.Errorf("x labels = %q, want 00:00, 03:00 and 06:00", s.Texts)
	}
}

// TestChartEmpty: no points draw no line and say so, to the eye and to a screen reader.
func TestChartEmpty(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// Points without the figure count as none.
	ps := []server.MetricPoint{{Time: from.Add(time.Hour), Reports: 1}}
	s := parseChart(t, string(renderChart(cpuSpec, ps, from, from.Add(6*time.Hour), 10*time.Second)))
	if len(s.Polylines) != 0 || len(s.Circles) != 0 {
		t.Errorf("empty chart drew %d lines, %d dots", len(s.Polylines), len(s.Circles))
	}
	if s.Desc != "No data in this range." || !strings.Contains(strings.Join(s.Texts, "|"), "No data in this range") {
		t.Errorf("desc %q, texts %q", s.Desc, s.Texts)
	}
}

// TestChartOnePoint: a single point is a dot where its time and value put it (a one-point line
// would be invisible).
func TestChartOnePoint(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(4 * time.Hour)
	s := parseChart(t, string(renderChart(cpuSpec, []server.MetricPoint{cpuPoint(from.Add(time.Hour), 25)}, from, to, 10*time.Second)))
	if len(s.Polylines) != 0 || len(s.Circles) != 1 {
		t.Fatalf("%d lines, %d dots; want one dot", len(s.Polylines), len(s.Circles))
	}
	cx, _ := strconv.ParseFloat(s.Circles[0].CX, 64)
	cy, _ := strconv.ParseFloat(s.Circles[0].CY, 64)
	if !near(cx, chartLeft+plotW/4.0) || !near(cy, chartTop+plotH*0.75) {
		t.Errorf("dot at (%v, %v), want (%v, %v)", cx, cy, chartLeft+plotW/4.0, chartTop+plotH*0.75)
	}
}

// TestChartGapsAndScale: a gap of more than three steps breaks the line; a figure without a
// fixed scale (network) gets a round top above its peak; many points are merged per column.
func TestChartGapsAndScale(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	var ps []server.MetricPoint
	for i := range 10 {
		ps = append(ps, cpuPoint(from.Add(time.Duration(i)*time.Minute), 10))
	}
	for i := 30; i < 40; i++ {
		ps = append(ps, cpuPoint(from.Add(time.Duration(i)*time.Minute), 10))
	}
	s := parseChart(t, string(renderChart(cpuSpec, ps, from, to, time.Minute)))
	if len(s.Polylines) != 2 {
		t.Errorf("%d segments, want 2 (broken at the 20-minute gap)", len(s.Polylines))
	}

	net := hostCharts[4]
	ps = []server.MetricPoint{
		{Time: from, NetRx: server.Figure{Avg: 1000, Max: 1800, Valid: true}, NetTx: server.Figure{Avg: 10, Max: 10, Valid: true}},
		{Time: from.Add(time.Minute), NetRx: server.Figure{Avg: 1000, Max: 1000, Valid: true}, NetTx: server.Figure{Avg: 10, Max: 10, Valid: true}},
	}
	s = parseChart(t, string(renderChart(net, ps, from, to, time.Minute)))
	if !strings.Contains(strings.Join(s.Texts, "|"), "2.0 KB/s") {
		t.Errorf("y labels %q, want a top of 2.0 KB/s (peak 1.8 KB/s)", s.Texts)
	}
	if len(s.Polylines) != 2 || s.Polylines[0].Class != "line s0" || s.Polylines[1].Class != "line s1" {
		t.Errorf("network lines = %+v, want received and sent", s.Polylines)
	}
	if s.Desc != "received: mean 1.0 KB/s, peak 1.8 KB/s; sent: mean 10 B/s, peak 10 B/s." {
		t.Errorf("desc = %q", s.Desc)
	}

	// 20,000 points over the hour fold into at most one per column.
	ps = nil
	for i := range 20000 {
		ps = append(ps, cpuPoint(from.Add(time.Duration(i)*180*time.Millisecond), float64(i%100)))
	}
	s = parseChart(t, string(renderChart(cpuSpec, ps, from, to, 180*time.Millisecond)))
	if len(s.Polylines) != 1 || len(points(t, s.Polylines[0].Points)) > plotW+1 {
		t.Errorf("20,000 points drew %d lines of %d points, want one of at most %d", len(s.Polylines), len(points(t, s.Polylines[0].Points)), plotW+1)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {1, 1}, {1.01, 2}, {2.2, 2.5}, {7, 10}, {1800, 2000}, {123456, 200000}} {
		if got := niceCeil(tt.in); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
