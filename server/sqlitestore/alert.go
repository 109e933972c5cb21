package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

var _ alert.Store = (*Store)(nil)

// maxInIDs bounds the IDs bound into one IN (…) list.
const maxInIDs = 500

// inChunks calls fn with the IDs in chunks of at most maxInIDs, as "?,?,…" and the arguments.
func inChunks(ids []string, fn func(marks string, args []any) error) error {
	for len(ids) > 0 {
		n := min(len(ids), maxInIDs)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if err := fn(strings.TrimSuffix(strings.Repeat("?,", n), ","), args); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// ListHostStates returns the hosts that are not revoked and have reported.
func (s *Store) ListHostStates(ctx context.Context) ([]alert.HostState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.HostStateColumns+` FROM hosts WHERE revoked = 0 AND last_seen IS NOT NULL`)
	hs, err := collect(rows, err, storesql.ScanHostState)
	if err != nil {
		return nil, fmt.Errorf("list host states: %w", err)
	}
	return hs, nil
}

// HostStates returns the named hosts.
func (s *Store) HostStates(ctx context.Context, ids []string) ([]alert.HostState, error) {
	var out []alert.HostState
	err := inChunks(ids, func(marks string, args []any) error {
		rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.HostStateColumns+` FROM hosts WHERE id IN (`+marks+`)`, args...)
		hs, err := collect(rows, err, storesql.ScanHostState)
		out = append(out, hs...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host states: %w", err)
	}
	return out, nil
}

// HostFigures calls fn with the rule figures of the named hosts that have them.
func (s *Store) HostFigures(ctx context.Context, ids []string, fn func(alert.HostFigures) error) error {
	err := inChunks(ids, func(marks string, args []any) error {
		rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.HostFiguresColumns+` FROM host_figures WHERE host_id IN (`+marks+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return storesql.EachHostFigures(rows, fn)
	})
	if err != nil {
		return fmt.Errorf("host figures: %w", err)
	}
	return nil
}

// SaveAlert stores a's change, its event and its notifications in one write transaction.
func (s *Store) SaveAlert(ctx context.Context, a *alert.Alert, ev alert.AlertEvent, notes []alert.Notification) error {
	save, err := storesql.NewAlertSave(a, ev, notes, time.Now())
	if err != nil {
		return err
	}
	saved, ev := &save.Saved, save.Event
	id := a.ID
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if id == 0 {
			err := tx.QueryRowContext(ctx, `INSERT INTO alerts (key, state, host_id, version, updated_at, data)
				VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, saved.Key, saved.State, saved.HostID, saved.Version, micros(saved.UpdatedAt), string(save.Data)).Scan(&id)
			if isUnique(err) {
				return fmt.Errorf("save alert %s: another is open: %w", a.Key, server.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("save alert %s: %w", a.Key, err)
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE alerts SET state = ?, version = ?, updated_at = ?, data = ?
				WHERE id = ? AND version = ?`, saved.State, saved.Version, micros(saved.UpdatedAt), string(save.Data), id, a.Version)
			if isUnique(err) {
				return fmt.Errorf("save alert %s: another is open: %w", a.Key, server.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("save alert %d: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return fmt.Errorf("save alert %d: version %d is stale: %w", id, a.Version, server.ErrConflict)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_events (alert_id, time, state, message) VALUES (?, ?, ?, ?)`,
			id, micros(ev.Time), ev.State, ev.Message); err != nil {
			return fmt.Errorf("save alert %d: event: %w", id, err)
		}
		for _, n := range save.Notes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (key, created_at, next_attempt, data)
				VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`, n.Key, micros(n.CreatedAt), micros(n.NextAttempt), string(n.Data)); err != nil {
				return fmt.Errorf("save alert %d: queue notification %s: %w", id, n.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	save.SavedAs(a, id)
	return nil
}

// ClaimNotifications claims due notifications for owner. The single writer connection makes the
// UPDATE atomic; its WHERE re-checks the claim, as pgstore's must.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]alert.Notification, error) {
	var out []alert.Notification
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET claimed_until = ?, claimed_by = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM notifications WHERE sent_at IS NULL AND next_attempt <= ? AND claimed_until < ? ORDER BY id LIMIT ?)
			  AND sent_at IS NULL AND claimed_until < ?
			RETURNING `+storesql.NotificationColumns, micros(now.Add(lease)), owner, micros(now), micros(now), limitOrAll(limit), micros(now))
		out, err = collect(rows, err, storesql.ScanNotification)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	storesql.SortNotifications(out)
	return out, nil
}

// FinishNotification records the outcome of a claimed notification.
func (s *Store) FinishNotification(ctx context.Context, id int64, owner, outcome string, at time.Time, note string) error {
	if err := storesql.CheckOutcome(id, outcome); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET sent_at = ?, outcome = ?, last_error = ?, claimed_until = 0
			WHERE id = ? AND claimed_by = ? AND sent_at IS NULL`, micros(at), outcome, note, id, owner)
		if err != nil {
			return fmt.Errorf("finish notification %d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("finish notification %d: claim lost: %w", id, server.ErrConflict)
		}
		return nil
	})
}

// RetryNotification releases a claim after a failed attempt.
func (s *Store) RetryNotification(ctx context.Context, id int64, owner string, next time.Time, lastErr string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET next_attempt = ?, last_error = ?, claimed_until = 0, claimed_by = ''
			WHERE id = ? AND claimed_by = ? AND sent_at IS NULL`, micros(next), lastErr, id, owner)
		if err != nil {
			return fmt.Errorf("retry notification %d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("retry notification %d: claim lost: %w", id, server.ErrConflict)
		}
		return nil
	})
}

// AckAlert records an acknowledgement of open alert id, its history event and audit.
func (s *Store) AckAlert(ctx context.Context, id int64, ack alert.Ack, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var state, by string
		err := tx.QueryRowContext(ctx, `SELECT state, acked_by FROM alerts WHERE id = ?`, id).Scan(&state, &by)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("acknowledge alert %d: %w", id, server.ErrNotFound)
		case err != nil:
			return fmt.Errorf("acknowledge alert %d: %w", id, err)
		case state == alert.StateResolved:
			return fmt.Errorf("acknowledge alert %d: %w", id, alert.ErrAlertResolved)
		case by != "":
			return fmt.Errorf("acknowledge alert %d (by %s): %w", id, by, alert.ErrAlreadyAcked)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ?`, micros(ack.At), ack.By, id); err != nil {
			return fmt.Errorf("acknowledge alert %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_events (alert_id, time, state, message) VALUES (?, ?, ?, ?)`,
			id, micros(ack.At), state, "acknowledged by "+ack.By); err != nil {
			return fmt.Errorf("acknowledge alert %d: event: %w", id, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// OpenAlertAcks returns the acknowledgements of open alerts.
func (s *Store) OpenAlertAcks(ctx context.Context) (map[int64]alert.Ack, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.AckColumns+` FROM alerts WHERE state <> 'resolved' AND acked_by <> ''`)
	acks, err := collect(rows, err, storesql.ScanAck)
	if err != nil {
		return nil, fmt.Errorf("open alert acks: %w", err)
	}
	return storesql.AcksByAlert(acks), nil
}
