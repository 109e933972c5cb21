package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/wire"
)

// TestHostsShowChecks: `vigilctl hosts show` lists a host's latest health check results, and
// `rules create --kind check` makes a check rule and refuses a name no check can have.
func TestHostsShowChecks(t *testing.T) {
	startServer(t)
	caPEM, err := os.ReadFile(os.Getenv("VIGIL_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx := t.Context()
	admin := apiclient.New(os.Getenv("VIGIL_SERVER"), os.Getenv("VIGIL_TOKEN"), hc)
	et, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	var host wire.EnrollResponse
	if err := apiclient.New(os.Getenv("VIGIL_SERVER"), "", hc).Do(ctx, http.MethodPost, "/api/v1/enroll",
		wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: "web-1"}, &host); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 13, 40, 0, 0, time.UTC)
	batch := wire.ReportBatch{Reports: []wire.Report{{Seq: 1, Time: at, Checks: []wire.CheckResult{
		{Name: "site", Kind: wire.CheckHTTP, Value: 12.5, Unit: wire.UnitMillis, Message: "status 503, want 200", CheckedAt: at},
		{Name: "backup", Kind: wire.CheckFile, OK: true, Value: 3600, Unit: wire.UnitSeconds, Message: "written 1h0m0s ago, 4096 bytes", CheckedAt: at},
	}, Hints: []wire.AnomalyHint{{Metric: "cpu.busy_pct", Value: 93, Score: 12.6, Mean: 30, StdDev: 5, Hour: 14}}}}}
	if err := apiclient.New(os.Getenv("VIGIL_SERVER"), host.Credential, hc).Do(ctx, http.MethodPost, "/api/v1/reports", batch, nil); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ctl(t, "hosts", "show", host.HostID)
	if code != 0 {
		t.Fatalf("hosts show: %d %q", code, errOut)
	}
	for _, want := range []string{
		"check site", "FAIL http 12.5 ms: status 503, want 200 (checked 2026-12-02 13:40:00 UTC)",
		"check backup", "ok file 3600 s: written 1h0m0s ago, 4096 bytes",
		"unusual cpu.busy_pct", "93, score 12.6 (usual at 14:00: 30 ± 5)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("hosts show lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = ctl(t, "rules", "create", "--kind", "check", "--match", "site", "--for", "2m")
	if code != 0 || !strings.HasPrefix(out, "r-") || !strings.Contains(errOut, `"Health check failing (site) for 2m"`) {
		t.Fatalf("rules create --kind check: %d %q %q", code, out, errOut)
	}
	if code, _, errOut = ctl(t, "rules", "create", "--kind", "check", "--match", "my site"); code != 1 || !strings.Contains(errOut, "is not a check name") {
		t.Fatalf("rules create with a bad check name: %d %q", code, errOut)
	}
}
