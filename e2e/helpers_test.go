package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vigilhq/vigil/e2e/e2eproc"
)

// Helpers for tests that run Vigil's real binaries as processes, from package e2eproc (shared
// with the fault suite), under the names these tests use:
//
//	bin := buildBinary(t, "vigil-agent", "1.0.0")   // built once per test run
//	srv := startServer(t, serverConfig{})          // vigil-server on a free port, data dir in t.TempDir()
//	srv.Stop(t); srv.Start(t)                      // same data dir and port
//	p := startProcess(t, "agent", bin, env, args...) // any other process, killed at cleanup
//
// Each process's output goes to a log file; the tail of every log is printed when a test fails.

func TestMain(m *testing.M) { os.Exit(e2eproc.Main(m)) }

type (
	// process is a running binary (e2eproc.Process).
	process = e2eproc.Process
	// serverConfig configures startServer; the zero value is ready to use.
	serverConfig = e2eproc.ServerConfig
	// serverProcess is a running vigil-server (e2eproc.Server).
	serverProcess = e2eproc.Server
)

// skipShort skips end-to-end tests under -short.
func skipShort(t *testing.T) { t.Helper(); e2eproc.SkipShort(t) }

// buildBinary builds ./cmd/<name> stamped with version, once per test run (e2eproc.Build).
func buildBinary(t testing.TB, name, version string) string {
	t.Helper()
	return e2eproc.Build(t, name, version)
}

// startProcess starts bin with args and stops it (SIGKILL) at the end of the test.
func startProcess(t testing.TB, name, bin string, env []string, args ...string) *process {
	t.Helper()
	return e2eproc.StartProcess(t, name, bin, env, args...)
}

// startServer starts vigil-server and waits until /healthz answers.
func startServer(t testing.TB, cfg serverConfig) *serverProcess {
	t.Helper()
	return e2eproc.StartServer(t, cfg)
}

// waitFor polls cond every 200 ms until it returns true or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	e2eproc.WaitFor(t, timeout, what, cond)
}

// logHas reports whether a process log contains s.
func logHas(path, s string) bool { return e2eproc.LogHas(path, s) }

// postJSON posts v to s at path (with a Bearer token when given), expects status and decodes the
// answer into out when set.
func postJSON(ctx context.Context, s *serverProcess, path, bearer string, v any, status int, out any) error {
	return e2eproc.PostJSON(ctx, s, path, bearer, v, status, out)
}

// moduleRoot returns the directory of the vigil module's go.mod.
func moduleRoot() (string, error) { return e2eproc.ModuleRoot() }
