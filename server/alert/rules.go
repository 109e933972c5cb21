package alert

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// ruleInput is what the rules read of one host: its Figures, with the list-valued ones decoded
// only when a rule asks for them, once per evaluation.
type ruleInput struct {
	fig  *Figures
	figv Figures // what fig points to after reset

	mounts         []mountFigure
	procs          *procFigures
	states         *stateFigures
	decodedMounts  bool
	decodedStates  bool
	decodeProblems []error
}

// reset makes in the input of another host's figures, copied (not retained: a store's byte
// slices are valid only during its callback), with nothing decoded yet. One ruleInput serves a
// whole batch without an allocation per host.
func (in *ruleInput) reset(f *Figures) {
	*in = ruleInput{figv: *f}
	in.fig = &in.figv
}

func (in *ruleInput) mountList() []mountFigure {
	if !in.decodedMounts {
		in.decodedMounts = true
		if in.fig.Mounts != nil {
			if err := json.Unmarshal(in.fig.Mounts, &in.mounts); err != nil {
				in.decodeProblems = append(in.decodeProblems, fmt.Errorf("mount figures: %w", err))
			}
		}
	}
	return in.mounts
}

func (in *ruleInput) procList() *procFigures {
	if in.procs == nil {
		in.procs = &procFigures{}
		if in.fig.Procs != nil {
			if err := json.Unmarshal(in.fig.Procs, in.procs); err != nil {
				in.decodeProblems = append(in.decodeProblems, fmt.Errorf("process figures: %w", err))
			}
		}
	}
	return in.procs
}

func (in *ruleInput) stateList() *stateFigures {
	if !in.decodedStates {
		in.decodedStates = true
		in.states = &stateFigures{}
		if in.fig.States != nil {
			if err := json.Unmarshal(in.fig.States, in.states); err != nil {
				in.decodeProblems = append(in.decodeProblems, fmt.Errorf("state figures: %w", err))
			}
		}
	}
	return in.states
}

// condition is one rule condition that holds in a report.
type condition struct {
	subject string
	value   float64
	summary string
}

// conditions returns the conditions of rule r that hold in the host's figures. since is when the
// host's previous report was evaluated (zero if never): a watched process whose instance started
// after it restarted, even if the report carrying the event was superseded before evaluation.
func conditions(r *Rule, in *ruleInput, since time.Time) []condition {
	var out []condition
	f := in.fig
	switch r.Kind {
	case KindCPU:
		if f.CPUBusy > r.Threshold { // false for NaN: no CPU figures
			out = append(out, condition{value: f.CPUBusy,
				summary: fmt.Sprintf("CPU busy %.1f%% (above %g%%)", f.CPUBusy, r.Threshold)})
		}
	case KindMemory:
		if avail := f.MemAvailPct; avail < r.Threshold {
			out = append(out, condition{value: avail,
				summary: fmt.Sprintf("memory available %.1f%% (below %g%%)", avail, r.Threshold)})
		}
	case KindDisk:
		if !(f.DiskMax > r.Threshold) {
			break // no mount above the threshold: nothing to decode
		}
		for _, m := range in.mountList() {
			if (r.Match == "" || r.Match == m.Path) && m.UsedPct > r.Threshold {
				out = append(out, condition{subject: m.Path, value: m.UsedPct,
					summary: fmt.Sprintf("disk %s used %.1f%% (above %g%%)", m.Path, m.UsedPct, r.Threshold)})
			}
		}
	case KindLoad:
		if !math.IsNaN(f.Load1) && f.Cores > 0 {
			per := f.Load1 / float64(f.Cores)
			if per > r.Threshold {
				out = append(out, condition{value: per,
					summary: fmt.Sprintf("load %.2f on %d cores, %.2f per core (above %g)", f.Load1, f.Cores, per, r.Threshold)})
			}
		}
	case KindProcess:
		// Nothing can hold unless a process is down, a restart event came, or an instance started
		// after since (ProcStart is rounded up, so this never skips a later start).
		if !f.ProcAlarm && (since.IsZero() || f.ProcStart <= since.UnixMicro()) {
			break
		}
		pf := in.procList()
		restarted := map[string]bool{}
		for _, name := range pf.Restarted {
			if r.Match == "" || r.Match == name {
				restarted[name] = true
			}
		}
		for _, p := range pf.Procs {
			if r.Match != "" && r.Match != p.Name {
				continue
			}
			if p.Running == 0 {
				out = append(out, condition{subject: p.Name, summary: fmt.Sprintf("process %s is not running", p.Name)})
				continue
			}
			if !since.IsZero() && len(p.Latest) == 2 && time.Unix(p.Latest[0], p.Latest[1]).After(since) {
				restarted[p.Name] = true
			}
			if restarted[p.Name] {
				out = append(out, condition{subject: p.Name, value: float64(p.Running),
					summary: fmt.Sprintf("process %s restarted (%d running)", p.Name, p.Running)})
			}
		}
	case KindUnit:
		if f.States == nil {
			break
		}
		for _, u := range in.stateList().Units {
			if r.Match == "" || r.Match == u.Name {
				detail := u.SubState
				if u.Result != "" {
					detail += ", result " + u.Result
				}
				out = append(out, condition{subject: u.Name, value: float64(u.NRestarts),
					summary: fmt.Sprintf("unit %s failed (%s)", u.Name, strings.TrimPrefix(detail, ", "))})
			}
		}
	case KindAnomaly:
		if f.States == nil {
			break
		}
		for _, h := range in.stateList().Hints {
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
		if f.States == nil {
			break
		}
		for _, c := range in.stateList().Checks {
			if r.Match == "" || r.Match == c.Name {
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
