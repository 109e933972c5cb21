// Package deploy holds the systemd units, the demo script, the package definitions (packages/) and
// the tests that check them. PID 1 on the build machines is not systemd, so the units are checked
// with `systemd-analyze verify` (which needs no running systemd) and by parsing, never by starting
// them; packages_test.go installs the packages into a throwaway root and starts the installed
// binaries by hand.
package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unit parses a systemd unit file into section → key → values.
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: malformed line %q", path, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestUnits(t *testing.T) {
	u := unit(t, "systemd/vigil-updater.service")
	svc := u["Service"]
	if got := svc["ExecStart"]; len(got) != 1 || !strings.Contains(got[0], "vigil-updater run") {
		t.Errorf("updater ExecStart = %v", got)
	}
	// The self-update crash window (no binary between selfupdate's two renames) is repaired
	// before start, as updater's doc requires.
	if pre := strings.Join(svc["ExecStartPre"], " "); !strings.Contains(pre, ".vigil-updater.old") {
		t.Errorf("updater has no ExecStartPre restoring the old binary: %q", pre)
	}
	rw := strings.Join(svc["ReadWritePaths"], " ")
	for _, p := range []string{"/var/lib/vigil", "/opt/vigil/bin"} {
		if !strings.Contains(rw, p) {
			t.Errorf("updater cannot write %s (ReadWritePaths %q)", p, rw)
		}
	}
	if svc["Restart"][0] != "always" || svc["KillMode"][0] != "mixed" {
		t.Errorf("updater Restart/KillMode = %v/%v", svc["Restart"], svc["KillMode"])
	}
	s := unit(t, "systemd/vigil-server.service")
	if s["Service"]["User"][0] != "vigil-server" || s["Service"]["NoNewPrivileges"][0] != "yes" {
		t.Errorf("server unit runs as %v", s["Service"]["User"])
	}
}

// TestUnitsVerify runs systemd-analyze verify where it is installed. ExecStart binaries do not exist
// on a build machine, so it verifies copies that point at /bin/true.
func TestUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	for _, name := range []string{"vigil-updater.service", "vigil-server.service"} {
		b, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer("/opt/vigil/bin/vigil-updater run", "/bin/true run", "/usr/local/bin/vigil-server", "/bin/true").Replace(string(b))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sa, "verify", "--man=no", filepath.Join(dir, name)).CombinedOutput()
		// Without systemd as PID 1 verify may still warn about the environment; only unit errors fail.
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, name) && (strings.Contains(line, "Unknown") || strings.Contains(line, "Failed to parse") || strings.Contains(line, "Invalid")) {
				t.Errorf("systemd-analyze verify %s: %s", name, line)
			}
		}
		if err != nil && !strings.Contains(string(out), "System has not been booted with systemd") {
			t.Logf("systemd-analyze verify %s exited %v:\n%s", name, err, out)
		}
	}
}
