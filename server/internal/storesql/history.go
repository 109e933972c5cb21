package storesql

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/wire"
)

// The history both stores read and prune the same way: samples, outages, notifications and
// resolved alerts.

// ListSamples returns a host's samples with from <= time < to, oldest first, at most limit
// (no limit when limit <= 0).
func (s *Store) ListSamples(ctx context.Context, hostID string, from, to time.Time, limit int) ([]server.Sample, error) {
	ss, err := QueryAll(ctx, s.db.Read(), ScanSample(hostID), `SELECT `+SampleColumns+` FROM samples
		WHERE host_id = $1 AND time >= $2 AND time < $3 ORDER BY time, seq LIMIT $4`,
		hostID, s.d.TimeArg(from), s.d.TimeArg(to), s.d.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("list samples of host %s: %w", hostID, err)
	}
	return ss, nil
}

// DeleteSamplesBefore deletes samples older than t and outages that ended before t.
func (s *Store) DeleteSamplesBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.db.Tx(ctx, func(tx Conn) error {
		var err error
		if n, err = tx.Exec(ctx, `DELETE FROM samples WHERE time < $1`, s.d.TimeArg(t)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM outages WHERE end_time < $1`, s.d.TimeArg(t))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete samples before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// ListOutages returns a host's outages that end at or after since, oldest first (ties by class
// and detail, by bytes).
func (s *Store) ListOutages(ctx context.Context, hostID string, since time.Time) ([]wire.Outage, error) {
	os, err := QueryAll(ctx, s.db.Read(), ScanOutage, `SELECT `+OutageColumns+` FROM outages
		WHERE host_id = $1 AND end_time >= $2 ORDER BY start_time, end_time, class`+s.d.ByBytes+`, detail`+s.d.ByBytes,
		hostID, s.d.TimeArg(since))
	if err != nil {
		return nil, fmt.Errorf("list outages of host %s: %w", hostID, err)
	}
	return os, nil
}

// ListNotifications returns notifications newest first, before the id before when it is > 0,
// at most limit (no limit when limit <= 0).
func (s *Store) ListNotifications(ctx context.Context, limit int, before int64) ([]alert.Notification, error) {
	ns, err := QueryAll(ctx, s.db.Read(), ScanNotification, `SELECT `+NotificationColumns+` FROM notifications
		WHERE ($1 <= 0 OR id < $1) ORDER BY id DESC LIMIT $2`, before, s.d.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return ns, nil
}

// CountUnsent counts the notifications not yet sent or skipped.
func (s *Store) CountUnsent(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.Read().QueryRow(ctx, `SELECT count(*) FROM notifications WHERE sent_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unsent notifications: %w", err)
	}
	return n, nil
}

// PruneAlerts deletes alerts resolved before before with their history, and notifications
// finished before before.
func (s *Store) PruneAlerts(ctx context.Context, before time.Time) (alerts, notifications int64, err error) {
	cut, err := PruneCutoff(before)
	if err != nil {
		return 0, 0, err
	}
	err = s.db.Tx(ctx, func(tx Conn) error {
		if _, err := tx.Exec(ctx, `DELETE FROM alert_events WHERE alert_id IN
			(SELECT id FROM alerts WHERE state = 'resolved' AND updated_at < $1)`, s.d.TimeArg(cut)); err != nil {
			return fmt.Errorf("prune alert history: %w", err)
		}
		var err error
		if alerts, err = tx.Exec(ctx, `DELETE FROM alerts WHERE state = 'resolved' AND updated_at < $1`, s.d.TimeArg(cut)); err != nil {
			return fmt.Errorf("prune alerts: %w", err)
		}
		if notifications, err = tx.Exec(ctx, `DELETE FROM notifications WHERE sent_at IS NOT NULL AND sent_at < $1`, s.d.TimeArg(cut)); err != nil {
			return fmt.Errorf("prune notifications: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return alerts, notifications, nil
}

// CreateRule stores a new alert rule and audit.
func (s *Store) CreateRule(ctx context.Context, r alert.Rule, audit server.AuditEntry) error {
	r, data, err := NewRule(r, time.Now())
	if err != nil {
		return err
	}
	return s.create(ctx, "create rule "+r.ID, audit,
		`INSERT INTO alert_rules (id, created_at, data) VALUES ($1, $2, $3)`, r.ID, s.d.TimeArg(r.CreatedAt), string(data))
}

// ListRules returns all rules ordered by ID (by bytes).
func (s *Store) ListRules(ctx context.Context) ([]alert.Rule, error) {
	rs, err := QueryAll(ctx, s.db.Read(), ScanRule, `SELECT `+RuleColumns+` FROM alert_rules ORDER BY id`+s.d.ByBytes)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return rs, nil
}

// DeleteRule deletes a rule.
func (s *Store) DeleteRule(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.change(ctx, "delete rule "+id, audit, `DELETE FROM alert_rules WHERE id = $1`, id)
}

// CreateSilence stores a maintenance silence and audit.
func (s *Store) CreateSilence(ctx context.Context, sl alert.Silence, audit server.AuditEntry) error {
	sl, data, err := NewSilence(sl)
	if err != nil {
		return err
	}
	return s.create(ctx, "create silence "+sl.ID, audit, `INSERT INTO silences (id, starts_at, ends_at, data) VALUES ($1, $2, $3, $4)`,
		sl.ID, s.d.TimeArg(sl.StartsAt), s.d.TimeArg(sl.EndsAt), string(data))
}

// ListSilences returns the silences that end after since, ordered by start, then ID (by bytes).
func (s *Store) ListSilences(ctx context.Context, since time.Time) ([]alert.Silence, error) {
	sls, err := QueryAll(ctx, s.db.Read(), ScanSilence, `SELECT `+SilenceColumns+` FROM silences WHERE ends_at > $1
		ORDER BY starts_at, id`+s.d.ByBytes, s.d.TimeArg(since))
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	return sls, nil
}

// DeleteSilence deletes a silence.
func (s *Store) DeleteSilence(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.change(ctx, "delete silence "+id, audit, `DELETE FROM silences WHERE id = $1`, id)
}

// OpenAlerts returns the pending and firing alerts.
func (s *Store) OpenAlerts(ctx context.Context) ([]alert.Alert, error) {
	as, err := QueryAll(ctx, s.db.Read(), ScanAlert, `SELECT `+AlertColumns+` FROM alerts WHERE state <> 'resolved' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	return as, nil
}

// ListAlerts returns alerts newest first.
func (s *Store) ListAlerts(ctx context.Context, f alert.AlertFilter) ([]alert.Alert, error) {
	open := 0
	if f.OpenOnly {
		open = 1
	}
	as, err := QueryAll(ctx, s.db.Read(), ScanAlert, `SELECT `+AlertColumns+` FROM alerts
		WHERE ($1 = 0 OR state <> 'resolved') AND ($2 = '' OR host_id = $2) AND ($3 <= 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, open, f.HostID, f.Before, s.d.Limit(f.Limit))
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return as, nil
}

// GetAlert returns one alert with its history.
func (s *Store) GetAlert(ctx context.Context, id int64) (alert.Alert, error) {
	as, err := QueryAll(ctx, s.db.Read(), ScanAlert, `SELECT `+AlertColumns+` FROM alerts WHERE id = $1`, id)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("get alert %d: %w", id, err)
	}
	if len(as) == 0 {
		return alert.Alert{}, fmt.Errorf("get alert %d: %w", id, server.ErrNotFound)
	}
	a := as[0]
	if a.History, err = QueryAll(ctx, s.db.Read(), ScanAlertEvent(id), `SELECT `+AlertEventColumns+` FROM alert_events
		WHERE alert_id = $1 ORDER BY id`, id); err != nil {
		return alert.Alert{}, fmt.Errorf("get alert %d history: %w", id, err)
	}
	return a, nil
}
