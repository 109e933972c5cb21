package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
)

// TestAlertShowLabels: alerts show labels the start "started", never with the alert's state now,
// and ends with that state.
func TestAlertShowLabels(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	a := api.Alert{ID: 7, RuleName: "Host silent", Hostname: "web-1", HostID: "3f2a9c01deadbeef3f2a9c01deadbeef", State: api.StateResolved,
		Summary: "web-1 has not reported", StartedAt: t0, ResolvedAt: t0.Add(10 * time.Minute), UpdatedAt: t0.Add(10 * time.Minute),
		History: []api.AlertEvent{{Time: t0, State: api.StatePending, Message: "late"}, {Time: t0.Add(time.Minute), State: api.StateFiring, Message: "silent"},
			{Time: t0.Add(10 * time.Minute), State: api.StateResolved, Message: "back"}}}
	rows := alertShowRows(a)
	if rows[0][0] != fmtTime(t0) || rows[0][1] != "started" || !strings.Contains(rows[0][2], "web-1 [3f2a9c01]") {
		t.Errorf("first row = %q, want the start labelled started, with the host's short ID", rows[0])
	}
	last := rows[len(rows)-1]
	if last[0] != fmtTime(a.ResolvedAt) || last[1] != "now resolved" {
		t.Errorf("last row = %q, want the state now at its time", last)
	}
	if len(rows) != 5 {
		t.Errorf("%d rows, want start, 3 history events, now", len(rows))
	}
}

// TestFmtTimeHasZone: every printed time says its zone, by name or by offset.
func TestFmtTimeHasZone(t *testing.T) {
	at := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		loc  *time.Location
		want string
	}{
		{time.UTC, "2026-11-21 22:00:00 UTC"},
		{time.FixedZone("CET", 3600), "2026-11-21 23:00:00 CET"},
		{time.FixedZone("", -5*3600), "2026-11-21 17:00:00 -05:00"},
		{time.FixedZone("+0530", 5*3600+1800), "2026-11-22 03:30:00 +05:30"},
	} {
		if got := fmtTimeIn(at, tt.loc); got != tt.want {
			t.Errorf("fmtTime in %v = %q, want %q", tt.loc, got, tt.want)
		}
	}
	if fmtTime(time.Time{}) != "-" {
		t.Error("the zero time is not -")
	}
}

// TestPluralAndHostLabel: counts agree with their nouns; host labels carry the short ID.
func TestPluralAndHostLabel(t *testing.T) {
	if plural(1, "host", "hosts") != "1 host" || plural(2, "use", "uses") != "2 uses" || plural(0, "host", "hosts") != "0 hosts" {
		t.Error("plural")
	}
	for _, tt := range []struct{ name, id, want string }{
		{"web-1", "3f2a9c01deadbeef", "web-1 [3f2a9c01]"}, {"", "3f2a9c01deadbeef", "3f2a9c01"}, {"web-1", "", "web-1"}, {"", "", "-"},
	} {
		if got := hostLabel(tt.name, tt.id); got != tt.want {
			t.Errorf("hostLabel(%q, %q) = %q, want %q", tt.name, tt.id, got, tt.want)
		}
	}
}

// TestErrorMessages runs vigilctl against a real server and checks the messages a new user meets:
// a bad --start in words (no Go layout), the missing passphrase said once, the TLS hint, typos in
// rules and silences refused by the server.
func TestErrorMessages(t *testing.T) {
	startServer(t)
	code, _, errOut := ctl(t, "silences", "create", "--group", "default", "--duration", "1h", "--start", "tomorrow 10pm")
	if code != 2 || strings.Contains(errOut, "2006") || !strings.Contains(errOut, "2026-11-21T22:00:00Z") {
		t.Errorf("bad --start: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "silences", "create", "--group", "default", "--end", "2026-13-01T00:00:00Z"); code != 2 || strings.Contains(errOut, "2006") {
		t.Errorf("bad --end: %d %q", code, errOut)
	}

	t.Setenv("VIGIL_KEY_PASSPHRASE", "restored after the test")
	os.Unsetenv("VIGIL_KEY_PASSPHRASE")
	code, _, errOut = ctl(t, "keys", "gen", "--out", t.TempDir()+"/k")
	if code != 1 || strings.Count(errOut, "VIGIL_KEY_PASSPHRASE") != 1 || strings.Count(errOut, "\n") != 1 {
		t.Errorf("keys gen without a passphrase: %d %q, want one line naming VIGIL_KEY_PASSPHRASE once", code, errOut)
	}

	// Typos in rules and silences: the server refuses them and says what does not exist.
	if code, _, errOut = ctl(t, "rules", "create", "--kind", "cpu", "--threshold", "90", "--group", "wbe"); code != 1 || !strings.Contains(errOut, `no group "wbe"`) {
		t.Errorf("rule for a missing group: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "silences", "create", "--group", "wbe", "--duration", "1h"); code != 1 || !strings.Contains(errOut, `no group "wbe"`) {
		t.Errorf("silence for a missing group: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "silences", "create", "--rule", "r-nope", "--duration", "1h"); code != 1 || !strings.Contains(errOut, `no rule with ID "r-nope"`) {
		t.Errorf("silence for a missing rule: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "rules", "create", "--kind", "cpu", "--threshold", "90", "--host", "web-9"); code != 1 || !strings.Contains(errOut, `no host has the ID, ID prefix or hostname "web-9"`) {
		t.Errorf("rule for a missing host: %d %q", code, errOut)
	}
	if code, out, _ := ctl(t, "silences", "ls"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("refused silences were stored: %q", out)
	}

	// Without the server's CA: the TLS error comes with a hint, once.
	ca := os.Getenv("VIGIL_CA")
	t.Setenv("VIGIL_CA", "")
	code, _, errOut = ctl(t, "hosts", "ls")
	if code != 1 || strings.Count(errOut, "pass --ca FILE or set VIGIL_CA") != 1 {
		t.Errorf("unknown authority: %d %q, want the --ca hint once", code, errOut)
	}
	// With a CA that did not sign the server's certificate: the hint names the file.
	other := t.TempDir() + "/other-ca.pem"
	writeSelfSignedCA(t, other)
	t.Setenv("VIGIL_CA", other)
	if code, _, errOut = ctl(t, "hosts", "ls"); code != 1 || !strings.Contains(errOut, "not signed by the CA in --ca/VIGIL_CA "+other) {
		t.Errorf("wrong CA: %d %q", code, errOut)
	}
	t.Setenv("VIGIL_CA", ca)
	if code, _, errOut = ctl(t, "hosts", "ls"); code != 0 {
		t.Errorf("with the CA: %d %q", code, errOut)
	}
}

// writeSelfSignedCA writes a CA certificate (PEM), made now, that signed nothing.
func writeSelfSignedCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "some other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
