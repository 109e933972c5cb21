package pgstore

import (
	"context"
	"fmt"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// ListAudit returns audit entries newest first: at most limit (all when limit <= 0), with
// ID < before when before > 0.
func (s *Store) ListAudit(ctx context.Context, limit int, before int64) ([]server.AuditEntry, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.AuditColumns+` FROM audit
		WHERE $1::bigint <= 0 OR id < $1 ORDER BY id DESC LIMIT $2`, before, limitOrAll(limit))
	as, err := collect(rows, storesql.ScanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return as, nil
}
