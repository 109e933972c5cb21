package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server/internal/storesql"
)

// PruneAudit deletes audit entries older than before and returns how many. The audit table has
// no index on time: the leader runs this hourly, and one scan of it is cheap next to ingestion.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	cut, err := storesql.PruneCutoff(before)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE time < ?`, micros(cut))
		if err != nil {
			return fmt.Errorf("prune audit: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
