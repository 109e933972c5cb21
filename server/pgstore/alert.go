package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

var _ alert.Store = (*Store)(nil)

// ListHostStates returns the hosts that are not revoked and have reported. It reads only the
// narrow columns, so the TOASTed latest report is never fetched.
func (s *Store) ListHostStates(ctx context.Context) ([]alert.HostState, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.HostStateColumns+` FROM hosts WHERE NOT revoked AND last_seen IS NOT NULL`)
	hs, err := collectHostStates(rows)
	if err != nil {
		return nil, fmt.Errorf("list host states: %w", err)
	}
	return hs, nil
}

// HostStates returns the named hosts.
func (s *Store) HostStates(ctx context.Context, ids []string) ([]alert.HostState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.HostStateColumns+` FROM hosts WHERE id = ANY($1)`, ids)
	hs, err := collectHostStates(rows)
	if err != nil {
		return nil, fmt.Errorf("host states: %w", err)
	}
	return hs, nil
}

// HostFigures calls fn with the rule figures of the named hosts that have them.
func (s *Store) HostFigures(ctx context.Context, ids []string, fn func(alert.HostFigures) error) error {
	if len(ids) == 0 {
		return nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.HostFiguresColumns+` FROM host_figures WHERE host_id = ANY($1)`, ids)
	defer rows.Close()
	if err := eachHostFigures(rows, fn); err != nil {
		return fmt.Errorf("host figures: %w", err)
	}
	return nil
}

// collectHostStates reads storesql.HostStateColumns as storesql.ScanHostState does, but into
// pgx's own types: through database/sql's Scanner interface (TimeInto, sql.NullInt64) every
// value of a fleet scan took pgx's slow path and an allocation.
func collectHostStates(rows pgx.Rows) ([]alert.HostState, error) {
	defer rows.Close()
	var (
		out        []alert.HostState
		seen, boot pgtype.Timestamptz
		acked      int64
		hash       pgtype.Int8
	)
	for rows.Next() {
		var h alert.HostState
		if err := rows.Scan(&h.ID, &h.Hostname, &h.Group, &h.Revoked, &h.IntervalSeconds, &seen, &boot, &acked, &hash); err != nil {
			return nil, err
		}
		if acked < 0 {
			return nil, fmt.Errorf("scan host %s: negative acked seq %d", h.ID, acked)
		}
		h.LastSeen, h.BootTime = tsTime(seen), tsTime(boot)
		h.AckedSeq, h.FiguresHash = uint64(acked), hash.Int64
		out = append(out, h)
	}
	return out, rows.Err()
}

// tsTime is a nullable timestamptz as the stores return times: NULL is the zero time.
func tsTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return storesql.Normal(t.Time)
}

// eachHostFigures reads storesql.HostFiguresColumns as storesql.EachHostFigures does, but into
// pgx's own types, and hands fn the JSON lists as the row's raw bytes (valid until the next row,
// as HostFigures promises; a text value's bytes are the same in either wire format), so a row
// costs no allocation but its ID.
func eachHostFigures(rows pgx.Rows, fn func(alert.HostFigures) error) error {
	var (
		cpu, mem, load1, disk pgtype.Float8
		cores, start          pgtype.Int8
		alarm                 int64
	)
	for rows.Next() {
		var hf alert.HostFigures
		// nil skips the JSON lists: they are taken raw below.
		if err := rows.Scan(&hf.HostID, &cpu, &mem, &load1, &cores, &disk, nil, &start, &alarm, nil, nil); err != nil {
			return err
		}
		raw := rows.RawValues()
		hf.CPUBusy, hf.MemAvailPct, hf.Load1, hf.DiskMax = f8(cpu), f8(mem), f8(load1), f8(disk)
		hf.Cores, hf.ProcStart, hf.ProcAlarm = int(cores.Int64), start.Int64, alarm != 0
		hf.Mounts, hf.Procs, hf.States = raw[6], raw[9], raw[10]
		if err := fn(hf); err != nil {
			return err
		}
	}
	return rows.Err()
}

// f8 is a nullable figure: NULL is NaN, as storesql.EachHostFigures has it.
func f8(v pgtype.Float8) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

// SaveAlert stores a's change, its event and its notifications in one transaction.
func (s *Store) SaveAlert(ctx context.Context, a *alert.Alert, ev alert.AlertEvent, notes []alert.Notification) error {
	save, err := storesql.NewAlertSave(a, ev, notes, time.Now())
	if err != nil {
		return err
	}
	saved, ev := &save.Saved, save.Event
	id := a.ID
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if id == 0 {
			err := tx.QueryRow(ctx, `INSERT INTO alerts (key, state, host_id, version, updated_at, data)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, saved.Key, saved.State, saved.HostID, saved.Version, saved.UpdatedAt, string(save.Data)).Scan(&id)
			if isUnique(err) {
				return fmt.Errorf("save alert %s: another is open: %w", a.Key, server.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("save alert %s: %w", a.Key, err)
			}
		} else {
			tag, err := tx.Exec(ctx, `UPDATE alerts SET state = $1, version = $2, updated_at = $3, data = $4
				WHERE id = $5 AND version = $6`, saved.State, saved.Version, saved.UpdatedAt, string(save.Data), id, a.Version)
			if isUnique(err) {
				return fmt.Errorf("save alert %s: another is open: %w", a.Key, server.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("save alert %d: %w", id, err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("save alert %d: version %d is stale: %w", id, a.Version, server.ErrConflict)
			}
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO alert_events (alert_id, time, state, message) VALUES ($1, $2, $3, $4)`, id, ev.Time, ev.State, ev.Message)
		for _, n := range save.Notes {
			b.Queue(`INSERT INTO notifications (key, created_at, next_attempt, data) VALUES ($1, $2, $3, $4)
				ON CONFLICT (key) DO NOTHING`, n.Key, n.CreatedAt, n.NextAttempt, string(n.Data))
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("save alert %d: event and notifications: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	save.SavedAs(a, id)
	return nil
}

// ClaimNotifications claims due notifications for owner. Rows another claimer has locked are
// skipped, and the outer WHERE re-checks the claim on the row version it updates, so of two
// concurrent claimers at most one gets a row.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]alert.Notification, error) {
	// The CTE runs once (a locking CTE is always materialized); an IN (subquery LIMIT n) could be
	// rescanned by a nested loop and claim more than n.
	rows, _ := s.pool.Query(ctx, `WITH due AS (
			SELECT id FROM notifications WHERE sent_at IS NULL AND next_attempt <= $3 AND claimed_until < $3
			ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
		UPDATE notifications n SET claimed_until = $1, claimed_by = $2, attempts = attempts + 1
		FROM due WHERE n.id = due.id AND n.sent_at IS NULL AND n.claimed_until < $3
		RETURNING n.id, n.key, n.created_at, n.next_attempt, n.attempts, n.sent_at, n.outcome, n.last_error, n.data`,
		ts(now.Add(lease)), owner, ts(now), limitOrAll(limit))
	ns, err := collect(rows, storesql.ScanNotification)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	storesql.SortNotifications(ns)
	return ns, nil
}

// FinishNotification records the outcome of a claimed notification.
func (s *Store) FinishNotification(ctx context.Context, id int64, owner, outcome string, at time.Time, note string) error {
	if err := storesql.CheckOutcome(id, outcome); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET sent_at = $1, outcome = $2, last_error = $3, claimed_until = '-infinity'
		WHERE id = $4 AND claimed_by = $5 AND sent_at IS NULL`, ts(at), outcome, note, id, owner)
	if err != nil {
		return fmt.Errorf("finish notification %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish notification %d: claim lost: %w", id, server.ErrConflict)
	}
	return nil
}

// RetryNotification releases a claim after a failed attempt.
func (s *Store) RetryNotification(ctx context.Context, id int64, owner string, next time.Time, lastErr string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET next_attempt = $1, last_error = $2, claimed_until = '-infinity', claimed_by = ''
		WHERE id = $3 AND claimed_by = $4 AND sent_at IS NULL`, ts(next), lastErr, id, owner)
	if err != nil {
		return fmt.Errorf("retry notification %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("retry notification %d: claim lost: %w", id, server.ErrConflict)
	}
	return nil
}

// AckAlert records an acknowledgement of open alert id, its history event and audit. The row is
// locked first, so a concurrent acknowledgement waits and then finds it acknowledged.
func (s *Store) AckAlert(ctx context.Context, id int64, ack alert.Ack, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var state, by string
		err := tx.QueryRow(ctx, `SELECT state, acked_by FROM alerts WHERE id = $1 FOR UPDATE`, id).Scan(&state, &by)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("acknowledge alert %d: %w", id, server.ErrNotFound)
		case err != nil:
			return fmt.Errorf("acknowledge alert %d: %w", id, err)
		case state == alert.StateResolved:
			return fmt.Errorf("acknowledge alert %d: %w", id, alert.ErrAlertResolved)
		case by != "":
			return fmt.Errorf("acknowledge alert %d (by %s): %w", id, by, alert.ErrAlreadyAcked)
		}
		if _, err := tx.Exec(ctx, `UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE id = $3`, ack.At, ack.By, id); err != nil {
			return fmt.Errorf("acknowledge alert %d: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO alert_events (alert_id, time, state, message) VALUES ($1, $2, $3, $4)`,
			id, ack.At, state, "acknowledged by "+ack.By); err != nil {
			return fmt.Errorf("acknowledge alert %d: event: %w", id, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// OpenAlertAcks returns the acknowledgements of open alerts.
func (s *Store) OpenAlertAcks(ctx context.Context) (map[int64]alert.Ack, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.AckColumns+` FROM alerts WHERE state <> 'resolved' AND acked_by <> ''`)
	acks, err := collect(rows, storesql.ScanAck)
	if err != nil {
		return nil, fmt.Errorf("open alert acks: %w", err)
	}
	return storesql.AcksByAlert(acks), nil
}
