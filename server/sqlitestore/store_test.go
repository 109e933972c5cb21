package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/storetest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "vigil.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) server.Store { return openTemp(t) })
}

// TestKeyFigures reads the key figure columns, which no Store method returns.
func TestKeyFigures(t *testing.T) {
	s := openTemp(t)
	storetest.KeyFigures(t, s, func(ctx context.Context, hostID string, seq uint64) (f [4]*float64, err error) {
		err = s.r.QueryRowContext(ctx, `SELECT cpu_busy_pct, mem_used_pct, load1, disk_max_used_pct FROM samples
			WHERE host_id = ? AND seq = ?`, hostID, int64(seq)).Scan(&f[0], &f[1], &f[2], &f[3])
		return f, err
	})
}

// TestOpenTwice opens one file from several Stores at once, as a restart racing an old process
// would: every Open succeeds, migrations are applied once, and all Stores see the same data.
func TestOpenTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.db")
	stores := make([]*Store, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), path, Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	ctx := t.Context()
	var applied, files int
	if err := stores[0].r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	files = len(names)
	if applied != files {
		t.Errorf("schema_migrations has %d rows, want %d", applied, files)
	}
	if err := stores[1].CreateGroup(ctx, server.Group{Name: "shared"}, server.AuditEntry{Action: "group.create", Target: "shared"}); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		gs, err := s.ListGroups(ctx)
		if err != nil || len(gs) != 2 {
			t.Errorf("store %d lists groups %+v, %v; want default and shared", i, gs, err)
		}
	}

	// Reopening after close keeps the data and applies nothing twice.
	for _, s := range stores {
		s.Close()
	}
	s := openPath(t, path)
	if _, err := s.GetGroup(ctx, "shared"); err != nil {
		t.Errorf("after reopen: %v", err)
	}
}

func openPath(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPragmas checks the connection settings the package documents.
func TestPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for _, tt := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL: acked reports survive power loss
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", "5000"},
		{s.w, "query_only", "0"},
		{s.r, "journal_mode", "wal"},
		{s.r, "synchronous", "2"},
		{s.r, "foreign_keys", "1"},
		{s.r, "busy_timeout", "5000"},
		{s.r, "query_only", "1"},
	} {
		var got string
		if err := tt.db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	if n := s.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
	if _, err := s.r.ExecContext(ctx, `DELETE FROM audit`); err == nil {
		t.Errorf("the read pool can write")
	}
}

// TestEnrollAcrossStores races enrollments through two Stores on one file, as two processes would:
// the token's uses still admit exactly MaxUses hosts, and no writer fails with SQLITE_BUSY.
func TestEnrollAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.db")
	a, b := openPath(t, path), openPath(t, path)
	ctx := t.Context()
	const maxUses, racers = 5, 20
	tok := server.EnrollmentToken{ID: "et", Group: server.DefaultGroup, MaxUses: maxUses, CreatedAt: time.Now(), Hash: "hash"}
	if err := a.CreateEnrollmentToken(ctx, tok, server.AuditEntry{Action: "enrollment-token.create"}); err != nil {
		t.Fatal(err)
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for i := range racers {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			_, err := s.Enroll(ctx, "hash", time.Now(), server.Host{ID: fmt.Sprintf("h%d", i), Hostname: "h"}, fmt.Sprintf("cred%d", i))
			switch {
			case err == nil:
				mu.Lock()
				ok++
				mu.Unlock()
			case !errors.Is(err, server.ErrTokenInvalid):
				t.Errorf("Enroll: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != maxUses {
		t.Errorf("%d enrollments succeeded, want %d", ok, maxUses)
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, p := range []string{"", filepath.Join(t.TempDir(), "x?mode=ro"), filepath.Join(t.TempDir(), "missing-dir", "vigil.db")} {
		if s, err := Open(t.Context(), p, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func BenchmarkCommitReports(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			storetest.BenchCommitReports(b, openTemp(b), writers)
		})
	}
}

// TestEnrollRefusesWithoutWriting: bad enrollment tokens are refused while another connection
// holds SQLite's write lock (BEGIN IMMEDIATE), so they never took it.
func TestEnrollRefusesWithoutWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.EnrollRefusesWithoutWriting(t, s, func(ctx context.Context) (func(), error) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			return nil, err
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			db.Close()
			return nil, err
		}
		return func() {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		}, nil
	})
}

// BenchmarkChartQuery30d measures the host page's 30-day chart query at each resolution
// (docs/BENCHMARKS.md).
func BenchmarkChartQuery30d(b *testing.B) {
	storetest.BenchChartQuery(b, openTemp(b))
}

// BenchmarkReportsDropped measures the sum of a day of a host's spool_dropped beside the host
// page's other reads (docs/BENCHMARKS.md).
func BenchmarkReportsDropped(b *testing.B) {
	storetest.BenchReportsDropped(b, openTemp(b))
}

// TestRollupBackfill takes a store back to before migration 0008 and reopens it.
func TestRollupBackfill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RollupBackfill(t, s, func(ctx context.Context) error {
		for _, q := range []string{`DROP TABLE metric_rollups`, `ALTER TABLE samples DROP COLUMN net_rx_bps`,
			`ALTER TABLE samples DROP COLUMN net_tx_bps`, `DELETE FROM schema_migrations WHERE version = 8`} {
			if _, err := s.w.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return s.Close()
	}, func() server.Store {
		s2, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		t.Cleanup(func() { s2.Close() })
		return s2
	})
}
