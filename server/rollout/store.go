package rollout

import (
	"context"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// Store is the persistence rollouts need, beside server.Store. sqlitestore and pgstore implement
// it, and server/storetest checks both.
//
// All methods are safe for concurrent use. Not-found conditions wrap server.ErrNotFound; a
// second active rollout for a group and a lost optimistic update wrap server.ErrConflict.
type Store interface {
	// StartRollout stores r, a new active rollout, sets its group's pin to r.To and records
	// audit, in one transaction. ErrNotFound without the group, ErrConflict when the group
	// already has an active rollout or r.ID exists. On success r.Version is 1.
	StartRollout(ctx context.Context, r *Rollout, audit server.AuditEntry) error
	// SaveRollout stores a change of r if its stored Version is still r.Version (else
	// ErrConflict, nothing written). In the same transaction the group's pin becomes *pin when
	// pin is not nil, notes are queued in the alert outbox (a key already there is skipped,
	// never queued twice) and audit is recorded when not nil. On success r.Version is
	// incremented.
	SaveRollout(ctx context.Context, r *Rollout, pin *server.Pin, notes []alert.Notification, audit *server.AuditEntry) error
	// GetRollout returns one rollout.
	GetRollout(ctx context.Context, id string) (Rollout, error)
	// ListRollouts returns rollouts newest first, filtered by f.
	ListRollouts(ctx context.Context, f Filter) ([]Rollout, error)
	// RolloutPolicy returns a group's rollout policy as set (zero fields mean the defaults);
	// ErrNotFound without the group.
	RolloutPolicy(ctx context.Context, group string) (Policy, error)
	// RolloutPolicies returns the rollout policy of every group, by group name, in one read.
	RolloutPolicies(ctx context.Context) (map[string]Policy, error)
	// SetRolloutPolicy replaces a group's rollout policy (ErrInvalid out of range, ErrNotFound
	// without the group) and records audit.
	SetRolloutPolicy(ctx context.Context, group string, p Policy, audit server.AuditEntry) error
}

// Filter selects rollouts for ListRollouts.
type Filter struct {
	// Group limits the list to one group when set.
	Group string
	// ActiveOnly lists only running, paused and halted rollouts.
	ActiveOnly bool
	// Limit caps the list; 0 means no cap.
	Limit int
}
