package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/wire"
)

// fakeHost speaks the host side of the protocol: enroll, report, ask the desired version and
// report a committed update to it.
type fakeHost struct {
	t             *testing.T
	base          string
	hc            *http.Client
	cred, version string
	seq           uint64
}

func (h *fakeHost) do(method, path, bearer string, body any, out any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Error(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		h.t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		return
	}
	if out != nil {
		json.Unmarshal(b, out)
	}
}

func (h *fakeHost) report() {
	h.seq++
	h.do(http.MethodPost, "/api/v1/reports", h.cred, wire.ReportBatch{Reports: []wire.Report{{Seq: h.seq, Time: time.Now().UTC(), AgentVersion: h.version, IntervalSeconds: 10}}}, nil)
}

func (h *fakeHost) poll() {
	var d wire.UpdateDesired
	h.do(http.MethodGet, "/api/v1/updates/desired", h.cred, nil, &d)
	if d.Version != "" && d.Version != h.version {
		prev := h.version
		h.do(http.MethodPost, "/api/v1/updates/events", h.cred, wire.UpdateEvent{FromVersion: prev, ToVersion: d.Version, Phase: wire.PhaseTrial, Result: wire.ResultStarted, Time: time.Now()}, nil)
		h.version = d.Version
		h.do(http.MethodPost, "/api/v1/updates/events", h.cred, wire.UpdateEvent{FromVersion: prev, ToVersion: d.Version, Phase: wire.PhaseCommit, Result: wire.ResultOK, Time: time.Now()}, nil)
	}
	h.report()
}

// TestRolloutCommands: groups set takes the rollout policy; a pin starts a rollout that
// `rollouts show --watch` follows to its end; ls lists it; pause, resume and abort steer the
// next one, and abort says which pin the group is back on.
func TestRolloutCommands(t *testing.T) {
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		HostRate: 1000, HostBurst: 1000, Rollout: app.RolloutTuning{Interval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tok, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_SERVER", srv.URL)
	t.Setenv("VIGIL_CA", srv.CAFile)
	t.Setenv("VIGIL_TOKEN", strings.TrimSpace(string(tok)))
	t.Setenv("VIGIL_TRUSTED_ROOT", filepath.Join(t.TempDir(), "trusted-root.json"))
	caPEM, _ := os.ReadFile(srv.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	if code, _, errOut := ctl(t, "groups", "create", "web"); code != 0 {
		t.Fatalf("groups create: %s", errOut)
	}
	code, out, errOut := ctl(t, "groups", "set", "web", "--canaries", "1", "--wave-percent", "50", "--soak", "200ms")
	if code != 0 || !strings.Contains(out, "50%") || !strings.Contains(out, "200ms") || !strings.Contains(out, "15m0s (default)") {
		t.Fatalf("groups set policy: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := ctl(t, "groups", "set", "web", "--wave-percent", "0", "--grace", "1m"); code != 2 || !strings.Contains(errOut, "own") {
		t.Fatalf("policy with other settings: %d %q", code, errOut)
	}
	if code, _, errOut := ctl(t, "groups", "set", "web", "--wave-percent", "101"); code != 1 || !strings.Contains(errOut, "wave percent") {
		t.Fatalf("wave 101%%: %d %q", code, errOut)
	}

	var hosts []*fakeHost
	for i := range 4 {
		code, out, errOut := ctl(t, "-o", "json", "enroll", "create-token", "--group", "web", "--max-uses", "1")
		if code != 0 {
			t.Fatalf("create token: %q", errOut)
		}
		var et struct{ Token string }
		json.Unmarshal([]byte(out), &et)
		h := &fakeHost{t: t, base: srv.URL, hc: hc, version: "1.0.0"}
		var resp wire.EnrollResponse
		h.do(http.MethodPost, "/api/v1/enroll", "", wire.EnrollRequest{EnrollmentToken: et.Token, Hostname: "web-" + string(rune('a'+i)), AgentVersion: "1.0.0"}, &resp)
		h.cred = resp.Credential
		h.report()
		hosts = append(hosts, h)
	}
	// The fleet runs its updaters until told to stop.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
			}
			for _, h := range hosts {
				h.poll()
			}
		}
	})
	var stopOnce sync.Once
	stopFleet := func() { stopOnce.Do(func() { close(stop); wg.Wait() }) }
	t.Cleanup(stopFleet) // also when the test fails early: no goroutine outlives it

	if code, out, errOut := ctl(t, "groups", "pin", "web", "1.1.0", "--force"); code != 0 || !strings.Contains(out, "1.1.0") {
		t.Fatalf("pin: %d %q %q", code, out, errOut)
	}
	code, out, errOut = ctl(t, "-o", "json", "rollouts", "ls", "--group", "web", "--active")
	var rs []struct{ ID, State string }
	if err := json.Unmarshal([]byte(out), &rs); code != 0 || err != nil || len(rs) != 1 {
		t.Fatalf("rollouts ls: %d %q %q", code, out, errOut)
	}
	id := rs[0].ID
	code, out, errOut = ctl(t, "rollouts", "show", id, "--watch", "--every", "100ms")
	if code != 0 || !strings.Contains(out, "completed") || !strings.Contains(out, "4 of 4 hosts") || !strings.Contains(out, "canaries") {
		t.Fatalf("show --watch: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := ctl(t, "rollouts", "ls"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "completed") || !strings.Contains(out, "4/4") {
		t.Fatalf("rollouts ls: %d %q", code, out)
	}
	stopFleet()
	if code, out, _ := ctl(t, "groups", "show", "web"); code != 0 || !strings.Contains(out, "rollout wave percent") || !strings.Contains(out, "50%") {
		t.Fatalf("groups show: %d %q", code, out)
	}

	// The next one: pause, resume, abort.
	if code, _, errOut := ctl(t, "groups", "pin", "web", "1.2.0", "--force"); code != 0 {
		t.Fatalf("pin 1.2.0: %q", errOut)
	}
	code, out, _ = ctl(t, "-o", "json", "rollouts", "ls", "--active")
	rs = nil
	json.Unmarshal([]byte(out), &rs)
	if code != 0 || len(rs) != 1 || rs[0].ID == id {
		t.Fatalf("active rollouts: %q", out)
	}
	id2 := rs[0].ID
	if code, out, _ := ctl(t, "groups", "show", "web"); code != 0 || !strings.Contains(out, id2+" running to 1.2.0") {
		t.Fatalf("groups show during a rollout: %d %q", code, out)
	}
	if code, _, errOut := ctl(t, "groups", "pin", "web", "1.3.0", "--force"); code != 1 || !strings.Contains(errOut, "rollouts abort "+id2) {
		t.Fatalf("pin during a rollout: %d %q", code, errOut)
	}
	for _, step := range []struct{ args, want string }{
		{"pause", "is paused"}, {"resume", "is running"}, {"abort", "pinned to version 1.1.0 again"},
	} {
		if code, out, errOut := ctl(t, "rollouts", step.args, id2); code != 0 || !strings.Contains(out, step.want) {
			t.Fatalf("rollouts %s: %d %q %q", step.args, code, out, errOut)
		}
	}
	if code, _, errOut := ctl(t, "rollouts", "resume", id2); code != 1 || !strings.Contains(errOut, "cannot resume a rollout that is aborted") {
		t.Fatalf("resume aborted: %d %q", code, errOut)
	}
	code, out, errOut = ctl(t, "rollouts", "show", id2, "--watch")
	if code != 1 || !strings.Contains(out, "aborted") || !strings.Contains(errOut, "did not complete") {
		t.Fatalf("show --watch of an aborted rollout: %d %q %q", code, out, errOut)
	}

	// A bad build: the canary rolls it back and the rollout halts; it can then only be aborted.
	if code, _, errOut := ctl(t, "groups", "pin", "web", "1.3.0", "--force"); code != 0 {
		t.Fatalf("pin 1.3.0: %q", errOut)
	}
	code, out, _ = ctl(t, "-o", "json", "rollouts", "ls", "--active")
	rs = nil
	json.Unmarshal([]byte(out), &rs)
	if code != 0 || len(rs) != 1 {
		t.Fatalf("active rollouts: %q", out)
	}
	id3 := rs[0].ID
	for _, h := range hosts {
		var d wire.UpdateDesired
		h.do(http.MethodGet, "/api/v1/updates/desired", h.cred, nil, &d)
		if d.Version != "1.3.0" {
			continue
		}
		h.do(http.MethodPost, "/api/v1/updates/events", h.cred, wire.UpdateEvent{FromVersion: h.version, ToVersion: "1.3.0", Phase: wire.PhaseTrial, Result: wire.ResultFailed, Reason: "health gate", Time: time.Now()}, nil)
		h.do(http.MethodPost, "/api/v1/updates/events", h.cred, wire.UpdateEvent{FromVersion: "1.3.0", ToVersion: h.version, Phase: wire.PhaseRollback, Result: wire.ResultOK, Reason: "health gate", Time: time.Now()}, nil)
	}
	if code, out, errOut := ctl(t, "rollouts", "show", id3, "--watch", "--every", "100ms"); code != 1 || !strings.Contains(out, "halted") {
		t.Fatalf("show --watch of a halting rollout: %d %q %q", code, out, errOut)
	}
	for _, action := range []string{"resume", "pause"} {
		if code, _, errOut := ctl(t, "rollouts", action, id3); code != 1 || !strings.Contains(errOut, "cannot "+action+" a rollout that is halted") ||
			!strings.Contains(errOut, "can only be aborted") {
			t.Fatalf("%s a halted rollout: %d %q", action, code, errOut)
		}
	}
	if code, out, errOut := ctl(t, "rollouts", "abort", id3); code != 0 || !strings.Contains(out, "pinned to version 1.1.0 again") {
		t.Fatalf("abort a halted rollout: %d %q %q", code, out, errOut)
	}
}
