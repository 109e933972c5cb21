package sqlitestore

import (
	"context"
	"fmt"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// ListAudit returns audit entries newest first: at most limit (all when limit <= 0), with
// ID < before when before > 0.
func (s *Store) ListAudit(ctx context.Context, limit int, before int64) ([]server.AuditEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.AuditColumns+` FROM audit
		WHERE ? <= 0 OR id < ? ORDER BY id DESC LIMIT ?`, before, before, limitOrAll(limit))
	as, err := collect(rows, err, storesql.ScanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return as, nil
}
