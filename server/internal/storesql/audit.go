package storesql

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/server"
)

// AppendAudit records a change made outside the store (such as the release repository's).
func (s *Store) AppendAudit(ctx context.Context, a server.AuditEntry) error {
	return s.db.Tx(ctx, func(tx Conn) error { return InsertAudit(ctx, tx, s.d, a) })
}

// ListAudit returns audit entries newest first: at most limit (all when limit <= 0), with
// ID < before when before > 0.
func (s *Store) ListAudit(ctx context.Context, limit int, before int64) ([]server.AuditEntry, error) {
	as, err := QueryAll(ctx, s.db.Read(), ScanAudit, `SELECT `+AuditColumns+` FROM audit
		WHERE CAST($1 AS bigint) <= 0 OR id < $1 ORDER BY id DESC LIMIT $2`, before, s.d.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return as, nil
}

// SearchAudit returns the audit entries f selects, newest first.
func (s *Store) SearchAudit(ctx context.Context, f server.AuditFilter) ([]server.AuditEntry, error) {
	where, args := AuditWhere(f, s.d.TimeArg)
	args = append(args, s.d.Limit(f.Limit))
	as, err := QueryAll(ctx, s.db.Read(), ScanAudit, `SELECT `+AuditColumns+` FROM audit WHERE `+where+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
	}
	return as, nil
}

// PruneAudit deletes audit entries older than before and returns how many. The audit table has
// no index on time: the leader runs this hourly, and one scan of it is cheap next to ingestion.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	cut, err := PruneCutoff(before)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.db.Tx(ctx, func(tx Conn) error {
		n, err = tx.Exec(ctx, `DELETE FROM audit WHERE time < $1`, s.d.TimeArg(cut))
		if err != nil {
			return fmt.Errorf("prune audit: %w", err)
		}
		return nil
	})
	return n, err
}
