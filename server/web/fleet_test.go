package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"html"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/wire"
)

// TestFleetPageStatusAndShortIDs reads the fleet page over HTTPS (no browser): the summary counts
// hosts by the server's status with a proper plural, each row carries its status badge, and two
// hosts with one hostname are told apart by their short IDs.
func TestFleetPageStatusAndShortIDs(t *testing.T) {
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tokBytes, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokBytes))
	caPEM, _ := os.ReadFile(srv.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	ctx := context.Background()

	fleet := func() string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
		req.AddCookie(signIn(t, hc, srv.URL, "admin", srv.AdminPassword))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /: %d %s", resp.StatusCode, b)
		}
		return html.UnescapeString(string(b))
	}

	admin := apiclient.New(srv.URL, token, hc)
	et, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 2})
	if err != nil {
		t.Fatal(err)
	}
	anon := apiclient.New(srv.URL, "", hc)
	var first wire.EnrollResponse
	if err := anon.Do(ctx, http.MethodPost, "/api/v1/enroll", wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: "web-1", OS: "linux", Arch: "amd64"}, &first); err != nil {
		t.Fatal(err)
	}
	if page := fleet(); !strings.Contains(page, "1 host:") || strings.Contains(page, "1 hosts") {
		t.Errorf("one host is not said in the singular:\n%s", page)
	}
	var second wire.EnrollResponse
	if err := anon.Do(ctx, http.MethodPost, "/api/v1/enroll", wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: "web-1", OS: "linux", Arch: "amd64"}, &second); err != nil {
		t.Fatal(err)
	}
	batch := wire.ReportBatch{Reports: []wire.Report{{Seq: 1, Time: time.Now().UTC(), AgentVersion: "1.0.0", IntervalSeconds: 10}}}
	if err := apiclient.New(srv.URL, first.Credential, hc).Do(ctx, http.MethodPost, "/api/v1/reports", batch, nil); err != nil {
		t.Fatal(err)
	}
	page := fleet()
	for _, want := range []string{"2 hosts:", "1 up", "1 late", "0 silent", "0 unreachable",
		`<span class="badge up">up</span>`, `<span class="badge late">late</span>`,
		`title="` + first.HostID + `">` + first.HostID[:8] + `</code>`, `title="` + second.HostID + `">` + second.HostID[:8] + `</code>`} {
		if !strings.Contains(page, want) {
			t.Errorf("fleet page lacks %q:\n%s", want, page)
		}
	}
}
