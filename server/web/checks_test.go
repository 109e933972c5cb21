package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/wire"
)

// TestHostPageChecks: the host page lists the latest health check results of a host's report,
// with a failing check marked and a message with markup shown as text. Real server, real HTTP,
// no browser (TestDashboardInBrowser covers the same page in Chromium where it is installed).
func TestHostPageChecks(t *testing.T) {
	srv, hc, admin := startWebServer(t)
	ctx := t.Context()
	et, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	var host wire.EnrollResponse
	if err := apiclient.New(srv.URL, "", hc).Do(ctx, http.MethodPost, "/api/v1/enroll",
		wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: "web-1"}, &host); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	batch := wire.ReportBatch{Reports: []wire.Report{{Seq: 1, Time: now, Checks: []wire.CheckResult{
		{Name: "site", Kind: wire.CheckHTTP, Value: 12.5, Unit: wire.UnitMillis, Message: "status 503, want 200 <script>x</script>", CheckedAt: now},
		{Name: "cert", Kind: wire.CheckTLS, OK: true, Value: 41.25, Unit: wire.UnitDays, Message: `"site" expires in 41.2 days`, CheckedAt: now},
	}, Hints: []wire.AnomalyHint{{Metric: "cpu.busy_pct", Value: 93, Score: 12.6, Mean: 30, StdDev: 5, Hour: 14}}}}}
	if err := apiclient.New(srv.URL, host.Credential, hc).Do(ctx, http.MethodPost, "/api/v1/reports", batch, nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/hosts/"+host.HostID, nil)
	req.AddCookie(signIn(t, hc, srv.URL, "admin", srv.AdminPassword))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("host page: %s\n%s", resp.Status, page)
	}
	for _, want := range []string{
		`<h3>Health checks</h3>`,
		`<td>site</td><td>http</td><td><span class="silent">failing</span></td><td>12.5 ms</td><td>status 503, want 200 &lt;script&gt;x&lt;/script&gt;</td>`,
		`<td>cert</td><td>tls</td><td><span class="ok">ok</span></td><td>41.25 days</td><td>&#34;site&#34; expires in 41.2 days</td>`,
		`<h3>Unusual for this host</h3>`,
		`<td>cpu.busy_pct</td><td>93</td><td>12.6</td><td>30 ± 5 at 14:00</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("host page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>x") {
		t.Error("a check message's markup is rendered as HTML")
	}
}
