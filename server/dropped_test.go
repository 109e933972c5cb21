package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// TestReportsDropped: what reports say their agent dropped from a full spool reaches the host
// detail (summed over the last DroppedWindow) and the server's counter
// vigil_agent_reports_dropped_total.
func TestReportsDropped(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	svc, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: reg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	svc.Start(cctx)
	t.Cleanup(func() { cancel(); svc.Close() })

	tok, _, err := svc.CreateEnrollmentToken(ctx, admin, "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: "lossy", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := svc.AuthenticateHost(ctx, enr.Credential)
	if err != nil {
		t.Fatal(err)
	}
	report := func(seq uint64, at time.Time, dropped uint64) wire.Report {
		return wire.Report{Seq: seq, Time: at, AgentVersion: "1.0.0", IntervalSeconds: 10, SpoolDropped: dropped}
	}
	// Two days ago (outside the window), then within it; the newest report carries nothing.
	batch := wire.ReportBatch{Reports: []wire.Report{
		report(1, now.Add(-48*time.Hour), 50),
		report(2, now.Add(-2*time.Hour), 7),
		report(3, now.Add(-time.Hour), 5),
		report(4, now.Add(-time.Minute), 0),
	}}
	if _, err := svc.Ingest(ctx, h, batch); err != nil {
		t.Fatal(err)
	}
	got, err := svc.GetHost(ctx, admin, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := server.DroppedReports{Since: now.Add(-server.DroppedWindow), Count: 12, Last: now.Add(-time.Hour)}
	if got.Dropped != want {
		t.Errorf("GetHost Dropped = %+v, want %+v", got.Dropped, want)
	}
	if v := counter(t, reg, "vigil_agent_reports_dropped_total"); v != 62 {
		t.Errorf("vigil_agent_reports_dropped_total = %g, want 62", v)
	}
}

// counter reads a counter's value from reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// failingDropped is a store whose ReportsDropped fails.
type failingDropped struct{ server.Store }

var errSumFailed = errors.New("sum failed")

func (failingDropped) ReportsDropped(context.Context, string, time.Time) (server.DroppedReports, error) {
	return server.DroppedReports{}, errSumFailed
}

// TestGetHostWithoutDroppedSum: when the sum of dropped reports fails, the host detail is still
// served, without the figure (a failed sum costs the operator one figure, not the page).
func TestGetHostWithoutDroppedSum(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := server.New(server.Config{Store: failingDropped{st}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, admin, "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: "h", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := svc.GetHost(ctx, admin, enr.HostID)
	if err != nil {
		t.Fatalf("GetHost with a failing sum: %v", err)
	}
	if h.ID != enr.HostID || h.Hostname != "h" || h.Dropped != (server.DroppedReports{}) {
		t.Errorf("GetHost = %+v, want the host without a dropped figure", h)
	}
}
