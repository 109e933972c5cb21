package e2e

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/tlspin"
)

// TestUpdaterEndToEnd runs the update path with real processes only: vigil-server, vigilctl (two
// targets keys, threshold 2), vigil-updater and vigil-agent builds at 1.0.0 and 2.0.0, and three
// bad builds released as 2.1.0 (exits at once), 2.2.0 (hangs without READY) and 2.3.0 (an agent
// built for another architecture). It checks: first install of 1.0.0; pin 2.0.0 → committed; each
// bad build → rolled back (or refused before the switch), quarantined and reported, the host
// reporting with 2.0.0 throughout; pin 1.0.0 → refused as a downgrade; 1.0.1 released with
// --allow-downgrade → installed.
func TestUpdaterEndToEnd(t *testing.T) {
	skipShort(t)
	if runtime.GOOS != "linux" {
		t.Skip("the updater runs on Linux")
	}
	const grace = 5 * time.Second
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	logs := filepath.Join(work, "logs")
	for _, d := range []string{bin, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const (
		agentPkg = "github.com/vigilhq/vigil/cmd/vigil-agent"
		fakePkg  = "github.com/vigilhq/vigil/updater/internal/fakeagent"
	)
	start := time.Now()
	updBuildAll(t, bin, map[string]updBuild{
		"agent-exit-2.1.0": {pkg: fakePkg, version: "2.1.0", ldflags: "-X main.mode=exit"},
		"agent-hang-2.2.0": {pkg: fakePkg, version: "2.2.0", ldflags: "-X main.mode=hang"},
		"agent-arch-2.3.0": {pkg: agentPkg, version: "2.3.0", goarch: updOtherArch()},
	})
	paths := map[string]string{
		"vigilctl":      buildBinary(t, "vigilctl", "0.0.0-e2e"),
		"vigil-updater": buildBinary(t, "vigil-updater", "1.0.0"),
		"agent-1.0.0":   buildBinary(t, "vigil-agent", "1.0.0"),
		"agent-2.0.0":   buildBinary(t, "vigil-agent", "2.0.0"),
		"agent-1.0.1":   buildBinary(t, "vigil-agent", "1.0.1"),
	}
	b := func(name string) string {
		if p, ok := paths[name]; ok {
			return p
		}
		return filepath.Join(bin, name)
	}
	srv := newUpdServer(t, startServer(t, serverConfig{}), b("vigilctl"))
	t.Logf("built binaries and started the server in %v", time.Since(start).Round(time.Millisecond))

	// Release engineers' keys and the repository: root 1 of 1, targets 2 of 2.
	keys := filepath.Join(work, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	k := func(name string) string { return filepath.Join(keys, name+".key") }
	for _, name := range []string{"root", "targets-a", "targets-b"} {
		srv.ctl("keys", "gen", "--out", k(name))
	}
	srv.ctl("repo", "init", "--root-key", k("root"), "--root-threshold", "1",
		"--targets-key", k("targets-a"), "--targets-key", k("targets-b"), "--targets-threshold", "2")
	twoKeys := []string{k("targets-a"), k("targets-b")}
	agentFile := "vigil-agent-linux-" + runtime.GOARCH

	// One signature is not enough to publish.
	dist := filepath.Join(work, "dist-1.0.0")
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(b("agent-1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, agentFile), data, 0o755); err != nil {
		t.Fatal(err)
	}
	srv.ctl("release", "stage", "1.0.0", "--channel", "stable", filepath.Join(dist, agentFile))
	srv.ctl("release", "sign", "1.0.0", "--key", k("targets-a"), "--yes")
	if out, err := srv.tryCtl("release", "publish", "1.0.0"); err == nil {
		t.Fatalf("publish with 1 of 2 targets signatures succeeded: %s", out)
	}
	srv.ctl("release", "sign", "1.0.0", "--key", k("targets-b"), "--yes")
	srv.ctl("release", "publish", "1.0.0")
	srv.release("2.0.0", map[string]string{agentFile: b("agent-2.0.0")}, twoKeys)
	bad := []struct{ version, build, what string }{
		{"2.1.0", "agent-exit-2.1.0", "exits at once"},
		{"2.2.0", "agent-hang-2.2.0", "hangs without READY"},
		{"2.3.0", "agent-arch-2.3.0", "built for " + updOtherArch()},
	}
	for _, bb := range bad {
		// Mislabelled on purpose: the signed target says linux-<this arch>.
		srv.release(bb.version, map[string]string{agentFile: b(bb.build)}, twoKeys)
	}

	// The updater's initial root is root version 1 as the server serves it.
	rootFile := filepath.Join(work, "root.json")
	if err := os.WriteFile(rootFile, srv.fetch("/tuf/metadata/1.root.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.ctl("groups", "create", "e2e-updates")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(srv.ctl("--output", "json", "enroll", "create-token", "--group", "e2e-updates")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("enrollment token: %v", err)
	}

	// First install, then run.
	state := filepath.Join(work, "state")
	common := []string{"--server", srv.url, "--ca", srv.ca, "--state-dir", state, "--trusted-root", rootFile}
	out, err := exec.Command(b("vigil-updater"), append([]string{"install"}, append(common, "--pin", "1.0.0")...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "installed vigil-agent 1.0.0") {
		t.Fatalf("vigil-updater install: %v\n%s", err, out)
	}
	// The same first install pinning the server's CA by fingerprint, with the server URL an IP
	// address (crypto/tls sends no SNI then; the pin must still check the certificate's IP), and
	// with a wrong fingerprint, which must be refused as a TLS failure that says so.
	caPEM, err := os.ReadFile(srv.ca)
	if err != nil {
		t.Fatal(err)
	}
	caBlock, _ := pem.Decode(caPEM)
	if caBlock == nil {
		t.Fatalf("%s: no PEM certificate", srv.ca)
	}
	for _, tt := range []struct {
		fp   string
		want []string
	}{
		{tlspin.Fingerprint(caBlock.Bytes), []string{"installed vigil-agent 1.0.0"}},
		{strings.Repeat("ab", 32), []string{"TLS verification of the server failed", "pinned CA fingerprint"}},
	} {
		out, err := exec.Command(b("vigil-updater"), "install", "--server", srv.url, "--ca-fingerprint", tt.fp,
			"--state-dir", filepath.Join(t.TempDir(), "state"), "--trusted-root", rootFile, "--pin", "1.0.0").CombinedOutput()
		if ok := tt.want[0] == "installed vigil-agent 1.0.0"; (err == nil) != ok {
			t.Errorf("vigil-updater install --ca-fingerprint %s: err %v\n%s", tt.fp, err, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("vigil-updater install --ca-fingerprint %s: output lacks %q:\n%s", tt.fp, w, out)
			}
		}
	}

	upd := updStart(t, "vigil-updater", logs, nil, b("vigil-updater"), append([]string{"run"}, append(common,
		"--enroll-token", tok.Token, "--poll", "1s", "--grace", grace.String(), "--agent-user", "")...)...)

	var host updHost
	findHost := func() bool {
		var hosts []updHost
		srv.get("/api/v1/hosts", &hosts)
		for _, h := range hosts {
			if h.Group == "e2e-updates" {
				host = h
				return true
			}
		}
		return false
	}
	updWait(t, 60*time.Second, "the host to enroll and report 1.0.0", func() bool { return findHost() && host.AgentVersion == "1.0.0" })
	events := func() []updEvent {
		var ev []updEvent
		srv.get("/api/v1/hosts/"+host.ID+"/updates", &ev)
		return ev
	}
	has := func(ev []updEvent, phase, result, to string) (updEvent, bool) {
		for _, e := range ev {
			if e.Phase == phase && e.Result == result && e.ToVersion == to {
				return e, true
			}
		}
		return updEvent{}, false
	}
	status := func() (st struct {
		Linked  string `json:"linked"`
		Journal struct {
			Current string          `json:"current"`
			Trial   json.RawMessage `json:"trial"`
		} `json:"journal"`
		Installed  []string `json:"installed"`
		Quarantine []struct {
			Version, Reason string
		} `json:"quarantine"`
	}) {
		t.Helper()
		out, err := exec.Command(b("vigil-updater"), "status", "--json", "--state-dir", state).Output()
		if err != nil {
			t.Fatalf("vigil-updater status: %v", err)
		}
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// reportsWith waits for a report newer than since from agent version v.
	reportsWith := func(v string, since time.Time) {
		t.Helper()
		updWait(t, 60*time.Second, "a report from agent "+v, func() bool {
			findHost()
			return host.AgentVersion == v && host.LastSeen.After(since)
		})
	}
	pin := func(v string) time.Time {
		srv.ctl("groups", "pin", "e2e-updates", v)
		return time.Now()
	}
	defer func() {
		if t.Failed() {
			for _, e := range events() {
				t.Logf("event %s", e)
			}
		}
	}()

	// v1 → v2 succeeds.
	pinned := pin("2.0.0")
	updWait(t, 60*time.Second, "commit of 2.0.0", func() bool { _, ok := has(events(), "commit", "ok", "2.0.0"); return ok })
	t.Logf("pin 2.0.0 → committed in %v (poll 1s, grace %v)", time.Since(pinned).Round(time.Millisecond), grace)
	reportsWith("2.0.0", pinned)
	if st := status(); st.Linked != "2.0.0" || st.Journal.Current != "2.0.0" || len(st.Journal.Trial) > 0 && string(st.Journal.Trial) != "null" {
		t.Fatalf("after 2.0.0: status %+v", st)
	}

	// Each bad build: rolled back (or refused before the switch), quarantined, reported; 2.0.0 keeps running.
	for _, bb := range bad {
		pinned := pin(bb.version)
		var failed updEvent
		updWait(t, 90*time.Second, "failure of "+bb.version+" ("+bb.what+")", func() bool {
			ev := events()
			if e, ok := has(ev, "trial", "failed", bb.version); ok {
				failed = e
				return slices.ContainsFunc(ev, func(e updEvent) bool {
					return e.Phase == "rollback" && e.Result == "ok" && e.FromVersion == bb.version && e.ToVersion == "2.0.0"
				})
			}
			if e, ok := has(ev, "verify", "failed", bb.version); ok {
				failed = e
				return true
			}
			return false
		})
		t.Logf("%s (%s): %s/%s %v after the pin: %s", bb.version, bb.what, failed.Phase, failed.Result,
			failed.Time.Sub(pinned).Round(time.Millisecond), failed.Reason)
		st := status()
		if st.Linked != "2.0.0" || st.Journal.Current != "2.0.0" {
			t.Fatalf("after %s: linked %q, journal current %q; want 2.0.0", bb.version, st.Linked, st.Journal.Current)
		}
		if !slices.ContainsFunc(st.Quarantine, func(q struct{ Version, Reason string }) bool { return q.Version == bb.version }) {
			t.Fatalf("%s not quarantined: %+v", bb.version, st.Quarantine)
		}
		reportsWith("2.0.0", failed.Time)
	}
	if st := status(); slices.Contains(st.Installed, "2.1.0") || slices.Contains(st.Installed, "2.2.0") || len(st.Installed) > 2 {
		t.Errorf("failed versions left installed: %v", st.Installed)
	}

	// A quarantined version is not tried again, even when pinned again.
	pin("2.1.0")
	updWait(t, 30*time.Second, "2.1.0 refused as quarantined", func() bool {
		for _, e := range events() {
			if e.Phase == "check" && e.Result == "refused" && e.ToVersion == "2.1.0" && strings.Contains(e.Reason, "quarantine") {
				return true
			}
		}
		return false
	})

	// An operator clears the host's quarantine: the updater forgets it at its next poll and tries
	// 2.1.0 again (which fails its gate again and is quarantined again). Every outcome of both
	// trials reaches the server exactly once.
	count := func(phase, result, to string) int {
		n := 0
		for _, e := range events() {
			if e.Phase == phase && e.Result == result && e.ToVersion == to {
				n++
			}
		}
		return n
	}
	if n := count("trial", "started", "2.1.0"); n != 1 {
		t.Fatalf("%d trials of 2.1.0 before the clear, want 1", n)
	}
	srv.ctl("hosts", "clear-quarantine", host.ID)
	updWait(t, 90*time.Second, "2.1.0 tried again after clear-quarantine", func() bool {
		return count("trial", "failed", "2.1.0") == 2
	})
	if n := count("trial", "started", "2.1.0"); n != 2 {
		t.Errorf("%d trials of 2.1.0 reported, want 2 (one after the clear)", n)
	}
	if st := status(); st.Linked != "2.0.0" || !slices.ContainsFunc(st.Quarantine, func(q struct{ Version, Reason string }) bool { return q.Version == "2.1.0" }) {
		t.Fatalf("after the retry of 2.1.0: %+v", st)
	}

	// Back to 1.0.0: refused as a downgrade, 2.0.0 keeps running.
	pinned = pin("1.0.0")
	updWait(t, 30*time.Second, "1.0.0 refused as a downgrade", func() bool {
		e, ok := has(events(), "check", "refused", "1.0.0")
		return ok && strings.Contains(e.Reason, "downgrade")
	})
	reportsWith("2.0.0", pinned)

	// Unless the release engineers sign a release that allows it.
	srv.release("1.0.1", map[string]string{agentFile: b("agent-1.0.1")}, twoKeys, "--allow-downgrade")
	pinned = pin("1.0.1")
	updWait(t, 60*time.Second, "commit of 1.0.1 (signed allow_downgrade)", func() bool { _, ok := has(events(), "commit", "ok", "1.0.1"); return ok })
	reportsWith("1.0.1", pinned)
	if st := status(); st.Linked != "1.0.1" || st.Journal.Current != "1.0.1" {
		t.Fatalf("after 1.0.1: status %+v", st)
	}
	upd.stop()
}
