package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server/storetest"
	"github.com/vigilhq/vigil/wire"
)

// TestHostsShowReportsDropped: hosts show says how many reports the host's agent dropped from its
// full spool over the last day, and "none" for a host that dropped none.
func TestHostsShowReportsDropped(t *testing.T) {
	startServer(t)
	code, tok, errOut := ctl(t, "enroll", "create-token", "--max-uses", "2")
	if code != 0 {
		t.Fatalf("create-token: %d %q", code, errOut)
	}
	tok = strings.TrimSpace(tok)
	lossy, fine := enrollHost(t, tok, "lossy"), enrollHost(t, tok, "fine")
	now := time.Now().UTC()
	var b wire.ReportBatch
	for i, d := range []uint64{0, 17, 0} {
		r := storetest.Report(uint64(i+1), now.Add(time.Duration(i-3)*time.Minute))
		r.SpoolDropped = d
		b.Reports = append(b.Reports, r)
	}
	if err := agentClient(t, lossy.Credential).Do(context.Background(), http.MethodPost, "/api/v1/reports", b, nil); err != nil {
		t.Fatal(err)
	}
	if err := report(fine.Credential, t, 1); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ctl(t, "hosts", "show", "lossy")
	t.Logf("hosts show lossy:\n%s", out)
	if code != 0 || !strings.Contains(out, "reports dropped") || !strings.Contains(out, " 17 since ") ||
		!strings.Contains(out, "(spool full), the last in a report of "+fmtTime(now.Add(-2*time.Minute).Truncate(time.Second))) {
		t.Errorf("hosts show lossy: %d %q %q: want 17 reports dropped", code, out, errOut)
	}
	code, out, errOut = ctl(t, "hosts", "show", "fine")
	if code != 0 || !strings.Contains(out, "reports dropped") || !strings.Contains(out, "none since ") {
		t.Errorf("hosts show fine: %d %q %q: want none dropped", code, out, errOut)
	}
}
