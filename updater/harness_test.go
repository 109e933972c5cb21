package updater_test

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
	"github.com/vigilhq/vigil/wire"
)

// binDir holds the binaries built once per test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-updater-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agentBuild is a fake agent build.
type agentBuild struct{ version, mode, goarch string }

// agentBuilds are the "agent" programs of the tests.
var agentBuilds = map[string]agentBuild{
	"good-1.0.0":  {"1.0.0", "good", ""},
	"good-2.0.0":  {"2.0.0", "good", ""},
	"good-0.9.0":  {"0.9.0", "good", ""},
	"good-1.2.0":  {"1.2.0", "good", ""},
	"exit-2.1.0":  {"2.1.0", "exit", ""},
	"hang-2.2.0":  {"2.2.0", "hang", ""},
	"arm-2.3.0":   {"2.3.0", "good", "other"},
	"noack-2.4.0": {"2.4.0", "noack", ""},
	"liar-2.5.0":  {"2.6.0", "good", ""}, // claims another version
}

var (
	buildOnce sync.Once
	buildErr  error
)

// otherArch is a GOARCH whose binaries cannot run here.
func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func goBuild(out, pkg, ldflags, goarch string) error {
	cmd := exec.Command("go", "build", "-o", out, "-ldflags", ldflags, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if goarch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// buildAll builds every fake agent, vigil-updater at 1.0.0 and 1.1.0 and vigil-tuf-client, once
// per run.
func buildAll(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds binaries; skipped in -short mode")
	}
	buildOnce.Do(func() {
		for name, b := range agentBuilds {
			arch := b.goarch
			if arch == "other" {
				arch = otherArch()
			}
			ld := fmt.Sprintf("-X main.version=%s -X main.mode=%s", b.version, b.mode)
			if buildErr = goBuild(filepath.Join(binDir, name), "github.com/vigilhq/vigil/updater/internal/fakeagent", ld, arch); buildErr != nil {
				return
			}
		}
		if buildErr = goBuild(filepath.Join(binDir, "vigil-tuf-client"), "github.com/vigilhq/vigil/cmd/vigil-tuf-client", "", ""); buildErr != nil {
			return
		}
		for _, v := range []string{"1.0.0", "1.1.0"} {
			if buildErr = goBuild(filepath.Join(binDir, "vigil-updater-"+v), "github.com/vigilhq/vigil/cmd/vigil-updater", "-X main.version="+v, ""); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func binPath(name string) string { return filepath.Join(binDir, name) }

func readBin(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(binPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const testCredential = "test-credential"

// testEnrollToken is the enrollment token the fake server answers GET /api/v1/updates/desired
// for, as it does for testCredential.
const testEnrollToken = "vge_test-enroll-token"

// harness is a TLS server with a signed TUF repository and a fake desired/events API, a state
// directory, and an in-process Updater supervising real fake-agent processes.
type harness struct {
	t      *testing.T
	repo   *tuftest.Repo
	srv    *httptest.Server
	caFile string
	state  string
	ctx    context.Context

	mu      sync.Mutex
	desired wire.UpdateDesired
	events  []wire.UpdateEvent
	// desiredCalls counts answered GET /api/v1/updates/desired.
	desiredCalls int
	// serverClock is how far the events API's clock (its Date header and clock check) is from
	// the test's: negative puts the updater's clock ahead of the server's.
	serverClock time.Duration
	// refuseEvents makes the events API refuse every event (400 "bad event").
	refuseEvents bool
	// eventPosts counts POST /api/v1/updates/events, refused ones included.
	eventPosts int

	u *updater.Updater
	// logger, when set, is the Updater's logger (default testLogger).
	logger *slog.Logger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	buildAll(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, repo: tuftest.New(t), state: t.TempDir(), ctx: ctx}
	h.publish("good-1.0.0", tuftest.Custom{Channels: []string{"stable"}})
	mux := http.NewServeMux()
	mux.Handle("/tuf/", h.repo.Handler())
	mux.HandleFunc("GET /api/v1/updates/desired", func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth != "Bearer "+testCredential && auth != "Bearer "+testEnrollToken {
			http.Error(w, `{"error":{"code":"unauthorized","message":"no"}}`, http.StatusUnauthorized)
			return
		}
		h.mu.Lock()
		d := h.desired
		h.desiredCalls++
		h.mu.Unlock()
		json.NewEncoder(w).Encode(d)
	})
	mux.HandleFunc("POST /api/v1/updates/events", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		now := time.Now().Add(h.serverClock)
		h.eventPosts++
		refuse := h.refuseEvents
		h.mu.Unlock()
		w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
		var e wire.UpdateEvent
		if err := wire.Decode(r.Body, 1<<16, false, &e); err != nil || e.Validate() != nil || refuse {
			http.Error(w, `{"error":{"code":"invalid","message":"bad event"}}`, 400)
			return
		}
		// As the server does: a time more than wire.MaxClockAhead ahead is refused, saying so.
		if err := e.CheckClock(now); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(wire.ErrorResponse{Error: wire.ErrorBody{Code: "invalid", Message: err.Error()}})
			return
		}
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	h.srv = httptest.NewTLSServer(mux)
	t.Cleanup(h.srv.Close)
	h.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw})
	if err := os.WriteFile(h.caFile, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(h.state, "agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.state, "agent", "credential"), []byte(testCredential+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// publish adds an agent build to the repository under its version.
func (h *harness) publish(build string, c tuftest.Custom) string {
	b := agentBuilds[build]
	c.Version = b.version
	if build == "liar-2.5.0" {
		c.Version = "2.5.0"
	}
	p := updater.TargetPath(updater.BinaryAgent, c.Version, runtime.GOARCH)
	h.repo.AddTarget(p, readBin(h.t, build), c)
	h.repo.Publish()
	return c.Version
}

func (h *harness) setDesired(version, channel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.desired = wire.UpdateDesired{Version: version, Channel: channel}
}

func (h *harness) eventsSeen() []wire.UpdateEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]wire.UpdateEvent(nil), h.events...)
}

// hasEvent reports whether the server received an event with this phase and result for version.
func (h *harness) hasEvent(phase, result, to string) bool {
	for _, e := range h.eventsSeen() {
		if e.Phase == phase && e.Result == result && e.ToVersion == to {
			return true
		}
	}
	return false
}

func (h *harness) tlsConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(h.srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("VIGIL_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// config is the Updater configuration of the tests: short timeouts and grace.
func (h *harness) config() updater.Config {
	return updater.Config{
		Server: h.srv.URL,
		HTTP: updater.HTTPConfig{
			TLS:                   h.tlsConfig(),
			ConnectTimeout:        time.Second,
			TLSHandshakeTimeout:   time.Second,
			ResponseHeaderTimeout: time.Second,
			RequestTimeout:        3 * time.Second,
			IdleReadTimeout:       time.Second,
			DownloadTimeout:       10 * time.Second,
		},
		StateDir:       h.state,
		TrustedRoot:    h.repo.RootJSON(1),
		Grace:          time.Second,
		ReadyTimeout:   700 * time.Millisecond,
		Poll:           time.Hour,
		VersionTimeout: 5 * time.Second,
		Version:        "1.0.0",
		Supervisor:     updater.SupervisorConfig{MinBackoff: 50 * time.Millisecond, StopTimeout: 3 * time.Second},
		Logger:         cmp.Or(h.logger, testLogger(h.t)),
	}
}

// start installs agent 1.0.0, recovers and starts supervising, and waits for it to be ready.
func (h *harness) start() {
	h.t.Helper()
	u, err := updater.New(h.config())
	if err != nil {
		h.t.Fatal(err)
	}
	h.u = u
	if v, err := u.Install(h.ctx, "1.0.0", ""); err != nil || v != "1.0.0" {
		h.t.Fatalf("Install = %q, %v", v, err)
	}
	h.run()
	// 1.0.0 delivers reports (ACK), so a new version must too.
	select {
	case <-h.u.Supervisor().Current().Acked():
	case <-time.After(10 * time.Second):
		h.t.Fatal("agent 1.0.0 sent no ACK")
	}
}

// run recovers the state and runs the supervisor until the test ends.
func (h *harness) run() {
	h.t.Helper()
	if err := h.u.Recover(h.ctx); err != nil {
		h.t.Fatalf("Recover: %v", err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() {
		h.u.Supervisor().Run(ctx)
		close(done)
	}()
	h.t.Cleanup(func() {
		cancel()
		<-done
	})
	h.waitRunning("")
}

// waitRunning waits until the supervised agent is ready and returns its version ("" accepts any).
func (h *harness) waitRunning(want string) string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c := h.u.Supervisor().Current(); c != nil {
			select {
			case <-c.Ready():
				v := filepath.Base(filepath.Dir(c.Binary))
				if want == "" || v == want {
					return v
				}
			default:
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("no ready agent (want %q)", want)
	return ""
}

// assertRunning checks that version v is linked, journaled as current and running.
func (h *harness) assertRunning(v string) {
	h.t.Helper()
	if got := h.waitRunning(v); got != v {
		h.t.Fatalf("running %s, want %s", got, v)
	}
	st, err := updater.ReadStatus(h.state)
	if err != nil {
		h.t.Fatal(err)
	}
	if st.Linked != v || st.Journal.Current != v || st.Journal.Trial != nil {
		h.t.Fatalf("status = linked %q, journal %+v; want %s committed", st.Linked, st.Journal, v)
	}
}

func (h *harness) quarantined(v string) bool {
	st, err := updater.ReadStatus(h.state)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, q := range st.Quarantine {
		if q.Version == v && q.Binary == updater.BinaryAgent {
			return true
		}
	}
	return false
}

func (h *harness) installed() []string {
	st, err := updater.ReadStatus(h.state)
	if err != nil {
		h.t.Fatal(err)
	}
	return st.Installed
}

func mustIs(t *testing.T, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("error %v does not match %v", err, target)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var _ = strings.Contains

func writeJournal(t *testing.T, state string, j updater.Journal) {
	t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "state.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func osChmod(p string, m os.FileMode) error { return os.Chmod(p, m) }
