package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server/alert/alerttest"
	"github.com/vigilhq/vigil/wire"
)

// TestAgentSettingsEndToEnd runs real processes only: vigil-server with an SMTP test server,
// vigilctl, and vigil-updater supervising vigil-agent installed from the signed repository with a
// local agent configuration (--agent-config). An operator sets the group's watch list and an
// interval with vigilctl; the next reports carry the watched process (a copy of sleep the test
// started) beside the local configuration's entry, at the local interval (local wins). Killing
// the process fires the process alert email.
func TestAgentSettingsEndToEnd(t *testing.T) {
	skipShort(t)
	if runtime.GOOS != "linux" {
		t.Skip("the updater runs on Linux")
	}
	work := t.TempDir()
	logs := filepath.Join(work, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	smtpSrv, err := alerttest.Start(alerttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(smtpSrv.Stop)
	sp := startServer(t, serverConfig{Args: []string{"--smtp-url", "smtp://" + smtpSrv.Addr(),
		"--smtp-from", "vigil@example.com", "--alert-email", "ops@example.com"}})
	srv := newUpdServer(t, sp, buildBinary(t, "vigilctl", "0.0.0-e2e"))
	updater := buildBinary(t, "vigil-updater", "1.0.0")
	agentFile := "vigil-agent-linux-" + runtime.GOARCH

	targetsKey := srv.vc().InitRepo(t, filepath.Join(work, "keys"))
	srv.release("1.0.0", map[string]string{agentFile: buildBinary(t, "vigil-agent", "1.0.0")}, []string{targetsKey}, "--channel", "stable")
	rootFile := filepath.Join(work, "root.json")
	if err := os.WriteFile(rootFile, srv.fetch("/tuf/metadata/1.root.json"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The watched process: a copy of sleep under a name no other process has.
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep on PATH")
	}
	data, err := os.ReadFile(sleepBin)
	if err != nil {
		t.Fatal(err)
	}
	watched := filepath.Join(work, "vsleep")
	if err := os.WriteFile(watched, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command(watched, "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })

	// The local configuration: a 1 s interval (wins over the server's 30 s) and this test's own
	// process, which the server cannot remove.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, _ = filepath.EvalSymlinks(self)
	agentYAML := filepath.Join(work, "agent.yaml")
	if err := os.WriteFile(agentYAML, []byte("interval: 1s\nwatch:\n  processes: [{exe: "+self+"}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	srv.ctl("groups", "create", "e2e-settings")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(srv.ctl("--output", "json", "enroll", "create-token", "--group", "e2e-settings")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("enrollment token: %v", err)
	}
	state := filepath.Join(work, "state")
	common := []string{"--server", srv.url, "--ca", srv.ca, "--state-dir", state, "--trusted-root", rootFile}
	if out, err := exec.Command(updater, append([]string{"install"}, common...)...).CombinedOutput(); err != nil {
		t.Fatalf("vigil-updater install: %v\n%s", err, out)
	}
	updStart(t, "vigil-updater", logs, []string{"VIGIL_AGENT_CONFIG=" + agentYAML}, updater, append([]string{"run"},
		append(common, "--enroll-token", tok.Token, "--poll", "1h", "--agent-user", "")...)...)

	cl := sp.Client()
	ctx := context.Background()
	var hostID string
	latest := func() *wire.Report {
		hs, err := cl.ListHosts(ctx, "e2e-settings")
		if err != nil || len(hs) == 0 {
			return nil
		}
		hostID = hs[0].ID
		return hs[0].Latest
	}
	running := func(r *wire.Report, name string) (int, bool) {
		for _, p := range r.Processes {
			if p.Name == name {
				return p.Running, true
			}
		}
		return 0, false
	}
	updWait(t, 60*time.Second, "the host to report with its local watch entry", func() bool {
		r := latest()
		n, ok := 0, false
		if r != nil {
			n, ok = running(r, self)
		}
		return ok && n >= 1
	})

	// The operator sets the group's settings; the next reports carry them.
	out := srv.ctl("groups", "set", "e2e-settings", "--watch-exe", watched, "--watch-unit", "vigil-e2e-none.service", "--interval", "30s")
	if !strings.Contains(out, watched) {
		t.Fatalf("groups set printed:\n%s", out)
	}
	if out := srv.ctl("groups", "show", "e2e-settings"); !strings.Contains(out, watched) || !strings.Contains(out, "30s") {
		t.Fatalf("groups show:\n%s", out)
	}
	changed := time.Now()
	updWait(t, 30*time.Second, "a report with the server's watched process", func() bool {
		r := latest()
		if r == nil {
			return false
		}
		n, ok := running(r, watched)
		return ok && n == 1
	})
	t.Logf("the watch list reached the agent %v after the change", time.Since(changed).Round(time.Millisecond))
	r := latest()
	if n, ok := running(r, self); !ok || n < 1 {
		t.Errorf("the local watch entry is gone from the report: %+v", r.Processes)
	}
	if r.IntervalSeconds != 1 {
		t.Errorf("report interval %d s, want the local 1 s (the server's 30 s must not win)", r.IntervalSeconds)
	}

	// The watched process stops: the process alert email goes out.
	sleeper.Process.Kill()
	sleeper.Wait()
	// The text without quoted-printable soft line breaks, so a long path is found whole.
	text := func(m alerttest.Message) string {
		return m.Subject + "\n" + string(bytes.ReplaceAll(m.Raw, []byte("=\r\n"), nil))
	}
	about := func(m alerttest.Message) bool { return strings.Contains(text(m), "vsleep") }
	msgs, ok := smtpSrv.Wait(60*time.Second, func(m []alerttest.Message) bool { return slices.ContainsFunc(m, about) })
	if !ok {
		h, _ := cl.GetHost(ctx, hostID)
		t.Fatalf("no process alert email for %s; %d emails; latest processes %+v", watched, len(msgs), h.Latest)
	}
	for _, m := range msgs {
		if about(m) {
			t.Logf("alert email: %s", m.Subject)
			if !strings.Contains(text(m), "not running") {
				t.Errorf("alert email does not say the process is not running:\n%s", m.Raw)
			}
			break
		}
	}
}
