// Command updatebench measures vigil-updater with real processes against a real vigil-server whose
// release repository is initialized and released with vigilctl (one root key, two targets keys,
// threshold 2), and prints Markdown tables for docs/BENCHMARKS.md ("Updater"):
//
//   - failstart: time to detect a failed start and be back on the previous version. One host
//     runs vigil-updater supervising the real vigil-agent 2.0.0; the group is pinned in turn to a
//     build that exits at once, one that hangs without READY, and an agent built for another
//     architecture. Each round uses a new state directory and group, so quarantine starts empty.
//     Times come from the update events (the updater's clock) and the server's last_seen.
//   - refresh: requests and bytes of a TUF refresh when nothing changed, against the real server,
//     counting body bytes (the client) and bytes on the wire (a counting dialer, TLS included).
//   - fleet: time from a pin change to a committed update on every host, for each -hosts count:
//     that many vigil-updater processes (own state dir each, one multi-use enrollment token)
//     each supervising a fake agent (updater/internal/fakeagent, which enrolls and acks at once),
//     with -poll (jittered ±20 %) and -fleet-grace. The pin moves to a new version each round.
//     RSS and PSS of the updaters, the agents and the server are sampled with the fleet idle.
//
// Run it from the module root (make bench does):
//
//	go run ./e2e/benchcmd/updatebench [-rounds 3] [-grace 10s] [-hosts 1,200] [-poll 2s] [-fleet-grace 2s]
//
// The machine needs about 1 GB of memory per 100 hosts and a few hundred MB of /tmp.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/updater"
)

type options struct {
	rounds     int
	grace      time.Duration
	fleetGrace time.Duration
	poll       time.Duration
	hosts      []int
	work       string
	keep       bool
	only       string
	verbose    bool
}

func main() {
	var o options
	var hosts string
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of each measurement (medians are quoted)")
	flag.DurationVar(&o.grace, "grace", 10*time.Second, "--grace of the failed-start measurement")
	flag.DurationVar(&o.fleetGrace, "fleet-grace", 2*time.Second, "--grace of the fleet measurement")
	flag.DurationVar(&o.poll, "poll", 2*time.Second, "--poll of every updater")
	flag.StringVar(&hosts, "hosts", "1,200", "fleet sizes to measure")
	flag.StringVar(&o.work, "work", "", "work directory (default: a new temporary one, removed at the end)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&o.only, "only", "", "run only failstart, refresh or fleet")
	flag.BoolVar(&o.verbose, "v", false, "progress on stderr")
	flag.Parse()
	for _, h := range strings.Split(hosts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(h))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "updatebench: bad -hosts %q\n", hosts)
			os.Exit(2)
		}
		o.hosts = append(o.hosts, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, ctx: ctx}
	err := b.run()
	b.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "updatebench:", err)
		os.Exit(1)
	}
}

type bench struct {
	o     options
	ctx   context.Context
	work  string
	bin   string
	procs []*proc
	mu    sync.Mutex

	url, ca, token, dataDir string
	client                  *http.Client
	rootFile                string
	keys                    []string // targets keys
	server                  *proc
}

func (b *bench) logf(format string, args ...any) {
	if b.o.verbose {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}

// Versions: the real agent is 1.0.0 and 2.0.0; the bad builds 2.1.0 (exits), 2.2.0 (hangs without
// READY), 2.3.0 (another GOARCH); the fleet's fake agent is 10.0.0 and then one version per round.
func fleetVersion(i int) string { return fmt.Sprintf("%d.0.0", 10+i) }

var badBuilds = []struct{ version, build, what string }{
	{"2.1.0", "bad-exit", "exits at once"},
	{"2.2.0", "bad-hang", "hangs without READY"},
	{"2.3.0", "bad-arch", "wrong architecture"},
}

func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func (b *bench) run() error {
	var err error
	if b.o.work == "" {
		if b.work, err = os.MkdirTemp("", "updatebench-"); err != nil {
			return err
		}
	} else {
		b.work = b.o.work
	}
	b.bin = filepath.Join(b.work, "bin")
	if err := os.MkdirAll(filepath.Join(b.work, "logs"), 0o755); err != nil {
		return err
	}
	if err := b.build(); err != nil {
		return err
	}
	if err := b.startServer(); err != nil {
		return err
	}
	if err := b.setupRepo(); err != nil {
		return err
	}
	fmt.Printf("Machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s. Medians of %d rounds unless said otherwise.\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), b.o.rounds)
	if b.o.only == "" || b.o.only == "failstart" {
		if err := b.failstart(); err != nil {
			return fmt.Errorf("failstart: %w", err)
		}
	}
	if b.o.only == "" || b.o.only == "refresh" {
		if err := b.refresh(); err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
	}
	if b.o.only == "" || b.o.only == "fleet" {
		for _, n := range b.o.hosts {
			if err := b.fleet(n); err != nil {
				return fmt.Errorf("fleet of %d: %w", n, err)
			}
		}
	}
	return nil
}

func (b *bench) cleanup() {
	b.mu.Lock()
	procs := slices.Clone(b.procs)
	b.mu.Unlock()
	stopAll(procs)
	if b.work != "" && !b.o.keep && b.o.work == "" {
		os.RemoveAll(b.work)
	} else if b.work != "" {
		fmt.Fprintln(os.Stderr, "updatebench: work directory kept:", b.work)
	}
}

// build builds every binary once.
func (b *bench) build() error {
	const agent, fake = "./cmd/vigil-agent", "./updater/internal/fakeagent"
	type bld struct{ name, pkg, ld, goarch string }
	builds := []bld{
		{"vigil-server", "./cmd/vigil-server", "-X main.version=0.0.0-bench", ""},
		{"vigilctl", "./cmd/vigilctl", "-X main.version=0.0.0-bench", ""},
		{"vigil-updater", "./cmd/vigil-updater", "-X main.version=1.0.0", ""},
		{"agent-1.0.0", agent, "-X main.version=1.0.0", ""},
		{"agent-2.0.0", agent, "-X main.version=2.0.0", ""},
		{"bad-exit", fake, "-X main.version=2.1.0 -X main.mode=exit", ""},
		{"bad-hang", fake, "-X main.version=2.2.0 -X main.mode=hang", ""},
		{"bad-arch", agent, "-X main.version=2.3.0", otherArch()},
	}
	for i := 0; i <= b.o.rounds; i++ {
		v := fleetVersion(i)
		builds = append(builds, bld{"fake-" + v, fake, "-X main.version=" + v + " -X main.mode=good", ""})
	}
	start := time.Now()
	for _, x := range builds {
		cmd := exec.CommandContext(b.ctx, "go", "build", "-trimpath", "-ldflags", "-s -w "+x.ld, "-o", filepath.Join(b.bin, x.name), x.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if x.goarch != "" {
			cmd.Env = append(cmd.Env, "GOARCH="+x.goarch)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", x.pkg, err, out)
		}
	}
	b.logf("built %d binaries in %v", len(builds), time.Since(start).Round(time.Millisecond))
	return nil
}

func (b *bench) path(name string) string { return filepath.Join(b.bin, name) }

// proc is a process this program started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (b *bench) start(logName string, env []string, bin string, args ...string) (*proc, error) {
	var out io.Writer = io.Discard
	var f *os.File
	if logName != "" {
		var err error
		if f, err = os.Create(filepath.Join(b.work, "logs", logName+".log")); err != nil {
			return nil, err
		}
		out = f
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		if f != nil {
			f.Close()
		}
		close(p.done)
	}()
	b.mu.Lock()
	b.procs = append(b.procs, p)
	b.mu.Unlock()
	return p, nil
}

// stopAll sends SIGTERM to every process, waits up to 30 s, then kills their process groups.
func stopAll(procs []*proc) {
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(30 * time.Second)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (b *bench) startServer() error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	b.url = "https://" + addr
	b.dataDir = filepath.Join(b.work, "server-data")
	if b.server, err = b.start("vigil-server", nil, b.path("vigil-server"), "--data-dir", b.dataDir, "--listen", addr, "--log-level", "warn"); err != nil {
		return err
	}
	b.ca = filepath.Join(b.dataDir, "tls", "ca.pem")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-b.server.done:
			return errors.New("vigil-server exited; see its log")
		default:
		}
		tok, err1 := os.ReadFile(filepath.Join(b.dataDir, "admin-token"))
		pem, err2 := os.ReadFile(b.ca)
		if err1 == nil && err2 == nil && len(tok) > 0 {
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) {
				b.token = strings.TrimSpace(string(tok))
				b.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				if resp, err := b.client.Get(b.url + "/readyz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return nil
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("vigil-server not ready within 60 s")
}

const keyPassphrase = "updatebench release key passphrase"

func (b *bench) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.path("vigilctl"), append([]string{"--server", b.url, "--ca", b.ca}, args...)...)
	trusted := filepath.Join(filepath.Dir(filepath.Dir(b.ca)), "vigilctl-trusted-root.json") // never the real home
	cmd.Env = append(os.Environ(), "VIGIL_TOKEN="+b.token, "VIGIL_KEY_PASSPHRASE="+keyPassphrase, "VIGIL_TRUSTED_ROOT="+trusted)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("vigilctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// release stages one agent build as version, signs it with both targets keys and publishes it.
func (b *bench) release(version, build string) error {
	dir := filepath.Join(b.work, "dist", version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(b.path(build))
	if err != nil {
		return err
	}
	// A wrong-architecture build is mislabelled on purpose: the signed target says this arch.
	file := filepath.Join(dir, "vigil-agent-linux-"+runtime.GOARCH)
	if err := os.WriteFile(file, data, 0o755); err != nil {
		return err
	}
	if _, err := b.ctl("release", "stage", version, file); err != nil {
		return err
	}
	for _, k := range b.keys {
		if _, err := b.ctl("release", "sign", version, "--key", k, "--yes"); err != nil {
			return err
		}
	}
	_, err = b.ctl("release", "publish", version)
	return err
}

func (b *bench) setupRepo() error {
	start := time.Now()
	keyDir := filepath.Join(b.work, "keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"root", "targets-a", "targets-b"} {
		if _, err := b.ctl("keys", "gen", "--out", filepath.Join(keyDir, name+".key")); err != nil {
			return err
		}
	}
	b.keys = []string{filepath.Join(keyDir, "targets-a.key"), filepath.Join(keyDir, "targets-b.key")}
	if _, err := b.ctl("repo", "init", "--root-key", filepath.Join(keyDir, "root.key"), "--root-threshold", "1",
		"--targets-key", b.keys[0], "--targets-key", b.keys[1], "--targets-threshold", "2"); err != nil {
		return err
	}
	rels := [][2]string{{"1.0.0", "agent-1.0.0"}, {"2.0.0", "agent-2.0.0"}}
	for _, bb := range badBuilds {
		rels = append(rels, [2]string{bb.version, bb.build})
	}
	for i := 0; i <= b.o.rounds; i++ {
		rels = append(rels, [2]string{fleetVersion(i), "fake-" + fleetVersion(i)})
	}
	for _, r := range rels {
		if err := b.release(r[0], r[1]); err != nil {
			return err
		}
	}
	root, err := b.get("/tuf/metadata/1.root.json", false)
	if err != nil {
		return err
	}
	b.rootFile = filepath.Join(b.work, "root.json")
	b.logf("repository with %d releases ready in %v", len(rels), time.Since(start).Round(time.Millisecond))
	return os.WriteFile(b.rootFile, root, 0o644)
}

func (b *bench) get(path string, auth bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url+path, nil)
	if err != nil {
		return nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body, nil
}

func (b *bench) getJSON(path string, out any) error {
	body, err := b.get(path, true)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, out)
}

type event struct {
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Phase       string    `json:"phase"`
	Result      string    `json:"result"`
	Reason      string    `json:"reason"`
	Time        time.Time `json:"time"`
}

type host struct {
	ID           string    `json:"id"`
	Group        string    `json:"group"`
	AgentVersion string    `json:"agent_version"`
	LastSeen     time.Time `json:"last_seen"`
	LastUpdate   *event    `json:"last_update"`
}

func (b *bench) hosts(group string) ([]host, error) {
	var hs []host
	err := b.getJSON("/api/v1/hosts?group="+group, &hs)
	return hs, err
}

func (b *bench) events(hostID string) ([]event, error) {
	var ev []event
	err := b.getJSON("/api/v1/hosts/"+hostID+"/updates", &ev)
	return ev, err
}

func findEvent(ev []event, match func(event) bool) (event, bool) {
	for _, e := range ev {
		if match(e) {
			return e, true
		}
	}
	return event{}, false
}

// wait polls cond every interval until it returns true, an error, or timeout.
func (b *bench) wait(timeout, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-time.After(interval):
		}
	}
}

// group creates a group and a multi-use enrollment token for it.
func (b *bench) group(name string, uses int) (string, error) {
	if _, err := b.ctl("groups", "create", name); err != nil {
		return "", err
	}
	// This measures how fast a pin reaches the whole group, so it is not staged: every host is
	// a canary (a group no bigger than its canaries is pinned at once; beyond 1000, one wave).
	if _, err := b.ctl("groups", "set", name, "--canaries", strconv.Itoa(min(max(uses, 1), 1000)), "--wave-percent", "100", "--soak", "1s"); err != nil {
		return "", err
	}
	out, err := b.ctl("--output", "json", "enroll", "create-token", "--group", name, "--max-uses", strconv.Itoa(uses))
	if err != nil {
		return "", err
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.Token == "" {
		return "", fmt.Errorf("enrollment token: %v (%s)", err, out)
	}
	return tok.Token, nil
}

func (b *bench) pin(group, version string) (time.Time, error) {
	_, err := b.ctl("groups", "pin", group, version)
	return time.Now(), err
}

// install runs `vigil-updater install --pin version` into state.
func (b *bench) install(state, version string) error {
	out, err := exec.CommandContext(b.ctx, b.path("vigil-updater"), "install", "--server", b.url, "--ca", b.ca,
		"--state-dir", state, "--trusted-root", b.rootFile, "--pin", version).CombinedOutput()
	if err != nil {
		return fmt.Errorf("vigil-updater install: %v\n%s", err, out)
	}
	return nil
}

// runUpdater starts `vigil-updater run` on state.
func (b *bench) runUpdater(logName, state, token string, grace time.Duration) (*proc, error) {
	return b.start(logName, nil, b.path("vigil-updater"), "run", "--server", b.url, "--ca", b.ca,
		"--state-dir", state, "--trusted-root", b.rootFile, "--enroll-token", token,
		"--poll", b.o.poll.String(), "--grace", grace.String(), "--agent-user", "")
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p + 0.5)
	return s[i]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// failstart measures the bad builds, one new host per round.
func (b *bench) failstart() error {
	type result struct {
		detect, back, reporting, fromPin []time.Duration
		reason                           string
	}
	res := map[string]*result{}
	var commit []time.Duration
	for r := range b.o.rounds {
		group := fmt.Sprintf("failstart-%d", r)
		token, err := b.group(group, 1)
		if err != nil {
			return err
		}
		state := filepath.Join(b.work, "failstart", strconv.Itoa(r))
		if err := b.install(state, "1.0.0"); err != nil {
			return err
		}
		p, err := b.runUpdater(group, state, token, b.o.grace)
		if err != nil {
			return err
		}
		var h host
		if err := b.wait(60*time.Second, 200*time.Millisecond, "the host to report 1.0.0", func() (bool, error) {
			hs, err := b.hosts(group)
			if err != nil || len(hs) == 0 {
				return false, err
			}
			h = hs[0]
			return h.AgentVersion == "1.0.0", nil
		}); err != nil {
			return err
		}
		pinned, err := b.pin(group, "2.0.0")
		if err != nil {
			return err
		}
		var ce event
		if err := b.wait(2*b.o.grace+60*time.Second, 100*time.Millisecond, "commit of 2.0.0", func() (bool, error) {
			ev, err := b.events(h.ID)
			var ok bool
			ce, ok = findEvent(ev, func(e event) bool { return e.Phase == "commit" && e.Result == "ok" && e.ToVersion == "2.0.0" })
			return ok, err
		}); err != nil {
			return err
		}
		commit = append(commit, ce.Time.Sub(pinned))
		b.logf("round %d: 2.0.0 committed %v after the pin", r, ce.Time.Sub(pinned))
		// Wait for 2.0.0 to deliver reports, so the health gate of the next trial requires an ACK.
		if err := b.wait(60*time.Second, 200*time.Millisecond, "a report from 2.0.0", func() (bool, error) {
			hs, err := b.hosts(group)
			return err == nil && len(hs) == 1 && hs[0].AgentVersion == "2.0.0", err
		}); err != nil {
			return err
		}
		for _, bb := range badBuilds {
			pinned, err := b.pin(group, bb.version)
			if err != nil {
				return err
			}
			var started, failed, rolled event
			done := func() (bool, error) {
				ev, err := b.events(h.ID)
				if err != nil {
					return false, err
				}
				if e, ok := findEvent(ev, func(e event) bool {
					return e.Phase == "verify" && e.Result == "failed" && e.ToVersion == bb.version
				}); ok {
					failed, rolled = e, e
					return true, nil
				}
				started, _ = findEvent(ev, func(e event) bool {
					return e.Phase == "trial" && e.Result == "started" && e.ToVersion == bb.version
				})
				failed, _ = findEvent(ev, func(e event) bool {
					return e.Phase == "trial" && e.Result == "failed" && e.ToVersion == bb.version
				})
				var ok bool
				rolled, ok = findEvent(ev, func(e event) bool {
					return e.Phase == "rollback" && e.Result == "ok" && e.FromVersion == bb.version
				})
				return ok, nil
			}
			if err := b.wait(2*b.o.grace+60*time.Second, 50*time.Millisecond, "the failure of "+bb.version, done); err != nil {
				return err
			}
			// Back on 2.0.0 and delivering: the first report after the rollback (server time).
			var seen time.Time
			if err := b.wait(60*time.Second, 50*time.Millisecond, "a report from 2.0.0 after the rollback", func() (bool, error) {
				hs, err := b.hosts(group)
				if err != nil || len(hs) != 1 {
					return false, err
				}
				seen = hs[0].LastSeen
				return hs[0].AgentVersion == "2.0.0" && seen.After(rolled.Time), nil
			}); err != nil {
				return err
			}
			x := res[bb.what]
			if x == nil {
				x = &result{}
				res[bb.what] = x
			}
			x.reason = failed.Reason
			x.fromPin = append(x.fromPin, rolled.Time.Sub(pinned))
			if !started.Time.IsZero() {
				x.detect = append(x.detect, failed.Time.Sub(started.Time))
				x.back = append(x.back, rolled.Time.Sub(started.Time))
				x.reporting = append(x.reporting, seen.Sub(started.Time))
			}
			b.logf("round %d: %s (%s): %s/%s, %v after the pin", r, bb.version, bb.what, failed.Phase, failed.Result, rolled.Time.Sub(pinned))
		}
		stopAll([]*proc{p})
	}
	fmt.Printf("### Failed start: detection and rollback (real vigil-agent 2.0.0, --grace %v, --poll %v)\n\n", b.o.grace, b.o.poll)
	fmt.Println("| bad build | trial start → failure detected | trial start → rollback done (previous restarted) | trial start → first report from the previous version | pin change → rollback done | reason reported |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, bb := range badBuilds {
		x := res[bb.what]
		if x == nil {
			continue
		}
		if len(x.detect) == 0 {
			fmt.Printf("| %s (%s) | refused before the switch (never started) | – | – | %s | %s |\n", bb.version, bb.what, secs(median(x.fromPin)), x.reason)
			continue
		}
		fmt.Printf("| %s (%s) | %s | %s | %s | %s | %s |\n", bb.version, bb.what, secs(median(x.detect)), secs(median(x.back)),
			secs(median(x.reporting)), secs(median(x.fromPin)), x.reason)
	}
	fmt.Printf("\nGoal: trial start → rollback done ≤ grace + 5 s = %s.\n", secs(b.o.grace+5*time.Second))
	fmt.Printf("1 host, real vigil-agent 1.0.0 → 2.0.0: pin change → commit %s (median; per round %v).\n\n", secs(median(commit)), roundAll(commit))
	return nil
}

func roundAll(d []time.Duration) []string {
	out := make([]string, len(d))
	for i, x := range d {
		out[i] = secs(x)
	}
	return out
}

// countingConn counts bytes read and written on a client connection (TLS records included).
type countingConn struct {
	net.Conn
	in, out *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// refresh measures a no-change TUF refresh against the real server with the updater's client.
func (b *bench) refresh() error {
	pem, err := os.ReadFile(b.ca)
	if err != nil {
		return err
	}
	tc, err := tlspin.PinnedCA(pem)
	if err != nil {
		return err
	}
	root, err := os.ReadFile(b.rootFile)
	if err != nil {
		return err
	}
	var in, out, dials atomic.Int64
	cfg := updater.HTTPConfig{TLS: tc}
	client := updater.NewHTTPClient(cfg)
	tr := client.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		dials.Add(1)
		return countingConn{Conn: c, in: &in, out: &out}, nil
	}
	c, err := updater.NewTUFClient(updater.TUFConfig{
		MetadataURL: b.url + "/tuf/metadata/", TargetsURL: b.url + "/tuf/targets/",
		MetadataDir: filepath.Join(b.work, "refresh-tuf"), TrustedRoot: root, HTTP: cfg, Client: client,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	if _, err := c.Refresh(b.ctx); err != nil {
		return err
	}
	type sample struct{ req, body, down, up, conns int64 }
	measure := func(cold bool) (sample, error) {
		if cold {
			client.CloseIdleConnections()
		}
		r0, b0 := c.Stats()
		i0, o0, d0 := in.Load(), out.Load(), dials.Load()
		if _, err := c.Refresh(b.ctx); err != nil {
			return sample{}, err
		}
		r1, b1 := c.Stats()
		return sample{r1 - r0, b1 - b0, in.Load() - i0, out.Load() - o0, dials.Load() - d0}, nil
	}
	fmt.Println("### Refresh when nothing changed (real vigil-server, the updater's TUF client)")
	fmt.Println()
	fmt.Println("| connection | requests | body bytes read | bytes on the wire down | bytes on the wire up | new TLS connections |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, cold := range []bool{false, true} {
		var ss []sample
		for range max(b.o.rounds, 5) {
			s, err := measure(cold)
			if err != nil {
				return err
			}
			ss = append(ss, s)
		}
		med := func(f func(sample) int64) int64 {
			v := make([]int64, len(ss))
			for i, s := range ss {
				v[i] = f(s)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		name := "kept alive (poll < 90 s)"
		if cold {
			name = "new connection (default 5 min poll)"
		}
		fmt.Printf("| %s | %d | %d | %d | %d | %d |\n", name, med(func(s sample) int64 { return s.req }), med(func(s sample) int64 { return s.body }),
			med(func(s sample) int64 { return s.down }), med(func(s sample) int64 { return s.up }), med(func(s sample) int64 { return s.conns }))
	}
	ts, err := b.get("/tuf/metadata/timestamp.json", false)
	if err != nil {
		return err
	}
	fmt.Printf("\ntimestamp.json is %d bytes; the other request is the next root (a 404), which the TUF client workflow requires.\n\n", len(ts))
	return nil
}

// mem is memory of a set of processes from /proc: RSS (VmRSS) and PSS (smaps_rollup, shared
// pages split between the processes that map them).
type mem struct{ n, rss, pss int64 }

func procMem(pid int) (rss, pss int64) {
	read := func(file, key string) int64 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v << 10
			}
		}
		return 0
	}
	return read("status", "VmRSS:"), read("smaps_rollup", "Pss:")
}

// childrenOf maps each parent PID to its children, from /proc/<pid>/stat.
func childrenOf() map[int][]int {
	out := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after the last ')'.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			out[ppid] = append(out[ppid], pid)
		}
	}
	return out
}

func (m *mem) add(pid int) {
	r, p := procMem(pid)
	m.n++
	m.rss += r
	m.pss += p
}

func mib(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20)) }

// fleet measures pin change → commit on n hosts.
func (b *bench) fleet(n int) error {
	group := fmt.Sprintf("fleet-%d", n)
	token, err := b.group(group, n)
	if err != nil {
		return err
	}
	base := fleetVersion(0)
	states := make([]string, n)
	start := time.Now()
	// Install in parallel, two at a time per CPU.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 2*runtime.NumCPU())
	for i := range n {
		states[i] = filepath.Join(b.work, group, strconv.Itoa(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := b.install(states[i], base); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	b.logf("fleet %d: installed %s in %v", n, base, time.Since(start).Round(time.Millisecond))
	procs := make([]*proc, n)
	for i := range n {
		logName := ""
		if i < 3 {
			logName = fmt.Sprintf("%s-%d", group, i)
		}
		if procs[i], err = b.runUpdater(logName, states[i], token, b.o.fleetGrace); err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer stopAll(procs)
	// Every host enrolled, and every updater has asked for its desired version at least once
	// (its first poll comes within ~1.2 × poll of its start).
	if err := b.wait(5*time.Minute, time.Second, fmt.Sprintf("%d hosts to enroll", n), func() (bool, error) {
		hs, err := b.hosts(group)
		return len(hs) == n, err
	}); err != nil {
		return err
	}
	time.Sleep(3 * b.o.poll)
	idle := b.memory(procs)
	b.logf("fleet %d: enrolled and idle after %v", n, time.Since(start).Round(time.Millisecond))

	type round struct {
		all []time.Duration
		max time.Duration
	}
	var rounds []round
	for r := 1; r <= b.o.rounds; r++ {
		v := fleetVersion(r)
		pinned, err := b.pin(group, v)
		if err != nil {
			return err
		}
		var hs []host
		if err := b.wait(10*time.Minute, 250*time.Millisecond, fmt.Sprintf("%d commits of %s", n, v), func() (bool, error) {
			var err error
			if hs, err = b.hosts(group); err != nil {
				return false, err
			}
			done := 0
			for _, h := range hs {
				if e := h.LastUpdate; e != nil && e.Phase == "commit" && e.Result == "ok" && e.ToVersion == v {
					done++
				} else if e != nil && e.ToVersion == v && (e.Result == "failed" || e.Result == "refused") {
					return false, fmt.Errorf("host %s: %s %s: %s", h.ID, e.Phase, e.Result, e.Reason)
				}
			}
			return done == n, nil
		}); err != nil {
			return err
		}
		var x round
		for _, h := range hs {
			d := h.LastUpdate.Time.Sub(pinned)
			x.all = append(x.all, d)
			x.max = max(x.max, d)
		}
		rounds = append(rounds, x)
		b.logf("fleet %d: %s on every host %v after the pin (p50 %v)", n, v, x.max, pct(x.all, 0.5))
		// Let the fleet settle before the next pin.
		time.Sleep(2 * b.o.poll)
	}
	after := b.memory(procs)
	var p50, p90, mx []time.Duration
	for _, r := range rounds {
		p50 = append(p50, pct(r.all, 0.5))
		p90 = append(p90, pct(r.all, 0.9))
		mx = append(mx, r.max)
	}
	fmt.Printf("### Pin change → committed update, %d host(s) (fake agents, --poll %v ±20 %%, --grace %v)\n\n", n, b.o.poll, b.o.fleetGrace)
	fmt.Println("| hosts | p50 host | p90 host | last host (whole fleet) | per round (last host) |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| %d | %s | %s | %s | %s |\n\n", n, secs(median(p50)), secs(median(p90)), secs(median(mx)), strings.Join(roundAll(mx), ", "))
	fmt.Println("| memory | processes | RSS sum | PSS sum | RSS per process |")
	fmt.Println("|---|---|---|---|---|")
	for _, m := range []struct {
		name string
		m    mem
	}{{"updaters, idle", idle[0]}, {"fake agents, idle", idle[1]}, {"vigil-server, idle", idle[2]},
		{"updaters, after the rounds", after[0]}, {"fake agents, after the rounds", after[1]}, {"vigil-server, after the rounds", after[2]}} {
		per := int64(0)
		if m.m.n > 0 {
			per = m.m.rss / m.m.n
		}
		fmt.Printf("| %s | %d | %s | %s | %s |\n", m.name, m.m.n, mib(m.m.rss), mib(m.m.pss), mib(per))
	}
	fmt.Println()
	return nil
}

// memory returns the memory of the updaters, of their children (the agents) and of the server.
func (b *bench) memory(procs []*proc) [3]mem {
	var m [3]mem
	kids := childrenOf()
	for _, p := range procs {
		pid := p.cmd.Process.Pid
		m[0].add(pid)
		for _, c := range kids[pid] {
			m[1].add(c)
		}
	}
	m[2].add(b.server.cmd.Process.Pid)
	return m
}
