package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vigilhq/vigil/server/app"
)

// runBackup is `vigil-server backup --data-dir D --out FILE`: an online copy of the SQLite
// database (package app's BackupSQLite). It prints where the copy went, nothing of its content.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil-server backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", app.DefaultDataDir, "data directory of the server whose SQLite database to copy")
	out := fs.String("out", "", "file to write the copy to (mode 0600; must not exist)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil-server backup --data-dir DIR --out FILE\n\n"+
			"Copies the SQLite database consistently, safe while the server runs. With PostgreSQL use\n"+
			"pg_dump instead. The rest of the data directory is backed up as files: see docs/install.md.\n"+
			"--data-dir also reads VIGIL_DATA_DIR.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseWithEnv(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if err := app.BackupSQLite(ctx, *dataDir, *out); err != nil {
		fmt.Fprintf(stderr, "vigil-server backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Backup of the SQLite database written to %s\n", *out)
	return 0
}
