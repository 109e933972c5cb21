package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseArgsEnv(t *testing.T) {
	env := map[string]string{"VIGIL_SERVER": "https://env:8443", "VIGIL_POLL": "2m", "VIGIL_GRACE": "30s", "VIGIL_AGENT_USER": "nobody"}
	o, err := parseArgs("run", []string{"--grace", "10s"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.server != "https://env:8443" || o.poll != 2*time.Minute || o.grace != 10*time.Second || o.agentUser != "nobody" {
		t.Errorf("options = %+v", o)
	}
	if _, err := parseArgs("run", []string{"--bogus"}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestVersionHelpSelfCheck(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--version"}, 0, "vigil-updater dev"},
		{[]string{"--help"}, 0, "vigil-updater run --server URL"},
		{[]string{"self-check"}, 0, "self-check ok"},
		{[]string{"self-check", "--trusted-root", "/nonexistent"}, 1, ""},
		{[]string{"frobnicate"}, 2, ""},
		{[]string{"run"}, 2, ""}, // --server missing
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stdout.String(), tt.out) {
			t.Errorf("%v: code %d, stdout %q, stderr %q", tt.args, code, stdout.String(), stderr.String())
		}
	}
}

func TestStatus(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"status", "--state-dir", t.TempDir()}, &stdout, &stderr); code != 0 {
		t.Fatalf("status: %d %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "current:    none") {
		t.Errorf("status output %q", stdout.String())
	}
}

// TestAgentConfigFlag: VIGIL_AGENT_CONFIG sets --agent-config; the file is passed to the agent as
// --config with an absolute path; a missing file or a directory is refused.
func TestAgentConfigFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(file, []byte("watch: {units: [ssh.service]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VIGIL_SERVER": "https://vigil.test", "VIGIL_AGENT_CONFIG": file}
	o, err := parseArgs("run", nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil || o.agentConfig != file {
		t.Fatalf("parseArgs: %+v, %v", o, err)
	}
	cfg, err := buildConfig(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(cfg.AgentArgs, "--config"); i < 0 || cfg.AgentArgs[i+1] != file {
		t.Errorf("agent args %q, want --config %s", cfg.AgentArgs, file)
	}
	for _, bad := range []string{filepath.Join(dir, "agent.yml"), dir} {
		o.agentConfig = bad
		if _, err := buildConfig(o, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "--agent-config") {
			t.Errorf("--agent-config %s: err = %v", bad, err)
		}
	}
}

// TestWatchdogFromEnv reads systemd's watchdog variables as sd_watchdog_enabled(3) does.
func TestWatchdogFromEnv(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{name: "no WatchdogSec", env: map[string]string{"NOTIFY_SOCKET": "/run/n"}},
		{name: "for us", env: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "42"}, want: time.Minute},
		{name: "no pid given", env: map[string]string{"NOTIFY_SOCKET": "@abstract", "WATCHDOG_USEC": "1000000"}, want: time.Second},
		{name: "for another process", env: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "7"}},
		{name: "bad usec", env: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "1m"}, wantErr: true},
		{name: "zero usec", env: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "0"}, wantErr: true},
		{name: "no socket", env: map[string]string{"WATCHDOG_USEC": "1000000"}, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, err := watchdogFromEnv(func(k string) string { return tt.env[k] }, 42)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if w.Interval != tt.want || w.Enabled() != (tt.want > 0) {
				t.Errorf("watchdog %+v, want interval %s", w, tt.want)
			}
		})
	}
}
