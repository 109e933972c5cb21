package alert

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// RunnerConfig configures a Runner. Zero values take the defaults in the comments.
type RunnerConfig struct {
	// Engine evaluates. Required.
	Engine *Engine
	// Sender drains the outbox; nil leaves notifications queued (no SMTP configured), still
	// listed through the API.
	Sender *Sender
	// Leader gates both. Defaults to Solo.
	Leader Leader
	// EvalInterval is how often the leader runs Engine.Tick. Defaults to 1s.
	EvalInterval time.Duration
	// SendInterval is how often the leader polls the outbox besides being woken. Defaults to 5s.
	SendInterval time.Duration
	// LeaderRetry is how often a replica that is not leader tries to become it. Defaults to 5s.
	LeaderRetry time.Duration
}

// Runner runs an Engine and a Sender on the leader replica: it retries leadership, ticks the
// engine while leading, drains the outbox when woken or polled, and drops its state when
// leadership is lost.
type Runner struct {
	cfg     RunnerConfig
	leading atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// StartRunner starts the loops; Stop ends them.
func StartRunner(ctx context.Context, cfg RunnerConfig) (*Runner, error) {
	if cfg.Engine == nil {
		return nil, errors.New("alert: RunnerConfig.Engine is required")
	}
	if cfg.Leader == nil {
		cfg.Leader = Solo{}
	}
	if cfg.EvalInterval <= 0 {
		cfg.EvalInterval = time.Second
	}
	if cfg.SendInterval <= 0 {
		cfg.SendInterval = 5 * time.Second
	}
	if cfg.LeaderRetry <= 0 {
		cfg.LeaderRetry = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Runner{cfg: cfg, cancel: cancel}
	r.wg.Add(1)
	go r.evalLoop(ctx)
	if cfg.Sender != nil {
		r.wg.Add(1)
		go r.sendLoop(ctx)
	}
	return r, nil
}

// Leading reports whether this replica currently leads.
func (r *Runner) Leading() bool { return r.leading.Load() }

// Stop ends the loops (a delivery in progress finishes) and gives up leadership.
func (r *Runner) Stop() {
	r.cancel()
	r.wg.Wait()
	r.leading.Store(false)
	if err := r.cfg.Leader.Release(context.Background()); err != nil {
		r.cfg.Engine.log.Warn("Releasing alert leadership failed.", logKeyErr, err)
	}
}

func (r *Runner) evalLoop(ctx context.Context) {
	defer r.wg.Done()
	log := r.cfg.Engine.log
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		held, err := r.cfg.Leader.TryAcquire(ctx)
		if err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "Alert leadership check failed.", logKeyErr, err)
		}
		if held != r.leading.Load() {
			if held {
				log.InfoContext(ctx, "This replica now leads alerting.")
			} else {
				log.WarnContext(ctx, "This replica no longer leads alerting.")
				r.cfg.Engine.Reset()
			}
			r.leading.Store(held)
			if held && r.cfg.Sender != nil {
				r.cfg.Sender.Wake()
			}
		}
		if !held {
			timer.Reset(r.cfg.LeaderRetry)
			continue
		}
		if err := r.cfg.Engine.Tick(ctx); err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "Alert evaluation failed.", logKeyErr, err)
		}
		timer.Reset(r.cfg.EvalInterval)
	}
}

func (r *Runner) sendLoop(ctx context.Context) {
	defer r.wg.Done()
	log := r.cfg.Engine.log
	ticker := time.NewTicker(r.cfg.SendInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-r.cfg.Sender.wake:
		}
		if !r.leading.Load() {
			continue
		}
		if _, err := r.cfg.Sender.Drain(ctx, r.leading.Load); err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "Draining the alert outbox failed.", logKeyErr, fmt.Errorf("%w", err))
		}
	}
}
