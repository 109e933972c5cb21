package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Point is one measured value.
type Point struct{ X, Y float64 }

// Series is one line of a chart: Points (the medians, joined by a line, in X order) and Dots
// (every single measurement behind them, drawn as small circles so the spread shows).
type Series struct {
	Name   string
	Points []Point
	Dots   []Point
	Style
}

// Style is how a series is drawn: Color (default: the palette, in series order) and Dash (an SVG
// stroke-dasharray; "" is a solid line).
type Style struct {
	Color, Dash string
	// NoMarks draws the line without a circle at each point (a reference line).
	NoMarks bool
}

// maxMarks is the most points a series gets circles for; beyond it the line alone reads better.
const maxMarks = 12

// Dash patterns.
const (
	dashed = "7 4"
	dotted = "2 3"
)

// Chart is a line chart with linear or logarithmic axes.
type Chart struct {
	// Subtitle is drawn under the title, one line per "\n"-separated part (method, then machine).
	Title, Subtitle string
	XLabel, YLabel  string // with the unit, e.g. "reports/s"
	XLog, YLog      bool
	// YZero starts a linear Y axis at 0 whatever the data (throughput, CPU: a ratio reads true).
	YZero  bool
	Series []Series
	// Note is a line under the plot (method, what the dots are).
	Note string
	// RatioTo names the reference series: the Markdown table adds each other solid series ÷ it
	// (storage ratio: a store against discard, measured in the same run).
	RatioTo string
}

// Layout of every chart, in SVG user units (pixels); the width grows with the legend and the
// subtitle (about 7 px a character at 12 px, 6 at 11 px).
const (
	chartH                     = 456
	plotL, plotT, plotR, plotB = 78, 78, 560, 388 // plot area: left, top, right, bottom
	legendX                    = 578
	minChartW                  = 760
)

func (c Chart) width() int {
	w := minChartW
	for _, s := range c.Series {
		w = max(w, legendX+28+7*len([]rune(s.Name))+12)
	}
	for _, l := range append(strings.Split(c.Subtitle, "\n"), c.Note) {
		w = max(w, plotL-60+6*len([]rune(l))+12)
	}
	return w
}

// palette is colour-blind-safe (Okabe–Ito), in series order.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

// axis maps data values to pixels between lo and hi pixels.
type axis struct {
	min, max float64 // data range shown (already extended to ticks)
	log      bool
	lo, hi   float64 // pixel positions of min and max
	ticks    []float64
}

func (a axis) pos(v float64) float64 {
	if a.log {
		return a.lo + (math.Log10(v)-math.Log10(a.min))/(math.Log10(a.max)-math.Log10(a.min))*(a.hi-a.lo)
	}
	return a.lo + (v-a.min)/(a.max-a.min)*(a.hi-a.lo)
}

// newAxis covers [dmin, dmax] with "nice" ticks: 1, 2, 5 × 10^k on a linear axis, powers of ten
// (with 2 and 5 between when the range spans less than three decades) on a log axis.
func newAxis(dmin, dmax float64, log, zero bool, lo, hi float64) axis {
	a := axis{log: log, lo: lo, hi: hi}
	if log {
		if dmin <= 0 {
			dmin = dmax / 10
		}
		if dmax <= 0 {
			dmin, dmax = 1, 10
		}
		emin, emax := math.Floor(math.Log10(dmin)), math.Ceil(math.Log10(dmax))
		if emax == emin {
			emax++
		}
		a.min, a.max = math.Pow(10, emin), math.Pow(10, emax)
		steps := []float64{1}
		if emax-emin < 3 {
			steps = []float64{1, 2, 5}
		}
		for e := emin; e <= emax; e++ {
			for _, m := range steps {
				v := m * math.Pow(10, e)
				if v >= a.min*(1-1e-9) && v <= a.max*(1+1e-9) {
					a.ticks = append(a.ticks, v)
				}
			}
		}
		// Tighten to the tick just around the data, so one decade of headroom is not wasted.
		for len(a.ticks) > 2 && a.ticks[1] <= dmin {
			a.ticks = a.ticks[1:]
		}
		for len(a.ticks) > 2 && a.ticks[len(a.ticks)-2] >= dmax {
			a.ticks = a.ticks[:len(a.ticks)-1]
		}
		a.min, a.max = a.ticks[0], a.ticks[len(a.ticks)-1]
		return a
	}
	if zero && dmin > 0 {
		dmin = 0
	}
	if dmax == dmin {
		if dmax == 0 {
			dmax = 1
		} else {
			dmin, dmax = dmin-math.Abs(dmin)/2, dmax+math.Abs(dmax)/2
		}
	}
	step := niceStep((dmax - dmin) / 5)
	kmin, kmax := math.Floor(dmin/step), math.Ceil(dmax/step)
	for k := kmin; k <= kmax; k++ {
		// Round away the binary residue (6 × 0.2 = 1.2000000000000002) so labels and data-value read clean.
		t, _ := strconv.ParseFloat(strconv.FormatFloat(k*step, 'g', 12, 64), 64)
		a.ticks = append(a.ticks, t)
	}
	a.min, a.max = a.ticks[0], a.ticks[len(a.ticks)-1]
	return a
}

// niceStep rounds x up to 1, 2 or 5 × 10^k.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	switch f := x / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	}
	return 10 * p
}

// tickLabel prints a tick value briefly: 2,000 → "2k", 100000 → "100k", 0.5 → "0.5".
func tickLabel(v float64) string {
	av := math.Abs(v)
	switch {
	case av >= 1e6 && math.Mod(av, 1e5) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case av >= 1e3 && math.Mod(av, 100) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// SVG renders the chart as a standalone SVG document. The output depends only on the chart.
func (c Chart) SVG() []byte {
	var xs, ys []float64
	for _, s := range c.Series {
		for _, p := range append(append([]Point(nil), s.Points...), s.Dots...) {
			if (c.XLog && p.X <= 0) || (c.YLog && p.Y <= 0) || math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
				continue
			}
			xs, ys = append(xs, p.X), append(ys, p.Y)
		}
	}
	xmin, xmax := minMax(xs)
	ymin, ymax := minMax(ys)
	xa := newAxis(xmin, xmax, c.XLog, false, plotL, plotR)
	ya := newAxis(ymin, ymax, c.YLog, c.YZero, plotB, plotT)

	var b strings.Builder
	chartW := c.width()
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, "<title>%s</title>\n", esc(c.Title))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", plotL-60, esc(c.Title))
	for i, l := range strings.Split(c.Subtitle, "\n") {
		if l != "" {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#444444">%s</text>`+"\n", plotL-60, 44+i*15, esc(l))
		}
	}
	// Grid and tick labels.
	b.WriteString(`<g class="grid" stroke="#dddddd" stroke-width="1">` + "\n")
	for _, t := range ya.ticks {
		y := ya.pos(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s"/>`+"\n", plotL, f1(y), plotR, f1(y))
	}
	for _, t := range xa.ticks {
		x := xa.pos(t)
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d"/>`+"\n", f1(x), plotT, f1(x), plotB)
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g class="y-ticks" text-anchor="end">` + "\n")
	for _, t := range ya.ticks {
		fmt.Fprintf(&b, `<text x="%d" y="%s" dominant-baseline="middle" data-value="%s">%s</text>`+"\n", plotL-6, f1(ya.pos(t)), strconv.FormatFloat(t, 'g', -1, 64), esc(tickLabel(t)))
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g class="x-ticks" text-anchor="middle">` + "\n")
	for _, t := range xa.ticks {
		fmt.Fprintf(&b, `<text x="%s" y="%d" data-value="%s">%s</text>`+"\n", f1(xa.pos(t)), plotB+18, strconv.FormatFloat(t, 'g', -1, 64), esc(tickLabel(t)))
	}
	b.WriteString("</g>\n")
	// Axes and their labels.
	fmt.Fprintf(&b, `<path d="M%d %dV%dH%d" fill="none" stroke="#333333" stroke-width="1.2"/>`+"\n", plotL, plotT, plotB, plotR)
	fmt.Fprintf(&b, `<text class="x-label" x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", (plotL+plotR)/2, plotB+40, esc(axisLabel(c.XLabel, c.XLog)))
	fmt.Fprintf(&b, `<text class="y-label" transform="translate(%d %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", plotL-58, (plotT+plotB)/2, esc(axisLabel(c.YLabel, c.YLog)))
	// Series.
	for i, s := range c.Series {
		color := s.color(i)
		fmt.Fprintf(&b, `<g class="series" data-series="%s" stroke="%s" fill="%s">`+"\n", esc(s.Name), color, color)
		var pts []string
		for _, p := range s.Points {
			if (c.XLog && p.X <= 0) || (c.YLog && p.Y <= 0) {
				continue
			}
			pts = append(pts, f1(xa.pos(p.X))+","+f1(ya.pos(p.Y)))
		}
		dash := ""
		if s.Dash != "" {
			dash = ` stroke-dasharray="` + s.Dash + `"`
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), dash)
		}
		for _, p := range pts {
			if s.NoMarks || len(pts) > maxMarks {
				break
			}
			x, y, _ := strings.Cut(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5"/>`+"\n", x, y)
		}
		for _, p := range s.Dots {
			if (c.XLog && p.X <= 0) || (c.YLog && p.Y <= 0) {
				continue
			}
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2" fill-opacity="0.35" stroke="none"/>`+"\n", f1(xa.pos(p.X)), f1(ya.pos(p.Y)))
		}
		b.WriteString("</g>\n")
	}
	// Legend.
	b.WriteString(`<g class="legend">` + "\n")
	for i, s := range c.Series {
		y := plotT + 8 + i*20
		color := s.color(i)
		dash := ""
		if s.Dash != "" {
			dash = ` stroke-dasharray="` + s.Dash + `"`
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", legendX, y, legendX+22, y, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", legendX+28, y, esc(s.Name))
	}
	b.WriteString("</g>\n")
	if c.Note != "" {
		fmt.Fprintf(&b, `<text class="note" x="%d" y="%d" font-size="11" fill="#444444">%s</text>`+"\n", plotL-60, chartH-10, esc(c.Note))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func (s Series) color(i int) string {
	if s.Color != "" {
		return s.Color
	}
	return palette[i%len(palette)]
}

func axisLabel(l string, log bool) string {
	if log {
		return l + " (log scale)"
	}
	return l
}

func minMax(vs []float64) (float64, float64) {
	if len(vs) == 0 {
		return 0, 1
	}
	lo, hi := vs[0], vs[0]
	for _, v := range vs[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}
