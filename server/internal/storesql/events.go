package storesql

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
)

// AddUpdateEvent stores an update event and makes it the host's LastUpdate. An event with an ID
// the host already sent is a repost and recorded once.
func (s *Store) AddUpdateEvent(ctx context.Context, e server.UpdateEvent) error {
	e, last, err := NewUpdateEvent(e, time.Now())
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx Conn) error {
		if e.ID != "" {
			// On PostgreSQL, lock the host row first: two reposts of one event then run one after
			// the other, and the second (a new statement under READ COMMITTED) sees the first's
			// row. SQLite's single writer already runs them one after the other.
			if s.d.ForUpdate != "" {
				if _, err := tx.Exec(ctx, `SELECT 1 FROM hosts WHERE id = $1`+s.d.ForUpdate, e.HostID); err != nil {
					return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
				}
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM update_events WHERE host_id = $1 AND event_id = $2`,
				e.HostID, e.ID).Scan(&n); err != nil {
				return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
			}
			if n > 0 {
				return nil // a repost: recorded already
			}
		}
		n, err := tx.Exec(ctx, `UPDATE hosts SET last_update = $1 WHERE id = $2`, string(last), e.HostID)
		if err := MustAffect(n, err, "add update event of host "+e.HostID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO update_events (host_id, `+UpdateEventColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.HostID, NullString(e.ID), e.Binary, e.FromVersion, e.ToVersion, e.Phase, e.Result, e.Reason,
			s.d.TimeArg(e.Time), s.d.TimeArg(e.ReceivedAt))
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		return nil
	})
}

// ListUpdateEvents returns a host's update events, newest (last added) first, at most limit
// (no limit when limit <= 0).
func (s *Store) ListUpdateEvents(ctx context.Context, hostID string, limit int) ([]server.UpdateEvent, error) {
	es, err := QueryAll(ctx, s.db.Read(), ScanUpdateEvent(hostID), `SELECT `+UpdateEventColumns+`
		FROM update_events WHERE host_id = $1 ORDER BY id DESC LIMIT $2`, hostID, s.d.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("list update events of host %s: %w", hostID, err)
	}
	return es, nil
}

// ClearQuarantine raises the host's quarantine generation and audits it.
func (s *Store) ClearQuarantine(ctx context.Context, hostID string, audit server.AuditEntry) error {
	return s.change(ctx, "clear quarantine of host "+hostID, audit,
		`UPDATE hosts SET quarantine_generation = quarantine_generation + 1 WHERE id = $1`, hostID)
}

// QuarantineGeneration returns the host's quarantine generation.
func (s *Store) QuarantineGeneration(ctx context.Context, hostID string) (uint64, error) {
	return one(ctx, s.db.Read(), "quarantine generation of host "+hostID, func(row Scanner) (uint64, error) {
		var g uint64
		err := row.Scan(uint64Into(&g))
		return g, err
	}, `SELECT quarantine_generation FROM hosts WHERE id = $1`, hostID)
}
