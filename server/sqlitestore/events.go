package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// AddUpdateEvent stores an update event and makes it the host's LastUpdate.
func (s *Store) AddUpdateEvent(ctx context.Context, e server.UpdateEvent) error {
	e, last, err := storesql.NewUpdateEvent(e, time.Now())
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if e.ID != "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM update_events WHERE host_id = ? AND event_id = ?`,
				e.HostID, e.ID).Scan(&n); err != nil {
				return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
			}
			if n > 0 {
				return nil // a repost: recorded already
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET last_update = ? WHERE id = ?`, string(last), e.HostID)
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		if err := mustAffect(res, "add update event of host "+e.HostID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO update_events (host_id, `+storesql.UpdateEventColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.HostID, storesql.NullString(e.ID), e.Binary, e.FromVersion, e.ToVersion, e.Phase, e.Result, e.Reason, micros(e.Time), micros(e.ReceivedAt))
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		return nil
	})
}

// ListUpdateEvents returns a host's update events, newest (last added) first, at most limit
// (no limit when limit <= 0).
func (s *Store) ListUpdateEvents(ctx context.Context, hostID string, limit int) ([]server.UpdateEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.UpdateEventColumns+`
		FROM update_events WHERE host_id = ? ORDER BY id DESC LIMIT ?`, hostID, limitOrAll(limit))
	es, err := collect(rows, err, storesql.ScanUpdateEvent(hostID))
	if err != nil {
		return nil, fmt.Errorf("list update events of host %s: %w", hostID, err)
	}
	return es, nil
}

// ClearQuarantine raises the host's quarantine generation and audits it.
func (s *Store) ClearQuarantine(ctx context.Context, hostID string, audit server.AuditEntry) error {
	return s.change(ctx, "clear quarantine of host "+hostID, audit,
		`UPDATE hosts SET quarantine_generation = quarantine_generation + 1 WHERE id = ?`, hostID)
}

// QuarantineGeneration returns the host's quarantine generation.
func (s *Store) QuarantineGeneration(ctx context.Context, hostID string) (uint64, error) {
	var g int64
	err := s.r.QueryRowContext(ctx, `SELECT quarantine_generation FROM hosts WHERE id = ?`, hostID).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("quarantine generation of host %s: %w", hostID, server.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("quarantine generation of host %s: %w", hostID, err)
	}
	return uint64(g), nil
}
