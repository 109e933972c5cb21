package alert

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// ruleReport is what the rules read: a whole wire.Report, decoded by wire.UnmarshalReport (the
// hand-written decoder: cheaper than encoding/json's reflection into only the fields rules read).
type ruleReport = wire.Report

// condition is one rule condition that holds in a report.
type condition struct {
	subject string
	value   float64
	summary string
}

// conditions returns the conditions of rule r that hold in rep. since is when the host's
// previous report was evaluated (zero if never): a watched process whose instance started after
// it restarted, even if the report carrying the event was superseded before evaluation.
func conditions(r *Rule, rep *ruleReport, since time.Time) []condition {
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
