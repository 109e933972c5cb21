package e2e

// Helpers of the updater's end-to-end test (updater_test.go). Every name starts with "upd" so it
// cannot collide with the helpers of the other end-to-end tests in this package.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vigilhq/vigil/e2e/e2eproc"
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
		keyPass: e2eproc.KeyPassphrase, client: sp.HTTP}
}

// vc is the e2eproc.Vigilctl for s.
func (s *updServer) vc() *e2eproc.Vigilctl {
	return &e2eproc.Vigilctl{Bin: s.vigilctl, URL: s.url, CAFile: s.ca, Token: s.token, KeyPassphrase: s.keyPass}
}

// ctl runs vigilctl against the server and returns its stdout; it fails the test on error.
func (s *updServer) ctl(args ...string) string { s.t.Helper(); return s.vc().Run(s.t, args...) }

// tryCtl runs vigilctl and returns its stdout, or an error with its stderr.
func (s *updServer) tryCtl(args ...string) (string, error) { return s.vc().TryRun(args...) }

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
	s.vc().Release(s.t, version, files, keys, stageFlags...)
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
