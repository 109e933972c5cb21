package sqlitestore

import (
	"context"
	"fmt"
)

// HostRevocations returns the number of revoked hosts. The Service polls it to drop cached
// credentials when a host was revoked by another Service on the same database; with SQLite that
// is only ever a test's second Service, but the contract is pgstore's.
func (s *Store) HostRevocations(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM hosts WHERE revoked <> 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count revoked hosts: %w", err)
	}
	return n, nil
}
