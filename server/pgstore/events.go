package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// AddUpdateEvent stores an update event and makes it the host's LastUpdate.
func (s *Store) AddUpdateEvent(ctx context.Context, e server.UpdateEvent) error {
	e, last, err := storesql.NewUpdateEvent(e, time.Now())
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if e.ID != "" {
			// Lock the host row first: two reposts of one event then run one after the other,
			// and the second (a new statement under READ COMMITTED) sees the first's row.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM hosts WHERE id = $1 FOR UPDATE`, e.HostID); err != nil {
				return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
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
		tag, err := tx.Exec(ctx, `UPDATE hosts SET last_update = $1 WHERE id = $2`, last, e.HostID)
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		if err := mustAffect(tag, "add update event of host "+e.HostID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO update_events (host_id, `+storesql.UpdateEventColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.HostID, storesql.NullString(e.ID), e.Binary, e.FromVersion, e.ToVersion, e.Phase, e.Result, e.Reason, e.Time, e.ReceivedAt)
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		return nil
	})
}

// ListUpdateEvents returns a host's update events, newest (last added) first, at most limit
// (no limit when limit <= 0).
func (s *Store) ListUpdateEvents(ctx context.Context, hostID string, limit int) ([]server.UpdateEvent, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.UpdateEventColumns+`
		FROM update_events WHERE host_id = $1 ORDER BY id DESC LIMIT $2`, hostID, limitOrAll(limit))
	es, err := collect(rows, storesql.ScanUpdateEvent(hostID))
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
	var g int64
	err := s.pool.QueryRow(ctx, `SELECT quarantine_generation FROM hosts WHERE id = $1`, hostID).Scan(&g)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("quarantine generation of host %s: %w", hostID, server.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("quarantine generation of host %s: %w", hostID, err)
	}
	return uint64(g), nil
}
