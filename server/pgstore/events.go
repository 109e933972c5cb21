package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
)

// AddUpdateEvent stores an update event and makes it the host's LastUpdate.
func (s *Store) AddUpdateEvent(ctx context.Context, e server.UpdateEvent) error {
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = time.Now()
	}
	e.Time, e.ReceivedAt = ts(e.Time), ts(e.ReceivedAt)
	last, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE hosts SET last_update = $1 WHERE id = $2`, last, e.HostID)
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		if err := mustAffect(tag, "add update event of host "+e.HostID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO update_events (host_id, binary_name, from_version, to_version, phase, result, reason, time, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			e.HostID, e.Binary, e.FromVersion, e.ToVersion, e.Phase, e.Result, e.Reason, e.Time, e.ReceivedAt)
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		return nil
	})
}

// ListUpdateEvents returns a host's update events, newest (last added) first, at most limit
// (no limit when limit <= 0).
func (s *Store) ListUpdateEvents(ctx context.Context, hostID string, limit int) ([]server.UpdateEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT binary_name, from_version, to_version, phase, result, reason, time, received_at
		FROM update_events WHERE host_id = $1 ORDER BY id DESC LIMIT $2`, hostID, limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list update events of host %s: %w", hostID, err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (server.UpdateEvent, error) {
		e := server.UpdateEvent{HostID: hostID}
		err := row.Scan(&e.Binary, &e.FromVersion, &e.ToVersion, &e.Phase, &e.Result, &e.Reason, &e.Time, &e.ReceivedAt)
		e.Time, e.ReceivedAt = e.Time.UTC(), e.ReceivedAt.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list update events of host %s: %w", hostID, err)
	}
	return es, nil
}
