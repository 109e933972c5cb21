package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

var _ alert.Store = (*Store)(nil)

const hostStateColumns = `id, hostname, group_name, revoked, interval_seconds, last_seen, boot_time, acked_seq`

func collectHostStates(rows pgx.Rows) ([]alert.HostState, error) {
	var (
		out                []alert.HostState
		h                  alert.HostState
		interval           int32
		acked              int64
		lastSeen, bootTime pgtype.Timestamptz
	)
	_, err := pgx.ForEachRow(rows, []any{&h.ID, &h.Hostname, &h.Group, &h.Revoked, &interval, &lastSeen, &bootTime, &acked}, func() error {
		c := h
		c.IntervalSeconds, c.AckedSeq = int(interval), uint64(acked)
		c.LastSeen, c.BootTime = fromTS(lastSeen), fromTS(bootTime)
		out = append(out, c)
		return nil
	})
	return out, err
}

// ListHostStates returns the hosts that are not revoked and have reported. It reads only the
// narrow columns, so the TOASTed latest report is never fetched.
func (s *Store) ListHostStates(ctx context.Context) ([]alert.HostState, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+hostStateColumns+` FROM hosts WHERE NOT revoked AND last_seen IS NOT NULL`)
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
	rows, _ := s.pool.Query(ctx, `SELECT `+hostStateColumns+` FROM hosts WHERE id = ANY($1)`, ids)
	hs, err := collectHostStates(rows)
	if err != nil {
		return nil, fmt.Errorf("host states: %w", err)
	}
	return hs, nil
}

// LatestReports calls fn with the latest report JSON of the named hosts.
func (s *Store) LatestReports(ctx context.Context, ids []string, fn func(hostID string, report []byte) error) error {
	if len(ids) == 0 {
		return nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, latest::text FROM hosts WHERE latest IS NOT NULL AND id = ANY($1)`, ids)
	defer rows.Close()
	for rows.Next() {
		raw := rows.RawValues()
		if err := fn(string(raw[0]), raw[1]); err != nil {
			return fmt.Errorf("latest reports: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("latest reports: %w", err)
	}
	return nil
}

// CreateRule stores a rule.
func (s *Store) CreateRule(ctx context.Context, r alert.Rule, audit server.AuditEntry) error {
	if r.ID == "" {
		return fmt.Errorf("create rule: %w: id is required", server.ErrInvalid)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("create rule %s: %w", r.ID, err)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO alert_rules (id, created_at, data) VALUES ($1, $2, $3)`, r.ID, ts(r.CreatedAt), string(data))
		if isUnique(err) {
			return fmt.Errorf("create rule %s: %w", r.ID, server.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create rule %s: %w", r.ID, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// ListRules returns all rules ordered by ID.
func (s *Store) ListRules(ctx context.Context) ([]alert.Rule, error) {
	rows, _ := s.pool.Query(ctx, `SELECT created_at, data FROM alert_rules ORDER BY id`)
	var (
		out     []alert.Rule
		created time.Time
		data    []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&created, &data}, func() error {
		var r alert.Rule
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("decode rule: %w", err)
		}
		r.CreatedAt = created.UTC()
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return out, nil
}

// DeleteRule deletes a rule.
func (s *Store) DeleteRule(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM alert_rules WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete rule %s: %w", id, err)
		}
		if err := mustAffect(tag, "delete rule "+id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// CreateSilence stores a maintenance silence.
func (s *Store) CreateSilence(ctx context.Context, sl alert.Silence, audit server.AuditEntry) error {
	if sl.ID == "" {
		return fmt.Errorf("create silence: %w: id is required", server.ErrInvalid)
	}
	data, err := json.Marshal(sl)
	if err != nil {
		return fmt.Errorf("create silence %s: %w", sl.ID, err)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO silences (id, starts_at, ends_at, data) VALUES ($1, $2, $3, $4)`,
			sl.ID, ts(sl.StartsAt), ts(sl.EndsAt), string(data))
		if isUnique(err) {
			return fmt.Errorf("create silence %s: %w", sl.ID, server.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create silence %s: %w", sl.ID, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// ListSilences returns the silences that end after since, ordered by start.
func (s *Store) ListSilences(ctx context.Context, since time.Time) ([]alert.Silence, error) {
	rows, _ := s.pool.Query(ctx, `SELECT starts_at, ends_at, data FROM silences WHERE ends_at > $1 ORDER BY starts_at, id`, ts(since))
	var (
		out        []alert.Silence
		start, end time.Time
		data       []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&start, &end, &data}, func() error {
		var sl alert.Silence
		if err := json.Unmarshal(data, &sl); err != nil {
			return fmt.Errorf("decode silence: %w", err)
		}
		sl.StartsAt, sl.EndsAt = start.UTC(), end.UTC()
		sl.CreatedAt = sl.CreatedAt.UTC().Truncate(time.Microsecond)
		out = append(out, sl)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	return out, nil
}

// DeleteSilence deletes a silence.
func (s *Store) DeleteSilence(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM silences WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete silence %s: %w", id, err)
		}
		if err := mustAffect(tag, "delete silence "+id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// SaveAlert stores a's change, its event and its notifications in one transaction.
func (s *Store) SaveAlert(ctx context.Context, a *alert.Alert, ev alert.AlertEvent, notes []alert.Notification) error {
	if a.Key == "" || a.State == "" {
		return fmt.Errorf("save alert: %w: key and state are required", server.ErrInvalid)
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	a.NormalizeTimes()
	saved := *a
	saved.History = nil
	saved.Version = a.Version + 1
	saved.UpdatedAt = ts(ev.Time)
	data, err := json.Marshal(&saved)
	if err != nil {
		return fmt.Errorf("save alert %s: %w", a.Key, err)
	}
	noteData := make([]string, len(notes))
	for i := range notes {
		b, err := json.Marshal(&notes[i])
		if err != nil {
			return fmt.Errorf("save alert %s: encode notification: %w", a.Key, err)
		}
		noteData[i] = string(b)
	}
	id := a.ID
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if id == 0 {
			err := tx.QueryRow(ctx, `INSERT INTO alerts (key, state, host_id, version, updated_at, data)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, a.Key, a.State, a.HostID, saved.Version, saved.UpdatedAt, string(data)).Scan(&id)
			if isUnique(err) {
				return fmt.Errorf("save alert %s: another is open: %w", a.Key, server.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("save alert %s: %w", a.Key, err)
			}
		} else {
			tag, err := tx.Exec(ctx, `UPDATE alerts SET state = $1, version = $2, updated_at = $3, data = $4
				WHERE id = $5 AND version = $6`, a.State, saved.Version, saved.UpdatedAt, string(data), id, a.Version)
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
		b.Queue(`INSERT INTO alert_events (alert_id, time, state, message) VALUES ($1, $2, $3, $4)`, id, ts(ev.Time), a.State, ev.Message)
		for i, n := range notes {
			if n.Key == "" {
				return fmt.Errorf("save alert %d: %w: notification without key", id, server.ErrInvalid)
			}
			created, next := n.CreatedAt, n.NextAttempt
			if created.IsZero() {
				created = ev.Time
			}
			if next.IsZero() {
				next = created
			}
			b.Queue(`INSERT INTO notifications (key, created_at, next_attempt, data) VALUES ($1, $2, $3, $4)
				ON CONFLICT (key) DO NOTHING`, n.Key, ts(created), ts(next), noteData[i])
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("save alert %d: event and notifications: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.ID, a.Version, a.UpdatedAt = id, saved.Version, saved.UpdatedAt
	return nil
}

const alertColumns = `id, state, version, updated_at, data`

func collectAlerts(rows pgx.Rows) ([]alert.Alert, error) {
	var (
		out     []alert.Alert
		id, ver int64
		state   string
		updated time.Time
		data    []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &state, &ver, &updated, &data}, func() error {
		var a alert.Alert
		if err := json.Unmarshal(data, &a); err != nil {
			return fmt.Errorf("decode alert %d: %w", id, err)
		}
		a.ID, a.State, a.Version, a.UpdatedAt = id, state, ver, updated.UTC()
		out = append(out, a)
		return nil
	})
	return out, err
}

// OpenAlerts returns the pending and firing alerts.
func (s *Store) OpenAlerts(ctx context.Context) ([]alert.Alert, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts WHERE state <> 'resolved' ORDER BY id`)
	as, err := collectAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	return as, nil
}

// ListAlerts returns alerts newest first.
func (s *Store) ListAlerts(ctx context.Context, f alert.AlertFilter) ([]alert.Alert, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE (NOT $1 OR state <> 'resolved') AND ($2 = '' OR host_id = $2) AND ($3 <= 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, f.OpenOnly, f.HostID, f.Before, limitOrAll(f.Limit))
	as, err := collectAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return as, nil
}

// GetAlert returns one alert with its history.
func (s *Store) GetAlert(ctx context.Context, id int64) (alert.Alert, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id)
	as, err := collectAlerts(rows)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("get alert %d: %w", id, err)
	}
	if len(as) == 0 {
		return alert.Alert{}, fmt.Errorf("get alert %d: %w", id, server.ErrNotFound)
	}
	a := as[0]
	evRows, _ := s.pool.Query(ctx, `SELECT time, state, message FROM alert_events WHERE alert_id = $1 ORDER BY id`, id)
	var ev alert.AlertEvent
	_, err = pgx.ForEachRow(evRows, []any{&ev.Time, &ev.State, &ev.Message}, func() error {
		e := ev
		e.AlertID, e.Time = id, e.Time.UTC()
		a.History = append(a.History, e)
		return nil
	})
	if err != nil {
		return alert.Alert{}, fmt.Errorf("get alert %d history: %w", id, err)
	}
	return a, nil
}

const notificationColumns = `id, key, created_at, next_attempt, attempts, sent_at, outcome, last_error, data`

func collectNotifications(rows pgx.Rows) ([]alert.Notification, error) {
	var (
		out                   []alert.Notification
		id                    int64
		key, outcome, lastErr string
		created, next         time.Time
		attempts              int32
		sent                  pgtype.Timestamptz
		data                  []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &key, &created, &next, &attempts, &sent, &outcome, &lastErr, &data}, func() error {
		var n alert.Notification
		if err := json.Unmarshal(data, &n); err != nil {
			return fmt.Errorf("decode notification %d: %w", id, err)
		}
		n.ID, n.Key, n.CreatedAt, n.NextAttempt, n.Attempts = id, key, created.UTC(), next.UTC(), int(attempts)
		n.SentAt, n.Outcome, n.LastError = fromTS(sent), outcome, lastErr
		n.SetStatus()
		out = append(out, n)
		return nil
	})
	return out, err
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
	ns, err := collectNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	slices.SortFunc(ns, func(a, b alert.Notification) int { return cmp.Compare(a.ID, b.ID) })
	return ns, nil
}

// FinishNotification records the outcome of a claimed notification.
func (s *Store) FinishNotification(ctx context.Context, id int64, owner, outcome string, at time.Time, note string) error {
	if outcome != alert.NotifySent && outcome != alert.NotifySkipped {
		return fmt.Errorf("finish notification %d: %w: outcome %q", id, server.ErrInvalid, outcome)
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
	rows, _ := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE ($1 <= 0 OR id < $1)
		ORDER BY id DESC LIMIT $2`, before, limitOrAll(limit))
	ns, err := collectNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return ns, nil
}
