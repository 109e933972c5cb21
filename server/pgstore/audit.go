package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
)

// ListAudit returns audit entries newest first: at most limit (all when limit <= 0), with
// ID < before when before > 0.
func (s *Store) ListAudit(ctx context.Context, limit int, before int64) ([]server.AuditEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, time, actor, action, target, detail FROM audit
		WHERE $1::bigint <= 0 OR id < $1 ORDER BY id DESC LIMIT $2`, before, limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (server.AuditEntry, error) {
		var a server.AuditEntry
		err := row.Scan(&a.ID, &a.Time, &a.Actor, &a.Action, &a.Target, &a.Detail)
		a.Time = a.Time.UTC()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return as, nil
}
