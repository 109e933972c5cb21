package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/vigilhq/vigil/server"
)

// AppendAudit records a change made outside the store (such as the release repository's).
func (s *Store) AppendAudit(ctx context.Context, a server.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertAudit(ctx, tx, a) })
}
