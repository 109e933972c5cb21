package faults

import (
	"context"
	"fmt"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server/pgstore"
)

// pgCluster is a private PostgreSQL cluster run as the postgres OS user on a free port, which
// tests may stop and start at will. The shared server (VIGIL_TEST_POSTGRES_URL) is never touched.
type pgCluster struct {
	bin, dir, port string
	URL            string
}

// startPGCluster initdb's and starts a private cluster, or skips saying why. Under CI=true, with
// VIGIL_TEST_POSTGRES_URL set and initdb installed, a missing precondition fails instead: CI runs
// as root and must not skip this silently.
func startPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" && os.Getenv("VIGIL_TEST_POSTGRES_URL") != "" {
			t.Fatalf("CI=true with VIGIL_TEST_POSTGRES_URL and initdb installed: %s", msg)
		}
		t.Skip(msg)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			bins = []string{p}
		}
	}
	if len(bins) == 0 {
		t.Skip("no initdb (/usr/lib/postgresql/*/bin or PATH): install PostgreSQL's server package to run a private cluster")
	}
	if os.Geteuid() != 0 {
		skip("not root: a private PostgreSQL cluster is run as the postgres OS user (runuser needs root)")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		skip("no runuser: %v", err)
	}
	c := &pgCluster{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "vigil-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c.dir = dir
	if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
		skip("chown %s to postgres: %v: %s", dir, err, out)
	}
	if out, err := c.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync"); err != nil {
		skip("initdb as postgres: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	c.URL = "postgres://postgres@127.0.0.1:" + c.port + "/postgres?sslmode=disable"
	c.Start(t)
	t.Cleanup(func() { c.run("pg_ctl", "-D", filepath.Join(dir, "data"), "stop", "-m", "immediate") })
	return c
}

func (c *pgCluster) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, prog)}, args...)...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// Start starts the cluster and waits until it accepts connections.
func (c *pgCluster) Start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1", c.port, c.dir)
	if out, err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "120", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		t.Fatalf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
}

// Crash stops the cluster the way a power cut does: pg_ctl stop -m immediate (no checkpoint; the
// next start replays the WAL).
func (c *pgCluster) Crash(t *testing.T) {
	t.Helper()
	if out, err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "stop", "-m", "immediate", "-w"); err != nil {
		t.Fatalf("pg_ctl stop -m immediate: %v: %s", err, out)
	}
}

// TestPostgresRestartDuringIngest runs vigil-server on a private PostgreSQL cluster while a real
// agent (interval 1 s) and four synthetic hosts report back to back, and crashes PostgreSQL (stop
// -m immediate) at random moments, starting it again after 1–3 s. The server answers errors while
// the database is down, agents retry, and afterwards every report the server acknowledged is
// stored exactly once.
func TestPostgresRestartDuringIngest(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	pg := startPGCluster(t)
	restarts := rounds(2, 6)
	srv := e2eproc.StartServer(t, e2eproc.ServerConfig{Args: []string{"--database-url", pg.URL}})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	const nPosters = 4
	load := startIngestLoad(ctx, t, srv, nPosters)
	agent, posters, ids := load.agent, load.posters, load.ids
	agentAcked := func() uint64 { return lastSeq(t, agent.Log, ackedRE) }
	waitNext := func(what string) {
		t.Helper()
		mark := agentAcked()
		e2eproc.WaitFor(t, 2*time.Minute, what, func() (bool, error) {
			if !agent.Running() {
				t.Fatalf("vigil-agent exited: %v", agent.Err())
			}
			if !srv.Running() {
				t.Fatalf("vigil-server exited: %v", srv.Err())
			}
			return agentAcked() > mark, nil
		})
	}
	for k := range restarts {
		waitNext("the agent's next acknowledged report")
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
		pg.Crash(t)
		down := time.Duration(1000+rand.IntN(2000)) * time.Millisecond
		time.Sleep(down)
		pg.Start(t)
		t.Logf("PostgreSQL crash #%d, down %s", k+1, down.Round(time.Millisecond))
	}
	waitNext("the agent to deliver after the last restart")
	load.Stop()
	hosts, err := srv.Client().ListHosts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	agent.Stop(t, 30*time.Second)
	srv.Stop(t, 30*time.Second)

	store, err := pgstore.Open(ctx, pg.URL, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	count := func(hostID string) map[uint64]int { return countSeqs(ctx, t, store, hostID) }
	synthetic := map[string]bool{}
	total, retries := 0, 0
	for i, p := range posters {
		synthetic[ids[i]] = true
		total += checkExactlyOnce(t, fmt.Sprintf("synthetic-%d", i), count(ids[i]), p.acked, nil)
		retries += p.fails
	}
	for _, h := range hosts {
		if !synthetic[h.ID] {
			total += checkExactlyOnce(t, "agent", count(h.ID), agentAcked(), nil)
		}
	}
	if len(hosts) != nPosters+1 {
		t.Errorf("%d hosts, want %d", len(hosts), nPosters+1)
	}
	if retries == 0 {
		t.Error("no synthetic report failed while PostgreSQL was down: the crash did not land during ingestion")
	}
	if t.Failed() {
		return
	}
	t.Logf("%d PostgreSQL crashes; %d acknowledged reports stored exactly once; %d posts failed and were retried", restarts, total, retries)
	record(t, result{
		Fault:  "PostgreSQL crashed (pg_ctl stop -m immediate) and restarted during ingestion",
		Tried:  fmt.Sprintf("%d crashes of a private cluster, down 1–3 s each; 1 agent + 4 hosts posting back to back", restarts),
		Result: fmt.Sprintf("%d acknowledged reports checked: lost 0, duplicated 0; %d requests failed while down and were retried", total, retries),
	})
}
