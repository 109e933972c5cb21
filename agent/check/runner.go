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
	// OnResult, if set, is called with each result as it is made, from the worker that ran the check
	// (one check at a time per worker; a slow OnResult holds up that worker's queue like a slow
	// check).
	OnResult func(wire.CheckResult)
}

// Scheduling. One scheduler goroutine keeps every check's next run and wakes once for all the
// checks due at the same time (a batch); it queues them for the workers and goes back to sleep.
// Normally one worker runs a batch's checks one after another: one wake-up and one goroutine per
// round, not one per check. A hang never holds up the rest: when the queue has not moved for
// handoffAfter, the scheduler starts another worker, so a blocked run delays the checks queued
// behind it by at most handoffAfter, never by its timeout. A worker that finds the queue empty
// exits unless it is the last, so extra workers live only while a run is slow.
const (
	// coalesce is how early a check may run so that it joins a batch instead of waking the agent
	// on its own a moment later (checks of different intervals, or configured a little apart).
	coalesce = time.Second
	// handoffAfter is how long the queue may wait behind a running check before another worker
	// starts.
	handoffAfter = 250 * time.Millisecond
)

// Runner runs checks and keeps the latest result of each. It is safe for concurrent use.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	checks []*state
	queue  chan *state // due checks, each at most once (state.busy)

	mu       sync.Mutex
	workers  int    // worker goroutines alive
	idle     int    // workers waiting on the queue
	progress uint64 // runs taken from the queue, for the handoff
}

type state struct {
	spec  Spec
	probe probe
	next  time.Time // the scheduler's only

	mu      sync.Mutex
	last    wire.CheckResult
	have    bool
	busy    bool      // queued or running
	running time.Time // start of the run in progress; zero between runs
}

// New validates the specs, reads their CA files and prepares them. It runs nothing.
func New(cfg Config) (*Runner, error) {
	if err := Validate(cfg.Specs); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, log: cfg.Logger, queue: make(chan *state, len(cfg.Specs))}
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

// Start starts the scheduler: every check runs at once, then every interval, until ctx is done.
func (r *Runner) Start(ctx context.Context) {
	if len(r.checks) == 0 {
		return
	}
	now := time.Now()
	for _, st := range r.checks {
		st.next = now
	}
	go r.schedule(ctx)
}

// plan returns the checks of a batch at now (those due by now+coalesce, in configuration order)
// and moves their next run one interval on from now. A check still busy from its last run is
// skipped this time (Results reports it if it overruns). It returns when the next batch is due.
func plan(checks []*state, now time.Time, busy func(*state) bool) (batch []*state, wake time.Time) {
	for _, st := range checks {
		if st.next.After(now.Add(coalesce)) {
			continue
		}
		st.next = now.Add(st.spec.Interval)
		if !busy(st) {
			batch = append(batch, st)
		}
	}
	for _, st := range checks {
		if wake.IsZero() || st.next.Before(wake) {
			wake = st.next
		}
	}
	return batch, wake
}

// markBusy marks st queued unless it is already queued or running; it reports whether it was.
func markBusy(st *state) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	was := st.busy
	st.busy = true
	return was
}

func (r *Runner) schedule(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var wake, handoff time.Time
	var seen uint64 // progress when the handoff timer was set
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		if !handoff.IsZero() && !now.Before(handoff) {
			handoff = time.Time{}
			r.mu.Lock()
			stuck := len(r.queue) > 0 && r.progress == seen && r.idle == 0
			if stuck {
				r.spawnLocked(ctx)
			}
			r.mu.Unlock()
		}
		if !now.Before(wake) {
			var batch []*state
			batch, wake = plan(r.checks, now, markBusy)
			for _, st := range batch {
				r.queue <- st // never blocks: a check is queued at most once, the queue holds them all
			}
			if len(batch) > 0 {
				r.mu.Lock()
				if r.idle == 0 { // no worker, or every worker is in a run: one more takes the batch
					r.spawnLocked(ctx)
				}
				r.mu.Unlock()
			}
		}
		r.mu.Lock()
		if len(r.queue) > 0 && handoff.IsZero() {
			handoff, seen = now.Add(handoffAfter), r.progress
		}
		r.mu.Unlock()
		next := wake
		if !handoff.IsZero() && handoff.Before(next) {
			next = handoff
		}
		timer.Reset(max(time.Until(next), 0))
	}
}

// spawnLocked starts a worker; r.mu is held.
func (r *Runner) spawnLocked(ctx context.Context) {
	r.workers++
	r.idle++
	go r.work(ctx)
}

// work runs queued checks until ctx is done, or until the queue is empty and another worker is
// alive.
func (r *Runner) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			r.workers--
			r.idle--
			r.mu.Unlock()
			return
		case st := <-r.queue:
			r.mu.Lock()
			r.idle--
			r.progress++
			r.mu.Unlock()
			r.run(ctx, st)
			r.mu.Lock()
			if len(r.queue) == 0 && r.workers > 1 {
				r.workers--
				r.mu.Unlock()
				return
			}
			r.idle++
			r.mu.Unlock()
		}
	}
}

// run runs one check once and records its result.
func (r *Runner) run(ctx context.Context, st *state) {
	start := time.Now()
	st.mu.Lock()
	st.running = start
	st.mu.Unlock()

	rctx, cancel := context.WithTimeout(ctx, st.spec.Timeout)
	o := st.probe(rctx)
	cancel()
	if ctx.Err() != nil {
		st.mu.Lock()
		st.busy, st.running = false, time.Time{}
		st.mu.Unlock()
		return // shutting down: a cut-off run is no result
	}
	res := wire.CheckResult{Name: st.spec.Name, Kind: st.spec.Kind, OK: o.ok, Value: o.value, Unit: o.unit,
		Message: cleanMessage(o.msg), CheckedAt: time.Now().UTC().Truncate(time.Millisecond)}
	st.mu.Lock()
	wasOK, had := st.last.OK, st.have
	st.last, st.have, st.busy, st.running = res, true, false, time.Time{}
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
