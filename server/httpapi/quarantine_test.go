package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// TestClearQuarantine: POST /api/v1/hosts/{id}/clear-quarantine needs the operator role, is
// audited, 404s for an unknown host, and raises the quarantine_generation the host's updater
// reads in its desired-version answer.
func TestClearQuarantine(t *testing.T) {
	e := newReleaseEnv(t, false)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	opTok, _, err := e.svc.CreateAPIToken(ctx, boot, "op", server.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	enrollTok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: enrollTok, Hostname: "web-1",
		MachineID: strings.Repeat("b", 32), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, tok string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, e.base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	desired := func() (wire.UpdateDesired, string) {
		t.Helper()
		code, b := do(http.MethodGet, "/api/v1/updates/desired", host.Credential, nil)
		var d wire.UpdateDesired
		if code != http.StatusOK || json.Unmarshal(b, &d) != nil {
			t.Fatalf("desired: %d %s", code, b)
		}
		return d, string(b)
	}
	if d, raw := desired(); d.QuarantineGeneration != 0 || strings.Contains(raw, "quarantine_generation") {
		t.Errorf("desired before any clear = %s, want no quarantine_generation", raw)
	}
	path := "/api/v1/hosts/" + host.HostID + "/clear-quarantine"
	if code, _ := do(http.MethodPost, path, e.viewerTok, nil); code != http.StatusForbidden {
		t.Errorf("clear-quarantine as viewer: %d, want 403", code)
	}
	if code, _ := do(http.MethodPost, path, host.Credential, nil); code != http.StatusUnauthorized {
		t.Errorf("clear-quarantine with a host credential: %d, want 401", code)
	}
	if code, _ := do(http.MethodPost, "/api/v1/hosts/h-unknown/clear-quarantine", opTok, nil); code != http.StatusNotFound {
		t.Errorf("clear-quarantine of an unknown host: %d, want 404", code)
	}
	for want := uint64(1); want <= 2; want++ {
		code, b := do(http.MethodPost, path, opTok, nil)
		var got api.ClearQuarantineResponse
		if code != http.StatusOK || json.Unmarshal(b, &got) != nil || got != (api.ClearQuarantineResponse{HostID: host.HostID, QuarantineGeneration: want}) {
			t.Fatalf("clear-quarantine: %d %s, want 200 generation %d", code, b, want)
		}
		if d, _ := desired(); d.QuarantineGeneration != want {
			t.Errorf("desired quarantine_generation = %d, want %d", d.QuarantineGeneration, want)
		}
	}
	audit, err := e.svc.ListAudit(ctx, boot, 1, 0)
	if err != nil || len(audit) != 1 || audit[0].Action != "host.clear_quarantine" || audit[0].Target != "host/"+host.HostID ||
		!strings.Contains(audit[0].Actor, "op") {
		t.Errorf("newest audit entry = %+v, %v; want host.clear_quarantine of host/%s by op", audit, err, host.HostID)
	}
}

// TestUpdateEventRepostRecordedOnce: an update event posted again with the same id (an updater
// killed after the server took it) is answered 204 and recorded once; a bad id is 400.
func TestUpdateEventRepostRecordedOnce(t *testing.T) {
	e := newReleaseEnv(t, false)
	ctx := context.Background()
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	enrollTok, _, err := e.svc.CreateEnrollmentToken(ctx, boot, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: enrollTok, Hostname: "web-2",
		MachineID: strings.Repeat("c", 32), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(ev wire.UpdateEvent) int {
		t.Helper()
		b, _ := json.Marshal(ev)
		req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/updates/events", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+host.Credential)
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ev := wire.UpdateEvent{ID: "00112233445566778899aabbccddeeff", FromVersion: "1.0.0", ToVersion: "2.0.0",
		Phase: wire.PhaseCommit, Result: wire.ResultOK, Time: time.Now().UTC()}
	for i := 0; i < 3; i++ {
		if code := post(ev); code != http.StatusNoContent {
			t.Fatalf("post %d: %d, want 204", i, code)
		}
	}
	bad := ev
	bad.ID = "not/an id"
	if code := post(bad); code != http.StatusBadRequest {
		t.Errorf("bad id: %d, want 400", code)
	}
	evs, err := e.svc.ListUpdateEvents(ctx, boot, host.HostID)
	if err != nil || len(evs) != 1 || evs[0].ID != ev.ID {
		t.Errorf("stored events = %+v, %v; want the one event once", evs, err)
	}
}
