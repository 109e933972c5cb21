package check

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vigilhq/vigil/wire"
)

// overrunGrace is how long past its timeout a run may take before Results reports the check
// failed: the run's I/O is cut at the timeout, but a stat on a hung network filesystem is not.
const overrunGrace = time.Second

// Log keys.
const (
	keyCheck   = "check"
	keyKind    = "kind"
	keyMessage = "message"
)

// Config configures a Runner.
type Config struct {
	// Specs are the checks to run, validated by New (Validate) and completed with WithDefaults.
	Specs []Spec
	// Logger defaults to slog.Default(). A check that starts failing is logged at warning level,
	// one that passes again at info level; steady results are not logged.
	Logger *slog.Logger
	// OnResult, if set, is called with each result as it is made, from the check's goroutine.
	OnResult func(wire.CheckResult)
}

// Runner runs checks, each in its own goroutine, and keeps the latest result of each. It is safe
// for concurrent use.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	checks []*state
}

type state struct {
	spec  Spec
	probe probe

	mu      sync.Mutex
	last    wire.CheckResult
	have    bool
	running time.Time // start of the run in progress; zero between runs
}

// New validates the specs, reads their CA files and prepares them. It runs nothing.
func New(cfg Config) (*Runner, error) {
	if err := Validate(cfg.Specs); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	for _, s := range cfg.Specs {
		s = s.WithDefaults()
		p, err := newProbe(s, time.Now)
		if err != nil {
			return nil, err
		}
		r.checks = append(r.checks, &state{spec: s, probe: p})
	}
	return r, nil
}

// Specs returns the effective checks, with their defaults.
func (r *Runner) Specs() []Spec {
	out := make([]Spec, len(r.checks))
	for i, st := range r.checks {
		out[i] = st.spec
	}
	return out
}

// Start starts one goroutine per check; each runs its check at once and then every interval
// until ctx is done.
func (r *Runner) Start(ctx context.Context) {
	for _, st := range r.checks {
		go r.loop(ctx, st)
	}
}

func (r *Runner) loop(ctx context.Context, st *state) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		st.mu.Lock()
		st.running = start
		st.mu.Unlock()

		rctx, cancel := context.WithTimeout(ctx, st.spec.Timeout)
		o := st.probe(rctx)
		cancel()
		if ctx.Err() != nil {
			return // shutting down: a cut-off run is no result
		}
		res := wire.CheckResult{Name: st.spec.Name, Kind: st.spec.Kind, OK: o.ok, Value: o.value, Unit: o.unit,
			Message: cleanMessage(o.msg), CheckedAt: time.Now().UTC().Truncate(time.Millisecond)}
		st.mu.Lock()
		wasOK, had := st.last.OK, st.have
		st.last, st.have, st.running = res, true, time.Time{}
		st.mu.Unlock()
		switch {
		case !res.OK && (!had || wasOK):
			r.log.Warn("Health check failing.", keyCheck, res.Name, keyKind, res.Kind, keyMessage, res.Message)
		case res.OK && had && !wasOK:
			r.log.Info("Health check passing again.", keyCheck, res.Name, keyKind, res.Kind, keyMessage, res.Message)
		}
		if r.cfg.OnResult != nil {
			r.cfg.OnResult(res)
		}
		timer.Reset(max(time.Until(start.Add(st.spec.Interval)), 0))
	}
}

// Results returns the latest result of each check that has one, in configuration order, without
// waiting for any run. A check whose run in progress has overrun its timeout is reported failed,
// checked now.
func (r *Runner) Results(now time.Time) []wire.CheckResult {
	if r == nil || len(r.checks) == 0 {
		return nil
	}
	out := make([]wire.CheckResult, 0, len(r.checks))
	for _, st := range r.checks {
		st.mu.Lock()
		res, have, running := st.last, st.have, st.running
		st.mu.Unlock()
		if !running.IsZero() && now.Sub(running) > st.spec.Timeout+overrunGrace {
			res = wire.CheckResult{Name: st.spec.Name, Kind: st.spec.Kind,
				Message:   "no result within the timeout of " + st.spec.Timeout.String() + ": the run is still blocked",
				CheckedAt: now.UTC().Truncate(time.Millisecond)}
			have = true
		}
		if have {
			out = append(out, res)
		}
	}
	return out
}

// cleanMessage makes a probe's message safe to report: valid UTF-8, no control characters, at
// most wire.MaxCheckMessageLen bytes.
func cleanMessage(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= wire.MaxCheckMessageLen {
		return s
	}
	cut := wire.MaxCheckMessageLen - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
