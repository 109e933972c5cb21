package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOneLineInstall runs deploy/install.sh, as the line `vigilctl enroll create-token` prints,
// against a real vigil-server into a throwaway root with systemctl stubbed, then starts the
// installed vigil-updater by hand: the agent enrolls and reports the version the group is pinned
// to (1.0.0, while stable points to 2.0.0). Running the line again changes nothing;
// --uninstall leaves nothing behind. The install refuses a tampered updater, a tampered agent
// and a server whose key does not match the line, each leaving nothing installed.
func TestOneLineInstall(t *testing.T) {
	skipShort(t)
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("install.sh installs on linux/amd64 and linux/arm64")
	}
	for _, tool := range []string{"curl", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("install.sh needs %s", tool)
		}
	}
	work := t.TempDir()
	logs := filepath.Join(work, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	sp := startServer(t, serverConfig{})
	srv := newUpdServer(t, sp, buildBinary(t, "vigilctl", "0.0.0-e2e"))
	keys := filepath.Join(work, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	k := func(name string) string { return filepath.Join(keys, name+".key") }
	srv.ctl("keys", "gen", "--out", k("root"))
	srv.ctl("keys", "gen", "--out", k("targets"))
	srv.ctl("repo", "init", "--root-key", k("root"), "--root-threshold", "1", "--targets-key", k("targets"), "--targets-threshold", "1")
	arch := runtime.GOARCH
	updaterBin := buildBinary(t, "vigil-updater", "1.0.0")
	srv.release("1.0.0", map[string]string{
		"vigil-agent-linux-" + arch:   buildBinary(t, "vigil-agent", "1.0.0"),
		"vigil-updater-linux-" + arch: updaterBin,
	}, []string{k("targets")}, "--channel", "stable")
	srv.release("2.0.0", map[string]string{"vigil-agent-linux-" + arch: buildBinary(t, "vigil-agent", "2.0.0")},
		[]string{k("targets")}, "--channel", "stable")
	srv.ctl("groups", "create", "first-day")
	srv.ctl("groups", "pin", "first-day", "1.0.0")

	// The line, as an operator sees it on stderr.
	cmd := exec.Command(srv.vigilctl, "--server", srv.url, "--ca", srv.ca, "enroll", "create-token", "--group", "first-day", "--max-uses", "5")
	cmd.Env = append(os.Environ(), "VIGIL_TOKEN="+srv.token,
		"VIGIL_TRUSTED_ROOT="+filepath.Join(filepath.Dir(filepath.Dir(srv.ca)), "vigilctl-trusted-root.json"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("create-token: %v\n%s", err, stderr.String())
	}
	token := strings.TrimSpace(stdout.String())
	var line string
	for l := range strings.Lines(stderr.String()) {
		if strings.HasPrefix(l, "curl ") {
			line = strings.TrimSpace(l)
		}
	}
	fetchPart, args, ok := strings.Cut(line, " | sudo sh -s -- ")
	if !ok || !strings.Contains(line, "--token "+token) {
		t.Fatalf("no install line with the token in:\n%s", stderr.String())
	}
	var lineArgs []string
	for _, f := range strings.Fields(args) {
		lineArgs = append(lineArgs, strings.Trim(f, "'"))
	}

	// The line's first half fetches the script with the server's key pinned: it is deploy/install.sh.
	script, err := os.ReadFile(filepath.Join(moduleRootT(t), "deploy", "install.sh"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command("sh", "-c", fetchPart).Output()
	if err != nil || !bytes.Equal(got, script) {
		t.Fatalf("the line's fetch: %v; got %d bytes, want deploy/install.sh (%d bytes)", err, len(got), len(script))
	}
	scriptPath := filepath.Join(work, "install.sh")
	if err := os.WriteFile(scriptPath, got, 0o755); err != nil {
		t.Fatal(err)
	}

	// systemctl stubbed: it records its arguments.
	stubDir := filepath.Join(work, "stub")
	systemctlLog := filepath.Join(work, "systemctl.log")
	if err := os.MkdirAll(stubDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stub := "#!/bin/sh\necho \"$*\" >>" + systemctlLog + "\n"
	if err := os.WriteFile(filepath.Join(stubDir, "systemctl"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	install := func(root string, extra ...string) (string, error) {
		c := exec.Command("sh", append(append([]string{scriptPath}, lineArgs...), append([]string{"--root", root}, extra...)...)...)
		c.Env = append(os.Environ(), "PATH="+stubDir+":"+os.Getenv("PATH"))
		out, err := c.CombinedOutput()
		return string(out), err
	}
	uninstall := func(root string, extra ...string) (string, error) {
		c := exec.Command("sh", append([]string{scriptPath, "--uninstall", "--root", root}, extra...)...)
		c.Env = append(os.Environ(), "PATH="+stubDir+":"+os.Getenv("PATH"))
		out, err := c.CombinedOutput()
		return string(out), err
	}

	root := filepath.Join(work, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := install(root); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	for _, f := range []string{"opt/vigil/bin/vigil-updater", "etc/vigil/updater.env", "etc/vigil/root.json",
		"etc/systemd/system/vigil-updater.service", "var/lib/vigil/current/vigil-agent"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/vigil/updater.env")); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("updater.env mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(systemctlLog); !strings.Contains(string(b), "--root="+root+" enable vigil-updater.service") {
		t.Errorf("systemctl calls: %q, want an offline enable", b)
	}
	if cur, _ := os.Readlink(filepath.Join(root, "var/lib/vigil/current")); !strings.Contains(cur, "1.0.0") {
		t.Errorf("first install is %q, want the group's pin 1.0.0 (stable is 2.0.0)", cur)
	}

	// Start the installed updater by hand, as the unit would with updater.env.
	env, err := os.ReadFile(filepath.Join(root, "etc/vigil/updater.env"))
	if err != nil {
		t.Fatal(err)
	}
	var updEnv []string
	for l := range strings.Lines(string(env)) {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "VIGIL_") {
			updEnv = append(updEnv, strings.Replace(l, "=/etc/", "="+root+"/etc/", 1))
		}
	}
	upd := updStart(t, "vigil-updater", logs, updEnv, filepath.Join(root, "opt/vigil/bin/vigil-updater"),
		"run", "--state-dir", filepath.Join(root, "var/lib/vigil"), "--poll", "1h", "--agent-user", "")
	updWait(t, 60*time.Second, "the installed host to enroll and report 1.0.0", func() bool {
		var hosts []updHost
		srv.get("/api/v1/hosts", &hosts)
		return slices.ContainsFunc(hosts, func(h updHost) bool {
			return h.Group == "first-day" && h.AgentVersion == "1.0.0" && !h.LastSeen.IsZero()
		})
	})
	upd.stop()
	if b, _ := os.ReadFile(upd.log); bytes.Contains(b, []byte("level=ERROR")) {
		t.Errorf("the updater logged errors:\n%s", b)
	}

	// Again: a no-op.
	before := treeOf(t, root)
	if out, err := install(root); err != nil {
		t.Fatalf("install.sh again: %v\n%s", err, out)
	}
	if after := treeOf(t, root); !slices.Equal(before, after) {
		t.Errorf("running the line again changed the tree:\nbefore %q\nafter  %q", before, after)
	}

	// --uninstall --keep-data keeps only the state; --uninstall leaves nothing.
	if out, err := uninstall(root, "--keep-data"); err != nil {
		t.Fatalf("--uninstall --keep-data: %v\n%s", err, out)
	}
	for _, p := range treeOf(t, root) {
		if p != "var "+strings.Fields(p)[1] && !strings.HasPrefix(p, "var/") {
			t.Errorf("--keep-data left %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/vigil/agent/credential")); err != nil {
		t.Errorf("--keep-data lost the credential: %v", err)
	}
	if out, err := uninstall(root); err != nil {
		t.Fatalf("--uninstall: %v\n%s", err, out)
	}
	if left := treeOf(t, root); len(left) != 0 {
		t.Errorf("--uninstall left %q", left)
	}

	// Refusals, each into an empty root that must stay empty.
	refused := func(name, want string, run func(root string) (string, error)) {
		t.Run(name, func(t *testing.T) {
			root := filepath.Join(work, "refused-"+strings.ReplaceAll(name, " ", "-"))
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := run(root)
			if err == nil || !strings.Contains(out, want) {
				t.Errorf("install.sh: err %v, want a refusal saying %q:\n%s", err, want, out)
			}
			if left := treeOf(t, root); len(left) != 0 {
				t.Errorf("a refused install left %q", left)
			}
		})
	}
	tamper := func(binary string) (restore func()) {
		t.Helper()
		blob := findBlob(t, sp.DataDir, binary+"/1.0.0/", ".linux-"+arch)
		orig, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		evil := append([]byte(nil), orig...)
		evil[len(evil)/2] ^= 0xff
		if err := os.WriteFile(blob, evil, 0o644); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := os.WriteFile(blob, orig, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	restore := tamper("vigil-updater")
	refused("tampered updater", "SHA-256", func(root string) (string, error) { return install(root) })
	restore()
	restore = tamper("vigil-agent")
	refused("tampered agent", "first agent install failed", func(root string) (string, error) { return install(root) })
	restore()
	other := httptest.NewTLSServer(http.FileServer(http.Dir(sp.DataDir)))
	defer other.Close()
	refused("server key not in the line", "failed", func(root string) (string, error) {
		a := slices.Clone(lineArgs)
		a[slices.Index(a, "--server")+1] = other.URL
		c := exec.Command("sh", append(append([]string{scriptPath}, a...), "--root", root)...)
		c.Env = append(os.Environ(), "PATH="+stubDir+":"+os.Getenv("PATH"))
		out, err := c.CombinedOutput()
		return string(out), err
	})
}

// treeOf lists every path under root with its mode, and its SHA-256 for a file or its target for
// a link, sorted.
func treeOf(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := rel + " " + fi.Mode().String()
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			e += " -> " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			e += " " + hex.EncodeToString(sum[:])
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// findBlob finds the stored target file under the server's data directory whose path contains
// dir and ends in suffix.
func findBlob(t *testing.T, dataDir, dir, suffix string) string {
	t.Helper()
	var found string
	filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.Contains(filepath.ToSlash(p), dir) && strings.HasSuffix(p, suffix) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no stored blob %s*%s under %s", dir, suffix, dataDir)
	}
	return found
}

func moduleRootT(t *testing.T) string {
	t.Helper()
	r, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}
