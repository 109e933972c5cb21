package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vigilhq/vigil/server/app"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vigilctl": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScript runs the txtar scripts in testdata/script, each against its own in-process
// vigil-server, with VIGIL_SERVER, VIGIL_CA and VIGIL_TOKEN (admin) exported.
func TestScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and derives many key-file keys (scrypt); skipped with -short")
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			dir := filepath.Join(env.WorkDir, ".server")
			srv, err := app.Start(context.Background(), app.Config{
				DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				return err
			}
			env.Defer(func() { srv.Shutdown(context.Background()) })
			tok, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
			if err != nil {
				return err
			}
			env.Setenv("VIGIL_SERVER", srv.URL)
			env.Setenv("VIGIL_CA", srv.CAFile)
			env.Setenv("VIGIL_TOKEN", strings.TrimSpace(string(tok)))
			return nil
		},
	})
}
