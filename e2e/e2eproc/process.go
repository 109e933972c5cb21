// Package e2eproc runs Vigil's real binaries as processes for the end-to-end tests (package e2e)
// and the fault suite (package faults): it builds vigil-server, vigil-agent, vigil-updater and
// vigilctl once per test run, starts a vigil-server on a free port with its data directory in
// t.TempDir(), enrolls hosts, drives vigilctl's release flow and waits on process logs.
//
//	func TestMain(m *testing.M) { os.Exit(e2eproc.Main(m)) }        // the build directory of the run
//	bin := e2eproc.Build(t, "vigil-agent", "1.0.0")                    // built once per test run
//	srv := e2eproc.StartServer(t, e2eproc.ServerConfig{})              // vigil-server, data dir in t.TempDir()
//	srv.Stop(t, 30*time.Second); srv.Start(t)                          // same data dir and port
//	p := e2eproc.StartProcess(t, "agent", bin, env, args...)           // any other process, killed at cleanup
//
// Each process's output goes to a log file; the tail of every log is printed when a test fails.
// It is test support: it imports testing, fails the calling test on any error, and trusts the
// binaries it built and the server it started (their answers are read without limits beyond the
// ones noted). Nothing here is safe for concurrent use except Build.
package e2eproc

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildDir holds the binaries built during this test run (see Main).
var buildDir string

// Main runs the tests of m with a build directory for Build, removed afterwards, and returns the
// exit code: call it from TestMain as os.Exit(e2eproc.Main(m)).
func Main(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "vigil-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	buildDir = dir
	defer os.RemoveAll(dir)
	return m.Run()
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

var builds sync.Map // "name@version+tags" → *buildResult

// SkipShort skips end-to-end tests under -short.
func SkipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds and runs the real binaries")
	}
}

// Build builds ./cmd/<name> stamped with -X main.version=version, once per test run and
// (name, version), and returns the binary's path. Built like `make build` (CGO off, -trimpath).
func Build(t testing.TB, name, version string) string {
	t.Helper()
	return BuildTags(t, name, version, "")
}

// BuildTags is Build with build tags (comma-separated, as go build -tags takes them), for test
// seams that release builds never carry (vigil_fakeclock, see package wallclock).
func BuildTags(t testing.TB, name, version, tags string) string {
	t.Helper()
	if buildDir == "" {
		t.Fatal("e2eproc: no build directory: call e2eproc.Main from TestMain")
	}
	v, _ := builds.LoadOrStore(name+"@"+version+"+"+tags, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			b.err = err
			return
		}
		dir := version
		if tags != "" {
			dir += "+" + strings.ReplaceAll(tags, ",", "+")
		}
		out := filepath.Join(buildDir, dir, name)
		args := []string{"build", "-trimpath", "-ldflags", "-X main.version=" + version, "-o", out}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.Command("go", append(args, "./cmd/"+name)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, msg)
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// ModuleRoot returns the directory of the vigil module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the vigil module")
	}
	return filepath.Dir(gomod), nil
}

// FreeAddr returns a 127.0.0.1 address with a port nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Process is a running binary. Its output goes to Log.
type Process struct {
	Name string
	Bin  string
	Args []string
	Env  []string // added to the environment
	Log  string   // output file (appended to across restarts)

	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, once done is closed
}

// StartProcess starts bin with args and stops it (SIGKILL) at the end of the test.
func StartProcess(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, Bin: bin, Args: args, Env: env, Log: filepath.Join(t.TempDir(), name+".log")}
	p.Start(t)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", name, Tail(p.Log, 40))
		}
	})
	return p
}

// Start (re)starts the process with the same arguments.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s start %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(append([]string{p.Bin}, p.Args...), " "))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", p.Name, err)
	}
	p.cmd, p.done, p.err = cmd, make(chan struct{}), nil
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
}

// Running reports whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed when the process exits.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit status once the process has exited (see Done), nil before.
func (p *Process) Err() error {
	if p.Running() {
		return nil
	}
	return p.err
}

// Pid is the process id of the current run.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(p.Pid(), sig); err != nil {
		t.Fatalf("signal %s to %s: %v", sig, p.Name, err)
	}
}

// Stop sends SIGTERM and waits for the exit; it fails the test if the process does not exit
// within timeout or exits with an error.
func (p *Process) Stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	if !p.Running() {
		t.Fatalf("%s already exited: %v", p.Name, p.err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
		t.Fatalf("%s did not exit within %s of SIGTERM", p.Name, timeout)
	}
	if p.err != nil {
		t.Fatalf("%s exited with %v after SIGTERM", p.Name, p.err)
	}
}

// Kill sends SIGKILL (kill -9) and waits for the exit.
func (p *Process) Kill() {
	if p.cmd == nil || !p.Running() {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
}
