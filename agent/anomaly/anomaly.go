// Package anomaly flags metric values that are unusual for this host at this hour of the day.
//
// For each metric the Detector keeps a level that follows the metric over about a day (so a slow
// drift, such as memory creeping up, is not unusual) and, per hour of the day (24 buckets), an
// exponentially weighted mean offset from that level and variance around it, with a memory of
// about Window (a week by default), so a daily pattern — busy afternoons, a nightly batch — is
// learnt and does not alarm.
//
// Two scores are kept side by side on the residual (the value less its hour's expected value):
//
//   - the spike score: the residual in the hour's standard deviations; one value Threshold
//     deviations away is unusual;
//   - the shift score: the mean of the last few residuals (an exponentially weighted run of
//     shiftSpan samples) in the deviations that such a run has at this hour, learnt like the
//     hour's own spread so autocorrelated noise does not read as a shift. A run Threshold of its
//     deviations away is a level shift, and each value in it that sits on the shift's side of the
//     baseline by at least a deviation is unusual, though it may be less than Threshold deviations
//     away alone.
//
// Both deviations have a floor that is relative to the series (a fraction of its level, with a
// small per-metric minimum), so a flat metric does not alarm on noise, whatever its level.
// Each bucket stays silent until it has seen Warmup of samples.
//
// Unusual values are not learnt at all, so neither a spike nor a shift teaches the baseline that it
// is normal or widens its spread (which would stop flagging a shift within minutes). A level shift
// that lasts is adopted: after a day of shift without a break the level moves to it at once.
//
// Memory is fixed: per metric a level and 24 buckets of four numbers (a few KB for all metrics),
// saved to and loaded from a small JSON file so a restart does not relearn from zero, plus a few
// numbers of the current run kept only in memory. A Detector is NOT safe for concurrent use: the
// agent calls it from its loop.
package anomaly

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/wire"
)

// Defaults of a Config.
const (
	DefaultThreshold = 4.0
	DefaultWindow    = 7 * 24 * time.Hour
	DefaultWarmup    = 2 * 24 * time.Hour
	// maxStateBytes bounds the state file read.
	maxStateBytes = 64 << 10
	// stateVersion is the state file's: 2 added the buckets' shift_var. Version 1 files load
	// (see Load).
	stateVersion = 2
)

// The shift detector's constants, in samples.
const (
	// shiftSpan is the run's memory: the weight of a new residual is 1/shiftSpan.
	shiftSpan = 6
	// shiftGap is how many intervals without a sample restart the run (a stopped agent, a
	// suspended host): a run must not join values from either side of a gap.
	shiftGap = 5
	// shiftMinScore is how many of the hour's deviations a value in a shift must be from the
	// baseline, on the shift's side, to be unusual: it keeps the few values after a shift ended,
	// while the run decays, from being flagged.
	shiftMinScore = 1.0
	// relFloor is the floor on a deviation as a fraction of the metric's level.
	relFloor = 0.01
)

// shiftWhite is the standard deviation of the run over that of its samples when they are
// independent: sqrt(α/(2-α)) for an exponentially weighted mean of weight α = 1/shiftSpan.
var shiftWhite = math.Sqrt((1.0 / shiftSpan) / (2 - 1.0/shiftSpan))

// Metric names: the metrics the agent watches.
const (
	MetricCPU    = "cpu.busy_pct"
	MetricMemory = "memory.used_pct"
	MetricLoad   = "load.per_core"
)

// minFloors are the smallest floors on a metric's standard deviation, whatever its level: changes
// below them mean nothing for that metric (a percentage point of CPU, a quarter of one of memory).
var minFloors = map[string]float64{MetricCPU: 1, MetricMemory: 0.25, MetricLoad: 0.02}

// Metrics lists the metrics with a baseline.
var Metrics = []string{MetricCPU, MetricMemory, MetricLoad}

// Config configures a Detector.
type Config struct {
	// Interval is the time between samples; it sets how many samples Window and Warmup hold.
	Interval time.Duration
	// Threshold is the score (deviations from the hour's mean) from which a value, or a run of
	// values, is a hint. Defaults to DefaultThreshold.
	Threshold float64
	// Window is the baseline's memory. Defaults to DefaultWindow.
	Window time.Duration
	// Warmup is how much of an hour bucket's samples, in days' worth, it must have seen before it
	// flags anything: DefaultWarmup is two days of that hour.
	Warmup time.Duration
	// Location is the time zone of the hours of the day. Defaults to time.Local.
	Location *time.Location
}

// bucket is the baseline of one hour of the day: the hour's usual offset from the metric's level,
// the variance of what is left, and the variance of the run (the short mean) of what is left.
type bucket struct {
	N        float64 `json:"n"` // samples seen, capped at the window's
	Mean     float64 `json:"mean"`
	Var      float64 `json:"var"`
	ShiftVar float64 `json:"shift_var"`
}

// baseline is one metric's: a level that follows the metric over about a day (so a slow drift
// does not look unusual) and 24 hourly offsets from it (the daily pattern). The unexported fields
// are the current run, not saved: a restart begins a new one.
type baseline struct {
	Level  float64    `json:"level"`
	LevelN float64    `json:"level_n"`
	Hours  [24]bucket `json:"hours"`

	run     float64   // exponentially weighted mean of the latest residuals, clipped
	rawRun  float64   // the same, not clipped: where a lasting shift has moved the level to
	runN    float64   // samples in the run, up to shiftSpan
	last    time.Time // time of the latest sample
	episode float64   // samples of the current level shift, without a break
}

// Detector keeps the baselines and scores values.
type Detector struct {
	cfg    Config
	nMax   float64 // samples per bucket in Window
	nWarm  float64
	nLevel float64 // samples in a day: the level's memory, and how long a shift lasts before it is adopted
	series map[string]*baseline
}

// New makes a Detector with empty baselines.
func New(cfg Config) (*Detector, error) {
	if cfg.Interval <= 0 {
		return nil, errors.New("anomaly: no interval")
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Threshold < 2 || cfg.Threshold > 100 {
		return nil, fmt.Errorf("anomaly: threshold %g not within 2..100", cfg.Threshold)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = DefaultWarmup
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	perBucketDay := float64(time.Hour) / float64(cfg.Interval) // samples of one hour bucket per day
	d := &Detector{cfg: cfg, series: map[string]*baseline{},
		nMax:   max(perBucketDay*cfg.Window.Hours()/24, 2),
		nWarm:  max(perBucketDay*cfg.Warmup.Hours()/24, 2),
		nLevel: max(24*perBucketDay, 2)}
	for _, m := range Metrics {
		d.series[m] = new(baseline)
	}
	return d, nil
}

// floor is the smallest standard deviation used for metric at level: a fraction of the level, at
// least the metric's minimum.
func floor(metric string, level float64) float64 {
	return max(minFloors[metric], relFloor*math.Abs(level))
}

// Observe scores v, the value of metric at t, against the baseline of t's hour, then learns it.
// It returns a hint when the value, or the run it ends, is unusual and the hour's baseline is
// warm. Unknown metrics and values that are not finite are ignored.
func (d *Detector) Observe(metric string, t time.Time, v float64) (wire.AnomalyHint, bool) {
	s := d.series[metric]
	if s == nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return wire.AnomalyHint{}, false
	}
	hour := t.In(d.cfg.Location).Hour()
	b := &s.Hours[hour]
	fl := floor(metric, s.Level)
	expected := s.Level + b.Mean
	sd := math.Sqrt(max(b.Var, 0) + fl*fl)
	resid := v - expected
	score := resid / sd

	// The run: a gap, or time going backwards, starts a new one.
	if s.last.IsZero() || t.Before(s.last) || t.Sub(s.last) > shiftGap*d.cfg.Interval {
		s.run, s.rawRun, s.runN, s.episode = 0, 0, 0, 0
	}
	s.last = t
	s.runN = min(s.runN+1, shiftSpan)
	// The run takes residuals clipped at three deviations: one spike moves it little, while a
	// shift of any size still moves it by three deviations of a value, far beyond the run's own.
	s.run += (min(max(resid, -3*sd), 3*sd) - s.run) / s.runN
	s.rawRun += (resid - s.rawRun) / s.runN
	flRun := fl * shiftWhite
	sdRun := math.Sqrt(max(b.ShiftVar, 0) + flRun*flRun)
	shiftScore := s.run / sdRun

	warm := b.N >= d.nWarm
	spike := warm && math.Abs(score) >= d.cfg.Threshold
	shift := warm && s.runN >= shiftSpan && math.Abs(shiftScore) >= d.cfg.Threshold &&
		score*math.Copysign(1, shiftScore) >= shiftMinScore
	if spike || shift {
		if shift {
			s.episode++
			if s.episode >= d.nLevel {
				// A day of shift: it is the new level.
				s.Level += s.rawRun
				s.run, s.rawRun, s.episode = 0, 0, 0
			}
		} else {
			s.episode = 0
		}
		// An unusual value teaches neither the level nor the hour's pattern or spread.
		return wire.AnomalyHint{Metric: metric, Value: round(v, 3), Score: round(score, 2), Mean: round(expected, 3),
			StdDev: round(sd, 3), Hour: hour}, true
	}
	s.episode = 0
	s.LevelN = min(s.LevelN+1, d.nLevel)
	if s.LevelN == 1 {
		s.Level = v - b.Mean
	} else {
		s.Level += (v - b.Mean - s.Level) / s.LevelN
	}
	b.N = min(b.N+1, d.nMax)
	a := 1 / b.N
	delta := (v - s.Level) - b.Mean
	// The spreads learn deviations winsorized at three deviations, so values just under the
	// threshold (the start of a shift) do not widen them much; for normal noise this costs ~1.5%.
	dv := min(max(delta, -3*sd), 3*sd)
	b.Mean += a * delta
	b.Var = (1 - a) * (b.Var + a*dv*dv)
	dr := min(max(s.run, -3*sdRun), 3*sdRun)
	b.ShiftVar = (1-a)*b.ShiftVar + a*dr*dr
	return wire.AnomalyHint{}, false
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// stateFile is the saved form of the baselines.
type stateFile struct {
	Version int                 `json:"version"`
	Metrics map[string]baseline `json:"metrics"`
}

// Save writes the baselines to path atomically.
func (d *Detector) Save(path string) error {
	st := stateFile{Version: stateVersion, Metrics: map[string]baseline{}}
	for m, s := range d.series {
		st.Metrics[m] = *s
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode anomaly baselines: %w", err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("save anomaly baselines: %w", err)
	}
	return nil
}

// Load reads baselines saved by Save. A missing file is no error (nothing learnt yet); a file that
// is corrupt, of an unknown version or with values out of range is refused and the Detector keeps
// its empty baselines. A version 1 file (before the shift score) loads: its levels and hours are
// kept, and each hour's run variance starts at what independent noise of the hour's spread gives,
// then learns.
func (d *Detector) Load(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load anomaly baselines: %w", err)
	}
	defer f.Close()
	var st stateFile
	if err := wire.Decode(f, maxStateBytes, true, &st); err != nil {
		return fmt.Errorf("load anomaly baselines: %w", err)
	}
	if st.Version != 1 && st.Version != stateVersion {
		return fmt.Errorf("load anomaly baselines: version %d, want 1 or %d", st.Version, stateVersion)
	}
	for m, bl := range st.Metrics {
		if !finite(bl.Level) || !finite(bl.LevelN) || bl.LevelN < 0 {
			return fmt.Errorf("load anomaly baselines: %s: level out of range", m)
		}
		for _, b := range bl.Hours {
			if !finite(b.N) || !finite(b.Mean) || !finite(b.Var) || !finite(b.ShiftVar) ||
				b.N < 0 || b.Var < 0 || b.ShiftVar < 0 {
				return fmt.Errorf("load anomaly baselines: %s: a bucket out of range", m)
			}
			if st.Version == 1 && b.ShiftVar != 0 {
				return fmt.Errorf("load anomaly baselines: %s: shift_var in a version 1 file", m)
			}
		}
	}
	for m, bl := range st.Metrics {
		if s := d.series[m]; s != nil {
			*s = bl
			s.LevelN = min(s.LevelN, d.nLevel)
			for i := range s.Hours {
				h := &s.Hours[i]
				h.N = min(h.N, d.nMax)
				if st.Version == 1 {
					h.ShiftVar = h.Var * shiftWhite * shiftWhite
				}
			}
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
