package server

import (
	"context"

	"github.com/vigilhq/vigil/wire"
)

// Stager stages a group's pin changes as rollouts. rollout.Manager implements it; without one
// (Config.Stager nil) a pin applies to the whole group at once.
type Stager interface {
	// StagePin changes group g's pin to pin and records audit in the same transaction, starting
	// a rollout when hosts have to move. ErrConflict while the group has an active rollout;
	// ErrInvalid for a channel that points to no published version.
	StagePin(ctx context.Context, g Group, pin Pin, audit AuditEntry) error
	// Desired returns what host h, of group g, should run now: the new pin if its rollout
	// admits it, else the previous one.
	Desired(ctx context.Context, h Host, g Group) (wire.UpdateDesired, error)
	// DesiredForNewHost returns what a host about to enroll into g should install first: during
	// a rollout the previous pin, the proven one (when there was one).
	DesiredForNewHost(ctx context.Context, g Group) (wire.UpdateDesired, error)
}
