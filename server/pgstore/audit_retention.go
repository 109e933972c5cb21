package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server/internal/storesql"
)

// PruneAudit deletes audit entries older than before and returns how many. The audit table has
// no index on time: the leader runs this hourly.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	cut, err := storesql.PruneCutoff(before)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM audit WHERE time < $1`, cut)
		if err != nil {
			return fmt.Errorf("prune audit: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}
