package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// elem is one element of a parsed SVG, with the text directly inside it.
type elem struct {
	name  string
	attr  map[string]string
	text  string
	group string // data-series of the enclosing <g>, if any
	class string // class of the enclosing <g>, if any
}

// parseSVG checks that b is well-formed XML with an <svg> root in the SVG namespace and returns
// its elements in document order.
func parseSVG(t *testing.T, b []byte) []elem {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []elem
	var stack []int // indexes into out
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element %v, want svg in the SVG namespace", tok.Name)
			}
			e := elem{name: tok.Name.Local, attr: map[string]string{}}
			for _, a := range tok.Attr {
				e.attr[a.Name.Local] = a.Value
			}
			for i := len(stack) - 1; i >= 0; i-- {
				if p := out[stack[i]]; p.name == "g" {
					e.group, e.class = p.attr["data-series"], p.attr["class"]
					break
				}
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
			depth++
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			depth--
		case xml.CharData:
			if len(stack) > 0 {
				out[stack[len(stack)-1]].text += string(tok)
			}
		}
	}
	if depth != 0 || len(out) == 0 {
		t.Fatal("unbalanced or empty document")
	}
	return out
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return v
}

func fixtureCharts(t *testing.T) map[string]Chart {
	t.Helper()
	charts, notes, err := build(filepath.Join("testdata", "fixture"), 100_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 0 {
		t.Errorf("notes for a complete fixture: %q", notes)
	}
	return charts
}

func TestFixtureChartsAreValidSVGWithEverySeries(t *testing.T) {
	charts := fixtureCharts(t)
	want := []string{"agent-cpu.svg", "agent-memory.svg", "alert-eval.svg", "ingest-cpu.svg", "ingest-throughput.svg",
		"sim-cpu.svg", "sim-latency.svg", "sim-throughput.svg"}
	if got := slices.Sorted(maps.Keys(charts)); !slices.Equal(got, want) {
		t.Fatalf("charts %q, want %q", got, want)
	}
	for name, c := range charts {
		t.Run(name, func(t *testing.T) {
			svg := c.SVG()
			if !bytes.Equal(svg, c.SVG()) {
				t.Fatal("two renderings differ")
			}
			els := parseSVG(t, svg)
			width := num(t, els[0].attr["width"])
			var title, legend []string
			seriesMarks := map[string]int{}
			var ticks = map[string][]float64{}
			for _, e := range els {
				switch {
				case e.name == "title":
					title = append(title, e.text)
				case e.name == "text" && e.class == "legend":
					legend = append(legend, e.text)
					if x := num(t, e.attr["x"]); x+7*float64(len([]rune(e.text))) > width {
						t.Errorf("legend %q runs past the chart's width %v", e.text, width)
					}
				case e.name == "text" && (e.class == "x-ticks" || e.class == "y-ticks"):
					ticks[e.class] = append(ticks[e.class], num(t, e.attr["data-value"]))
				case e.name == "circle" && e.group != "":
					seriesMarks[e.group]++
					x, y := num(t, e.attr["cx"]), num(t, e.attr["cy"])
					if x < plotL-0.1 || x > plotR+0.1 || y < plotT-0.1 || y > plotB+0.1 {
						t.Errorf("series %q: point (%v, %v) outside the plot area", e.group, x, y)
					}
				case e.name == "polyline":
					seriesMarks[e.group]++
					for _, p := range strings.Fields(e.attr["points"]) {
						xs, ys, _ := strings.Cut(p, ",")
						x, y := num(t, xs), num(t, ys)
						if x < plotL-0.1 || x > plotR+0.1 || y < plotT-0.1 || y > plotB+0.1 {
							t.Errorf("series %q: line point (%v, %v) outside the plot area", e.group, x, y)
						}
					}
				}
			}
			if len(title) != 1 || title[0] != c.Title || c.Title == "" {
				t.Errorf("<title> %q, want %q", title, c.Title)
			}
			if len(c.Series) == 0 {
				t.Fatal("no series")
			}
			for _, s := range c.Series {
				if !slices.Contains(legend, s.Name) {
					t.Errorf("legend %q lacks series %q", legend, s.Name)
				}
				if seriesMarks[s.Name] == 0 || len(s.Points) == 0 {
					t.Errorf("series %q: nothing drawn for %d points", s.Name, len(s.Points))
				}
			}
			if len(ticks["x-ticks"]) < 2 || len(ticks["y-ticks"]) < 2 {
				t.Errorf("ticks: %v", ticks)
			}
			if !bytes.Contains(svg, []byte(c.XLabel)) || !bytes.Contains(svg, []byte(c.YLabel)) {
				t.Error("an axis label is missing")
			}
		})
	}
}

// TestAxesScaledToData: the axes cover every value drawn, start and end at ticks, and do not
// waste the plot: the largest value sits in the upper part of it.
func TestAxesScaledToData(t *testing.T) {
	for name, c := range fixtureCharts(t) {
		var xs, ys []float64
		for _, s := range c.Series {
			for _, p := range append(slices.Clone(s.Points), s.Dots...) {
				xs, ys = append(xs, p.X), append(ys, p.Y)
			}
		}
		xmin, xmax := minMax(xs)
		ymin, ymax := minMax(ys)
		xa := newAxis(xmin, xmax, c.XLog, false, plotL, plotR)
		ya := newAxis(ymin, ymax, c.YLog, c.YZero, plotB, plotT)
		if xa.min > xmin || xa.max < xmax || ya.min > ymin || ya.max < ymax {
			t.Errorf("%s: axes x %v…%v y %v…%v do not cover data x %v…%v y %v…%v", name, xa.min, xa.max, ya.min, ya.max, xmin, xmax, ymin, ymax)
		}
		if xa.ticks[0] != xa.min || xa.ticks[len(xa.ticks)-1] != xa.max || ya.ticks[0] != ya.min || ya.ticks[len(ya.ticks)-1] != ya.max {
			t.Errorf("%s: axes do not end at ticks: %v %v", name, xa.ticks, ya.ticks)
		}
		if top := ya.pos(ymax); (plotB-top)/(plotB-plotT) < 0.4 {
			t.Errorf("%s: the largest value (%v) is drawn at %.0f%% of the plot height (axis to %v)", name, ymax, 100*(plotB-top)/(plotB-plotT), ya.max)
		}
		if c.YZero && !c.YLog && ya.min != 0 {
			t.Errorf("%s: Y axis starts at %v, want 0", name, ya.min)
		}
	}
}

func TestNewAxis(t *testing.T) {
	for _, tc := range []struct {
		lo, hi    float64
		log, zero bool
		want      []float64
	}{
		{120, 480, false, true, []float64{0, 100, 200, 300, 400, 500}},
		{1.2, 1.9, false, false, []float64{1, 1.2, 1.4, 1.6, 1.8, 2}},
		{-3, 0.5, false, true, []float64{-3, -2, -1, 0, 1}},
		{5, 5, false, true, []float64{0, 1, 2, 3, 4, 5}},
		{5, 5, false, false, []float64{2, 3, 4, 5, 6, 7, 8}},
		{10000, 100000, true, false, []float64{10000, 20000, 50000, 100000}},
		{0.0008, 45, true, false, []float64{0.0001, 0.001, 0.01, 0.1, 1, 10, 100}},
		{3, 70, true, false, []float64{2, 5, 10, 20, 50, 100}},
	} {
		a := newAxis(tc.lo, tc.hi, tc.log, tc.zero, 0, 100)
		if len(a.ticks) != len(tc.want) {
			t.Errorf("newAxis(%v, %v, log=%v) ticks %v, want %v", tc.lo, tc.hi, tc.log, a.ticks, tc.want)
			continue
		}
		for i := range a.ticks {
			if a.ticks[i] != tc.want[i] {
				t.Errorf("newAxis(%v, %v, log=%v) ticks %v, want %v", tc.lo, tc.hi, tc.log, a.ticks, tc.want)
				break
			}
		}
	}
}

func seriesByName(t *testing.T, c Chart, name string) Series {
	t.Helper()
	for _, s := range c.Series {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%q: no series %q", c.Title, name)
	return Series{}
}

// TestFixtureValues: the figures drawn are the inputs' medians, converted as labelled.
func TestFixtureValues(t *testing.T) {
	charts := fixtureCharts(t)
	for _, tc := range []struct {
		chart, series string
		want          []Point
	}{
		// Ingest: median of two rounds.
		{"ingest-throughput.svg", "discard (no storage)", []Point{{1000, 2200}, {10000, 1850}}},
		{"ingest-cpu.svg", "PostgreSQL: PostgreSQL backends", []Point{{1000, 265}, {10000, 295}}},
		// Simulator: one round, offered load and p99.
		{"sim-throughput.svg", "offered (hosts ÷ interval)", []Point{{500, 50}, {5000, 500}}},
		{"sim-latency.svg", "SQLite p99", []Point{{500, 60}, {5000, 120}}},
		{"sim-cpu.svg", "PostgreSQL", []Point{{500, 1500}, {5000, 1200}}},
		// Alert: ns/op ÷ period, as % of a core; the name without hosts=N is 100,000 hosts.
		{"alert-eval.svg", "SQLite: scan, every host new (per 10 s)", []Point{{10000, 4.5}, {100000, 45}}},
		{"alert-eval.svg", "PostgreSQL: tick (per 1 s)", []Point{{100000, 0.00085}}},
		// Footprint: KiB → MiB over minutes; CPU per interval.
		{"agent-cpu.svg", "vigil-agent", nil},
	} {
		s := seriesByName(t, charts[tc.chart], tc.series)
		if tc.want == nil {
			continue
		}
		if len(s.Points) != len(tc.want) {
			t.Errorf("%s %q: %v, want %v", tc.chart, tc.series, s.Points, tc.want)
			continue
		}
		for i, p := range s.Points {
			if math.Abs(p.X-tc.want[i].X) > 1e-9 || math.Abs(p.Y-tc.want[i].Y) > 1e-9*math.Abs(tc.want[i].Y) {
				t.Errorf("%s %q: %v, want %v", tc.chart, tc.series, s.Points, tc.want)
				break
			}
		}
	}
	mem := seriesByName(t, charts["agent-memory.svg"], "node_exporter")
	if len(mem.Points) != 21 || mem.Points[0] != (Point{0, 7400.0 / 1024}) || mem.Points[20].X != 10 {
		t.Errorf("node_exporter memory: %v", mem.Points)
	}
	cpu := seriesByName(t, charts["agent-cpu.svg"], "vigil-agent")
	// cpu_ms grows by 150 ms per 30 s sample in the fixture: 0.5 % of a core.
	if len(cpu.Points) != 20 || math.Abs(cpu.Points[0].Y-0.5) > 1e-9 {
		t.Errorf("vigil-agent CPU: %v", cpu.Points)
	}
}

func TestMissingInputsAreSkipped(t *testing.T) {
	charts, notes, err := build(t.TempDir(), 100_000)
	if err != nil || len(charts) != 0 || len(notes) != 4 {
		t.Fatalf("empty dir: %d charts, notes %q, %v", len(charts), notes, err)
	}
}

func TestMalformedInputsFail(t *testing.T) {
	for file, data := range map[string]string{
		"ingestbench.json":       `{"runs": [`,
		"footprint-series.jsonl": `{"t_s": 0, "process": "vigil-agent", "rss_anon_kib": 1}` + "\nnot json\n",
		"alert-bench.txt":        "PASS\n",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := build(dir, 100_000); err == nil {
			t.Errorf("%s %q: accepted", file, data)
		}
	}
}

// TestRunWritesCharts: the command writes one file per chart, the same bytes on a second run.
func TestRunWritesCharts(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	tables := filepath.Join(t.TempDir(), "tables.md")
	args := []string{"-in", filepath.Join("testdata", "fixture"), "-out", out, "-tables", tables}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	first, _ := os.ReadFile(filepath.Join(out, "alert-eval.svg"))
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if md, err := os.ReadFile(tables); err != nil || strings.Count(string(md), "\n#### ") != 7 {
		t.Errorf("tables: %v, %d sections", err, strings.Count(string(md), "\n#### "))
	}
	second, _ := os.ReadFile(filepath.Join(out, "alert-eval.svg"))
	if len(first) == 0 || !bytes.Equal(first, second) {
		t.Error("alert-eval.svg missing or not deterministic")
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 8 {
		t.Errorf("%d files written, want 8", len(ents))
	}
}

// TestMarkdownTables: the tables carry the medians drawn, one row per series, and a time series
// is summarised instead of getting a column per sample.
func TestMarkdownTables(t *testing.T) {
	charts := fixtureCharts(t)
	ing := charts["ingest-throughput.svg"].Markdown("ingest-throughput.svg")
	for _, want := range []string{"| reports/s ↓ · enrolled hosts (fleet size) → | 1,000 | 10,000 |", "| discard (no storage) | 2,200 | 1,850 |",
		"| PostgreSQL | 1,250 | 1,050 |", "| PostgreSQL ÷ discard (no storage) | 0.57 | 0.57 |", "| SQLite ÷ discard (no storage) | 0.66 | 0.62 |", "![Saturated ingest: reports acknowledged per second](img/bench/ingest-throughput.svg)"} {
		if !strings.Contains(ing, want) {
			t.Errorf("ingest table lacks %q:\n%s", want, ing)
		}
	}
	alert := charts["alert-eval.svg"].Markdown("alert-eval.svg")
	if !strings.Contains(alert, "| PostgreSQL: tick (per 1 s) | – | 0.00085 |") {
		t.Errorf("alert table:\n%s", alert)
	}
	mem := charts["agent-memory.svg"].Markdown("agent-memory.svg")
	if !strings.Contains(mem, "| node_exporter | 7.23 | 7.27 | 7.23 | 7.27 | 0–10 |") {
		t.Errorf("memory table:\n%s", mem)
	}
}
