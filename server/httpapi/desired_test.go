package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// TestDesiredWithEnrollmentToken: an updater whose agent has not enrolled yet asks with the
// enrollment token and gets the pin of the token's group, without using the token up; a revoked,
// used-up or unknown token is 401.
func TestDesiredWithEnrollmentToken(t *testing.T) {
	e := newReleaseEnv(t, false)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	for name, pin := range map[string]server.Pin{"pinned": {Version: "1.0.0"}, "betas": {Channel: "beta"}, "nopin": {}} {
		if _, err := e.svc.CreateGroup(ctx, boot, server.Group{Name: name}); err != nil {
			t.Fatal(err)
		}
		if pin != (server.Pin{}) {
			if _, err := e.svc.SetPin(ctx, boot, name, pin); err != nil {
				t.Fatal(err)
			}
		}
	}
	token := func(group string) string {
		tok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, group, time.Hour, 1)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ask := func(tok string) (int, wire.UpdateDesired) {
		req, err := http.NewRequest(http.MethodGet, e.base+"/api/v1/updates/desired", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d wire.UpdateDesired
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, d
	}
	pinned := token("pinned")
	for _, tt := range []struct {
		name string
		tok  string
		want wire.UpdateDesired
	}{
		{"pinned group", pinned, wire.UpdateDesired{Version: "1.0.0"}},
		{"asking again does not use the token up", pinned, wire.UpdateDesired{Version: "1.0.0"}},
		{"channel", token("betas"), wire.UpdateDesired{Channel: "beta"}},
		{"no pin", token("nopin"), wire.UpdateDesired{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, d := ask(tt.tok)
			if code != http.StatusOK || d != tt.want {
				t.Errorf("desired: %d %+v, want 200 %+v", code, d, tt.want)
			}
		})
	}
	// The token still enrolls its one host, and is then used up.
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: pinned, Hostname: "web-1",
		MachineID: strings.Repeat("a", 32), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatalf("enroll after asking for the desired version: %v", err)
	}
	if code, d := ask(host.Credential); code != http.StatusOK || d.Version != "1.0.0" {
		t.Errorf("desired with the host credential: %d %+v", code, d)
	}
	revoked := token("pinned")
	toks, err := e.svc.ListEnrollmentTokens(ctx, boot)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Hash == server.HashSecret(revoked) {
			if err := e.svc.RevokeEnrollmentToken(ctx, boot, tk.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, tok := range map[string]string{"used up": pinned, "revoked": revoked, "unknown": "vge_not-a-token", "empty": ""} {
		if code, _ := ask(tok); code != http.StatusUnauthorized {
			t.Errorf("%s token: %d, want 401", name, code)
		}
	}
}
