package sqlitestore

import (
	"context"
	"database/sql"
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
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET last_update = ? WHERE id = ?`, string(last), e.HostID)
		if err != nil {
			return fmt.Errorf("add update event of host %s: %w", e.HostID, err)
		}
		if err := mustAffect(res, "add update event of host "+e.HostID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO update_events (host_id, `+storesql.UpdateEventColumns+`)
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.UpdateEventColumns+`
		FROM update_events WHERE host_id = ? ORDER BY id DESC LIMIT ?`, hostID, limitOrAll(limit))
	es, err := collect(rows, err, storesql.ScanUpdateEvent(hostID))
	if err != nil {
		return nil, fmt.Errorf("list update events of host %s: %w", hostID, err)
	}
	return es, nil
}
