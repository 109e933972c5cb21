// Package storesql holds what the two SQL stores (sqlitestore and pgstore) do the same way
// whatever the dialect: validating and defaulting what callers store, normalising times, deriving
// the columns of a row (key figures, a host's state after ingest, a notification's schedule),
// turning scanned rows back into domain values, mapping errors to the server's sentinels, and the
// query flow itself wherever the statements are the same: Store implements hosts, groups, agent
// settings, enrollment and API tokens, update events, users and sessions, the audit log and
// rollouts once, and both stores embed it. Each store keeps only what its dialect or driver
// forces: a Dialect (sort collation, row locks, insertion order, time and LIMIT arguments, unique
// violations), the DB and Conn adapters over its driver (pgx for PostgreSQL, database/sql for
// SQLite), its DDL and migration runner, and the paths whose SQL really differs (ingest with COPY
// or prepared statements, upserts, alerting). server/storetest is the judge that the two agree.
//
// Statements here use PostgreSQL's numbered placeholders ($1, $2, …, a number may repeat), which
// SQLite binds by number too.
//
// Times. Both stores keep times in UTC at microsecond precision; finer parts are truncated, never
// rounded (Precision, Normal). Zero times are stored as NULL where a column is optional and come
// back as the zero time. Time columns are scanned through TimeInto, which accepts what either
// driver returns: a time.Time (PostgreSQL timestamptz through pgx) or integer microseconds since
// the Unix epoch (SQLite INTEGER).
//
// Key figures. The per-sample figures charts and alert rules read are single precision (float32)
// in both stores; see KeyFigures. Reports themselves are stored as JSON at full precision.
//
// Row scanners read the columns named by the matching …Columns constant, in that order, from a
// Scanner: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows all are one.
//
// Everything here but Store is pure; all of it is safe for concurrent use.
package storesql

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vigilhq/vigil/server"
)

// Scanner is one row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows all implement it.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a result set: *sql.Rows and pgx.Rows implement it. The caller closes it.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every row of rows with scan. A nil result means no rows.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Precision is the resolution both stores keep times at.
const Precision = time.Microsecond

// Normal returns t as the stores keep it: in UTC, truncated to Precision. The zero time stays
// zero.
func Normal(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(Precision)
}

// NormalOr returns Normal(t), or Normal(def) when t is zero: how stores default a time the caller
// left unset (usually to now).
func NormalOr(t, def time.Time) time.Time {
	if t.IsZero() {
		return Normal(def)
	}
	return Normal(t)
}

// TimeInto returns a destination for Scan that stores a time column into *t, normalised: NULL is
// the zero time, a time.Time is converted to UTC, an int64 is microseconds since the Unix epoch.
func TimeInto(t *time.Time) sql.Scanner { return timeDest{t} }

type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = Normal(v)
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("scan time column: unsupported value of type %T", src)
	}
	return nil
}

// LimitAll reports whether a limit means "no limit" (zero or less), as every listing with a limit
// takes it. Each dialect spells "no limit" its own way.
func LimitAll(limit int) bool { return limit <= 0 }

// uint64Into returns a destination for Scan that stores a non-negative integer column into *u.
// Both drivers return integers as int64; seqs are never negative.
func uint64Into(u *uint64) sql.Scanner { return uint64Dest{u} }

type uint64Dest struct{ u *uint64 }

func (d uint64Dest) Scan(src any) error {
	v, ok := src.(int64)
	if !ok || v < 0 {
		return fmt.Errorf("scan unsigned column: unsupported value %v of type %T", src, src)
	}
	*d.u = uint64(v)
	return nil
}

// One scans the single row of a lookup with scan. noRows is the driver's "no row" error
// (sql.ErrNoRows, pgx.ErrNoRows), which becomes a wrapped server.ErrNotFound; what names the
// lookup in errors.
func One[T any](row Scanner, noRows error, what string, scan func(Scanner) (T, error)) (T, error) {
	v, err := scan(row)
	if errors.Is(err, noRows) {
		return v, fmt.Errorf("%s: %w", what, server.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// CountOf converts a sum of counts taken as a float (so that no sum overflows) to a count,
// saturating at the largest uint64.
func CountOf(f float64) uint64 {
	switch {
	case !(f > 0):
		return 0
	case f >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(f)
}
