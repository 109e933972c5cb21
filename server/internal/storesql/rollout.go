package storesql

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/rollout"
)

// RolloutRow is what StartRollout and SaveRollout write: the rollout with its times normalised
// and its version one past the caller's, as JSON.
type RolloutRow struct {
	Saved rollout.Rollout
	Data  []byte
	Notes []NoteRow
}

// NewRolloutRow validates a rollout to store and derives its row. r.Version is the version the
// store must find (0 for a new rollout).
func NewRolloutRow(r rollout.Rollout, notes []alert.Notification, now time.Time) (RolloutRow, error) {
	if r.ID == "" || r.Group == "" || r.State == "" {
		return RolloutRow{}, fmt.Errorf("save rollout: %w: id, group and state are required", server.ErrInvalid)
	}
	r.CreatedAt = NormalOr(r.CreatedAt, now)
	r.UpdatedAt = NormalOr(r.UpdatedAt, now)
	r.StageStarted = Normal(r.StageStarted)
	r.Settled = Normal(r.Settled)
	r.FinishedAt = Normal(r.FinishedAt)
	r.Version++
	data, err := json.Marshal(&r)
	if err != nil {
		return RolloutRow{}, fmt.Errorf("save rollout %s: %w", r.ID, err)
	}
	row := RolloutRow{Saved: r, Data: data, Notes: make([]NoteRow, len(notes))}
	for i := range notes {
		n := &notes[i]
		if n.Key == "" {
			return RolloutRow{}, fmt.Errorf("save rollout %s: %w: notification without key", r.ID, server.ErrInvalid)
		}
		b, err := json.Marshal(n)
		if err != nil {
			return RolloutRow{}, fmt.Errorf("save rollout %s: encode notification %s: %w", r.ID, n.Key, err)
		}
		created := NormalOr(n.CreatedAt, r.UpdatedAt)
		row.Notes[i] = NoteRow{Key: n.Key, CreatedAt: created, NextAttempt: NormalOr(n.NextAttempt, created), Data: b}
	}
	return row, nil
}

// RolloutColumns are the columns of rollouts ScanRollout reads.
const RolloutColumns = `id, group_name, state, version, data`

// ScanRollout reads RolloutColumns; the columns win over the JSON's copies.
func ScanRollout(row Scanner) (rollout.Rollout, error) {
	var (
		r, c rollout.Rollout
		data []byte
	)
	if err := row.Scan(&c.ID, &c.Group, &c.State, &c.Version, &data); err != nil {
		return rollout.Rollout{}, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return rollout.Rollout{}, fmt.Errorf("decode rollout %s: %w", c.ID, err)
	}
	r.ID, r.Group, r.State, r.Version = c.ID, c.Group, c.State, c.Version
	return r, nil
}

// EncodePolicy encodes a group's rollout policy; the zero policy is "".
func EncodePolicy(p rollout.Policy) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	if p == (rollout.Policy{}) {
		return "", nil
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// DecodePolicy decodes a column EncodePolicy wrote.
func DecodePolicy(col string) (rollout.Policy, error) {
	var p rollout.Policy
	if col == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(col), &p); err != nil {
		return p, fmt.Errorf("decode rollout policy: %w", err)
	}
	return p, nil
}

var _ rollout.Store = (*Store)(nil)

// StartRollout stores a new active rollout and sets its group's pin, in one transaction.
func (s *Store) StartRollout(ctx context.Context, r *rollout.Rollout, audit server.AuditEntry) error {
	if r.Version != 0 || !rollout.Active(r.State) {
		return fmt.Errorf("start rollout: %w: a new rollout is active and unsaved", server.ErrInvalid)
	}
	row, err := NewRolloutRow(*r, nil, time.Now())
	if err != nil {
		return err
	}
	saved := row.Saved
	err = s.db.Tx(ctx, func(tx Conn) error {
		if err := setPin(ctx, tx, saved.Group, saved.To); err != nil {
			return fmt.Errorf("start rollout: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rollouts (id, group_name, state, active, version, created_at, data)
			VALUES ($1, $2, $3, true, $4, $5, $6)`, saved.ID, saved.Group, saved.State, saved.Version,
			s.d.TimeArg(saved.CreatedAt), string(row.Data)); err != nil {
			return s.d.WriteErr(fmt.Sprintf("start rollout of group %s (one active rollout per group)", saved.Group), err)
		}
		return InsertAudit(ctx, tx, s.d, audit)
	})
	if err != nil {
		return err
	}
	*r = saved
	return nil
}

// SaveRollout stores a change of a rollout if its version is current, with the group's new pin
// and the notifications to queue (each once by key), in one transaction.
func (s *Store) SaveRollout(ctx context.Context, r *rollout.Rollout, pin *server.Pin, notes []alert.Notification, audit *server.AuditEntry) error {
	row, err := NewRolloutRow(*r, notes, time.Now())
	if err != nil {
		return err
	}
	saved := row.Saved
	err = s.db.Tx(ctx, func(tx Conn) error {
		n, err := tx.Exec(ctx, `UPDATE rollouts SET state = $1, active = $2, version = $3, data = $4 WHERE id = $5 AND version = $6`,
			saved.State, rollout.Active(saved.State), saved.Version, string(row.Data), r.ID, r.Version)
		if err != nil {
			return s.d.WriteErr("save rollout "+r.ID, err)
		}
		if n == 0 {
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
				ON CONFLICT (key) DO NOTHING`, n.Key, s.d.TimeArg(n.CreatedAt), s.d.TimeArg(n.NextAttempt), string(n.Data)); err != nil {
				return fmt.Errorf("save rollout %s: queue notification %s: %w", r.ID, n.Key, err)
			}
		}
		if audit != nil {
			return InsertAudit(ctx, tx, s.d, *audit)
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
	return one(ctx, s.db.Read(), "get rollout "+id, ScanRollout, `SELECT `+RolloutColumns+` FROM rollouts WHERE id = $1`, id)
}

// ListRollouts returns rollouts newest first; rollouts created at the same time by id, descending
// (by bytes).
func (s *Store) ListRollouts(ctx context.Context, f rollout.Filter) ([]rollout.Rollout, error) {
	rs, err := QueryAll(ctx, s.db.Read(), ScanRollout, `SELECT `+RolloutColumns+` FROM rollouts
		WHERE ($1 = '' OR group_name = $1) AND (NOT $2 OR active)
		ORDER BY created_at DESC, id`+s.d.ByBytes+` DESC LIMIT $3`, f.Group, f.ActiveOnly, s.d.Limit(f.Limit))
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	return rs, nil
}

// RolloutPolicy returns a group's rollout policy.
func (s *Store) RolloutPolicy(ctx context.Context, group string) (rollout.Policy, error) {
	col, err := one(ctx, s.db.Read(), "rollout policy of group "+group, func(row Scanner) (string, error) {
		var col string
		err := row.Scan(&col)
		return col, err
	}, `SELECT rollout_policy FROM groups WHERE name = $1`, group)
	if err != nil {
		return rollout.Policy{}, err
	}
	return DecodePolicy(col)
}

// RolloutPolicies returns the rollout policy of every group, by group name, in one query.
func (s *Store) RolloutPolicies(ctx context.Context) (map[string]rollout.Policy, error) {
	type row struct {
		group string
		col   string
	}
	rows, err := QueryAll(ctx, s.db.Read(), func(sc Scanner) (row, error) {
		var r row
		err := sc.Scan(&r.group, &r.col)
		return r, err
	}, `SELECT name, rollout_policy FROM groups`)
	if err != nil {
		return nil, fmt.Errorf("list rollout policies: %w", err)
	}
	out := make(map[string]rollout.Policy, len(rows))
	for _, r := range rows {
		p, err := DecodePolicy(r.col)
		if err != nil {
			return nil, fmt.Errorf("rollout policy of group %s: %w", r.group, err)
		}
		out[r.group] = p
	}
	return out, nil
}

// SetRolloutPolicy replaces a group's rollout policy.
func (s *Store) SetRolloutPolicy(ctx context.Context, group string, p rollout.Policy, audit server.AuditEntry) error {
	col, err := EncodePolicy(p)
	if err != nil {
		return err
	}
	return s.change(ctx, "set rollout policy of group "+group, audit, `UPDATE groups SET rollout_policy = $1 WHERE name = $2`, col, group)
}
