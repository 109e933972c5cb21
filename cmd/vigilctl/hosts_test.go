package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/storetest"
	"github.com/vigilhq/vigil/wire"
)

// agentClient is an unauthenticated client of the test server (from startServer's environment).
func agentClient(t *testing.T, credential string) *apiclient.Client {
	t.Helper()
	pemData, err := os.ReadFile(os.Getenv("VIGIL_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	return apiclient.New(os.Getenv("VIGIL_SERVER"), credential, hc)
}

// enrollHost enrolls a host with token and returns the server's answer.
func enrollHost(t *testing.T, token, hostname string) wire.EnrollResponse {
	t.Helper()
	var resp wire.EnrollResponse
	req := wire.EnrollRequest{EnrollmentToken: token, Hostname: hostname, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}
	if err := agentClient(t, "").Do(context.Background(), http.MethodPost, "/api/v1/enroll", req, &resp); err != nil {
		t.Fatalf("enroll %s: %v", hostname, err)
	}
	return resp
}

// report sends one report as the host with credential.
func report(credential string, t *testing.T, seq uint64) error {
	return agentClient(t, credential).Do(context.Background(), http.MethodPost, "/api/v1/reports",
		wire.ReportBatch{Reports: []wire.Report{storetest.Report(seq, time.Now().UTC())}}, nil)
}

// TestHostCommands: hosts ls has a STATUS column; hosts are found by ID, unique ID prefix or
// unique hostname, and an ambiguous prefix or hostname lists the candidates; hosts revoke and
// hosts rm cut a host off; enroll ls and enroll revoke manage enrollment tokens.
func TestHostCommands(t *testing.T) {
	startServer(t)
	code, tok, errOut := ctl(t, "enroll", "create-token", "--max-uses", "20")
	if code != 0 || !strings.Contains(errOut, "20 uses") {
		t.Fatalf("create-token: %d %q", code, errOut)
	}
	tok = strings.TrimSpace(tok)
	// Two hosts named web-1, a db-1 that reports, and more: 17 IDs, so two share a first digit.
	web1a, web1b, db1 := enrollHost(t, tok, "web-1"), enrollHost(t, tok, "web-1"), enrollHost(t, tok, "db-1")
	ids := []string{web1a.HostID, web1b.HostID, db1.HostID}
	for range 14 {
		ids = append(ids, enrollHost(t, tok, "filler").HostID)
	}
	if err := report(db1.Credential, t, 1); err != nil {
		t.Fatalf("report: %v", err)
	}

	code, out, _ := ctl(t, "hosts", "ls")
	if code != 0 || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "STATUS") {
		t.Fatalf("hosts ls: %d %q", code, out)
	}
	status := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		status[f[0]] = f[2]
	}
	if status[db1.HostID] != "up" || status[web1a.HostID] != "late" {
		t.Errorf("statuses: db-1 %q (want up), web-1 %q (want late: no report yet)\n%s", status[db1.HostID], status[web1a.HostID], out)
	}
	var hs []api.Host
	if code, out, _ = ctl(t, "-o", "json", "hosts", "ls"); code != 0 || json.Unmarshal([]byte(out), &hs) != nil || len(hs) != 17 || hs[0].Status == "" {
		t.Fatalf("hosts ls json: %d %.300q", code, out)
	}

	// By unique prefix and by unique hostname.
	if code, out, errOut = ctl(t, "hosts", "show", db1.HostID[:12]); code != 0 || !strings.Contains(out, db1.HostID) || !strings.Contains(out, "db-1") {
		t.Fatalf("show by prefix: %d %q %q", code, out, errOut)
	}
	if code, out, _ = ctl(t, "hosts", "show", "db-1"); code != 0 || !strings.Contains(out, db1.HostID) {
		t.Fatalf("show by hostname: %d %q", code, out)
	}
	// A shared hostname lists both hosts.
	if code, _, errOut = ctl(t, "hosts", "show", "web-1"); code != 1 || !strings.Contains(errOut, `hostname "web-1" is shared by 2 hosts`) ||
		!strings.Contains(errOut, web1a.HostID) || !strings.Contains(errOut, web1b.HostID) {
		t.Fatalf("show a shared hostname: %d %q", code, errOut)
	}
	// An ambiguous prefix lists the hosts it matches.
	var prefix string
	seen := map[byte]bool{}
	for _, id := range ids {
		if seen[id[0]] {
			prefix = id[:1]
			break
		}
		seen[id[0]] = true
	}
	if code, _, errOut = ctl(t, "hosts", "show", prefix); code != 1 || !strings.Contains(errOut, "host ID prefix \""+prefix+"\" matches") {
		t.Fatalf("show an ambiguous prefix %q: %d %q", prefix, code, errOut)
	}
	if code, _, errOut = ctl(t, "hosts", "show", "nosuchhost"); code != 1 || !strings.Contains(errOut, `no host has the ID, ID prefix or hostname "nosuchhost"`) {
		t.Fatalf("show an unknown host: %d %q", code, errOut)
	}

	// revoke: the host is listed as revoked and its reports are refused.
	if code, _, errOut = ctl(t, "hosts", "revoke", db1.HostID[:10]); code != 0 || !strings.Contains(errOut, "revoked") {
		t.Fatalf("hosts revoke: %d %q", code, errOut)
	}
	if err := report(db1.Credential, t, 2); !apiclient.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("report after revoke: %v, want unauthorized", err)
	}
	if code, out, _ = ctl(t, "hosts", "ls"); !strings.Contains(out, "db-1 (revoked)") {
		t.Fatalf("hosts ls after revoke: %d %q", code, out)
	}
	// rm: the host is gone, its credential with it.
	if err := report(web1a.Credential, t, 1); err != nil {
		t.Fatalf("report: %v", err)
	}
	if code, _, errOut = ctl(t, "hosts", "rm", web1a.HostID); code != 0 || !strings.Contains(errOut, "web-1 ["+web1a.HostID[:8]+"] removed") {
		t.Fatalf("hosts rm: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "hosts", "show", web1a.HostID); code != 1 {
		t.Fatalf("show a removed host: %d %q", code, errOut)
	}
	if err := report(web1a.Credential, t, 2); !apiclient.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("report after rm: %v, want unauthorized", err)
	}
	// With one web-1 left, the hostname is unique again.
	if code, out, _ = ctl(t, "hosts", "show", "web-1"); code != 0 || !strings.Contains(out, web1b.HostID) {
		t.Fatalf("show web-1 after rm: %d %q", code, out)
	}
	if code, out, _ = ctl(t, "audit"); code != 0 || !strings.Contains(out, "host.delete") || !strings.Contains(out, "host.revoke") {
		t.Fatalf("audit lacks host.delete and host.revoke: %q", out)
	}

	// Enrollment tokens: listed without secrets, revoked by prefix, then refused.
	code, out, _ = ctl(t, "enroll", "ls")
	if code != 0 || !strings.Contains(out, "active") || !strings.Contains(out, "17/20") || strings.Contains(out, tok) {
		t.Fatalf("enroll ls: %d %q", code, out)
	}
	var ts []api.EnrollmentToken
	if code, out, _ = ctl(t, "-o", "json", "enroll", "ls"); code != 0 || json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 1 {
		t.Fatalf("enroll ls json: %d %q", code, out)
	}
	if code, _, errOut = ctl(t, "enroll", "revoke", ts[0].ID[:6]); code != 0 {
		t.Fatalf("enroll revoke: %d %q", code, errOut)
	}
	if code, out, _ = ctl(t, "enroll", "ls"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("enroll ls after revoke: %q", out)
	}
	if err := agentClient(t, "").Do(context.Background(), http.MethodPost, "/api/v1/enroll",
		wire.EnrollRequest{EnrollmentToken: tok, Hostname: "late-comer", OS: "linux", Arch: "amd64"}, nil); !apiclient.IsCode(err, api.CodeTokenInvalid) {
		t.Fatalf("enroll with a revoked token: %v", err)
	}
	if code, _, errOut = ctl(t, "enroll", "revoke", "zz"); code != 1 || !strings.Contains(errOut, "no enrollment token") {
		t.Fatalf("enroll revoke unknown: %d %q", code, errOut)
	}
}
