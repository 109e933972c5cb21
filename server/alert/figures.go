package alert

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// Figures is what the rules read of a host's latest report: derived once at ingest (FiguresOf,
// called by the stores' CommitReports in the transaction that stores the report) and kept in
// narrow columns of the host row, so a fleet scan never reads or decodes whole reports.
//
// Numbers are full double precision in both stores (the rules compare them with thresholds and
// print them, exactly as from the report); NaN stands for "the report lacks it" (NULL). Lists are
// small JSON documents, decoded only when a rule could find something in them: Mounts when DiskMax
// is above a disk rule's threshold, Procs when ProcAlarm is set or a process started after the
// previous evaluation (ProcStart), States (failed units, anomaly hints, failing checks) only when
// present at all, which a healthy host's is not.
type Figures struct {
	// CPUBusy is the CPU busy %.
	CPUBusy float64
	// MemAvailPct is the available memory in % of the total (NaN without memory or a zero total).
	MemAvailPct float64
	// Load1 is the 1-minute load average; Cores the CPU's cores (0: unknown).
	Load1 float64
	Cores int
	// DiskMax is the largest used % over the mounts.
	DiskMax float64
	// Mounts is the JSON of every mount's path and used % (mountFigure), nil without mounts.
	Mounts []byte
	// ProcStart is the latest start time of an instance of a watched process, in microseconds since
	// the Unix epoch rounded up (so comparing it with a time never misses a later start); 0: none.
	ProcStart int64
	// ProcAlarm: a watched process is not running, or the report carries a restart event.
	ProcAlarm bool
	// Procs is the JSON of the watched processes and restart events (procFigures), nil if none.
	Procs []byte
	// States is the JSON of the failed units, anomaly hints and failing checks (stateFigures), nil
	// if there are none.
	States []byte
}

// mountFigure is one mount of Figures.Mounts.
type mountFigure struct {
	Path    string  `json:"p"`
	UsedPct float64 `json:"u"`
}

// procFigures is Figures.Procs: the watched processes in report order and the names of the
// processes the report's events say restarted.
type procFigures struct {
	Procs     []procFigure `json:"p,omitempty"`
	Restarted []string     `json:"r,omitempty"`
}

// procFigure is a watched process: its name, how many run, and the latest start time of its
// instances as Unix seconds and nanoseconds (exact, whatever the year), absent without instances.
type procFigure struct {
	Name    string  `json:"n"`
	Running int     `json:"r"`
	Latest  []int64 `json:"t,omitempty"`
}

// stateFigures is Figures.States.
type stateFigures struct {
	Units  []unitFigure       `json:"u,omitempty"`
	Hints  []wire.AnomalyHint `json:"h,omitempty"`
	Checks []checkFigure      `json:"c,omitempty"`
}

// unitFigure is a failed unit.
type unitFigure struct {
	Name      string `json:"n"`
	SubState  string `json:"s,omitempty"`
	Result    string `json:"r,omitempty"`
	NRestarts uint32 `json:"c,omitempty"`
}

// checkFigure is a failing check.
type checkFigure struct {
	Name    string  `json:"n"`
	Kind    string  `json:"k"`
	Value   float64 `json:"v,omitempty"`
	Message string  `json:"m,omitempty"`
}

// FiguresOf derives what the rules read of r. It is pure; the error is an encoding failure
// (which wire's validation makes impossible in practice).
func FiguresOf(r *wire.Report) (Figures, error) {
	nan := math.NaN()
	f := Figures{CPUBusy: nan, MemAvailPct: nan, Load1: nan, DiskMax: nan}
	if r.CPU != nil {
		f.CPUBusy, f.Cores = r.CPU.BusyPct, r.CPU.Cores
	}
	if m := r.Memory; m != nil && m.TotalBytes > 0 {
		f.MemAvailPct = float64(m.AvailableBytes) / float64(m.TotalBytes) * 100
	}
	if r.Load != nil {
		f.Load1 = r.Load.Load1
	}
	var err error
	if len(r.Mounts) > 0 {
		ms := make([]mountFigure, len(r.Mounts))
		for i, m := range r.Mounts {
			ms[i] = mountFigure{m.Path, m.UsedPct}
			if i == 0 || m.UsedPct > f.DiskMax {
				f.DiskMax = m.UsedPct
			}
		}
		if f.Mounts, err = json.Marshal(ms); err != nil {
			return Figures{}, fmt.Errorf("encode mount figures: %w", err)
		}
	}
	var pf procFigures
	var latest time.Time
	hasLatest := false
	for _, ev := range r.Events {
		if ev.Kind == wire.ProcRestarted {
			pf.Restarted = append(pf.Restarted, ev.Name)
			f.ProcAlarm = true
		}
	}
	for _, p := range r.Processes {
		fp := procFigure{Name: p.Name, Running: p.Running}
		if p.Running == 0 {
			f.ProcAlarm = true
		}
		if len(p.Instances) > 0 {
			l := p.Instances[0].StartTime
			for _, in := range p.Instances[1:] {
				if in.StartTime.After(l) {
					l = in.StartTime
				}
			}
			fp.Latest = []int64{l.Unix(), int64(l.Nanosecond())}
			if !hasLatest || l.After(latest) {
				latest, hasLatest = l, true
			}
		}
		pf.Procs = append(pf.Procs, fp)
	}
	if hasLatest {
		f.ProcStart = ceilMicros(latest)
	}
	if len(pf.Procs) > 0 || len(pf.Restarted) > 0 {
		if f.Procs, err = json.Marshal(&pf); err != nil {
			return Figures{}, fmt.Errorf("encode process figures: %w", err)
		}
	}
	var sf stateFigures
	for _, u := range r.Units {
		if u.ActiveState == "failed" {
			sf.Units = append(sf.Units, unitFigure{u.Name, u.SubState, u.Result, u.NRestarts})
		}
	}
	sf.Hints = r.Hints
	for _, c := range r.Checks {
		if !c.OK {
			sf.Checks = append(sf.Checks, checkFigure{c.Name, c.Kind, c.Value, c.Message})
		}
	}
	if len(sf.Units) > 0 || len(sf.Hints) > 0 || len(sf.Checks) > 0 {
		if f.States, err = json.Marshal(&sf); err != nil {
			return Figures{}, fmt.Errorf("encode state figures: %w", err)
		}
	}
	return f, nil
}

// ceilMicros is t in microseconds since the Unix epoch, rounded up, clamped to int64 (an
// agent's clock may say anything).
func ceilMicros(t time.Time) int64 {
	const maxSec = math.MaxInt64/1_000_000 - 1
	s := t.Unix()
	switch {
	case s > maxSec:
		return math.MaxInt64
	case s < -maxSec:
		return math.MinInt64 + 1
	}
	return s*1e6 + (int64(t.Nanosecond())+999)/1000
}

// HostFigures is a host's Figures as a scan reads them.
type HostFigures struct {
	HostID string
	Figures
}
