package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/internal/storesql"
	"github.com/vigilhq/vigil/server/rollout"
)

var _ rollout.Store = (*Store)(nil)

// StartRollout stores a new active rollout and sets its group's pin, in one transaction.
func (s *Store) StartRollout(ctx context.Context, r *rollout.Rollout, audit server.AuditEntry) error {
	if r.Version != 0 || !rollout.Active(r.State) {
		return fmt.Errorf("start rollout: %w: a new rollout is active and unsaved", server.ErrInvalid)
	}
	row, err := storesql.NewRolloutRow(*r, nil, time.Now())
	if err != nil {
		return err
	}
	saved := row.Saved
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if err := setPin(ctx, tx, saved.Group, saved.To); err != nil {
			return fmt.Errorf("start rollout: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rollouts (id, group_name, state, active, version, created_at, data)
			VALUES ($1, $2, $3, true, $4, $5, $6)`, saved.ID, saved.Group, saved.State, saved.Version, saved.CreatedAt, string(row.Data)); err != nil {
			return writeErr(fmt.Sprintf("start rollout of group %s (one active rollout per group)", saved.Group), err)
		}
		return insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return err
	}
	*r = saved
	return nil
}

func setPin(ctx context.Context, tx pgx.Tx, group string, p server.Pin) error {
	tag, err := tx.Exec(ctx, `UPDATE groups SET pin_version = $1, pin_channel = $2 WHERE name = $3`, p.Version, p.Channel, group)
	if err != nil {
		return fmt.Errorf("pin group %s: %w", group, err)
	}
	return mustAffect(tag, "group "+group)
}

// SaveRollout stores a change of a rollout if its version is current.
func (s *Store) SaveRollout(ctx context.Context, r *rollout.Rollout, pin *server.Pin, notes []alert.Notification, audit *server.AuditEntry) error {
	row, err := storesql.NewRolloutRow(*r, notes, time.Now())
	if err != nil {
		return err
	}
	saved := row.Saved
	err = s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE rollouts SET state = $1, active = $2, version = $3, data = $4 WHERE id = $5 AND version = $6`,
			saved.State, rollout.Active(saved.State), saved.Version, string(row.Data), r.ID, r.Version)
		if err != nil {
			return writeErr("save rollout "+r.ID, err)
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rollouts WHERE id = $1)`, r.ID).Scan(&exists); err == nil && !exists {
				return fmt.Errorf("save rollout %s: %w", r.ID, server.ErrNotFound)
			}
			return fmt.Errorf("save rollout %s: version %d is stale: %w", r.ID, r.Version, server.ErrConflict)
		}
		if pin != nil {
			if err := setPin(ctx, tx, saved.Group, *pin); err != nil {
				return fmt.Errorf("save rollout %s: %w", r.ID, err)
			}
		}
		for _, n := range row.Notes {
			if _, err := tx.Exec(ctx, `INSERT INTO notifications (key, created_at, next_attempt, data) VALUES ($1, $2, $3, $4)
				ON CONFLICT (key) DO NOTHING`, n.Key, n.CreatedAt, n.NextAttempt, string(n.Data)); err != nil {
				return fmt.Errorf("save rollout %s: queue notification %s: %w", r.ID, n.Key, err)
			}
		}
		if audit != nil {
			return insertAudit(ctx, tx, *audit)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*r = saved
	return nil
}

// GetRollout returns one rollout.
func (s *Store) GetRollout(ctx context.Context, id string) (rollout.Rollout, error) {
	return storesql.One(s.pool.QueryRow(ctx, `SELECT `+storesql.RolloutColumns+` FROM rollouts WHERE id = $1`, id),
		pgx.ErrNoRows, "get rollout "+id, storesql.ScanRollout)
}

// ListRollouts returns rollouts newest first.
func (s *Store) ListRollouts(ctx context.Context, f rollout.Filter) ([]rollout.Rollout, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.RolloutColumns+` FROM rollouts
		WHERE ($1 = '' OR group_name = $1) AND (NOT $2 OR active)
		ORDER BY created_at DESC, id DESC LIMIT $3`, f.Group, f.ActiveOnly, limitOrAll(f.Limit))
	rs, err := collect(rows, storesql.ScanRollout)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	return rs, nil
}

// RolloutPolicy returns a group's rollout policy.
func (s *Store) RolloutPolicy(ctx context.Context, group string) (rollout.Policy, error) {
	var col string
	err := s.pool.QueryRow(ctx, `SELECT rollout_policy FROM groups WHERE name = $1`, group).Scan(&col)
	if errors.Is(err, pgx.ErrNoRows) {
		return rollout.Policy{}, fmt.Errorf("rollout policy of group %s: %w", group, server.ErrNotFound)
	}
	if err != nil {
		return rollout.Policy{}, fmt.Errorf("rollout policy of group %s: %w", group, err)
	}
	return storesql.DecodePolicy(col)
}

// SetRolloutPolicy replaces a group's rollout policy.
func (s *Store) SetRolloutPolicy(ctx context.Context, group string, p rollout.Policy, audit server.AuditEntry) error {
	col, err := storesql.EncodePolicy(p)
	if err != nil {
		return err
	}
	return s.change(ctx, "set rollout policy of group "+group, audit, `UPDATE groups SET rollout_policy = $1 WHERE name = $2`, col, group)
}
