package pgstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server/alert"
)

var _ alert.Leader = (*Leader)(nil)

// Leader is leadership among the replicas sharing one database (and schema), held as a
// session-level advisory lock on a connection of its own, outside the pool. PostgreSQL releases
// the lock when that session ends, so a replica that crashes or loses its connection loses
// leadership, and another one's next TryAcquire takes it over.
//
// Leader is safe for concurrent use.
type Leader struct {
	cfg  *pgx.ConnConfig
	name string

	mu   sync.Mutex
	conn *pgx.Conn
	held bool
}

// leaderCheckTimeout bounds each lock attempt or liveness check.
const leaderCheckTimeout = 5 * time.Second

// NewLeader returns a Leader for the named job (such as "alert"). The lock key covers the
// store's schema, so stores in different schemas of one database elect separately.
func (s *Store) NewLeader(name string) *Leader {
	cfg := s.pool.Config().ConnConfig.Copy()
	schema := s.schema
	if schema == "" {
		schema = cfg.RuntimeParams["search_path"]
	}
	return &Leader{cfg: cfg, name: "vigil.leader:" + name + ":" + schema}
}

// TryAcquire takes the lock if it is free, or, when it is held, checks that the session holding it
// is still alive. It returns whether this process is leader now.
func (l *Leader) TryAcquire(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, leaderCheckTimeout)
	defer cancel()
	if l.conn != nil && l.held {
		if err := l.conn.Ping(ctx); err != nil {
			l.dropLocked()
			return false, fmt.Errorf("leader %s: lost the lock session: %w", l.name, err)
		}
		return true, nil
	}
	if l.conn == nil || l.conn.IsClosed() {
		conn, err := pgx.ConnectConfig(ctx, l.cfg)
		if err != nil {
			return false, fmt.Errorf("leader %s: connect: %w", l.name, err)
		}
		l.conn = conn
	}
	var ok bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, l.name).Scan(&ok); err != nil {
		l.dropLocked()
		return false, fmt.Errorf("leader %s: try lock: %w", l.name, err)
	}
	l.held = ok
	return ok, nil
}

// IsLeader reports whether the last TryAcquire found this process leader.
func (l *Leader) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Release gives leadership up by closing the lock's session. Idempotent.
func (l *Leader) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked()
	return nil
}

func (l *Leader) dropLocked() {
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		l.conn.Close(ctx)
		cancel()
	}
	l.conn, l.held = nil, false
}

// BackendPID returns the PostgreSQL process ID of the lock's session, 0 without one (tests use it
// to cut the session as a crash would).
func (l *Leader) BackendPID() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return 0
	}
	return l.conn.PgConn().PID()
}
