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

// CreateRule stores a rule.
func (s *Store) CreateRule(ctx context.Context, r alert.Rule, audit server.AuditEntry) error {
	r, data, err := storesql.NewRule(r, time.Now())
	if err != nil {
		return err
	}
	return s.create(ctx, "create rule "+r.ID, audit,
		`INSERT INTO alert_rules (id, created_at, data) VALUES ($1, $2, $3)`, r.ID, r.CreatedAt, string(data))
}

// ListRules returns all rules ordered by ID.
func (s *Store) ListRules(ctx context.Context) ([]alert.Rule, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.RuleColumns+` FROM alert_rules ORDER BY id COLLATE "C"`)
	rs, err := collect(rows, storesql.ScanRule)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return rs, nil
}

// DeleteRule deletes a rule.
func (s *Store) DeleteRule(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.change(ctx, "delete rule "+id, audit, `DELETE FROM alert_rules WHERE id = $1`, id)
}

// CreateSilence stores a maintenance silence.
func (s *Store) CreateSilence(ctx context.Context, sl alert.Silence, audit server.AuditEntry) error {
	sl, data, err := storesql.NewSilence(sl)
	if err != nil {
		return err
	}
	return s.create(ctx, "create silence "+sl.ID, audit,
		`INSERT INTO silences (id, starts_at, ends_at, data) VALUES ($1, $2, $3, $4)`, sl.ID, sl.StartsAt, sl.EndsAt, string(data))
}

// ListSilences returns the silences that end after since, ordered by start.
func (s *Store) ListSilences(ctx context.Context, since time.Time) ([]alert.Silence, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.SilenceColumns+` FROM silences WHERE ends_at > $1
		ORDER BY starts_at, id COLLATE "C"`, ts(since))
	sls, err := collect(rows, storesql.ScanSilence)
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	return sls, nil
}

// DeleteSilence deletes a silence.
func (s *Store) DeleteSilence(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.change(ctx, "delete silence "+id, audit, `DELETE FROM silences WHERE id = $1`, id)
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

// OpenAlerts returns the pending and firing alerts.
func (s *Store) OpenAlerts(ctx context.Context) ([]alert.Alert, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.AlertColumns+` FROM alerts WHERE state <> 'resolved' ORDER BY id`)
	as, err := collect(rows, storesql.ScanAlert)
	if err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	return as, nil
}

// ListAlerts returns alerts newest first.
func (s *Store) ListAlerts(ctx context.Context, f alert.AlertFilter) ([]alert.Alert, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.AlertColumns+` FROM alerts
		WHERE (NOT $1 OR state <> 'resolved') AND ($2 = '' OR host_id = $2) AND ($3 <= 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, f.OpenOnly, f.HostID, f.Before, limitOrAll(f.Limit))
	as, err := collect(rows, storesql.ScanAlert)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return as, nil
}

// GetAlert returns one alert with its history.
func (s *Store) GetAlert(ctx context.Context, id int64) (alert.Alert, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.AlertColumns+` FROM alerts WHERE id = $1`, id)
	as, err := collect(rows, storesql.ScanAlert)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("get alert %d: %w", id, err)
	}
	if len(as) == 0 {
		return alert.Alert{}, fmt.Errorf("get alert %d: %w", id, server.ErrNotFound)
	}
	a := as[0]
	evRows, _ := s.pool.Query(ctx, `SELECT `+storesql.AlertEventColumns+` FROM alert_events WHERE alert_id = $1 ORDER BY id`, id)
	if a.History, err = collect(evRows, storesql.ScanAlertEvent(id)); err != nil {
		return alert.Alert{}, fmt.Errorf("get alert %d history: %w", id, err)
	}
	return a, nil
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

// ListNotifications returns notifications newest first.
func (s *Store) ListNotifications(ctx context.Context, limit int, before int64) ([]alert.Notification, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.NotificationColumns+` FROM notifications WHERE ($1 <= 0 OR id < $1)
		ORDER BY id DESC LIMIT $2`, before, limitOrAll(limit))
	ns, err := collect(rows, storesql.ScanNotification)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return ns, nil
}

// CountUnsent counts the notifications not yet sent or skipped.
func (s *Store) CountUnsent(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE sent_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unsent notifications: %w", err)
	}
	return n, nil
}

// PruneAlerts deletes alerts resolved before before with their history, and notifications
// finished before before.
func (s *Store) PruneAlerts(ctx context.Context, before time.Time) (alerts, notifications int64, err error) {
	cut, err := storesql.PruneCutoff(before)
	if err != nil {
		return 0, 0, err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM alert_events WHERE alert_id IN
			(SELECT id FROM alerts WHERE state = 'resolved' AND updated_at < $1)`, cut); err != nil {
			return fmt.Errorf("prune alert history: %w", err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM alerts WHERE state = 'resolved' AND updated_at < $1`, cut)
		if err != nil {
			return fmt.Errorf("prune alerts: %w", err)
		}
		alerts = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM notifications WHERE sent_at IS NOT NULL AND sent_at < $1`, cut)
		if err != nil {
			return fmt.Errorf("prune notifications: %w", err)
		}
		notifications = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return alerts, notifications, nil
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
