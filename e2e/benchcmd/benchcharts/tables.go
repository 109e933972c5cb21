package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// maxTableColumns is the most X values a table shows one column each; a longer series (a time
// series) is summarised as first, last, min and max.
const maxTableColumns = 6

// Markdown renders the figures behind the chart as a Markdown table: one row per series, the
// medians drawn, so docs/BENCHMARKS.md can quote the numbers beside the picture.
func (c Chart) Markdown(file string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### %s\n\n", c.Title)
	for _, l := range strings.Split(c.Subtitle, "\n") {
		if l != "" {
			fmt.Fprintf(&b, "%s  \n", l)
		}
	}
	fmt.Fprintf(&b, "%s\n\n![%s](img/bench/%s)\n\n", c.Note, c.Title, file)
	xset := map[float64]bool{}
	for _, s := range c.Series {
		for _, p := range s.Points {
			xset[p.X] = true
		}
	}
	xs := slices.Sorted(maps.Keys(xset))
	if len(xs) <= maxTableColumns {
		fmt.Fprintf(&b, "| %s ↓ · %s → |", c.YLabel, c.XLabel)
		for _, x := range xs {
			fmt.Fprintf(&b, " %s |", fmtNum(x))
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(xs)) + "\n")
		for _, s := range c.Series {
			fmt.Fprintf(&b, "| %s |", s.Name)
			for _, x := range xs {
				cell := "–"
				for _, p := range s.Points {
					if p.X == x {
						cell = fmtNum(p.Y)
					}
				}
				fmt.Fprintf(&b, " %s |", cell)
			}
			b.WriteString("\n")
		}
		for _, ref := range c.Series {
			if ref.Name != c.RatioTo {
				continue
			}
			for _, s := range c.Series {
				if s.Name == ref.Name || s.Dash != "" {
					continue
				}
				fmt.Fprintf(&b, "| %s ÷ %s |", s.Name, ref.Name)
				for _, x := range xs {
					cell := "–"
					for _, p := range s.Points {
						for _, r := range ref.Points {
							if p.X == x && r.X == x && r.Y != 0 {
								cell = strconv.FormatFloat(p.Y/r.Y, 'f', 2, 64)
							}
						}
					}
					fmt.Fprintf(&b, " %s |", cell)
				}
				b.WriteString("\n")
			}
		}
	} else {
		fmt.Fprintf(&b, "| series | %s: first | last | min | max | over %s |\n|---|---|---|---|---|---|\n", c.YLabel, c.XLabel)
		for _, s := range c.Series {
			if len(s.Points) == 0 {
				continue
			}
			lo, hi := s.Points[0].Y, s.Points[0].Y
			for _, p := range s.Points {
				lo, hi = min(lo, p.Y), max(hi, p.Y)
			}
			first, last := s.Points[0], s.Points[len(s.Points)-1]
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s–%s |\n", s.Name, fmtNum(first.Y), fmtNum(last.Y), fmtNum(lo), fmtNum(hi), fmtNum(first.X), fmtNum(last.X))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// fmtNum prints a figure with three significant digits and thousands separated: 1,850, 4.5, 0.00085.
func fmtNum(v float64) string {
	if v != 0 && (v >= 1000 || v <= -1000) {
		n := strconv.FormatFloat(v, 'f', 0, 64)
		neg := strings.HasPrefix(n, "-")
		n = strings.TrimPrefix(n, "-")
		var parts []string
		for len(n) > 3 {
			parts = append([]string{n[len(n)-3:]}, parts...)
			n = n[:len(n)-3]
		}
		s := strings.Join(append([]string{n}, parts...), ",")
		if neg {
			s = "-" + s
		}
		return s
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
