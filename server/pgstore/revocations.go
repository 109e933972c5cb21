package pgstore

import (
	"context"
	"fmt"
)

// HostRevocations returns the number of revoked hosts. Every replica's Service polls it (every
// server.DefaultRevocationPoll) and drops its cached credentials when the number changes, so a
// host revoked through one replica is refused by all within one poll. It is one index-free count
// over hosts: ~milliseconds at 100,000 hosts, once per poll per replica.
func (s *Store) HostRevocations(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM hosts WHERE revoked`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count revoked hosts: %w", err)
	}
	return n, nil
}
