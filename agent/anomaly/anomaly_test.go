package anomaly

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// synthetic is one metric's series with the indexes of the injected anomalies.
type synthetic struct {
	metric    string
	values    []float64
	anomalous []bool
	spikes    int
	shifts    int
}

const (
	evalInterval = time.Minute
	evalDays     = 14
)

// makeSeries builds evalDays of samples: base(t) + noise, then from day 4 on, single-sample spikes
// and 90-minute level shifts, up or down, of the given sizes.
func makeSeries(rng *rand.Rand, metric string, base func(h float64) float64, noise, spike, shift float64) synthetic {
	n := evalDays * 24 * int(time.Hour/evalInterval)
	s := synthetic{metric: metric, values: make([]float64, n), anomalous: make([]bool, n)}
	for i := range s.values {
		h := float64(i) * evalInterval.Hours()
		s.values[i] = base(h) + rng.NormFloat64()*noise
	}
	first := 4 * 24 * int(time.Hour/evalInterval)
	for range 40 {
		i := first + rng.IntN(n-first)
		if s.anomalous[i] {
			continue
		}
		sign := 1.0
		if rng.IntN(4) == 0 {
			sign = -1
		}
		s.values[i] += sign * spike * (1 + rng.Float64())
		s.anomalous[i] = true
		s.spikes++
	}
	for range 6 {
		i := first + rng.IntN(n-first-90)
		sign := 1.0
		if rng.IntN(3) == 0 {
			sign = -1
		}
		for j := i; j < i+90; j++ {
			if !s.anomalous[j] {
				s.values[j] += sign * shift
				s.anomalous[j] = true
			}
		}
		s.shifts++
	}
	return s
}

func daily(mean, amp float64) func(h float64) float64 {
	return func(h float64) float64 { return mean + amp*math.Sin(2*math.Pi*(h-8)/24) }
}

// TestPrecisionRecall runs the detector over synthetic series with a daily pattern (which must
// not alarm), noise, a slow drift, spikes and level shifts, and scores its hints per sample
// against the injected anomalies. The figures are in docs/BENCHMARKS.md ("Anomaly hints").
func TestPrecisionRecall(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2026))
	series := []synthetic{
		makeSeries(rng, MetricCPU, daily(35, 25), 2, 25, 20),
		makeSeries(rng, MetricMemory, func(h float64) float64 { return 50 + 0.5*h/24 }, 0.8, 8, 6),
		makeSeries(rng, MetricLoad, daily(0.6, 0.4), 0.04, 1, 0.8),
		makeSeries(rng, MetricCPU, daily(20, 15), 4, 35, 25), // a noisier host
	}
	var tp, fp, fn, warmHints int
	for _, s := range series {
		d, err := New(Config{Interval: evalInterval, Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		var stp, sfp, sfn int
		for i, v := range s.values {
			at := start.Add(time.Duration(i) * evalInterval)
			_, hint := d.Observe(s.metric, at, v)
			if at.Sub(start) < DefaultWarmup && hint {
				warmHints++
			}
			switch {
			case hint && s.anomalous[i]:
				stp++
			case hint:
				sfp++
			case s.anomalous[i]:
				sfn++
			}
		}
		t.Logf("%s: %d spikes, %d level shifts: tp %d fp %d fn %d", s.metric, s.spikes, s.shifts, stp, sfp, sfn)
		tp, fp, fn = tp+stp, fp+sfp, fn+sfn
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(tp+fn)
	t.Logf("precision %.3f, recall %.3f (tp %d, fp %d, fn %d)", precision, recall, tp, fp, fn)
	if precision < 0.9 || recall < 0.8 {
		t.Errorf("precision %.3f, recall %.3f: want at least 0.9 and 0.8", precision, recall)
	}
	if warmHints != 0 {
		t.Errorf("%d hints during the warm-up", warmHints)
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
		"version":      `{"version":2,"metrics":{}}`,
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
