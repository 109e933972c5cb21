// Package pgstore implements server.Store on PostgreSQL through pgx/v5 and pgxpool, for large
// fleets and for several vigil-server replicas sharing one database.
//
// Ingest is the hot path. CommitReports does a group commit in a fixed, small number of round
// trips whatever the batch size: it locks the hosts' rows with one SELECT … FOR UPDATE (in id
// order, so concurrent committers cannot deadlock), skips reports at or below each host's
// acknowledged seq, writes samples with COPY, and updates the hosts with one UPDATE … FROM
// unnest(…). The row locks make two replicas committing the same host take turns, and the
// (host_id, seq) primary key makes storing a report twice impossible anyway.
//
// Migrations are embedded and applied by Open in one transaction that holds a transaction-level
// advisory lock, so replicas starting together apply them once. Options.Schema puts every table
// in a schema of its own (created if missing), which lets tests run in parallel on one database.
//
// What does not depend on the dialect (validation, defaults, time normalisation, row decoding,
// error mapping, and the query flow of everything but ingest and alerting) is shared with
// sqlitestore in server/internal/storesql: Store embeds storesql.Store, which runs its statements
// through pgx (pgConn), not database/sql, and locks rows with the FOR UPDATE / FOR KEY SHARE
// clauses of this package's storesql.Dialect. Times are timestamptz, written truncated to
// microseconds and read back in UTC. Text sort keys are ordered with COLLATE "C" (by bytes), as
// SQLite orders them, whatever the database's collation. Store is safe for concurrent use.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

var _ server.Store = (*Store)(nil) // and rollout.Store, through storesql.Store

//go:embed migrations/*.sql
var migrations embed.FS

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// Schema, when set, is the schema the store creates (if missing) and keeps all its tables in,
	// through the connections' search_path. It must be a plain lower-case identifier. Defaults to
	// the database's search_path (usually public).
	Schema string
	// MaxConns bounds the connection pool. Defaults to pool_max_conns from the URL, or pgxpool's
	// default (the larger of 4 and the number of CPUs).
	MaxConns int32
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Store is a server.Store on PostgreSQL.
type Store struct {
	*storesql.Store // what the query flow shares with sqlitestore

	pool   *pgxpool.Pool
	schema string
}

// Open connects to the database at url (a postgres:// URL or key=value DSN) and applies pending
// migrations.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if opts.Schema != "" {
		if !schemaName.MatchString(opts.Schema) {
			return nil, fmt.Errorf("open postgres store: %w: schema %q is not a plain lower-case identifier", server.ErrInvalid, opts.Schema)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	s := &Store{pool: pool, schema: opts.Schema}
	s.Store = storesql.NewStore(pgDB{s}, &dialect)
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return s, nil
}

// migrate applies the embedded migrations not yet recorded in schema_migrations, all in one
// transaction holding an advisory lock keyed by schema: replicas starting at once queue on the lock
// and find the work done.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := storesql.Migrations(migrations)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "vigil.migrate:"+s.schema); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if s.schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
				return fmt.Errorf("create schema %s: %w", s.schema, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, m := range ms {
			if slices.Contains(applied, int32(m.Version)) {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// tx runs fn in a transaction and commits it if fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// dialect is how PostgreSQL spells what storesql's shared statements leave open.
var dialect = storesql.Dialect{
	ByBytes:     ` COLLATE "C"`,
	ForUpdate:   ` FOR UPDATE`,
	ForKeyShare: ` FOR KEY SHARE`,
	InsertOrder: `seq`,
	Time:        func(t time.Time) any { return t },
	NoLimit:     nil, // LIMIT NULL
	IsUnique:    isUnique,
}

// pgQuerier is what pgxpool.Pool and pgx.Tx share.
type pgQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgConn is a storesql.Conn over pgx, which keeps pgx's binary protocol and statement cache.
type pgConn struct{ q pgQuerier }

func (c pgConn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (c pgConn) QueryRow(ctx context.Context, query string, args ...any) storesql.Scanner {
	return c.q.QueryRow(ctx, query, args...)
}

func (c pgConn) Query(ctx context.Context, query string, args ...any) (storesql.ClosingRows, error) {
	rows, err := c.q.Query(ctx, query, args...) // never nil: a failed query's rows carry err too
	return rows, err
}

// pgDB is the storesql.DB of a Store.
type pgDB struct{ s *Store }

func (d pgDB) Read() storesql.Conn { return pgConn{d.s.pool} }

func (d pgDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return pgConn{d.s.pool}.Exec(ctx, query, args...)
}

func (d pgDB) Tx(ctx context.Context, fn func(tx storesql.Conn) error) error {
	return d.s.tx(ctx, func(tx pgx.Tx) error { return fn(pgConn{tx}) })
}

func insertAudit(ctx context.Context, tx pgx.Tx, a server.AuditEntry) error {
	return storesql.InsertAudit(ctx, pgConn{tx}, &dialect, a)
}

// isUnique reports whether err is a unique violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// ts is how times are written: storesql.Normal, UTC truncated to microseconds (what timestamptz
// keeps; pgx truncates too, this makes it explicit).
func ts(t time.Time) time.Time { return storesql.Normal(t) }

// nullTS writes the zero time as NULL.
func nullTS(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: storesql.Normal(t), Valid: !t.IsZero()}
}

// limitOrAll maps "no limit" to SQL NULL, which LIMIT takes as no limit.
func limitOrAll(limit int) any { return dialect.Limit(limit) }

// collect scans every row of rows with scan and closes rows. A query error surfaces here.
func collect[T any](rows pgx.Rows, scan func(storesql.Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	return storesql.Collect(rows, scan)
}
