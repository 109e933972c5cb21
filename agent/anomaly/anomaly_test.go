package anomaly

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// synthetic is one metric's series with the indexes of the injected anomalies.
type synthetic struct {
	name      string
	metric    string
	values    []float64
	anomalous []bool
}

const (
	evalInterval = time.Minute
	evalDays     = 14
)

// seriesSpec describes a synthetic series: base(h) (h in hours) plus noise, then from day 4 on 40
// single-sample spikes of 1–2× spike (down one time in four) and 6 level shifts of 90 minutes of
// shift (down one time in three); and, when leakRate is set, one memory leak: a steady climb of
// leakRate an hour for leakHours, then back to the base at once (the leaking process restarted).
type seriesSpec struct {
	name         string
	metric       string
	base         func(h float64) float64
	noise        float64
	spike, shift float64
	leakRate     float64
	leakHours    int
}

// evalSpecs are the series of TestPrecisionRecall; the figures are in docs/BENCHMARKS.md.
var evalSpecs = []seriesSpec{
	{name: "CPU busy %", metric: MetricCPU, base: daily(35, 25), noise: 2, spike: 25, shift: 20},
	{name: "memory used %", metric: MetricMemory, base: drift(50, 0.5), noise: 0.8, spike: 8, shift: 6},
	{name: "load per core", metric: MetricLoad, base: daily(0.6, 0.4), noise: 0.04, spike: 1, shift: 0.8},
	{name: "CPU busy %, noisy host", metric: MetricCPU, base: daily(20, 15), noise: 4, spike: 35, shift: 25},
	{name: "load per core, small shifts", metric: MetricLoad, base: daily(0.3, 0.1), noise: 0.03, spike: 0.3, shift: 0.1},
	{name: "memory used %, a leak", metric: MetricMemory, base: drift(40, 0.3), noise: 0.5, spike: 6, shift: 4,
		leakRate: 1.5, leakHours: 10},
}

// makeSeries builds evalDays of samples of spec.
func makeSeries(rng *rand.Rand, spec seriesSpec) synthetic {
	n := evalDays * 24 * int(time.Hour/evalInterval)
	perHour := int(time.Hour / evalInterval)
	s := synthetic{name: spec.name, metric: spec.metric, values: make([]float64, n), anomalous: make([]bool, n)}
	for i := range s.values {
		h := float64(i) * evalInterval.Hours()
		s.values[i] = spec.base(h) + rng.NormFloat64()*spec.noise
	}
	first := 4 * 24 * perHour
	for range 40 {
		i := first + rng.IntN(n-first)
		if s.anomalous[i] {
			continue
		}
		sign := 1.0
		if rng.IntN(4) == 0 {
			sign = -1
		}
		s.values[i] += sign * spec.spike * (1 + rng.Float64())
		s.anomalous[i] = true
	}
	for range 6 {
		i := first + rng.IntN(n-first-90)
		sign := 1.0
		if rng.IntN(3) == 0 {
			sign = -1
		}
		for j := i; j < i+90; j++ {
			if !s.anomalous[j] {
				s.values[j] += sign * spec.shift
				s.anomalous[j] = true
			}
		}
	}
	if spec.leakRate != 0 {
		span := spec.leakHours * perHour
		i := first + rng.IntN(n-first-span)
		for j := range span {
			s.values[i+j] += spec.leakRate * float64(j+1) / float64(perHour)
			s.anomalous[i+j] = true
		}
	}
	return s
}

func daily(mean, amp float64) func(h float64) float64 {
	return func(h float64) float64 { return mean + amp*math.Sin(2*math.Pi*(h-8)/24) }
}

func drift(level, perDay float64) func(h float64) float64 {
	return func(h float64) float64 { return level + perDay*h/24 }
}

// counts are hints scored per sample against the injected anomalies.
type counts struct{ tp, fp, fn, warmHints int }

func (c *counts) add(o counts) {
	c.tp, c.fp, c.fn, c.warmHints = c.tp+o.tp, c.fp+o.fp, c.fn+o.fn, c.warmHints+o.warmHints
}

func (c counts) precision() float64 { return float64(c.tp) / float64(max(c.tp+c.fp, 1)) }
func (c counts) recall() float64    { return float64(c.tp) / float64(max(c.tp+c.fn, 1)) }

// evaluate runs a fresh default detector over s.
func evaluate(t *testing.T, s synthetic) counts {
	t.Helper()
	d, err := New(Config{Interval: evalInterval, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var c counts
	for i, v := range s.values {
		at := start.Add(time.Duration(i) * evalInterval)
		_, hint := d.Observe(s.metric, at, v)
		if at.Sub(start) < DefaultWarmup && hint {
			c.warmHints++
		}
		switch {
		case hint && s.anomalous[i]:
			c.tp++
		case hint:
			c.fp++
		case s.anomalous[i]:
			c.fn++
		}
	}
	return c
}

// evalSeeds are the seeds TestPrecisionRecall runs.
const evalSeeds = 16

// TestPrecisionRecall runs the detector over synthetic series with a daily pattern (which must
// not alarm), noise, a slow drift, spikes, level shifts and a memory leak, for seeds 1–16, and
// scores its hints per sample against the injected anomalies: at least 0.9 precision and 0.8
// recall for each seed and in total, and no hint during the warm-up. The figures are in
// docs/BENCHMARKS.md ("Anomaly hints"); VIGIL_ANOMALY_SEEDS=N runs seeds 1..N instead.
func TestPrecisionRecall(t *testing.T) {
	seeds := evalSeeds
	if v := os.Getenv("VIGIL_ANOMALY_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("VIGIL_ANOMALY_SEEDS=%q: want a count", v)
		}
		seeds = n
	}
	perSeries := make([]counts, len(evalSpecs))
	var total counts
	for seed := 1; seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 2026))
		var c counts
		for i, spec := range evalSpecs {
			sc := evaluate(t, makeSeries(rng, spec))
			perSeries[i].add(sc)
			c.add(sc)
		}
		t.Logf("seed %2d: precision %.3f, recall %.3f (tp %d, fp %d, fn %d)", seed, c.precision(), c.recall(), c.tp, c.fp, c.fn)
		if c.precision() < 0.9 || c.recall() < 0.8 {
			t.Errorf("seed %d: precision %.3f, recall %.3f: want at least 0.9 and 0.8", seed, c.precision(), c.recall())
		}
		total.add(c)
	}
	for i, c := range perSeries {
		t.Logf("| %s | %d | %d | %d | %.3f | %.3f |", evalSpecs[i].name, c.tp, c.fp, c.fn, c.precision(), c.recall())
	}
	t.Logf("| **all** | **%d** | **%d** | **%d** | **%.3f** | **%.3f** |", total.tp, total.fp, total.fn, total.precision(), total.recall())
	if total.precision() < 0.9 || total.recall() < 0.8 {
		t.Errorf("all seeds: precision %.3f, recall %.3f: want at least 0.9 and 0.8", total.precision(), total.recall())
	}
	if total.warmHints != 0 {
		t.Errorf("%d hints during the warm-up", total.warmHints)
	}
}

// TestDailyPatternDoesNotAlarm: two weeks of a strong daily cycle with noise, no anomaly: no hint.
func TestDailyPatternDoesNotAlarm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d, err := New(Config{Interval: evalInterval, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	base := daily(40, 35) // 5 % at night, 75 % in the afternoon
	for i := range evalDays * 24 * 60 {
		at := start.Add(time.Duration(i) * evalInterval)
		v := base(float64(i)/60) + rng.NormFloat64()*2
		if h, hint := d.Observe(MetricCPU, at, v); hint {
			t.Fatalf("hint on the daily pattern at %s: %+v", at, h)
		}
	}
}

// TestSaveLoad: baselines saved and loaded give the same scores; a restart does not relearn.
func TestSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d, _ := New(Config{Interval: evalInterval, Location: time.UTC})
	for i := range 3 * 24 * 60 {
		d.Observe(MetricMemory, start.Add(time.Duration(i)*evalInterval), 50+rng.NormFloat64())
	}
	path := filepath.Join(t.TempDir(), "anomaly.json")
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 16<<10 {
		t.Errorf("state file is %d bytes, want a few KB", fi.Size())
	}
	restarted, _ := New(Config{Interval: evalInterval, Location: time.UTC})
	if err := restarted.Load(path); err != nil {
		t.Fatal(err)
	}
	at := start.Add(3 * 24 * time.Hour)
	h1, hint1 := d.Observe(MetricMemory, at, 70)
	h2, hint2 := restarted.Observe(MetricMemory, at, 70)
	if !hint1 || !hint2 || h1 != h2 {
		t.Errorf("before save %+v %v, after load %+v %v: want the same hint", h1, hint1, h2, hint2)
	}
	if h1.Metric != MetricMemory || h1.Hour != 0 || h1.Score < 5 || h1.Mean < 49 || h1.Mean > 51 || h1.Value != 70 {
		t.Errorf("hint %+v", h1)
	}
	fresh, _ := New(Config{Interval: evalInterval, Location: time.UTC})
	if _, hint := fresh.Observe(MetricMemory, at, 70); hint {
		t.Error("a fresh detector gave a hint during its warm-up")
	}
	for name, data := range map[string]string{
		"corrupt":      `{"version":1,"metrics":`,
		"version":      `{"version":3,"metrics":{}}`,
		"negative var": `{"version":1,"metrics":{"memory.used_pct":{"level":1,"level_n":1,"hours":[{"n":1,"mean":1,"var":-1}]}}}`,
		"unknown key":  `{"version":1,"metrics":{},"extra":1}`,
	} {
		os.WriteFile(path, []byte(data), 0o600)
		if err := fresh.Load(path); err == nil {
			t.Errorf("%s state file loaded", name)
		}
	}
	if err := fresh.Load(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Errorf("a missing state file: %v", err)
	}
}

// warmMemory is a detector that has seen days of memory at 50 % with noise σ 0.5.
func warmMemory(t *testing.T, rng *rand.Rand, days int) *Detector {
	t.Helper()
	d, err := New(Config{Interval: evalInterval, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	for i := range days * 24 * 60 {
		if _, hint := d.Observe(MetricMemory, start.Add(time.Duration(i)*evalInterval), 50+rng.NormFloat64()*0.5); hint {
			t.Fatalf("hint on plain noise at sample %d", i)
		}
	}
	return d
}

// TestLevelShiftBelowThreshold: a lasting shift of 2.5 deviations (the floor included), which no
// single value of reaches the threshold, is flagged by its run within a few samples.
func TestLevelShiftBelowThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	d := warmMemory(t, rng, 3)
	at0 := start.Add(3 * 24 * time.Hour)
	first := -1
	for i := range 60 {
		h, hint := d.Observe(MetricMemory, at0.Add(time.Duration(i)*evalInterval), 50+1.8+rng.NormFloat64()*0.5)
		if hint && first < 0 {
			first = i
			if h.Score <= 0 || h.Mean < 49.5 || h.Mean > 50.5 {
				t.Errorf("first hint %+v: want a positive score against a mean of about 50", h)
			}
		}
	}
	if first < 0 || first > 2*shiftSpan {
		t.Errorf("first hint of the shift at sample %d, want within %d", first, 2*shiftSpan)
	}
}

// TestLastingShiftIsAdopted: a level that moves for good is flagged, then adopted after about a
// day of shift, and no longer flagged.
func TestLastingShiftIsAdopted(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	d := warmMemory(t, rng, 3)
	at0 := start.Add(3 * 24 * time.Hour)
	hintsPerDay := make([]int, 3)
	for i := range 3 * 24 * 60 {
		if _, hint := d.Observe(MetricMemory, at0.Add(time.Duration(i)*evalInterval), 60+rng.NormFloat64()*0.5); hint {
			hintsPerDay[i/(24*60)]++
		}
	}
	if hintsPerDay[0] < 23*60 || hintsPerDay[2] != 0 {
		t.Errorf("hints per day after the shift: %v, want nearly all the first day's and none the third's", hintsPerDay)
	}
}

// TestGapRestartsRun: the run does not join values across a gap (a stopped agent): a run of small
// shifted values before the gap does not flag the first value after it.
func TestGapRestartsRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	d := warmMemory(t, rng, 3)
	at := start.Add(3 * 24 * time.Hour)
	flagged := false
	for range 20 {
		_, hint := d.Observe(MetricMemory, at, 51.8)
		flagged = flagged || hint
		at = at.Add(evalInterval)
	}
	if !flagged {
		t.Fatal("a run of 20 values 1.8 above the usual 50 was not flagged")
	}
	if _, hint := d.Observe(MetricMemory, at.Add(time.Hour), 51.8); hint {
		t.Error("the first value after an hour's gap was flagged by the run before the gap")
	}
}

// TestLoadVersion1: a state file from before the shift score loads, keeping levels and hours, and
// each hour's run variance starts from its spread; a version 1 file with a run variance is refused.
func TestLoadVersion1(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	d := warmMemory(t, rng, 3)
	path := filepath.Join(t.TempDir(), "anomaly.json")
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	var st stateFile
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	var v1 map[string]any
	json.Unmarshal(data, &v1)
	v1["version"] = 1
	for _, m := range v1["metrics"].(map[string]any) {
		for _, h := range m.(map[string]any)["hours"].([]any) {
			delete(h.(map[string]any), "shift_var")
		}
	}
	data, _ = json.Marshal(v1)
	os.WriteFile(path, data, 0o600)
	old, _ := New(Config{Interval: evalInterval, Location: time.UTC})
	if err := old.Load(path); err != nil {
		t.Fatalf("a version 1 file: %v", err)
	}
	got, want := old.series[MetricMemory], st.Metrics[MetricMemory]
	if got.Level != want.Level || got.Hours[5].Mean != want.Hours[5].Mean || got.Hours[5].N != want.Hours[5].N {
		t.Errorf("version 1 baseline %+v, saved %+v", got.Hours[5], want.Hours[5])
	}
	if w := want.Hours[5].Var * shiftWhite * shiftWhite; got.Hours[5].ShiftVar != w || w <= 0 {
		t.Errorf("version 1 shift_var %g, want %g", got.Hours[5].ShiftVar, w)
	}
	os.WriteFile(path, []byte(`{"version":1,"metrics":{"memory.used_pct":{"level":1,"level_n":1,"hours":[{"n":1,"mean":1,"var":1,"shift_var":1}]}}}`), 0o600)
	if err := old.Load(path); err == nil {
		t.Error("a version 1 file with shift_var loaded")
	}
}
