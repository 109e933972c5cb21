package e2e

// Helpers of the updater's end-to-end test (updater_test.go). Every name starts with "upd" so it
// cannot collide with the helpers of the other end-to-end tests in this package.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// updOtherArch is a GOARCH whose binaries cannot run here.
func updOtherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

// updBuild is one binary to build: package, version stamped with -X main.version, extra
// ldflags, GOARCH ("" native).
type updBuild struct {
	pkg, version, ldflags, goarch string
}

// updBuildAll builds the binaries that buildBinary (helpers_test.go) cannot: the fake agent and
// builds for another GOARCH. They go into dir, named by the map keys.
func updBuildAll(t *testing.T, dir string, builds map[string]updBuild) {
	t.Helper()
	for name, b := range builds {
		ld := "-s -w"
		if b.version != "" {
			ld += " -X main.version=" + b.version
		}
		if b.ldflags != "" {
			ld += " " + b.ldflags
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name), "-ldflags", ld, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b.goarch != "" {
			cmd.Env = append(cmd.Env, "GOARCH="+b.goarch)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s (%s): %v\n%s", b.pkg, name, err, out)
		}
	}
}

// updProc is a process started by the test, its output in a log file shown when the test fails.
type updProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func updStart(t *testing.T, name, logDir string, env []string, bin string, args ...string) *updProc {
	t.Helper()
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &updProc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 64<<10 {
				b = b[len(b)-64<<10:]
			}
			t.Logf("---- %s log (tail) ----\n%s", name, b)
		}
	})
	return p
}

// stop sends SIGTERM and waits up to 30 s, then kills.
func (p *updProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// updServer is a vigil-server process (startServer of helpers_test.go) and a vigilctl pointed
// at it.
type updServer struct {
	t        *testing.T
	url      string
	ca       string
	token    string
	vigilctl string
	keyPass  string
	client   *http.Client
}

func newUpdServer(t *testing.T, sp *serverProcess, vigilctl string) *updServer {
	return &updServer{t: t, url: sp.URL, ca: sp.CAFile, token: sp.AdminToken, vigilctl: vigilctl,
		keyPass: "e2e release key passphrase", client: sp.HTTP}
}

// ctl runs vigilctl against the server and returns its stdout; it fails the test on error.
func (s *updServer) ctl(args ...string) string {
	s.t.Helper()
	out, err := s.tryCtl(args...)
	if err != nil {
		s.t.Fatalf("vigilctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// tryCtl runs vigilctl and returns its stdout, or an error with its stderr.
func (s *updServer) tryCtl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.vigilctl, append([]string{"--server", s.url, "--ca", s.ca}, args...)...)
	// The release engineer's trusted root lives beside the test server, never in the real home.
	trusted := filepath.Join(filepath.Dir(filepath.Dir(s.ca)), "vigilctl-trusted-root.json")
	cmd.Env = append(os.Environ(), "VIGIL_TOKEN="+s.token, "VIGIL_KEY_PASSPHRASE="+s.keyPass, "VIGIL_TRUSTED_ROOT="+trusted)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s%s", err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// get decodes the JSON answer of an operator GET.
func (s *updServer) get(path string, out any) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
}

// fetch returns the body of an unauthenticated GET (the TUF repository).
func (s *updServer) fetch(path string) []byte {
	s.t.Helper()
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// release stages files (artifact name -> path of the build) as version with extra stage flags,
// signs it with each key and publishes it: the release engineers' flow.
func (s *updServer) release(version string, files map[string]string, keys []string, stageFlags ...string) {
	s.t.Helper()
	dir := filepath.Join(s.t.TempDir(), "dist-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	args := append([]string{"release", "stage", version}, stageFlags...)
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			s.t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			s.t.Fatal(err)
		}
		args = append(args, dst)
	}
	s.ctl(args...)
	for _, k := range keys {
		s.ctl("release", "sign", version, "--key", k, "--yes")
	}
	s.ctl("release", "publish", version)
}

// updHost is the part of GET /api/v1/hosts the test reads.
type updHost struct {
	ID           string    `json:"id"`
	Hostname     string    `json:"hostname"`
	Group        string    `json:"group"`
	AgentVersion string    `json:"agent_version"`
	LastSeen     time.Time `json:"last_seen"`
	LastUpdate   *struct {
		updEvent
	} `json:"last_update"`
}

// updEvent is an update event as GET /api/v1/hosts/{id}/updates shows it.
type updEvent struct {
	Binary      string    `json:"binary"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Phase       string    `json:"phase"`
	Result      string    `json:"result"`
	Reason      string    `json:"reason"`
	Time        time.Time `json:"time"`
}

func (e updEvent) String() string {
	return fmt.Sprintf("%s %s→%s %s/%s %q", e.Time.Format("15:04:05.000"), e.FromVersion, e.ToVersion, e.Phase, e.Result, e.Reason)
}

// updWait polls cond every 200 ms until it is true or timeout passes.
func updWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
