package storesql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
)

// The query flows here (Store's methods, Create, Change, InsertAudit) run the same SQL text on
// both stores: placeholders are PostgreSQL's $1, $2, … which SQLite also binds by number
// (modernc.org/sqlite binds $N to the Nth argument, and a repeated $N to the same one). What the
// SQL dialects spell differently is a field of Dialect; what the drivers do differently is behind
// Conn and DB, which each store implements over its own driver (pgx for PostgreSQL, so its hot
// path keeps pgx's binary protocol and statement cache; database/sql for SQLite).

// Conn runs statements on a connection, pool or transaction of one store.
type Conn interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	// QueryRow runs a query for at most one row; a missing row is an error wrapping
	// sql.ErrNoRows (pgx.ErrNoRows wraps it too) at Scan.
	QueryRow(ctx context.Context, query string, args ...any) Scanner
	// Query runs a query; the caller closes the rows.
	Query(ctx context.Context, query string, args ...any) (ClosingRows, error)
}

// ClosingRows is a result set the caller must close: pgx.Rows is one, *sql.Rows needs an adapter
// (its Close returns an error).
type ClosingRows interface {
	Rows
	Close()
}

// DB is one store's connections, as the shared query flows use them.
type DB interface {
	// Read is where reads outside a transaction run: pgstore's pool, sqlitestore's read-only
	// connections.
	Read() Conn
	// Exec runs one write statement on its own, atomically, and returns how many rows it
	// changed: pgstore runs it on the pool (autocommit, one round trip), sqlitestore in its own
	// IMMEDIATE transaction on the single writer connection.
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	// Tx runs fn in a write transaction and commits it if fn returns nil.
	Tx(ctx context.Context, fn func(tx Conn) error) error
}

// Dialect is what the two SQL dialects spell or type differently in the statements Store runs.
type Dialect struct {
	// ByBytes follows a text sort key so text sorts by bytes whatever the database's collation:
	// ` COLLATE "C"` on PostgreSQL; SQLite's default BINARY collation already does.
	ByBytes string
	// ForUpdate and ForKeyShare follow a SELECT to lock the rows it reads until the transaction
	// ends (against a change, or against a delete or key change). PostgreSQL needs them; SQLite has
	// one writer, so a write transaction's reads cannot be overtaken and they are empty.
	ForUpdate, ForKeyShare string
	// InsertOrder is the column that orders rows of a table with equal times by insertion:
	// a seq column on PostgreSQL, SQLite's implicit rowid.
	InsertOrder string
	// Time is the argument for a time column (t already Normal): a time.Time for timestamptz,
	// integer microseconds since the Unix epoch for SQLite INTEGER.
	Time func(t time.Time) any
	// NoLimit is the LIMIT argument meaning "no limit": NULL on PostgreSQL, -1 on SQLite.
	NoLimit any
	// IsUnique reports whether err is a unique or primary key violation.
	IsUnique func(err error) bool
}

// TimeArg is the argument for a time column: Normal(t) in the dialect's type.
func (d *Dialect) TimeArg(t time.Time) any { return d.Time(Normal(t)) }

// NullTimeArg is TimeArg, or NULL for the zero time.
func (d *Dialect) NullTimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.TimeArg(t)
}

// Limit is the LIMIT argument for a limit of zero or less meaning none (LimitAll).
func (d *Dialect) Limit(limit int) any {
	if LimitAll(limit) {
		return d.NoLimit
	}
	return limit
}

// WriteErr wraps err, from a statement that writes what: a unique violation becomes a wrapped
// server.ErrConflict.
func (d *Dialect) WriteErr(what string, err error) error {
	if d.IsUnique(err) {
		return fmt.Errorf("%s: %w", what, server.ErrConflict)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Store is the part of server.Store (and rollout.Store) whose query flow is the same on both SQL
// stores. sqlitestore.Store and pgstore.Store embed it and add what their dialect or driver
// does its own way (ingest, alerting, users, migrations). Safe for concurrent use.
type Store struct {
	db DB
	d  *Dialect
}

// NewStore returns the shared part of a store over db speaking d.
func NewStore(db DB, d *Dialect) *Store { return &Store{db: db, d: d} }

// QueryAll runs query on c and scans every row with scan. A nil result means no rows.
func QueryAll[T any](ctx context.Context, c Conn, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return Collect(rows, scan)
}

// MustAffect turns "no row changed" into a wrapped server.ErrNotFound; err is the statement's.
func MustAffect(n int64, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, server.ErrNotFound)
	}
	return nil
}

// InsertAudit records a (NewAudit) in tx.
func InsertAudit(ctx context.Context, tx Conn, d *Dialect, a server.AuditEntry) error {
	a = NewAudit(a, time.Now())
	_, err := tx.Exec(ctx, `INSERT INTO audit (time, actor, action, target, detail, actor_user, actor_token, address, state_before, state_after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		d.TimeArg(a.Time), a.Actor, a.Action, a.Target, a.Detail, a.User, a.TokenID, a.Address, a.Before, a.After)
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

// Create runs query, an INSERT, and records audit in the same transaction. A unique violation is
// a wrapped server.ErrConflict; what names the change in errors.
func Create(ctx context.Context, db DB, d *Dialect, what string, audit server.AuditEntry, query string, args ...any) error {
	return db.Tx(ctx, func(tx Conn) error {
		if _, err := tx.Exec(ctx, query, args...); err != nil {
			return d.WriteErr(what, err)
		}
		return InsertAudit(ctx, tx, d, audit)
	})
}

// Change runs query, an UPDATE or DELETE that must change a row (else a wrapped
// server.ErrNotFound), and records audit in the same transaction.
func Change(ctx context.Context, db DB, d *Dialect, what string, audit server.AuditEntry, query string, args ...any) error {
	return db.Tx(ctx, func(tx Conn) error {
		n, err := tx.Exec(ctx, query, args...)
		if err := MustAffect(n, err, what); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, d, audit)
	})
}

// one reads the single row of a lookup on c; a missing row is a wrapped server.ErrNotFound.
func one[T any](ctx context.Context, c Conn, what string, scan func(Scanner) (T, error), query string, args ...any) (T, error) {
	return One(c.QueryRow(ctx, query, args...), sql.ErrNoRows, what, scan)
}

func (s *Store) create(ctx context.Context, what string, audit server.AuditEntry, query string, args ...any) error {
	return Create(ctx, s.db, s.d, what, audit, query, args...)
}

func (s *Store) change(ctx context.Context, what string, audit server.AuditEntry, query string, args ...any) error {
	return Change(ctx, s.db, s.d, what, audit, query, args...)
}

// revoke marks the row id of table revoked (idempotent; ErrNotFound if there is no such row) and
// records audit in the same transaction. what names the object in errors.
func (s *Store) revoke(ctx context.Context, table, what, id string, audit server.AuditEntry) error {
	return s.change(ctx, "revoke "+what+" "+id, audit, `UPDATE `+table+` SET revoked = true WHERE id = $1`, id)
}
