package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
)

// ctl runs vigilctl in-process and returns its exit code, stdout and stderr.
func ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func startServer(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
	// Never the developer's own ~/.config/vigil/trusted-root.json.
	t.Setenv("VIGIL_TRUSTED_ROOT", filepath.Join(t.TempDir(), "trusted-root.json"))
}

func TestFleetCommands(t *testing.T) {
	startServer(t)

	code, out, errOut := ctl(t, "groups", "create", "web", "--grace", "2m", "--alert-email", "ops@example.com")
	if code != 0 || !strings.Contains(out, "web") || !strings.Contains(out, "2m0s") {
		t.Fatalf("groups create: %d %q %q", code, out, errOut)
	}
	if code, _, errOut = ctl(t, "groups", "create", "web"); code != 1 || !strings.Contains(errOut, "conflict") {
		t.Fatalf("duplicate group: %d %q", code, errOut)
	}
	if code, out, _ = ctl(t, "groups", "set", "web", "--grace", "5m"); code != 0 || !strings.Contains(out, "5m0s") {
		t.Fatalf("groups set: %d %q", code, out)
	}
	// Nothing is published: a pin to a version is refused as a likely typo, unless forced.
	if code, _, errOut = ctl(t, "groups", "pin", "web", "1.2.3"); code != 1 || !strings.Contains(errOut, "no published version 1.2.3") ||
		!strings.Contains(errOut, "--force") {
		t.Fatalf("pin unpublished version: %d %q", code, errOut)
	}
	if code, out, _ = ctl(t, "groups", "pin", "web", "1.2.3", "--force"); code != 0 || !strings.Contains(out, "version 1.2.3") {
		t.Fatalf("pin version --force: %d %q", code, out)
	}
	if code, _, errOut = ctl(t, "groups", "pin", "web", "--channel", "stable", "--force"); code != 2 {
		t.Fatalf("--force with a channel: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "groups", "pin", "web", "1.2.3", "--channel", "stable"); code != 2 {
		t.Fatalf("pin both: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "groups", "pin", "web", "not-a-version"); code != 1 || !strings.Contains(errOut, "invalid") {
		t.Fatalf("bad version: %d %q", code, errOut)
	}
	if code, _, errOut = ctl(t, "groups", "pin", "web", "--channel", "stable"); code != 1 || !strings.Contains(errOut, `no published release is on channel "stable"`) {
		t.Fatalf("pin to a channel nothing is on: %d %q", code, errOut)
	}

	code, out, _ = ctl(t, "--output", "json", "groups", "ls")
	var gs []server.Group
	if code != 0 || json.Unmarshal([]byte(out), &gs) != nil || len(gs) != 2 || gs[1].Name != "web" || gs[1].Pin.Version != "1.2.3" || gs[1].AlertEmails[0] != "ops@example.com" {
		t.Fatalf("groups ls json: %d %q", code, out)
	}

	code, token, _ := ctl(t, "enroll", "create-token", "--group", "web", "--ttl", "1h", "--max-uses", "3")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(token), "vge_") {
		t.Fatalf("create-token: %d %q", code, token)
	}
	if code, _, errOut = ctl(t, "enroll", "create-token", "--group", "nope"); code != 1 || !strings.Contains(errOut, "not_found") {
		t.Fatalf("token for missing group: %d %q", code, errOut)
	}

	if code, out, _ = ctl(t, "hosts", "ls"); code != 0 || !strings.HasPrefix(out, "ID") {
		t.Fatalf("hosts ls: %d %q", code, out)
	}
	if code, _, errOut = ctl(t, "hosts", "show", "0000"); code != 1 || !strings.Contains(errOut, `no host has the ID, ID prefix or hostname "0000"`) {
		t.Fatalf("hosts show missing: %d %q", code, errOut)
	}

	if code, _, _ = ctl(t, "groups", "rm", "web"); code != 0 {
		t.Fatalf("groups rm: %d", code)
	}
	if code, _, errOut = ctl(t, "groups", "rm", "default"); code != 1 {
		t.Fatalf("rm default: %d %q", code, errOut)
	}
}

func TestGlobalFlags(t *testing.T) {
	if code, out, _ := ctl(t, "--version"); code != 0 || !strings.HasPrefix(out, "vigilctl ") {
		t.Fatalf("--version: %d %q", code, out)
	}
	t.Setenv("VIGIL_TOKEN", "")
	if code, _, errOut := ctl(t, "hosts", "ls"); code != 2 || !strings.Contains(errOut, "VIGIL_TOKEN") {
		t.Fatalf("no token: %d %q", code, errOut)
	}
	if code, _, _ := ctl(t, "--output", "yaml", "hosts", "ls"); code != 2 {
		t.Fatalf("bad output: %d", code)
	}
	if code, _, _ := ctl(t, "groups", "frobnicate"); code == 0 {
		t.Fatal("unknown subcommand succeeded")
	}
}

func TestAdminCommands(t *testing.T) {
	startServer(t)
	code, tok, _ := ctl(t, "tokens", "create", "ci", "--role", "viewer")
	if code != 0 || !strings.HasPrefix(tok, "vgt_") {
		t.Fatalf("tokens create: %d %q", code, tok)
	}
	// The viewer token can read but not change.
	t.Setenv("VIGIL_TOKEN", strings.TrimSpace(tok))
	if code, _, _ := ctl(t, "groups", "ls"); code != 0 {
		t.Fatal("viewer cannot list groups")
	}
	if code, _, errOut := ctl(t, "groups", "create", "x"); code != 1 || !strings.Contains(errOut, "forbidden") {
		t.Fatalf("viewer created a group: %d %q", code, errOut)
	}
	if code, out, _ := ctl(t, "audit"); code != 0 || !strings.Contains(out, "api_token.create") {
		t.Fatalf("audit: %d %q", code, out)
	}
}
