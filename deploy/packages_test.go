package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPackages builds the vigil-host and vigil-server packages with deploy/packages/build.sh (the
// script `make packages` runs) for this machine's architecture, checks what dpkg-deb (and rpm, if
// installed) says about them, installs both for real into a throwaway root with
// `dpkg --root --force-script-chrootless`, runs the installed vigil-server and the installed
// vigil-updater by hand (the updater chrooted into that root, so it starts the agent as the
// "vigil" user the package made) until the agent enrolls and reports, having installed the
// packaged agent as its first version, then removes and purges them and checks what is left.
//
// PID 1 is not systemd here, so nothing is started through units: the test reads the command lines
// from the installed unit files and the settings from the installed env files, as systemd would.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("packages test: builds four binaries and the packages, installs them with dpkg --root (not under -short)")
	}
	if runtime.GOOS != "linux" {
		t.Skip("packages are built and installed on Linux")
	}
	for _, tool := range []string{"dpkg-deb", "dpkg", "useradd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("packages test: %s not installed (Debian: apt-get install dpkg passwd)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("packages test: installing into a root with dpkg --root needs root (files are chowned)")
	}

	const version = "1.0.0"
	arch := runtime.GOARCH
	work := t.TempDir()
	dist, out := filepath.Join(work, "dist"), filepath.Join(work, "packages")
	start := time.Now()
	for _, b := range []string{"vigil-updater", "vigil-server", "vigil-agent", "vigilctl"} {
		goBuild(t, b, version, filepath.Join(dist, b+"-linux-"+arch))
	}
	cmd := exec.Command("./deploy/packages/build.sh")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION="+version, "DIST="+dist, "OUT="+out, "ARCHES="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, msg)
	}
	t.Logf("built the binaries and packages in %v", time.Since(start).Round(time.Second))
	hostDeb := filepath.Join(out, "vigil-host_"+version+"_"+arch+".deb")
	serverDeb := filepath.Join(out, "vigil-server_"+version+"_"+arch+".deb")

	t.Run("deb", func(t *testing.T) {
		checkDeb(t, hostDeb, map[string]string{"Package": "vigil-host", "Version": version, "Architecture": arch, "Depends": "passwd"},
			[]string{"/etc/vigil/updater.env", "/etc/vigil/agent.yaml"},
			map[string]string{
				"/opt/vigil/bin/vigil-updater":              "-rwxr-xr-x root/root",
				"/opt/vigil/lib/vigil-agent":                "-rwxr-xr-x root/root",
				"/lib/systemd/system/vigil-updater.service": "-rw-r--r-- root/root",
				"/etc/vigil/":            "drwxr-xr-x root/root",
				"/etc/vigil/updater.env": "-rw------- root/root",
				"/etc/vigil/agent.yaml":  "-rw-r--r-- root/root",
				"/var/lib/vigil/":        "drwxr-x--- root/root",
			})
		checkDeb(t, serverDeb, map[string]string{"Package": "vigil-server", "Version": version, "Architecture": arch, "Depends": "passwd"},
			[]string{"/etc/vigil/server.env"},
			map[string]string{
				"/usr/bin/vigil-server":                                   "-rwxr-xr-x root/root",
				"/lib/systemd/system/vigil-server.service":                "-rw-r--r-- root/root",
				"/lib/systemd/system/vigil-server.service.d/package.conf": "-rw-r--r-- root/root",
				"/etc/vigil/server.env":                                   "-rw------- root/root",
				"/var/lib/vigil-server/":                                  "drwx------ root/root",
			})
	})
	t.Run("rpm", func(t *testing.T) {
		if _, err := exec.LookPath("rpm"); err != nil {
			t.Skip("rpm not installed (Debian: apt-get install rpm); the .rpm files were built but not inspected")
		}
		rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
		checkRPM(t, filepath.Join(out, "vigil-host-"+version+"-1."+rpmArch+".rpm"), map[string]string{
			"/opt/vigil/bin/vigil-updater":                  "0100755 root root",
			"/opt/vigil/lib/vigil-agent":                    "0100755 root root",
			"/usr/lib/systemd/system/vigil-updater.service": "0100644 root root",
			"/etc/vigil/updater.env":                        "0100600 root root config",
			"/etc/vigil/agent.yaml":                         "0100644 root root config",
			"/var/lib/vigil":                                "040750 root root",
		})
		checkRPM(t, filepath.Join(out, "vigil-server-"+version+"-1."+rpmArch+".rpm"), map[string]string{
			"/usr/bin/vigil-server":                                       "0100755 root root",
			"/usr/lib/systemd/system/vigil-server.service":                "0100644 root root",
			"/usr/lib/systemd/system/vigil-server.service.d/package.conf": "0100644 root root",
			"/etc/vigil/server.env":                                       "0100600 root root config",
			"/var/lib/vigil-server":                                       "040700 root root",
		})
	})
	if t.Failed() {
		return
	}

	root := newDpkgRoot(t)
	root.dpkg(t, "--install", hostDeb, serverDeb)
	root.checkInstalled(t)
	notRun := root.runFleet(t, dist, version, arch)

	// remove: programs and units go; configuration and state stay.
	root.dpkg(t, "--remove", "vigil-host", "vigil-server")
	for _, p := range []string{"/opt/vigil/bin/vigil-updater", "/usr/bin/vigil-server", "/lib/systemd/system/vigil-updater.service",
		"/lib/systemd/system/vigil-server.service", "/etc/systemd/system/multi-user.target.wants/vigil-updater.service"} {
		if _, err := os.Lstat(root.path(p)); err == nil {
			t.Errorf("after dpkg --remove, %s is still there", p)
		}
	}
	for _, p := range []string{"/etc/vigil/updater.env", "/etc/vigil/server.env", "/var/lib/vigil/agent/credential", "/var/lib/vigil-server/admin-token"} {
		if _, err := os.Stat(root.path(p)); err != nil && (notRun == "" || !strings.HasPrefix(p, "/var/lib/vigil/")) {
			t.Errorf("dpkg --remove deleted configuration or state it must keep: %v", err)
		}
	}
	if env, _ := os.ReadFile(root.path("/etc/vigil/updater.env")); !bytes.Contains(env, []byte("VIGIL_SERVER=")) {
		t.Errorf("the edited updater.env was not kept on remove:\n%s", env)
	}
	for _, pkg := range []string{"vigil-host", "vigil-server"} {
		if st := root.status(t, pkg); st != "deinstall ok config-files" {
			t.Errorf("%s after remove: status %q", pkg, st)
		}
	}

	// purge: everything goes but the system users (kept on purge, see the postrm scripts).
	root.dpkg(t, "--purge", "vigil-host", "vigil-server")
	if left := root.leftovers(t); len(left) > 0 {
		t.Errorf("after purge these are left in the root:\n%s", strings.Join(left, "\n"))
	}
	for _, user := range []string{"vigil", "vigil-server"} {
		if root.id(t, "passwd", user) < 0 {
			t.Errorf("purge removed the system user %s; it is kept on purge", user)
		}
	}
	if notRun != "" {
		t.Skipf("packages built, inspected, installed, removed and purged, but the installed updater was not run: %s", notRun)
	}
}

// goBuild builds ./cmd/<name> as `make release-artifacts` does, stamped with version.
func goBuild(t *testing.T, name, version, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, "./cmd/"+name)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, msg)
	}
}

// checkDeb checks a .deb's control fields, conffiles, maintainer scripts and the mode and owner
// of the given paths (path → "perms owner/group", as dpkg-deb --contents prints them).
func checkDeb(t *testing.T, deb string, fields map[string]string, conffiles []string, files map[string]string) {
	t.Helper()
	name := filepath.Base(deb)
	for k, want := range fields {
		got, err := exec.Command("dpkg-deb", "--field", deb, k).Output()
		if err != nil {
			t.Fatalf("dpkg-deb --field %s %s: %v", name, k, err)
		}
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("%s: %s = %q, want %q", name, k, strings.TrimSpace(string(got)), want)
		}
	}
	info, err := exec.Command("dpkg-deb", "--info", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --info %s: %v", name, err)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		// "    2775 bytes,    85 lines   *  postinst             #!/bin/sh": executable, POSIX sh.
		if !regexpLine(string(info), "*  "+script, "#!/bin/sh") {
			t.Errorf("%s has no executable /bin/sh %s:\n%s", name, script, info)
		}
	}
	got, err := exec.Command("dpkg-deb", "--info", deb, "conffiles").Output()
	if err != nil {
		t.Fatalf("dpkg-deb --info %s conffiles: %v", name, err)
	}
	if g := strings.Fields(string(got)); !slices.Equal(sorted(g), sorted(conffiles)) {
		t.Errorf("%s conffiles = %v, want %v", name, g, conffiles)
	}
	contents, err := exec.Command("dpkg-deb", "--contents", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --contents %s: %v", name, err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(contents)), "\n") {
		f := strings.Fields(line) // perms owner size date time path
		if len(f) < 6 {
			t.Fatalf("%s: unexpected dpkg-deb --contents line %q", name, line)
		}
		listed[strings.TrimPrefix(f[5], ".")] = f[0] + " " + f[1]
	}
	for p, want := range files {
		if got, ok := listed[p]; !ok {
			t.Errorf("%s does not contain %s", name, p)
		} else if got != want {
			t.Errorf("%s: %s is %q, want %q", name, p, got, want)
		}
	}
	for p := range listed {
		if strings.HasPrefix(p, "/usr/local/") || strings.HasPrefix(p, "/home/") || strings.HasPrefix(p, "/tmp/") {
			t.Errorf("%s ships %s, where packages must not put files", name, p)
		}
	}
}

// regexpLine reports whether some line of text contains all the parts.
func regexpLine(text string, parts ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// checkRPM checks an .rpm's file modes, owners and %config flags (path → "mode user group
// [config]", from rpm -qp --dump) and that it has install and removal scriptlets.
func checkRPM(t *testing.T, rpm string, files map[string]string) {
	t.Helper()
	name := filepath.Base(rpm)
	dump, err := exec.Command("rpm", "-qp", "--dump", rpm).Output()
	if err != nil {
		t.Fatalf("rpm -qp --dump %s: %v", name, err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(dump)), "\n") {
		// path size mtime digest mode owner group isconfig isdoc rdev symlink
		f := strings.Fields(line)
		if len(f) < 11 {
			t.Fatalf("%s: unexpected rpm --dump line %q", name, line)
		}
		v := f[4] + " " + f[5] + " " + f[6]
		if f[7] == "1" {
			v += " config"
		}
		listed[f[0]] = v
	}
	for p, want := range files {
		if got, ok := listed[p]; !ok {
			t.Errorf("%s does not contain %s", name, p)
		} else if got != want {
			t.Errorf("%s: %s is %q, want %q", name, p, got, want)
		}
	}
	scripts, err := exec.Command("rpm", "-qp", "--scripts", rpm).Output()
	if err != nil {
		t.Fatalf("rpm -qp --scripts %s: %v", name, err)
	}
	for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
		if !strings.Contains(string(scripts), s) {
			t.Errorf("%s has no %s", name, s)
		}
	}
}

// dpkgRoot is a throwaway root with just enough for dpkg --root and the maintainer scripts: an
// empty dpkg database and passwd/group/shadow/gshadow holding root.
type dpkgRoot struct{ dir string }

func newDpkgRoot(t *testing.T) *dpkgRoot {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "etc", "dev"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"var/lib/dpkg/status": "", "var/lib/dpkg/available": "",
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n",
		"etc/shadow": "root:*:19000:0:99999:7:::\n", "etc/gshadow": "root:*::\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The users the scripts make must reach the root (the server runs as one, the agent as the other).
	// t.TempDir makes its directories 0700; open them up to /tmp (which is not touched).
	for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &dpkgRoot{dir: dir}
}

func (r *dpkgRoot) path(p string) string { return filepath.Join(r.dir, p) }

// dpkg runs dpkg on the root with the maintainer scripts run outside a chroot, on $DPKG_ROOT.
// --force-depends: the root has no passwd package, only the tools of this machine.
func (r *dpkgRoot) dpkg(t *testing.T, args ...string) {
	t.Helper()
	full := append([]string{"--root=" + r.dir, "--force-script-chrootless", "--force-depends",
		"--log=" + r.path("var/log/dpkg.log")}, args...)
	out, err := exec.Command("dpkg", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
}

// status is dpkg-query's Status of pkg in the root ("install ok installed", …).
func (r *dpkgRoot) status(t *testing.T, pkg string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--admindir="+r.path("var/lib/dpkg"), "-f", "${Status}", "-W", pkg).Output()
	if err != nil {
		return "not known: " + err.Error()
	}
	return strings.TrimSpace(string(out))
}

// id is the numeric id of name in the root's passwd or group file, or -1.
func (r *dpkgRoot) id(t *testing.T, db, name string) int {
	t.Helper()
	b, err := os.ReadFile(r.path("etc/" + db))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			id, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("%s: %q", db, line)
			}
			return id
		}
	}
	return -1
}

// checkInstalled checks the installed files, the users and the ownership the scripts set.
func (r *dpkgRoot) checkInstalled(t *testing.T) {
	t.Helper()
	for _, pkg := range []string{"vigil-host", "vigil-server"} {
		if st := r.status(t, pkg); st != "install ok installed" {
			t.Fatalf("%s: status %q", pkg, st)
		}
	}
	passwd, err := os.ReadFile(r.path("etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"vigil", "vigil-server"} {
		uid := r.id(t, "passwd", user)
		if uid <= 0 || uid >= 1000 || r.id(t, "group", user) < 0 {
			t.Errorf("no system user and group %s (uid %d):\n%s", user, uid, passwd)
		}
		if !regexpLine(string(passwd), user+":", ":/usr/sbin/nologin") {
			t.Errorf("user %s can log in:\n%s", user, passwd)
		}
	}
	type want struct {
		mode     fs.FileMode
		uid, gid int
	}
	vigil, server := r.id(t, "group", "vigil"), r.id(t, "passwd", "vigil-server")
	for p, w := range map[string]want{
		"/opt/vigil/bin/vigil-updater": {0o755, 0, 0},
		"/opt/vigil/lib/vigil-agent":   {0o755, 0, 0},
		"/usr/bin/vigil-server":        {0o755, 0, 0},
		"/etc/vigil/updater.env":       {0o600, 0, 0},
		"/etc/vigil/server.env":        {0o600, 0, 0},
		"/var/lib/vigil":               {fs.ModeDir | 0o750, 0, vigil},
		"/var/lib/vigil-server":        {fs.ModeDir | 0o700, server, r.id(t, "group", "vigil-server")},
	} {
		fi, err := os.Stat(r.path(p))
		if err != nil {
			t.Error(err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != w.mode || int(st.Uid) != w.uid || int(st.Gid) != w.gid {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, w.mode, w.uid, w.gid)
		}
	}
	// The installed units are the ones in deploy/systemd, byte for byte.
	for _, u := range []string{"vigil-updater.service", "vigil-server.service"} {
		want, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(r.path("/lib/systemd/system/" + u)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("installed %s differs from deploy/systemd/%s (%v)", u, u, err)
		}
		if _, err := exec.LookPath("systemctl"); err == nil {
			// No systemd is running, so postinst enabled the unit offline (systemctl --root).
			if _, err := os.Lstat(r.path("/etc/systemd/system/multi-user.target.wants/" + u)); err != nil {
				t.Errorf("%s not enabled: %v", u, err)
			}
		}
	}
}

// unitExec returns the command line of a unit's last ExecStart= (drop-ins included), and the
// settings of its EnvironmentFile, both read from the root as systemd would read them.
func (r *dpkgRoot) unitExec(t *testing.T, unit string) (argv, env []string) {
	t.Helper()
	files := []string{r.path("/lib/systemd/system/" + unit)}
	drop, _ := filepath.Glob(r.path("/lib/systemd/system/" + unit + ".d/*.conf"))
	for _, f := range append(files, drop...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "ExecStart="); ok && v != "" {
				argv = strings.Fields(v)
			}
			if v, ok := strings.CutPrefix(line, "EnvironmentFile="); ok {
				env = append(env, r.envFile(t, strings.TrimPrefix(v, "-"))...)
			}
		}
	}
	if len(argv) == 0 {
		t.Fatalf("%s has no ExecStart", unit)
	}
	return argv, env
}

// envFile reads KEY=VALUE lines, skipping comments and blank lines.
func (r *dpkgRoot) envFile(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(r.path(p))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			env = append(env, line)
		}
	}
	return env
}

// appendEnv adds settings to a file in the root as an operator editing it would.
func (r *dpkgRoot) appendEnv(t *testing.T, p string, kv ...string) {
	t.Helper()
	f, err := os.OpenFile(r.path(p), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, strings.Join(kv, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
}

// leftovers lists what is in the root beyond what it started with, dpkg's own files and what
// policy keeps (the users in passwd and friends, and their backups).
func (r *dpkgRoot) leftovers(t *testing.T) []string {
	t.Helper()
	keep := map[string]bool{"/": true, "/etc": true, "/var": true, "/var/lib": true, "/var/log": true,
		"/var/log/dpkg.log": true, "/dev": true, "/dev/null": true,
		// systemctl --root made these directories for the enablement links; the links are gone.
		"/etc/systemd": true, "/etc/systemd/system": true, "/etc/systemd/system/multi-user.target.wants": true}
	for _, db := range []string{"passwd", "group", "shadow", "gshadow"} {
		keep["/etc/"+db], keep["/etc/"+db+"-"] = true, true
	}
	var left []string
	err := filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, r.dir), "/")
		if rel == "/var/lib/dpkg" {
			return filepath.SkipDir
		}
		if !keep[rel] {
			left = append(left, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// runFleet starts the installed vigil-server (as vigil-server, like its unit) and the installed
// vigil-updater (as root, chrooted into the root, like its unit on a real host), signs and
// publishes agent 1.0.0 as the stable channel, and waits until the updater has installed it and
// the agent, running as the "vigil" user, has enrolled and reported.
//
// It returns why the updater could not be run here ("" when it ran).
func (r *dpkgRoot) runFleet(t *testing.T, dist, version, arch string) (notRun string) {
	addr := freeAddr(t)
	r.appendEnv(t, "/etc/vigil/server.env", "VIGIL_LISTEN="+addr)
	argv, env := r.unitExec(t, "vigil-server.service")
	if argv[0] != "/usr/bin/vigil-server" {
		t.Fatalf("the packaged unit runs %s, not the packaged /usr/bin/vigil-server", argv[0])
	}
	uid, gid := r.id(t, "passwd", "vigil-server"), r.id(t, "group", "vigil-server")
	// Outside a chroot the unit's paths are under the root.
	for i, a := range argv {
		if strings.HasPrefix(a, "/") {
			argv[i] = r.path(a)
		}
	}
	srv := startProc(t, "vigil-server", argv, env, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}})
	dataDir := r.path("/var/lib/vigil-server")
	client, token := waitServer(t, srv, "https://"+addr, dataDir)

	// The release engineer: keys, repository, agent 1.0.0 on the stable channel.
	ctlDir := filepath.Join(t.TempDir(), "vigilctl")
	if err := os.MkdirAll(ctlDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(dist, "vigilctl-linux-"+arch), append([]string{"--server", "https://" + addr,
			"--ca", filepath.Join(dataDir, "tls", "ca.pem")}, args...)...)
		cmd.Env = append(os.Environ(), "VIGIL_TOKEN="+token, "VIGIL_KEY_PASSPHRASE=packages test passphrase",
			"VIGIL_TRUSTED_ROOT="+filepath.Join(ctlDir, "trusted-root.json"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("vigilctl %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
		}
		return stdout.String()
	}
	rootKey, targetsKey := filepath.Join(ctlDir, "root.key"), filepath.Join(ctlDir, "targets.key")
	ctl("keys", "gen", "--out", rootKey)
	ctl("keys", "gen", "--out", targetsKey)
	ctl("repo", "init", "--root-key", rootKey, "--root-threshold", "1", "--targets-key", targetsKey, "--targets-threshold", "1")
	agentFile := filepath.Join(ctlDir, "vigil-agent-linux-"+arch)
	copyFile(t, filepath.Join(dist, "vigil-agent-linux-"+arch), agentFile, 0o755)
	ctl("release", "stage", version, "--channel", "stable", agentFile)
	ctl("release", "sign", version, "--key", targetsKey, "--yes")
	ctl("release", "publish", version)
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(ctl("--output", "json", "enroll", "create-token", "--ttl", "1h", "--max-uses", "1")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("enrollment token: %v", err)
	}

	// The operator: the CA and the initial root next to updater.env, and the settings in it.
	copyFile(t, filepath.Join(dataDir, "tls", "ca.pem"), r.path("/etc/vigil/ca.pem"), 0o644)
	writeFile(t, r.path("/etc/vigil/root.json"), get(t, client, "https://"+addr+"/tuf/metadata/1.root.json", ""), 0o644)
	r.appendEnv(t, "/etc/vigil/updater.env", "VIGIL_SERVER=https://"+addr, "VIGIL_CA=/etc/vigil/ca.pem",
		"VIGIL_ENROLL_TOKEN="+tok.Token, "VIGIL_TRUSTED_ROOT=/etc/vigil/root.json", "VIGIL_POLL=2s", "VIGIL_GRACE=2s")

	// The updater as its unit runs it, chrooted into the root: it finds the "vigil" user in the
	// root's /etc/passwd and starts the agent as that user. /dev/null is all it needs of /dev.
	if err := syscall.Mknod(r.path("/dev/null"), syscall.S_IFCHR|0o666, int(unixMkdev(1, 3))); err != nil {
		srv.stop(t)
		return fmt.Sprintf("cannot make /dev/null in the root (%v), so the updater cannot run chrooted", err)
	}
	argv, env = r.unitExec(t, "vigil-updater.service")
	if argv[0] != "/opt/vigil/bin/vigil-updater" || argv[1] != "run" {
		t.Fatalf("updater unit ExecStart = %q", argv)
	}
	upd := startProc(t, "vigil-updater", argv, env, // paths inside the chroot
		&syscall.SysProcAttr{Chroot: r.dir})

	var host struct {
		ID             string    `json:"id"`
		Hostname       string    `json:"hostname"`
		AgentVersion   string    `json:"agent_version"`
		UpdaterVersion string    `json:"updater_version"`
		LastSeen       time.Time `json:"last_seen"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var hosts []json.RawMessage
		if err := json.Unmarshal(get(t, client, "https://"+addr+"/api/v1/hosts", token), &hosts); err != nil {
			t.Fatal(err)
		}
		if len(hosts) == 1 {
			if err := json.Unmarshal(hosts[0], &host); err != nil {
				t.Fatal(err)
			}
			if !host.LastSeen.IsZero() {
				break
			}
		}
		if time.Now().After(deadline) || !upd.running() || !srv.running() {
			t.Fatalf("no host enrolled and reporting after 2 minutes (updater running: %v, server running: %v): %d hosts", upd.running(), srv.running(), len(hosts))
		}
		time.Sleep(300 * time.Millisecond)
	}
	if host.AgentVersion != version || host.UpdaterVersion != version {
		t.Errorf("host reports agent %q, updater %q; want %s from the package and the signed repository", host.AgentVersion, host.UpdaterVersion, version)
	}
	// The agent ran as "vigil": it wrote its credential as that user.
	fi, err := os.Stat(r.path("/var/lib/vigil/agent/credential"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != r.id(t, "passwd", "vigil") {
		t.Errorf("agent credential owned by uid %d, want the vigil user %d", st.Uid, r.id(t, "passwd", "vigil"))
	}
	if target, err := os.Readlink(r.path("/var/lib/vigil/current")); err != nil || filepath.Base(target) != version {
		t.Errorf("/var/lib/vigil/current -> %q (%v), want versions/%s", target, err, version)
	}
	t.Logf("host %s enrolled and reported: agent %s, updater %s", host.Hostname, host.AgentVersion, host.UpdaterVersion)
	// The first install used the packaged agent (it is the signed build) instead of downloading it.
	// The event was queued before the agent enrolled and is delivered at the next poll.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var events []struct {
			Phase, Result, Reason string
		}
		if err := json.Unmarshal(get(t, client, "https://"+addr+"/api/v1/hosts/"+host.ID+"/updates", token), &events); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(events, func(e struct{ Phase, Result, Reason string }) bool {
			return e.Phase == "download" && e.Result == "ok" && e.Reason == "bundled build matches the signed target"
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no update event says the bundled agent was used: %+v", events)
		}
		time.Sleep(300 * time.Millisecond)
	}
	upd.stop(t)
	srv.stop(t)
	return ""
}

func unixMkdev(major, minor uint32) uint64 {
	return uint64(major)<<8 | uint64(minor) // enough for (1, 3)
}

// proc is a process the test started; its output goes to a log shown when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(t *testing.T, name string, argv, env []string, attr *syscall.SysProcAttr) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = attr
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 16<<10 {
				b = b[len(b)-16<<10:]
			}
			t.Logf("---- %s log (tail) ----\n%s", name, b)
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and fails the test if the process does not exit cleanly within 30 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if !p.running() {
		t.Fatalf("%s exited before it was stopped: %v", p.name, p.cmd.ProcessState)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30s of SIGTERM", p.name)
	}
	if !p.cmd.ProcessState.Success() {
		t.Errorf("%s exited with %v after SIGTERM", p.name, p.cmd.ProcessState)
	}
}

// waitServer waits for /healthz over TLS verified with the CA the server made in its data
// directory, and returns a client trusting that CA and the admin token.
func waitServer(t *testing.T, p *proc, url, dataDir string) (*http.Client, string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if !p.running() {
			t.Fatalf("vigil-server exited: %v", p.cmd.ProcessState)
		}
		if pem, err := os.ReadFile(filepath.Join(dataDir, "tls", "ca.pem")); err == nil {
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) {
				c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				if resp, err := c.Get(url + "/healthz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						tok, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
						if err != nil {
							t.Fatal(err)
						}
						return c, strings.TrimSpace(string(tok))
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("vigil-server not ready after 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, c *http.Client, url, token string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func copyFile(t *testing.T, src, dst string, mode fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, b, mode)
}

func writeFile(t *testing.T, p string, b []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestPackageScripts checks the maintainer scripts, build.sh and install.sh with shellcheck as
// POSIX sh (dpkg and rpm run them with /bin/sh, which is dash on Debian; the one-line install
// pipes install.sh into sh).
func TestPackageScripts(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed")
	}
	scripts, _ := filepath.Glob("packages/scripts/*.sh")
	if len(scripts) != 6 {
		t.Fatalf("want postinst, prerm and postrm for both packages, have %v", scripts)
	}
	out, err := exec.Command(sc, append([]string{"--shell=sh", "--severity=style", "packages/build.sh", "install.sh"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
