package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
)

// Helpers for tests that run Vigil's real binaries as processes:
//
//	bin := buildBinary(t, "vigil-agent", "1.0.0")   // built once per test run
//	srv := startServer(t, serverConfig{})          // vigil-server on a free port, data dir in t.TempDir()
//	srv.Stop(t); srv.Start(t)                      // same data dir and port
//	p := startProcess(t, "agent", bin, env, args...) // any other process, killed at cleanup
//
// Each process's output goes to a log file; the tail of every log is printed when a test fails.

// buildDir holds the binaries built during this test run (see TestMain).
var buildDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "vigil-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

var builds sync.Map // "name@version" → *buildResult

// skipShort skips end-to-end tests under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds and runs the real binaries")
	}
}

// buildBinary builds ./cmd/<name> stamped with -X main.version=version, once per test run and
// (name, version), and returns the binary's path. Built like `make build` (CGO off, -trimpath).
func buildBinary(t testing.TB, name, version string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(name+"@"+version, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			b.err = err
			return
		}
		out := filepath.Join(buildDir, version, name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", out, "./cmd/"+name)
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

func moduleRoot() (string, error) {
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

// freeAddr returns a 127.0.0.1 address with a port nothing listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a running binary. Its output goes to Log.
type process struct {
	Name string
	Bin  string
	Args []string
	Env  []string // added to the environment
	Log  string   // output file (appended to across restarts)

	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, once done is closed
}

// startProcess starts bin with args and stops it (SIGKILL) at the end of the test.
func startProcess(t testing.TB, name, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{Name: name, Bin: bin, Args: args, Env: env, Log: filepath.Join(t.TempDir(), name+".log")}
	p.Start(t)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", name, tail(p.Log, 40))
		}
	})
	return p
}

// Start (re)starts the process with the same arguments.
func (p *process) Start(t testing.TB) {
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
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
}

// Running reports whether the process has not exited.
func (p *process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits for the exit; it fails the test if the process does not exit
// within timeout or exits with an error.
func (p *process) Stop(t testing.TB, timeout time.Duration) {
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
func (p *process) Kill() {
	if p.cmd == nil || !p.Running() {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
}

// serverConfig configures startServer; the zero value is ready to use.
type serverConfig struct {
	Version string   // stamped into the binary; default "0.0.0-e2e"
	DataDir string   // default a new t.TempDir()
	Listen  string   // default a free 127.0.0.1 port
	Args    []string // more flags
}

// serverProcess is a running vigil-server.
type serverProcess struct {
	*process
	DataDir    string
	URL        string // https://127.0.0.1:port
	CAFile     string // <data-dir>/tls/ca.pem, the CA agents pin
	AdminToken string // from <data-dir>/admin-token
	HTTP       *http.Client
}

// startServer starts vigil-server and waits until /healthz answers over TLS verified with the CA
// it made.
func startServer(t testing.TB, cfg serverConfig) *serverProcess {
	t.Helper()
	if cfg.Version == "" {
		cfg.Version = "0.0.0-e2e"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = freeAddr(t)
	}
	bin := buildBinary(t, "vigil-server", cfg.Version)
	args := append([]string{"--data-dir", cfg.DataDir, "--listen", cfg.Listen}, cfg.Args...)
	s := &serverProcess{
		DataDir: cfg.DataDir,
		URL:     "https://" + cfg.Listen,
		CAFile:  filepath.Join(cfg.DataDir, "tls", "ca.pem"),
	}
	s.process = startProcess(t, "vigil-server", bin, nil, args...)
	s.waitReady(t)
	return s
}

// Start restarts the server on the same data directory and address.
func (s *serverProcess) Start(t testing.TB) {
	t.Helper()
	s.process.Start(t)
	s.waitReady(t)
}

func (s *serverProcess) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if !s.Running() {
			t.Fatalf("vigil-server exited: %v\n%s", s.err, tail(s.Log, 30))
		}
		if s.HTTP == nil {
			if pem, err := os.ReadFile(s.CAFile); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pem) {
					s.HTTP = &http.Client{Timeout: 10 * time.Second,
						Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				}
			}
		}
		if s.HTTP != nil {
			if resp, err := s.HTTP.Get(s.URL + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil-server not ready after 60s\n%s", tail(s.Log, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(s.DataDir, "admin-token"))
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	s.AdminToken = strings.TrimSpace(string(tok))
}

// Client returns an API client authenticated with the admin token.
func (s *serverProcess) Client() *apiclient.Client {
	return apiclient.New(s.URL, s.AdminToken, s.HTTP)
}

// EnrollToken creates a single-use enrollment token.
func (s *serverProcess) EnrollToken(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	et, err := s.Client().CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{TTL: "1h", MaxUses: 1})
	if err != nil {
		t.Fatalf("create enrollment token: %v", err)
	}
	return et.Token
}

// waitFor polls cond every 200 ms until it returns true or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
