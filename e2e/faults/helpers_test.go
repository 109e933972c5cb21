// Package faults is Vigil's fault suite (`make test-faults`): real vigil-server, vigil-agent and
// vigil-updater processes, built for the run, put through the faults a fleet meets — a database
// restarted, a server killed -9, SMTP down and flapping, a full disk, slow and idle clients, a stuck
// supervisor — each test checking that nothing acknowledged is lost or duplicated. Each passing
// test logs one RELIABILITY line; ./reltable turns them into docs/RELIABILITY.md.
//
// Durations: short by default (as `make test` runs it); VIGIL_FAULTS=long (`make test-faults`)
// repeats each fault more often.
package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
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

// postJSON posts v to s at path (with a Bearer token when given), expects status and decodes the
// answer into out when set.
func postJSON(ctx context.Context, s *serverProcess, path, bearer string, v any, status int, out any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// reliabilityPrefix starts each result line the reliability table is built from (see
// ./reltable and `make reliability`).
const reliabilityPrefix = "RELIABILITY "

// result is one row of docs/RELIABILITY.md: a fault or attack, how often it was applied, and what
// was checked afterwards.
type result struct {
	Fault  string `json:"fault"`
	Tried  string `json:"tried"`
	Result string `json:"result"`
}

// record logs r for the reliability table. Call it only once the test's assertions have passed:
// a failed test's row is reported as failed by the table generator anyway.
func record(t *testing.T, r result) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(reliabilityPrefix + string(b))
}

// rounds returns how often to repeat a fault: short under `make test`, long when VIGIL_FAULTS=long.
func rounds(short, long int) int {
	if os.Getenv("VIGIL_FAULTS") == "long" {
		return long
	}
	return short
}

// reportPoster is a synthetic host that posts one report per request, each seq retried until the
// server acknowledges it: the acknowledged seqs are exactly what the server promised to keep.
type reportPoster struct {
	srv   *serverProcess
	cred  string
	acked uint64 // highest AckedSeq the server answered
	posts int    // requests answered 200
	fails int    // requests that failed (server down, 503, …) and were retried
}

// post sends seq (retrying the same seq on failure until ctx ends) and records the ack.
func (p *reportPoster) post(ctx context.Context, seq uint64, boot time.Time) error {
	return p.postAt(ctx, seq, boot, 0)
}

// postAt is post from a host whose clock is off by offset.
func (p *reportPoster) postAt(ctx context.Context, seq uint64, boot time.Time, offset time.Duration) error {
	for {
		r := wire.Report{Seq: seq, Time: time.Now().Add(offset).UTC(), AgentVersion: "1.0.0", IntervalSeconds: 1, BootTime: boot}
		var ack wire.Ack
		err := postJSON(ctx, p.srv, "/api/v1/reports", p.cred, wire.ReportBatch{Reports: []wire.Report{r}}, http.StatusOK, &ack)
		if err == nil {
			p.posts++
			p.acked = max(p.acked, ack.AckedSeq)
			if ack.AckedSeq >= seq {
				return nil
			}
		} else {
			p.fails++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// enrollHost enrolls a synthetic host by name and returns its id and credential.
func enrollHost(ctx context.Context, t *testing.T, s *serverProcess, name string) (id, cred string) {
	t.Helper()
	var resp wire.EnrollResponse
	if err := postJSON(ctx, s, "/api/v1/enroll", "", wire.EnrollRequest{EnrollmentToken: s.EnrollToken(t), Hostname: name,
		MachineID: "machine-" + name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}, http.StatusCreated, &resp); err != nil {
		t.Fatalf("enroll %s: %v", name, err)
	}
	return resp.HostID, resp.Credential
}

var (
	spooledRE = regexp.MustCompile(`msg="Report spooled\." seq=(\d+)`)
	ackedRE   = regexp.MustCompile(`msg="Report acknowledged\." seq=(\d+)`)
)

// logSeqs returns the seqs a debug-level agent log names with re, in order.
func logSeqs(t *testing.T, logFile string, re *regexp.Regexp) []uint64 {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, line := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			seq, _ := strconv.ParseUint(m[1], 10, 64)
			seqs = append(seqs, seq)
		}
	}
	return seqs
}

// storedSeqs opens the stopped server's SQLite store and counts each stored seq of hostID.
func storedSeqs(ctx context.Context, t *testing.T, dataDir, hostID string) map[uint64]int {
	t.Helper()
	store, err := sqlitestore.Open(ctx, filepath.Join(dataDir, "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	samples, err := store.ListSamples(ctx, hostID, time.Time{}, time.Now().Add(2*wire.MaxClockAhead), 0) // times from a clock ahead too
	if err != nil {
		t.Fatal(err)
	}
	n := map[uint64]int{}
	for _, s := range samples {
		n[s.Seq]++
	}
	return n
}

// checkExactlyOnce fails t unless every seq in 1..acked is stored exactly once and nothing above
// it twice. allowedGaps are seqs known never to have been sent (reserved, then kill -9). It returns
// the number of acknowledged reports checked.
func checkExactlyOnce(t *testing.T, host string, stored map[uint64]int, acked uint64, allowedGaps map[uint64]bool) int {
	t.Helper()
	for seq, n := range stored {
		if n != 1 {
			t.Errorf("%s: seq %d stored %d times", host, seq, n)
		}
	}
	checked := 0
	for seq := uint64(1); seq <= acked; seq++ {
		if stored[seq] == 0 && !allowedGaps[seq] {
			t.Errorf("%s: seq %d was acknowledged (acked seq %d) but is not stored", host, seq, acked)
		}
		checked++
	}
	return checked
}

// logHas reports whether a process log contains s.
func logHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

// countLines counts the lines of a log containing s.
func countLines(path, s string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte(s))
}
