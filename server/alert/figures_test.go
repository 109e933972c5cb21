package alert

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// reportConditions is how the rules read a whole report before they read Figures (the code of
// rules.go at 655a63e): the reference that conditions on the figures must match exactly.
func reportConditions(r *Rule, rep *wire.Report, since time.Time) []condition {
	var out []condition
	switch r.Kind {
	case KindCPU:
		if rep.CPU != nil && rep.CPU.BusyPct > r.Threshold {
			out = append(out, condition{value: rep.CPU.BusyPct,
				summary: fmt.Sprintf("CPU busy %.1f%% (above %g%%)", rep.CPU.BusyPct, r.Threshold)})
		}
	case KindMemory:
		if m := rep.Memory; m != nil && m.TotalBytes > 0 {
			avail := float64(m.AvailableBytes) / float64(m.TotalBytes) * 100
			if avail < r.Threshold {
				out = append(out, condition{value: avail,
					summary: fmt.Sprintf("memory available %.1f%% (below %g%%)", avail, r.Threshold)})
			}
		}
	case KindDisk:
		for _, m := range rep.Mounts {
			if (r.Match == "" || r.Match == m.Path) && m.UsedPct > r.Threshold {
				out = append(out, condition{subject: m.Path, value: m.UsedPct,
					summary: fmt.Sprintf("disk %s used %.1f%% (above %g%%)", m.Path, m.UsedPct, r.Threshold)})
			}
		}
	case KindLoad:
		if rep.Load != nil && rep.CPU != nil && rep.CPU.Cores > 0 {
			per := rep.Load.Load1 / float64(rep.CPU.Cores)
			if per > r.Threshold {
				out = append(out, condition{value: per,
					summary: fmt.Sprintf("load %.2f on %d cores, %.2f per core (above %g)", rep.Load.Load1, rep.CPU.Cores, per, r.Threshold)})
			}
		}
	case KindProcess:
		restarted := map[string]bool{}
		for _, ev := range rep.Events {
			if ev.Kind == wire.ProcRestarted && (r.Match == "" || r.Match == ev.Name) {
				restarted[ev.Name] = true
			}
		}
		for _, p := range rep.Processes {
			if r.Match != "" && r.Match != p.Name {
				continue
			}
			if p.Running == 0 {
				out = append(out, condition{subject: p.Name, summary: fmt.Sprintf("process %s is not running", p.Name)})
				continue
			}
			if !since.IsZero() {
				for _, in := range p.Instances {
					if in.StartTime.After(since) {
						restarted[p.Name] = true
					}
				}
			}
			if restarted[p.Name] {
				out = append(out, condition{subject: p.Name, value: float64(p.Running),
					summary: fmt.Sprintf("process %s restarted (%d running)", p.Name, p.Running)})
			}
		}
	case KindUnit:
		for _, u := range rep.Units {
			if (r.Match == "" || r.Match == u.Name) && u.ActiveState == "failed" {
				detail := u.SubState
				if u.Result != "" {
					detail += ", result " + u.Result
				}
				out = append(out, condition{subject: u.Name, value: float64(u.NRestarts),
					summary: fmt.Sprintf("unit %s failed (%s)", u.Name, strings.TrimPrefix(detail, ", "))})
			}
		}
	case KindAnomaly:
		for _, h := range rep.Hints {
			if r.Match == "" || r.Match == h.Metric {
				dir := "above"
				if h.Score < 0 {
					dir = "below"
				}
				out = append(out, condition{subject: h.Metric, value: h.Value,
					summary: fmt.Sprintf("%s %g unusual for this host at %02d:00: %.1f deviations %s its usual %g ± %g",
						h.Metric, h.Value, h.Hour, math.Abs(h.Score), dir, h.Mean, h.StdDev)})
			}
		}
	case KindCheck:
		for _, c := range rep.Checks {
			if (r.Match == "" || r.Match == c.Name) && !c.OK {
				msg := c.Message
				if msg == "" {
					msg = "no detail"
				}
				out = append(out, condition{subject: c.Name, value: c.Value,
					summary: fmt.Sprintf("%s check %s failing: %s", c.Kind, c.Name, msg)})
			}
		}
	}
	return out
}

// randomReport is a report with every part the rules read present or not, values near the
// thresholds and instance start times near since.
func randomReport(rnd *rand.Rand, since time.Time) wire.Report {
	pick := func(xs ...string) string { return xs[rnd.IntN(len(xs))] }
	pct := func() float64 { return rnd.Float64() * 100 }
	var r wire.Report
	if rnd.IntN(4) > 0 {
		r.CPU = &wire.CPU{Cores: rnd.IntN(5), BusyPct: pct()}
	}
	if rnd.IntN(4) > 0 {
		total := uint64(rnd.IntN(3)) << 30
		r.Memory = &wire.Memory{TotalBytes: total, AvailableBytes: uint64(rnd.Float64() * float64(total))}
	}
	if rnd.IntN(4) > 0 {
		r.Load = &wire.Load{Load1: rnd.Float64() * 8}
	}
	for range rnd.IntN(4) {
		r.Mounts = append(r.Mounts, wire.Mount{Path: pick("/", "/var", "/home"), UsedPct: pct()})
	}
	for range rnd.IntN(3) {
		p := wire.Process{Name: pick("nginx", "postgres"), Running: rnd.IntN(3)}
		for range rnd.IntN(3) {
			start := since.Add(time.Duration(rnd.IntN(2001)-1000) * time.Nanosecond) // around since, nanoseconds apart
			if rnd.IntN(5) == 0 {
				start = time.Time{}
			}
			p.Instances = append(p.Instances, wire.ProcInst{PID: rnd.IntN(1000), StartTime: start})
		}
		r.Processes = append(r.Processes, p)
	}
	for range rnd.IntN(3) {
		r.Events = append(r.Events, wire.ProcEvent{Name: pick("nginx", "postgres", "cron"), Kind: pick(wire.ProcRestarted, wire.ProcStarted, wire.ProcGone)})
	}
	for range rnd.IntN(3) {
		r.Units = append(r.Units, wire.Unit{Name: pick("a.service", "b.service"), ActiveState: pick("active", "failed"),
			SubState: pick("", "failed", "dead"), Result: pick("", "exit-code"), NRestarts: uint32(rnd.IntN(3))})
	}
	for range rnd.IntN(3) {
		r.Hints = append(r.Hints, wire.AnomalyHint{Metric: pick("cpu.busy_pct", "mem.used_pct"), Value: pct(), Score: rnd.NormFloat64() * 5,
			Mean: pct(), StdDev: rnd.Float64(), Hour: rnd.IntN(24)})
	}
	for range rnd.IntN(3) {
		r.Checks = append(r.Checks, wire.CheckResult{Name: pick("web", "db"), Kind: pick(wire.CheckHTTP, wire.CheckTCP), OK: rnd.IntN(2) == 0,
			Value: rnd.NormFloat64(), Message: pick("", "status 503")})
	}
	return r
}

// TestFiguresConditionsMatchReport checks that every rule kind finds exactly the same
// conditions (subjects, values, summaries, order) on a report's Figures as on the report itself,
// across random reports, thresholds, matches and evaluation times.
func TestFiguresConditionsMatchReport(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	kinds := []string{KindCPU, KindMemory, KindDisk, KindLoad, KindProcess, KindUnit, KindAnomaly, KindCheck}
	matches := []string{"", "/", "/var", "nginx", "postgres", "a.service", "cpu.busy_pct", "web"}
	base := time.Date(2026, 12, 1, 12, 0, 0, 500, time.UTC)
	found := map[string]int{}
	for i := range 20000 {
		since := base
		if i%7 == 0 {
			since = time.Time{}
		}
		rep := randomReport(rnd, base)
		fig, err := FiguresOf(&rep)
		if err != nil {
			t.Fatal(err)
		}
		in := &ruleInput{fig: &fig}
		for _, kind := range kinds {
			r := &Rule{ID: "r", Kind: kind, Threshold: rnd.Float64() * 100, Match: matches[rnd.IntN(len(matches))]}
			if kind == KindLoad {
				r.Threshold = rnd.Float64() * 4
			}
			want := reportConditions(r, &rep, since)
			got := conditions(r, in, since)
			if !slices.Equal(got, want) {
				t.Fatalf("report %d, rule %+v, since %v:\n got %+v\nwant %+v\nreport %+v", i, r, since, got, want, rep)
			}
			found[kind] += len(want)
		}
		if len(in.decodeProblems) > 0 {
			t.Fatalf("decode problems: %v", in.decodeProblems)
		}
	}
	for _, kind := range kinds {
		if found[kind] == 0 {
			t.Errorf("no %s condition held in any random report: the comparison proves nothing for it", kind)
		}
	}
}
