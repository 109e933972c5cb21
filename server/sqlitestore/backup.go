package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Backup writes a consistent copy of the SQLite database at path to out with VACUUM INTO, which
// reads one snapshot in a read transaction: it is safe while a server writes the database (WAL
// lets the writer go on), and the copy holds every transaction committed before it started. The
// copy is a single self-contained file (no -wal), written under a temporary name created 0600 —
// it holds credential and token hashes — checked with PRAGMA quick_check, fsynced and renamed to
// out, so out is either absent or complete. An existing out is refused, not replaced.
func Backup(ctx context.Context, path, out string) (err error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return fmt.Errorf("backup: unusable database path %q", path)
	}
	// SQLite would create an empty database for a mistyped path; a backup of nothing must fail.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("backup: %s already exists", out)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()

	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", (30*time.Second).Milliseconds()))
	// Not query_only: SQLite counts VACUUM INTO as a write, though it only reads the source.
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	// VACUUM INTO writes into an empty existing file, keeping its mode.
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("backup: VACUUM INTO: %w", err)
	}
	if err := checkCopy(ctx, tmp); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Link(tmp, out); err != nil { // fails, rather than replaces, if out appeared meanwhile
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(filepath.Dir(out)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// checkCopy runs PRAGMA quick_check on the copy.
func checkCopy(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("backup: open the copy: %w", err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return fmt.Errorf("backup: check the copy: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("backup: the copy fails quick_check: %s", res)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
