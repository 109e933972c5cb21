package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// TestHostReportsDropped: reports sent with spool_dropped show in GET /api/v1/hosts/{id} as
// reports_dropped, summed over the last day; the host list leaves it out.
func TestHostReportsDropped(t *testing.T) {
	e := newReleaseEnv(t, false)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	enrollTok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: enrollTok, Hostname: "lossy",
		MachineID: strings.Repeat("c", 32), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var batch wire.ReportBatch
	for i, d := range []uint64{0, 40, 2, 0} {
		batch.Reports = append(batch.Reports, wire.Report{Seq: uint64(i + 1), Time: now.Add(time.Duration(i-4) * time.Minute),
			AgentVersion: "1.0.0", IntervalSeconds: 60, SpoolDropped: d})
	}
	body, _ := json.Marshal(batch)
	req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/reports", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+host.Credential)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST reports: %d %s", resp.StatusCode, b)
	}

	h, err := e.viewer.GetHost(ctx, host.HostID)
	if err != nil {
		t.Fatal(err)
	}
	d := h.ReportsDropped
	if d == nil || d.Count != 42 || !d.Last.Equal(now.Add(-2*time.Minute)) {
		t.Fatalf("reports_dropped = %+v, want 42, the last at %s", d, now.Add(-2*time.Minute))
	}
	if age := time.Since(d.Since); age < server.DroppedWindow || age > server.DroppedWindow+time.Minute {
		t.Errorf("reports_dropped since %s: want a day ago", d.Since)
	}
	hs, err := e.viewer.ListHosts(ctx, "")
	if err != nil || len(hs) != 1 || hs[0].ReportsDropped != nil {
		t.Errorf("host list = %+v, %v: want one host without reports_dropped", hs, err)
	}
}
