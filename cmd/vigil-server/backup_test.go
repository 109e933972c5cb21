package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/server/sqlitestore"
)

func TestBackupCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close() // open during the backup, as a running server's would be
	out := filepath.Join(t.TempDir(), "copy.db")
	backup := func(args []string, env map[string]string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runBackup(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	if code, _, stderr := backup([]string{"--data-dir", dir}, nil); code != 2 || !strings.Contains(stderr, "--out") {
		t.Errorf("without --out: %d %q, want usage and 2", code, stderr)
	}
	if code, _, stderr := backup([]string{"--data-dir", t.TempDir(), "--out", out}, nil); code != 1 || !strings.Contains(stderr, "vigil.db") {
		t.Errorf("a data dir without a database: %d %q, want 1 naming vigil.db", code, stderr)
	}
	// --data-dir from VIGIL_DATA_DIR, as the server reads it.
	code, stdout, stderr := backup([]string{"--out", out}, map[string]string{"VIGIL_DATA_DIR": dir})
	if code != 0 || !strings.Contains(stdout, out) {
		t.Fatalf("backup: %d %q %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Fatalf("backup file: %v, %v; want a non-empty 0600 file", fi, err)
	}
	copyStore, err := sqlitestore.Open(ctx, out, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("the copy does not open as a store: %v", err)
	}
	copyStore.Close()
	if code, _, stderr := backup([]string{"--data-dir", dir, "--out", out}, nil); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("onto an existing file: %d %q, want a refusal", code, stderr)
	}
}
