package alert

import "context"

// Leader decides which replica runs the singleton jobs (evaluation and sending). pgstore.Leader
// implements it with an advisory lock; Solo is the single-process case.
type Leader interface {
	// TryAcquire becomes leader if nobody is, and otherwise checks that this process still is
	// (for pgstore, that its lock session is alive). It returns whether this process is leader
	// now. It must be cheap enough to call every evaluation cycle.
	TryAcquire(ctx context.Context) (bool, error)
	// Release gives leadership up. Idempotent.
	Release(ctx context.Context) error
}

// Solo is the Leader of a lone process (SQLite): always leader.
type Solo struct{}

// TryAcquire returns true.
func (Solo) TryAcquire(context.Context) (bool, error) { return true, nil }

// Release does nothing.
func (Solo) Release(context.Context) error { return nil }
