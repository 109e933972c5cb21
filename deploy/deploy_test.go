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

// TestUnitsVerify runs deploy/verify-units.sh (systemd-analyze verify, any complaint fails) where
// systemd-analyze is installed; `make lint` runs it with freshly built binaries, this test with
// stand-ins so it needs no build.
func TestUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd); make lint requires it")
	}
	bin := t.TempDir()
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(truePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"vigil-updater", "vigil-server"} {
		if err := os.WriteFile(filepath.Join(bin, b), exe, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("./verify-units.sh", bin).CombinedOutput(); err != nil {
		t.Fatalf("verify-units.sh: %v\n%s", err, out)
	}
}

// TestUnitsVerifyCatchesMistakes: systemd-analyze verify exits 0 on lines it ignores; the script
// must still fail on them.
func TestUnitsVerifyCatchesMistakes(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	for _, d := range []string{"deploy/systemd", "bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := os.ReadFile("verify-units.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "deploy", "verify-units.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"vigil-updater", "vigil-server"} {
		if err := os.WriteFile(filepath.Join(dir, "bin", b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	unit := "[Service]\nExecStart=/opt/vigil/bin/vigil-updater run\nSystemCallFilter=@system-service not_a_syscall\n"
	if err := os.WriteFile(filepath.Join(dir, "deploy", "systemd", "x.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(dir, "deploy", "verify-units.sh"), filepath.Join(dir, "bin")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not_a_syscall") {
		t.Fatalf("a unit with an unknown system call passed (err %v):\n%s", err, out)
	}
}

// TestUpdaterLimits: the updater unit bounds what the updater and the agent can take from the host,
// and filters system calls without taking away what the updater must do.
func TestUpdaterLimits(t *testing.T) {
	svc := unit(t, "systemd/vigil-updater.service")["Service"]
	for _, k := range []string{"CPUQuota", "MemoryHigh", "MemoryMax", "TasksMax", "Nice", "OOMScoreAdjust"} {
		if len(svc[k]) != 1 || svc[k][0] == "" || svc[k][0] == "infinity" {
			t.Errorf("%s = %v, want one finite limit", k, svc[k])
		}
	}
	if got := svc["IOSchedulingClass"]; len(got) != 1 || got[0] != "idle" {
		t.Errorf("IOSchedulingClass = %v, want idle", got)
	}
	if got := svc["SystemCallErrorNumber"]; len(got) != 1 || got[0] != "EPERM" {
		t.Errorf("SystemCallErrorNumber = %v, want EPERM (the default kills the process)", got)
	}
	filter := svc["SystemCallFilter"]
	if len(filter) == 0 || filter[0] != "@system-service" {
		t.Fatalf("SystemCallFilter = %v, want @system-service first", filter)
	}
	// What the updater needs: exec the agent, drop its privileges, chown and rename files.
	for _, f := range filter[1:] {
		for _, need := range []string{"@setuid", "@process", "@file-system", "@chown", "@privileged", "execve", "rename", "setuid", "setgid", "setgroups"} {
			if strings.Contains(" "+strings.TrimPrefix(f, "~")+" ", " "+need+" ") {
				t.Errorf("SystemCallFilter %q removes %s, which the updater needs", f, need)
			}
		}
	}
}
