package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/wire"
)

// TestHostsClearQuarantine runs `vigilctl hosts clear-quarantine` against a real server: it raises
// the host's quarantine generation, is audited, and names a missing host or argument clearly.
func TestHostsClearQuarantine(t *testing.T) {
	startServer(t)
	code, token, errOut := ctl(t, "enroll", "create-token")
	if code != 0 {
		t.Fatalf("create-token: %d %q", code, errOut)
	}
	ca, err := os.ReadFile(os.Getenv("VIGIL_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body, _ := json.Marshal(wire.EnrollRequest{EnrollmentToken: strings.TrimSpace(token), Hostname: "web-1",
		MachineID: strings.Repeat("d", 32), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	resp, err := hc.Post(os.Getenv("VIGIL_SERVER")+"/api/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var enrolled wire.EnrollResponse
	err = json.NewDecoder(resp.Body).Decode(&enrolled)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil {
		t.Fatalf("enroll: %d %v", resp.StatusCode, err)
	}

	code, out, errOut := ctl(t, "hosts", "clear-quarantine", enrolled.HostID)
	if code != 0 || !strings.Contains(out, "quarantine generation") || !strings.Contains(out, "1") {
		t.Fatalf("clear-quarantine: %d %q %q", code, out, errOut)
	}
	code, out, _ = ctl(t, "--output", "json", "hosts", "clear-quarantine", enrolled.HostID)
	var got api.ClearQuarantineResponse
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.QuarantineGeneration != 2 || got.HostID != enrolled.HostID {
		t.Fatalf("clear-quarantine json: %d %q", code, out)
	}
	if code, out, _ = ctl(t, "audit"); code != 0 || !strings.Contains(out, "host.clear_quarantine") {
		t.Errorf("audit does not show the clear: %d %q", code, out)
	}
	if code, _, errOut = ctl(t, "hosts", "clear-quarantine", "h-nope"); code != 1 || !strings.Contains(errOut, `no host has the ID, ID prefix or hostname "h-nope"`) {
		t.Errorf("unknown host: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "hosts", "clear-quarantine"); code == 0 || !strings.Contains(errOut, "arg") {
		t.Errorf("no host id: exit %d %q, want a failure naming the missing argument", code, errOut)
	}
}
