package e2eproc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// KeyPassphrase encrypts the release keys vigilctl makes in the tests.
const KeyPassphrase = "e2e release key passphrase"

// Vigilctl runs a vigilctl binary against a server as its admin.
type Vigilctl struct {
	Bin           string // the vigilctl binary
	URL           string // the server's base URL
	CAFile        string // the server's CA
	Token         string // the admin API token (VIGIL_TOKEN)
	KeyPassphrase string // VIGIL_KEY_PASSPHRASE
}

// NewVigilctl returns a Vigilctl for s with bin as its binary and KeyPassphrase.
func NewVigilctl(s *Server, bin string) *Vigilctl {
	return &Vigilctl{Bin: bin, URL: s.URL, CAFile: s.CAFile, Token: s.AdminToken, KeyPassphrase: KeyPassphrase}
}

// Env is the environment vigilctl runs with: the admin token, the key passphrase and a trusted
// root beside the test server's data directory, never in the real home.
func (c *Vigilctl) Env() []string {
	trusted := filepath.Join(filepath.Dir(filepath.Dir(c.CAFile)), "vigilctl-trusted-root.json")
	return append(os.Environ(), "VIGIL_TOKEN="+c.Token, "VIGIL_KEY_PASSPHRASE="+c.KeyPassphrase, "VIGIL_TRUSTED_ROOT="+trusted)
}

// Run runs vigilctl with args and returns its stdout; it fails the test on error.
func (c *Vigilctl) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.TryRun(args...)
	if err != nil {
		t.Fatalf("vigilctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TryRun runs vigilctl with args and returns its stdout, or an error with its stderr.
func (c *Vigilctl) TryRun(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, append([]string{"--server", c.URL, "--ca", c.CAFile}, args...)...)
	cmd.Env = c.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s%s", err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// Release stages files (artifact name -> path of the build) as version with extra stage flags,
// signs it with each key and publishes it: the release engineers' flow.
func (c *Vigilctl) Release(t testing.TB, version string, files map[string]string, keys []string, stageFlags ...string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dist-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"release", "stage", version}, stageFlags...)
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, dst)
	}
	c.Run(t, args...)
	for _, k := range keys {
		c.Run(t, "release", "sign", version, "--key", k, "--yes")
	}
	c.Run(t, "release", "publish", version)
}

// InitRepo generates a root key and one targets key in dir and initializes the server's release
// repository with them (thresholds 1 of 1); it returns the targets key's path.
func (c *Vigilctl) InitRepo(t testing.TB, dir string) (targetsKey string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	root, targets := filepath.Join(dir, "root.key"), filepath.Join(dir, "targets.key")
	c.Run(t, "keys", "gen", "--out", root)
	c.Run(t, "keys", "gen", "--out", targets)
	c.Run(t, "repo", "init", "--root-key", root, "--root-threshold", "1", "--targets-key", targets, "--targets-threshold", "1")
	return targets
}
