package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/server"
)

// Chart geometry, in SVG user units (the SVG scales to the page width, keeping its aspect).
const (
	chartW     = 560
	chartH     = 180
	chartLeft  = 60 // room for the y labels
	chartRight = 8
	chartTop   = 10
	chartBot   = 24 // room for the x labels
	plotW      = chartW - chartLeft - chartRight
	plotH      = chartH - chartTop - chartBot
)

// chartSeries is one line of a chart.
type chartSeries struct {
	Name string
	// Class styles the line (charts.css): s0, s1.
	Class string
	Pick  func(server.MetricPoint) server.Figure
}

// chartSpec describes one chart of the host page.
type chartSpec struct {
	ID    string
	Title string
	// Unit formats values for labels: "%" (fixed 0–100 scale), "B/s" (bytes per second) or ""
	// (a plain number, like the load).
	Unit   string
	Series []chartSeries
}

// hostCharts are the charts of the host page, in order.
var hostCharts = []chartSpec{
	{ID: "cpu", Title: "CPU busy", Unit: "%", Series: []chartSeries{{Name: "busy", Class: "s0", Pick: func(p server.MetricPoint) server.Figure { return p.CPU }}}},
	{ID: "memory", Title: "Memory used", Unit: "%", Series: []chartSeries{{Name: "used", Class: "s0", Pick: func(p server.MetricPoint) server.Figure { return p.Memory }}}},
	{ID: "load", Title: "Load (1 min)", Unit: "", Series: []chartSeries{{Name: "load1", Class: "s0", Pick: func(p server.MetricPoint) server.Figure { return p.Load }}}},
	{ID: "disk", Title: "Disk used (fullest mount)", Unit: "%", Series: []chartSeries{{Name: "used", Class: "s0", Pick: func(p server.MetricPoint) server.Figure { return p.Disk }}}},
	{ID: "network", Title: "Network", Unit: "B/s", Series: []chartSeries{
		{Name: "received", Class: "s0", Pick: func(p server.MetricPoint) server.Figure { return p.NetRx }},
		{Name: "sent", Class: "s1", Pick: func(p server.MetricPoint) server.Figure { return p.NetTx }},
	}},
}

// chartPoint is a point in SVG coordinates.
type chartPoint struct{ X, Y float64 }

// chartFrame maps times and values to SVG coordinates.
type chartFrame struct {
	from, to time.Time
	yMax     float64
}

func (f chartFrame) x(t time.Time) float64 {
	span := f.to.Sub(f.from)
	if span <= 0 {
		return chartLeft
	}
	return chartLeft + float64(t.Sub(f.from))/float64(span)*plotW
}

func (f chartFrame) y(v float64) float64 {
	v = min(max(v, 0), f.yMax)
	return chartTop + plotH - v/f.yMax*plotH
}

// niceCeil is the smallest of 1, 2, 2.5, 5 × 10^k at or above v (1 for v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// fmtValue formats a value in unit for labels and descriptions.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "%":
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	case "B/s":
		for _, u := range []string{"B/s", "KB/s", "MB/s", "GB/s"} {
			if math.Abs(v) < 1000 || u == "GB/s" {
				prec := 1
				if math.Abs(v) >= 100 || (u == "B/s" && (v == 0 || math.Abs(v) >= 10)) {
					prec = 0
				}
				return strconv.FormatFloat(v, 'f', prec, 64) + " " + u
			}
			v /= 1000
		}
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// segments turns a series into polyline segments in SVG coordinates: a gap longer than gapAfter
// between two points with the figure (an outage, a stopped agent) breaks the line, and points
// are merged per pixel column (mean of means, max of maxima) so a chart never holds more
// points than it has columns. It also returns the mean and the largest value over the range.
func segments(f chartFrame, ps []server.MetricPoint, pick func(server.MetricPoint) server.Figure, gapAfter time.Duration) (segs [][]chartPoint, mean, peak float64, n int) {
	var (
		cur     []chartPoint
		last    time.Time
		col     = -1
		colSum  float64
		colN    int
		colTime time.Time
		sum     float64
	)
	flush := func() {
		if colN > 0 {
			cur = append(cur, chartPoint{X: f.x(colTime), Y: f.y(colSum / float64(colN))})
		}
		colSum, colN = 0, 0
	}
	for _, p := range ps {
		fig := pick(p)
		if !fig.Valid {
			continue
		}
		if !last.IsZero() && p.Time.Sub(last) > gapAfter {
			flush()
			if len(cur) > 0 {
				segs = append(segs, cur)
			}
			cur, col = nil, -1
		}
		last = p.Time
		if c := int(f.x(p.Time)); c != col {
			flush()
			col, colTime = c, p.Time
		}
		colSum += fig.Avg
		colN++
		sum += fig.Avg
		n++
		peak = max(peak, fig.Max)
	}
	flush()
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	if n > 0 {
		mean = sum / float64(n)
	}
	return segs, mean, peak, n
}

// renderChart draws spec over [from, to) from ps as an inline, accessible SVG: a title and a
// description with the mean and peak of each series (what a screen reader says), axes with
// labels, and one line per series. step is the expected spacing of the points: a gap of more
// than three steps breaks the line. No script and no inline style: lines are styled by class
// from charts.css, so the page's Content-Security-Policy holds.
func renderChart(spec chartSpec, ps []server.MetricPoint, from, to time.Time, step time.Duration) template.HTML {
	type line struct {
		s          chartSeries
		segs       [][]chartPoint
		mean, peak float64
		n          int
	}
	f := chartFrame{from: from, to: to, yMax: 100}
	var lines []line
	peak := 0.0
	for _, s := range spec.Series {
		_, _, pk, _ := segments(chartFrame{from: from, to: to, yMax: math.MaxFloat64}, ps, s.Pick, 3*step)
		peak = max(peak, pk)
		lines = append(lines, line{s: s})
	}
	if spec.Unit != "%" {
		f.yMax = niceCeil(peak)
	}
	var desc []string
	for i := range lines {
		l := &lines[i]
		l.segs, l.mean, l.peak, l.n = segments(f, ps, l.s.Pick, 3*step)
		if l.n > 0 {
			desc = append(desc, fmt.Sprintf("%s: mean %s, peak %s", l.s.Name, fmtValue(l.mean, spec.Unit), fmtValue(l.peak, spec.Unit)))
		}
	}
	span := to.Sub(from)
	var b strings.Builder
	esc := template.HTMLEscapeString
	titleID, descID := "chart-"+spec.ID+"-title", "chart-"+spec.ID+"-desc"
	fmt.Fprintf(&b, `<svg class="chart" id="chart-%s" viewBox="0 0 %d %d" role="img" aria-labelledby="%s %s" xmlns="http://www.w3.org/2000/svg">`,
		esc(spec.ID), chartW, chartH, titleID, descID)
	fmt.Fprintf(&b, `<title id="%s">%s, last %s</title>`, titleID, esc(spec.Title), esc(fmtSpan(span)))
	if len(desc) == 0 {
		fmt.Fprintf(&b, `<desc id="%s">No data in this range.</desc>`, descID)
	} else {
		fmt.Fprintf(&b, `<desc id="%s">%s.</desc>`, descID, esc(strings.Join(desc, "; ")))
	}
	// Grid and y labels at 0, half and the top of the scale.
	for _, v := range []float64{0, f.yMax / 2, f.yMax} {
		y := f.y(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%s" x2="%d" y2="%s"/>`, chartLeft, fc(y), chartW-chartRight, fc(y))
		fmt.Fprintf(&b, `<text class="ylabel" x="%d" y="%s" text-anchor="end">%s</text>`, chartLeft-4, fc(y+4), esc(fmtValue(v, spec.Unit)))
	}
	// X labels at the start, middle and end.
	layout := "15:04"
	if span > 48*time.Hour {
		layout = "Jan 2"
	}
	for i, t := range []time.Time{from, from.Add(span / 2), to} {
		anchor := []string{"start", "middle", "end"}[i]
		fmt.Fprintf(&b, `<text class="xlabel" x="%s" y="%d" text-anchor="%s">%s</text>`, fc(f.x(t)), chartH-6, anchor, esc(t.UTC().Format(layout)))
	}
	if len(desc) == 0 {
		fmt.Fprintf(&b, `<text class="nodata" x="%d" y="%d" text-anchor="middle">No data in this range</text>`, chartLeft+plotW/2, chartTop+plotH/2)
	}
	for _, l := range lines {
		for _, seg := range l.segs {
			if len(seg) == 1 {
				fmt.Fprintf(&b, `<circle class="dot %s" cx="%s" cy="%s" r="2.5"><title>%s</title></circle>`, l.s.Class, fc(seg[0].X), fc(seg[0].Y), esc(l.s.Name))
				continue
			}
			var pts []string
			for _, p := range seg {
				pts = append(pts, fc(p.X)+","+fc(p.Y))
			}
			fmt.Fprintf(&b, `<polyline class="line %s" points="%s"><title>%s</title></polyline>`, l.s.Class, strings.Join(pts, " "), esc(l.s.Name))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: every interpolated string above is escaped
}

// fc formats an SVG coordinate with one decimal.
func fc(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func fmtSpan(d time.Duration) string {
	if d >= 48*time.Hour {
		return itoa(int(d.Hours()/24)) + " days"
	}
	return itoa(int(d.Hours())) + " hours"
}
