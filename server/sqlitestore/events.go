package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
)

// AddUpdateEvent stores an update event and makes it the host's LastUpdate.
func (s *Store) AddUpdateEvent(ctx context.Context, e server.UpdateEvent) error {
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = time.Now()
	}
	e.Time, e.ReceivedAt = e.Time.UTC().Truncate(time.Microsecond), e.ReceivedAt.UTC().Truncate(time.Microsecond)
	last, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET last_update = ? WHERE id = ?`, string(last), e.HostID)
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		if err := mustAffect(res, "add update event of host "+e.HostID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO update_events (host_id, binary_name, from_version, to_version, phase, result, reason, time, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.HostID, e.Binary, e.FromVersion, e.ToVersion, e.Phase, e.Result, e.Reason, micros(e.Time), micros(e.ReceivedAt))
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		return nil
	})
}

// ListUpdateEvents returns a host's update events, newest (last added) first, at most limit
// (no limit when limit <= 0).
func (s *Store) ListUpdateEvents(ctx context.Context, hostID string, limit int) ([]server.UpdateEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT binary_name, from_version, to_version, phase, result, reason, time, received_at
		FROM update_events WHERE host_id = ? ORDER BY id DESC LIMIT ?`, hostID, limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list update events of host %s: %w", hostID, err)
	}
	defer rows.Close()
	var es []server.UpdateEvent
	for rows.Next() {
		var (
			e            = server.UpdateEvent{HostID: hostID}
			at, received int64
		)
		if err := rows.Scan(&e.Binary, &e.FromVersion, &e.ToVersion, &e.Phase, &e.Result, &e.Reason, &at, &received); err != nil {
			return nil, fmt.Errorf("list update events of host %s: %w", hostID, err)
		}
		e.Time, e.ReceivedAt = fromMicros(at), fromMicros(received)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list update events of host %s: %w", hostID, err)
	}
	return es, nil
}
