package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// TestHostReportsDropped: reports sent with spool_dropped show in GET /api/v1/hosts/{id} as
// reports_dropped, summed over the last day; the host list leaves it out.
func TestHostReportsDropped(t *testing.T) {
	e := newBruteEnv(t)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	tok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: "lossy", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var batch wire.ReportBatch
	for i, d := range []uint64{0, 40, 2, 0} {
		batch.Reports = append(batch.Reports, wire.Report{Seq: uint64(i + 1), Time: now.Add(time.Duration(i-4) * time.Minute),
			AgentVersion: "1.0.0", IntervalSeconds: 60, SpoolDropped: d})
	}
	if st, _, body := e.do(t, "127.0.0.1", "POST", "/api/v1/reports", host.Credential, batch); st != http.StatusOK {
		t.Fatalf("POST reports: %d %s", st, body)
	}

	st, _, body := e.do(t, "127.0.0.1", "GET", "/api/v1/hosts/"+host.HostID, e.admin, nil)
	var h api.Host
	if st != http.StatusOK || json.Unmarshal([]byte(body), &h) != nil {
		t.Fatalf("GET host: %d %s", st, body)
	}
	d := h.ReportsDropped
	if d == nil || d.Count != 42 || !d.Last.Equal(now.Add(-2*time.Minute)) {
		t.Fatalf("reports_dropped = %+v, want 42, the last at %s", d, now.Add(-2*time.Minute))
	}
	if age := time.Since(d.Since); age < server.DroppedWindow || age > server.DroppedWindow+time.Minute {
		t.Errorf("reports_dropped since %s: want a day ago", d.Since)
	}
	st, _, body = e.do(t, "127.0.0.1", "GET", "/api/v1/hosts", e.admin, nil)
	var hs []api.Host
	if st != http.StatusOK || json.Unmarshal([]byte(body), &hs) != nil || len(hs) != 1 || hs[0].ReportsDropped != nil {
		t.Errorf("GET hosts: %d %s: want one host without reports_dropped", st, body)
	}
}
