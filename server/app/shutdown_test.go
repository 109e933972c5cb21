package app_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/server/app"
)

// TestShutdownStopsBackgroundJobs: once Shutdown returns, no background job of the server is
// left running: not the alert engine and sender, not the release repository's re-signing loop
// (which would otherwise still hold its leadership, or write the repository, after the store
// was closed).
func TestShutdownStopsBackgroundJobs(t *testing.T) {
	srv, err := app.Start(context.Background(), app.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Alert: fastAlerts(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"tufrepo.(*Repository).Run", "alert.(*Runner).evalLoop", "alert.(*Runner).sendLoop"} {
		if strings.Contains(stacks, fn) {
			t.Errorf("%s still runs after Shutdown returned", fn)
		}
	}
}
