// Package sqlitestore implements server.Store on SQLite through modernc.org/sqlite, a pure-Go
// driver, so one vigil-server binary with a data directory is a whole installation.
//
// The database is one file in WAL mode. SQLite allows one writer at a time, so every write goes
// through a pool of exactly one connection: writers queue in database/sql instead of spinning on
// SQLITE_BUSY, and each write transaction starts with BEGIN IMMEDIATE so it holds the write lock
// from its first statement (a second process on the same file waits busy_timeout rather than
// failing an upgrade from a read lock). Reads use a separate pool of read-only connections, which
// WAL lets run beside the writer on the last committed snapshot.
//
// What does not depend on the dialect (validation, defaults, time normalisation, row decoding,
// error mapping, and the query flow of everything but ingest and alerting) is shared with
// pgstore in server/internal/storesql: Store embeds storesql.Store, which reads on the read-only
// pool and writes in IMMEDIATE transactions on the single writer. Times are stored as INTEGER
// microseconds since the Unix epoch and come back in UTC; text sorts by bytes (SQLite's BINARY
// collation). Migrations are embedded and applied by Open, each in its own transaction, recorded
// in schema_migrations.
//
// Store is safe for concurrent use.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

var _ server.Store = (*Store)(nil) // and rollout.Store, through storesql.Store

//go:embed migrations/*.sql
var migrations embed.FS

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock another process holds before it fails
	// with SQLITE_BUSY. Defaults to 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the read-only connection pool. Defaults to the number of CPUs,
	// at least 2.
	ReadConns int
}

func (o *Options) setDefaults() {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(2, runtime.NumCPU())
	}
}

// Store is a server.Store on one SQLite file.
type Store struct {
	*storesql.Store // what the query flow shares with pgstore

	w *sql.DB // the writer: exactly one connection
	r *sql.DB // readers

	// Statements of the ingest path, prepared once on the writer (its only connection) and bound
	// to each transaction with Tx.StmtContext, so SQLite does not re-parse them per commit.
	selHostState, insSample, insOutage, updHostState, upsRollup, upsFigures *sql.Stmt
}

// restrictFiles creates the database file mode 0600 if it does not exist, so SQLite, which gives
// the -wal and -shm files the mode of the database, creates those 0600 too, and tightens the
// modes of files an older version left world-readable. The database holds credential hashes,
// host data and the audit log.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restrict %s: %w", p, err)
		}
	}
	return nil
}

// readerMmapBytes is how much of the database file each reader connection memory-maps.
const readerMmapBytes = 1 << 30

// Open opens (creating if needed) the SQLite database at path, a plain file path, and applies
// pending migrations. Several Stores, in one process or several, may open the same file.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts.setDefaults()
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite store: unusable path %q", path)
	}
	if err := restrictFiles(path); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")
	// synchronous=FULL under WAL fsyncs the WAL at every commit. The server acknowledges reports
	// only after their commit and agents then forget them, so a commit must survive an OS crash or
	// power loss, not only a crash of vigil-server. Group commit amortizes the fsync over every
	// request waiting at that moment.
	common.Add("_pragma", "synchronous(FULL)")

	wq := cloneValues(common)
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	s := &Store{w: w}
	s.Store = storesql.NewStore(sqlDB{s}, &dialect)
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := s.prepareIngest(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	rq := cloneValues(common)
	rq.Add("_pragma", "query_only(1)")
	// Readers map the database file (up to readerMmapBytes) instead of copying every page through
	// a pread system call into their small page caches: the alert engine's fleet scan walks the
	// hosts table, whose rows still carry the latest report inline (~250 MB at 100,000 hosts), every
	// 10 s (docs/BENCHMARKS.md, "Alerting": its CPU fell by about 30 %).
	rq.Add("_pragma", fmt.Sprintf("mmap_size(%d)", readerMmapBytes))
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	s.r = r
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return s, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// migrate applies the embedded migrations not yet recorded in schema_migrations, in order, each in
// its own IMMEDIATE transaction: a concurrent Open waits for the lock and then sees it applied.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := storesql.Migrations(migrations)
	if err != nil {
		return err
	}
	for _, m := range ms {
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    INTEGER PRIMARY KEY,
				name       TEXT    NOT NULL,
				applied_at INTEGER NOT NULL
			) STRICT`); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, micros(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// Ping checks both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite writer: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite reader: %w", err)
	}
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.selHostState, s.insSample, s.insOutage, s.updHostState, s.upsRollup, s.upsFigures} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE on the single writer connection) and commits
// it if fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// dialect is how SQLite spells what storesql's shared statements leave open.
var dialect = storesql.Dialect{
	ByBytes:     "", // BINARY, SQLite's default collation, orders by bytes
	ForUpdate:   "", // one writer: a write transaction's reads cannot be overtaken
	ForKeyShare: "",
	InsertOrder: "rowid",
	Time:        func(t time.Time) any { return micros(t) },
	NoLimit:     -1, // LIMIT -1
	IsUnique:    isUnique,
}

// sqlQuerier is what *sql.DB and *sql.Tx share.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlConn is a storesql.Conn over database/sql.
type sqlConn struct{ q sqlQuerier }

func (c sqlConn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c sqlConn) QueryRow(ctx context.Context, query string, args ...any) storesql.Scanner {
	return c.q.QueryRowContext(ctx, query, args...)
}

func (c sqlConn) Query(ctx context.Context, query string, args ...any) (storesql.ClosingRows, error) {
	rows, err := c.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// sqlRows closes as storesql.ClosingRows wants; a close error after a full read is also in Err.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// sqlDB is the storesql.DB of a Store: reads on the read-only pool, writes on the one writer.
type sqlDB struct{ s *Store }

func (d sqlDB) Read() storesql.Conn { return sqlConn{d.s.r} }

func (d sqlDB) Exec(ctx context.Context, query string, args ...any) (n int64, err error) {
	err = d.s.tx(ctx, func(tx *sql.Tx) error {
		n, err = sqlConn{tx}.Exec(ctx, query, args...)
		return err
	})
	return n, err
}

func (d sqlDB) Tx(ctx context.Context, fn func(tx storesql.Conn) error) error {
	return d.s.tx(ctx, func(tx *sql.Tx) error { return fn(sqlConn{tx}) })
}

func insertAudit(ctx context.Context, tx *sql.Tx, a server.AuditEntry) error {
	return storesql.InsertAudit(ctx, sqlConn{tx}, &dialect, a)
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY constraint violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// micros is how times are stored: microseconds since the Unix epoch, finer parts truncated
// (storesql.Precision). storesql.TimeInto reads them back.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) any { return dialect.NullTimeArg(t) }

// limitOrAll maps "no limit" to -1, which SQLite's LIMIT takes as no limit.
func limitOrAll(limit int) any { return dialect.Limit(limit) }

// collect scans every row of rows with scan and closes rows; err is the query's.
func collect[T any](rows *sql.Rows, err error, scan func(storesql.Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return storesql.Collect(rows, scan)
}
