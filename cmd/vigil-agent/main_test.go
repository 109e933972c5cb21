package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVersionAndHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &out, &errOut); code != 0 || out.String() != "vigil-agent dev\n" {
		t.Fatalf("--version: code %d, out %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"--help"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "--ca-fingerprint") {
		t.Fatalf("--help: code %d, stderr %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"--bogus"}, &out, io.Discard); code != 2 {
		t.Fatalf("unknown flag: code %d, want 2", code)
	}
}

func TestEnvAndPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfgFile, []byte("server: https://file.example\ninterval: 30s\nstate_dir: /file/state\n"+
		"collectors: {disks: false}\nwatch:\n  processes: [{name: nginx}, {exe: /usr/sbin/sshd}]\n  units: [ssh.service]\n"), 0o600)
	env := map[string]string{
		"VIGIL_SERVER":   "https://env.example",
		"VIGIL_CONFIG":   cfgFile,
		"VIGIL_INTERVAL": "20s",
	}
	o, err := parseArgs([]string{"--interval", "5s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := buildConfig(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server != "https://env.example" || cfg.Interval != 5*time.Second || cfg.StateDir != "/file/state" {
		t.Fatalf("server %q interval %s state %q: want env server, flag interval, file state dir", cfg.Server, cfg.Interval, cfg.StateDir)
	}
	if len(cfg.Collect.Disabled) != 1 || cfg.Collect.Disabled[0] != "disks" ||
		len(cfg.Collect.WatchProcesses) != 2 || cfg.Collect.WatchProcesses[1].Exe != "/usr/sbin/sshd" || cfg.Collect.WatchUnits[0] != "ssh.service" {
		t.Fatalf("file settings lost: %+v", cfg.Collect)
	}
}

func TestConfigFile(t *testing.T) {
	tests := []struct {
		name, yaml string
		ok         bool
	}{
		{"empty", "", true},
		{"full", "interval: 10s\nspool_bytes: 1048576\ncollectors: {cpu: true, units: false}\nwatch: {processes: [{name: x}], units: [a.service]}\n", true},
		{"unknown top-level field", "intervall: 10s\n", false},
		{"unknown nested field", "watch: {procs: [{name: x}]}\n", false},
		{"unknown process field", "watch: {processes: [{nme: x}]}\n", false},
		{"unknown collector", "collectors: {gpu: false}\n", false},
		{"negative spool", "spool_bytes: -1\n", false},
		{"wrong type", "interval: [1]\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFile(strings.NewReader(tt.yaml))
			if (err == nil) != tt.ok {
				t.Fatalf("parseFile: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no server", []string{"--ca-fingerprint", strings.Repeat("ab", 32)}},
		{"both pins", []string{"--server", "https://x", "--ca", "/etc/hostname", "--ca-fingerprint", strings.Repeat("ab", 32)}},
		{"bad fingerprint", []string{"--server", "https://x", "--ca-fingerprint", "abc"}},
		{"bad interval", []string{"--server", "https://x", "--interval", "soon"}},
		{"plain http", []string{"--server", "http://x", "--ca-fingerprint", strings.Repeat("ab", 32), "--enroll-token", "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			if code := run(context.Background(), tt.args, io.Discard, &errOut); code != 2 {
				t.Fatalf("code %d, stderr %s", code, errOut.String())
			}
		})
	}
}

// TestPrintConfig: --print-config prints the effective configuration, checks with their defaults,
// never the enrollment token, and its output is itself a configuration file that says the same.
func TestPrintConfig(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(cfgFile, []byte("server: https://vigil.example:8443\nca_fingerprint: "+strings.Repeat("ab", 32)+"\n"+
		"collectors: {disks: false}\nwatch: {units: [ssh.service]}\nchecks:\n"+
		"  - {name: site, kind: http, target: 'https://localhost/health', body_contains: ok}\n"+
		"  - {name: backup, kind: file, target: /var/backups/db.dump, max_age: 26h, interval: 10m}\n"+
		"anomaly: {enabled: true}\n"), 0o600)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--config", cfgFile, "--print-config", "--enroll-token", "tok-SECRET-42", "--interval", "20s"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("code %d, stderr %s", code, errOut.String())
	}
	text := out.String()
	if strings.Contains(text, "tok-SECRET-42") || !strings.Contains(text, "enrollment token is given (not shown)") {
		t.Errorf("the enrollment token is printed or its presence not said:\n%s", text)
	}
	for _, want := range []string{"# 2 health checks.", "anomaly:\n    enabled: true\n    threshold: 4\n", "expect_status: 200", "timeout: 5s", "interval: 10m0s", "max_age: 26h0m0s", "disks: false", "state_dir: /var/lib/vigil/agent"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	back, err := parseFile(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the printed configuration does not parse back: %v\n%s", err, text)
	}
	if back.Interval != "20s" || len(back.Checks) != 2 || back.Checks[0].ExpectStatus != 200 || back.Checks[0].Timeout != 5*time.Second ||
		back.Checks[1].Interval != 10*time.Minute || back.Checks[1].MaxAge != 26*time.Hour || back.Collectors["disks"] {
		t.Errorf("parsed back: %+v", back)
	}
	// A configuration with a bad check is refused, with exit code 2, before anything runs.
	os.WriteFile(cfgFile, []byte("server: https://x\nchecks: [{name: a, kind: http, target: 'http://h/', min_days: 3}]\n"), 0o600)
	errOut.Reset()
	if code := run(context.Background(), []string{"--config", cfgFile, "--print-config"}, io.Discard, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "min_days applies to tls checks only") {
		t.Errorf("bad check: code %d, stderr %s", code, errOut.String())
	}
}
