package sqlitestore

import (
	"context"
	"fmt"

	"github.com/vigilhq/vigil/server"
)

// ListAudit returns audit entries newest first: at most limit (all when limit <= 0), with
// ID < before when before > 0.
func (s *Store) ListAudit(ctx context.Context, limit int, before int64) ([]server.AuditEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, time, actor, action, target, detail FROM audit
		WHERE ? <= 0 OR id < ? ORDER BY id DESC LIMIT ?`, before, before, limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var as []server.AuditEntry
	for rows.Next() {
		var (
			a  server.AuditEntry
			at int64
		)
		if err := rows.Scan(&a.ID, &at, &a.Actor, &a.Action, &a.Target, &a.Detail); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		a.Time = fromMicros(at)
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return as, nil
}
