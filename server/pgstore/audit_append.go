package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
)

// AppendAudit records a change made outside the store (such as the release repository's).
func (s *Store) AppendAudit(ctx context.Context, a server.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return insertAudit(ctx, tx, a) })
}
