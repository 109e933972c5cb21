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

// TestHostPageReportsDropped: the host page says how many reports the host's agent dropped from
// its full spool over the last day (from its reports' spool_dropped), and "none" when it dropped
// none. Real server, real HTTP.
func TestHostPageReportsDropped(t *testing.T) {
	srv, hc, admin := startWebServer(t)
	ctx := t.Context()
	et, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 2})
	if err != nil {
		t.Fatal(err)
	}
	cookie := signIn(t, hc, srv.URL, "admin", srv.AdminPassword)
	page := func(name string, dropped ...uint64) string {
		t.Helper()
		var host wire.EnrollResponse
		if err := apiclient.New(srv.URL, "", hc).Do(ctx, http.MethodPost, "/api/v1/enroll",
			wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: name}, &host); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		var batch wire.ReportBatch
		for i, d := range dropped {
			batch.Reports = append(batch.Reports, wire.Report{Seq: uint64(i + 1), Time: now.Add(time.Duration(i-len(dropped)) * time.Minute), SpoolDropped: d})
		}
		if err := apiclient.New(srv.URL, host.Credential, hc).Do(ctx, http.MethodPost, "/api/v1/reports", batch, nil); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/hosts/"+host.HostID, nil)
		req.AddCookie(cookie)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("host page: %s\n%s", resp.Status, body)
		}
		return string(body)
	}
	if p := page("lossy", 0, 6, 3, 0); !strings.Contains(p, `<dt>Reports dropped</dt><dd id="dropped"><span class="silent">9</span> since `) ||
		!strings.Contains(p, `(the agent's spool was full), the last in a report of `) {
		t.Errorf("host page of a host that dropped 9 reports lacks them:\n%s", p)
	}
	if p := page("fine", 0, 0); !strings.Contains(p, `<dt>Reports dropped</dt><dd id="dropped">none since `) {
		t.Errorf("host page of a host that dropped none lacks \"none\":\n%s", p)
	}
}
