// Package anomaly flags metric values that are unusual for this host at this hour of the day.
//
// For each metric the Detector keeps a level that follows the metric over about a day (so a slow
// drift, such as memory creeping up, is not unusual) and, per hour of the day (24 buckets), an
// exponentially weighted mean offset from that level and variance around it, with a memory of
// about Window (a week by default), so a daily pattern — busy afternoons, a nightly batch — is
// learnt and does not alarm. A value further than Threshold
// standard deviations from its hour's mean (with a per-metric floor on the deviation, so a flat
// metric does not alarm on noise) is a hint carrying its score and the baseline used. Each bucket stays
// silent until it has seen Warmup of samples. Unusual values enter only the level, clipped at the
// threshold, so a spike does not teach the baseline that spikes are normal, while a lasting level
// shift is still adopted, within about a day.
//
// Memory is fixed: 24 buckets of three numbers and a level per metric (a few KB for all metrics), saved to and
// loaded from a small JSON file so a restart does not relearn from zero. A Detector is NOT safe for
// concurrent use: the agent calls it from its loop.
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
	stateVersion  = 1
)

// Metric names: the metrics the agent watches, with the floor on their standard deviation.
const (
	MetricCPU    = "cpu.busy_pct"
	MetricMemory = "memory.used_pct"
	MetricLoad   = "load.per_core"
)

// floors are the smallest standard deviations used per metric: noise below them is never unusual.
var floors = map[string]float64{MetricCPU: 2, MetricMemory: 1, MetricLoad: 0.1}

// Metrics lists the metrics with a baseline.
var Metrics = []string{MetricCPU, MetricMemory, MetricLoad}

// Config configures a Detector.
type Config struct {
	// Interval is the time between samples; it sets how many samples Window and Warmup hold.
	Interval time.Duration
	// Threshold is the score (deviations from the hour's mean) from which a value is a hint.
	// Defaults to DefaultThreshold.
	Threshold float64
	// Window is the baseline's memory. Defaults to DefaultWindow.
	Window time.Duration
	// Warmup is how much of an hour bucket's samples, in days' worth, it must have seen before it
	// flags anything: DefaultWarmup is two days of that hour.
	Warmup time.Duration
	// Location is the time zone of the hours of the day. Defaults to time.Local.
	Location *time.Location
}

// bucket is the baseline of one hour of the day: the hour's usual offset from the metric's level
// and the variance of what is left.
type bucket struct {
	N    float64 `json:"n"` // samples seen, capped at the window's
	Mean float64 `json:"mean"`
	Var  float64 `json:"var"`
}

// baseline is one metric's: a level that follows the metric over about a day (so a slow drift
// does not look unusual) and 24 hourly offsets from it (the daily pattern).
type baseline struct {
	Level  float64    `json:"level"`
	LevelN float64    `json:"level_n"`
	Hours  [24]bucket `json:"hours"`
}

// Detector keeps the baselines and scores values.
type Detector struct {
	cfg    Config
	nMax   float64 // samples per bucket in Window
	nWarm  float64
	nLevel float64 // samples in a day: the level's memory
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

// Observe scores v, the value of metric at t, against the baseline of t's hour, then learns it.
// It returns a hint when the value is unusual and the hour's baseline is warm. Unknown metrics
// and values that are not finite are ignored.
func (d *Detector) Observe(metric string, t time.Time, v float64) (wire.AnomalyHint, bool) {
	s := d.series[metric]
	if s == nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return wire.AnomalyHint{}, false
	}
	hour := t.In(d.cfg.Location).Hour()
	b := &s.Hours[hour]
	expected := s.Level + b.Mean
	sd := math.Sqrt(max(b.Var, 0) + floors[metric]*floors[metric])
	score := (v - expected) / sd
	unusual := b.N >= d.nWarm && math.Abs(score) >= d.cfg.Threshold
	var hint wire.AnomalyHint
	if unusual {
		hint = wire.AnomalyHint{Metric: metric, Value: round(v, 3), Score: round(score, 2), Mean: round(expected, 3),
			StdDev: round(sd, 3), Hour: hour}
	}
	// The level learns every value, an unusual one only as far as the threshold: a spike barely
	// moves it, a lasting shift is adopted within about a day.
	x := v
	if unusual {
		lim := d.cfg.Threshold * sd
		x = min(max(v, expected-lim), expected+lim)
	}
	s.LevelN = min(s.LevelN+1, d.nLevel)
	if s.LevelN == 1 {
		s.Level = x
	} else {
		s.Level += (x - b.Mean - s.Level) / s.LevelN
	}
	if unusual {
		// An unusual value does not teach the hour's pattern or widen its spread (a widened
		// baseline would stop flagging a level shift within minutes).
		return hint, true
	}
	b.N = min(b.N+1, d.nMax)
	a := 1 / b.N
	delta := (v - s.Level) - b.Mean
	// The spread learns deviations winsorized at three deviations, so values just under the
	// threshold (the start of a shift) do not widen it much; for normal noise this costs ~1.5%.
	lim := 3 * sd
	dv := min(max(delta, -lim), lim)
	b.Mean += a * delta
	b.Var = (1 - a) * (b.Var + a*dv*dv)
	return hint, false
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
// is corrupt, of another version or with values out of range is refused and the Detector keeps
// its empty baselines.
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
	if st.Version != stateVersion {
		return fmt.Errorf("load anomaly baselines: version %d, want %d", st.Version, stateVersion)
	}
	for m, bl := range st.Metrics {
		if !finite(bl.Level) || !finite(bl.LevelN) || bl.LevelN < 0 {
			return fmt.Errorf("load anomaly baselines: %s: level out of range", m)
		}
		for _, b := range bl.Hours {
			if !finite(b.N) || !finite(b.Mean) || !finite(b.Var) || b.N < 0 || b.Var < 0 {
				return fmt.Errorf("load anomaly baselines: %s: a bucket out of range", m)
			}
		}
	}
	for m, bl := range st.Metrics {
		if s := d.series[m]; s != nil {
			*s = bl
			s.LevelN = min(s.LevelN, d.nLevel)
			for i := range s.Hours {
				s.Hours[i].N = min(s.Hours[i].N, d.nMax)
			}
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
