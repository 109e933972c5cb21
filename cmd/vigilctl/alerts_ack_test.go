package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/app"
)

// TestAlertsAck: `alerts ack ID` acknowledges an open alert, says so, and `alerts ls` shows it as
// acked; a second ack, an unknown ID and a malformed one are refused with what went wrong.
func TestAlertsAck(t *testing.T) {
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Alert: app.AlertTuning{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tok, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_SERVER", srv.URL)
	t.Setenv("VIGIL_CA", srv.CAFile)
	t.Setenv("VIGIL_TOKEN", strings.TrimSpace(string(tok)))
	now := time.Now().UTC()
	a := &alert.Alert{Key: "cpu/h-1/", RuleID: "default-cpu", RuleName: "CPU busy above 90% for 5m", Kind: alert.KindCPU, HostID: "h-1",
		Hostname: "web-1", Group: "default", State: alert.StateFiring, StartedAt: now, FiredAt: now, Summary: "CPU busy 97%"}
	if err := srv.Service().Store().(alert.Store).SaveAlert(context.Background(), a, alert.AlertEvent{Time: now, State: a.State, Message: "firing"}, nil); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(a.ID, 10)
	if code, _, errOut := ctl(t, "alerts", "ack", "x1"); code != 2 || !strings.Contains(errOut, "not a number") {
		t.Errorf("ack x1: %d %q", code, errOut)
	}
	if code, _, errOut := ctl(t, "alerts", "ack", "424242"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("ack of no alert: %d %q", code, errOut)
	}
	code, out, errOut := ctl(t, "alerts", "ack", id)
	if code != 0 || !strings.Contains(out, "Alert "+id+" (CPU busy above 90% for 5m on web-1") || !strings.Contains(out, "acknowledged by admin") ||
		!strings.Contains(out, "no more reminders") {
		t.Fatalf("ack: %d %q %q", code, out, errOut)
	}
	if code, out, _ := ctl(t, "alerts", "ls", "--open"); code != 0 || !strings.Contains(out, "firing, acked") {
		t.Errorf("alerts ls after ack: %d %q", code, out)
	}
	if code, out, _ := ctl(t, "alerts", "show", id); code != 0 || !strings.Contains(out, "acknowledged by admin") {
		t.Errorf("alerts show after ack: %d %q", code, out)
	}
	if code, _, errOut := ctl(t, "alerts", "ack", id); code != 1 || !strings.Contains(errOut, "already acknowledged") {
		t.Errorf("second ack: %d %q", code, errOut)
	}
}
