package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/storetest"
)

// postgresURL returns VIGIL_TEST_POSTGRES_URL or skips the test. Under CI=true a skip would hide
// that the PostgreSQL store went untested, so it fails instead.
func postgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("VIGIL_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("VIGIL_TEST_POSTGRES_URL is not set, and under CI=true the PostgreSQL store tests must run: " +
				"set it, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		}
		t.Skip("VIGIL_TEST_POSTGRES_URL not set; skipping PostgreSQL store tests")
	}
	return url
}

// openTemp opens a Store on a fresh random schema, dropped when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	url := postgresURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "vigil_test_" + hex.EncodeToString(b)
	return openSchema(t, url, schema)
}

func openSchema(t testing.TB, url, schema string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, Options{Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		dropSchema(t, url, schema)
	})
	return s
}

func dropSchema(t testing.TB, url, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

func TestStore(t *testing.T) {
	postgresURL(t)
	storetest.Run(t, func(t *testing.T) server.Store { return openTemp(t) })
}

// TestKeyFigures reads the key figure columns, which no Store method returns.
func TestKeyFigures(t *testing.T) {
	s := openTemp(t)
	storetest.KeyFigures(t, s, func(ctx context.Context, hostID string, seq uint64) (f [4]*float64, err error) {
		err = s.pool.QueryRow(ctx, `SELECT cpu_busy_pct, mem_used_pct, load1, disk_max_used_pct FROM samples
			WHERE host_id = $1 AND seq = $2`, hostID, int64(seq)).Scan(&f[0], &f[1], &f[2], &f[3])
		return f, err
	})
}

// TestMigrateConcurrently starts several Stores on one schema at once, as replicas starting
// together would: the advisory lock makes the migrations apply once and every Open succeed.
func TestMigrateConcurrently(t *testing.T) {
	url := postgresURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "vigil_test_" + hex.EncodeToString(b)
	t.Cleanup(func() { dropSchema(t, url, schema) })
	stores := make([]*Store, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url, Options{Schema: schema, MaxConns: 2}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ctx := t.Context()
	var applied int
	if err := stores[0].pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	if applied != len(names) {
		t.Errorf("schema_migrations has %d rows, want %d", applied, len(names))
	}
	gs, err := stores[3].ListGroups(ctx)
	if err != nil || len(gs) != 1 {
		t.Errorf("ListGroups = %+v, %v; want the default group once", gs, err)
	}
	// The tables live in the schema, not in public.
	var where string
	if err := stores[0].pool.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'samples' AND table_schema = $1`, schema).Scan(&where); err != nil {
		t.Errorf("samples table not in schema %s: %v", schema, err)
	}
	// Reopening applies nothing.
	s := openSchema(t, url, schema)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadSchema(t *testing.T) {
	url := postgresURL(t)
	for _, schema := range []string{"Upper", "x; DROP TABLE y", `a"b`, "1abc"} {
		if s, err := Open(t.Context(), url, Options{Schema: schema}); !errors.Is(err, server.ErrInvalid) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open with schema %q: err = %v, want ErrInvalid", schema, err)
		}
	}
}

func BenchmarkCommitReports(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			storetest.BenchCommitReports(b, openTemp(b), writers)
		})
	}
	// A group commit of eight one-report requests: what ingest at one report per request merges.
	b.Run("small/writers=2", func(b *testing.B) {
		storetest.BenchCommitReportsShape(b, openTemp(b), 2, 8, 8)
	})
}

// TestEnrollRefusesWithoutWriting: bad enrollment tokens are refused while another transaction
// holds enrollment_tokens in EXCLUSIVE mode (reads pass, any UPDATE waits), so they never wrote.
func TestEnrollRefusesWithoutWriting(t *testing.T) {
	s := openTemp(t)
	storetest.EnrollRefusesWithoutWriting(t, s, func(ctx context.Context) (func(), error) {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE enrollment_tokens IN EXCLUSIVE MODE"); err != nil {
			_ = tx.Rollback(ctx)
			return nil, err
		}
		return func() { _ = tx.Rollback(context.Background()) }, nil
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
	url := postgresURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "vigil_test_" + hex.EncodeToString(b)
	s := openSchema(t, url, schema)
	storetest.RollupBackfill(t, s, func(ctx context.Context) error {
		for _, q := range []string{`DROP TABLE metric_rollups`, `ALTER TABLE samples DROP COLUMN net_rx_bps`,
			`ALTER TABLE samples DROP COLUMN net_tx_bps`, `DELETE FROM schema_migrations WHERE version = 8`} {
			if _, err := s.pool.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}, func() server.Store {
		s2, err := Open(t.Context(), url, Options{Schema: schema, MaxConns: 4})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		t.Cleanup(func() { s2.Close() })
		return s2
	})
}
