package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// TestHostMetricsResolutionAndRetention: each chart range reads its resolution, falls back to a
// coarser one when the finer data is kept for less than the range, and RunRetention deletes
// rollups older than their retention while leaving the other resolution alone.
func TestHostMetricsResolutionAndRetention(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 12, 2, 12, 30, 0, 0, time.UTC)
	if _, err := server.New(server.Config{Store: st, RollupMinuteRetention: 30 * time.Minute}); err == nil {
		t.Error("a rollup retention under 1h was accepted")
	}
	svc, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return now }, RollupMinuteRetention: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	tok, _, err := svc.CreateEnrollmentToken(ctx, admin, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	enrolled, err := svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: "h", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	// One report a minute for the last three hours.
	hr := server.HostReports{HostID: enrolled.HostID, Received: now}
	for i := range 180 {
		hr.Reports = append(hr.Reports, wire.Report{Seq: uint64(i + 1), Time: now.Add(-time.Duration(180-i) * time.Minute),
			IntervalSeconds: 60, CPU: &wire.CPU{Cores: 1, BusyPct: 50}})
	}
	if _, err := st.CommitReports(ctx, []server.HostReports{hr}); err != nil {
		t.Fatal(err)
	}
	viewer := server.Principal{Name: "v", Role: server.RoleViewer}
	for _, tt := range []struct {
		rng     string
		res     time.Duration
		points  int
		comment string
	}{
		{"6h", 0, 180, "raw reports"},
		{"24h", server.RollupHour, 4, "minutes are kept 2h here, so hours"},
		{"30d", server.RollupHour, 4, "hours"},
	} {
		cr, err := server.ChartRangeByName(tt.rng)
		if err != nil {
			t.Fatal(err)
		}
		ps, res, err := svc.HostMetrics(ctx, viewer, enrolled.HostID, cr)
		if err != nil || res != tt.res || len(ps) != tt.points {
			t.Errorf("%s: %d points at %s (%v); want %d at %s (%s)", tt.rng, len(ps), res, err, tt.points, tt.res, tt.comment)
		}
	}
	if _, err := server.ChartRangeByName("1y"); !errors.Is(err, server.ErrInvalid) {
		t.Errorf("range 1y: %v, want ErrInvalid", err)
	}
	if _, _, err := svc.HostMetrics(ctx, server.Principal{Name: "nobody"}, enrolled.HostID, server.ChartRanges[0]); !errors.Is(err, server.ErrForbidden) {
		t.Errorf("HostMetrics without a role: %v, want ErrForbidden", err)
	}

	svc.RunRetention(ctx)
	minutes, err := st.ListMetrics(ctx, enrolled.HostID, server.RollupMinute, now.Add(-24*time.Hour), now, 0)
	if err != nil || len(minutes) != 120 || !minutes[0].Time.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("minute buckets after retention: %d (%v), want the last 120 from %s", len(minutes), err, now.Add(-2*time.Hour))
	}
	hours, err := st.ListMetrics(ctx, enrolled.HostID, server.RollupHour, now.Add(-24*time.Hour), now, 0)
	if err != nil || len(hours) != 4 {
		t.Errorf("hour buckets after retention: %d (%v), want 4 (kept 90 days)", len(hours), err)
	}
}
