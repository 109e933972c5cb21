// Command simbench runs vigil-sim against a real vigil-server process with each store and prints
// the simulator's figures side by side: the server and the simulator are separate processes
// built as `make build` builds them, so /proc gives each one's CPU, and PostgreSQL's backends are
// measured the same way when it runs on this machine.
//
//	go run ./e2e/benchcmd/simbench [-hosts 2000,10000] [-interval 10s] [-duration 60s] [-rounds 1]
//	                               [-stores discard,sqlite,postgres] [-outage 20:20s]
//	                               [-clients net/http,raw] [-json FILE] [-- extra vigil-sim flags]
//
// -hosts takes a list of fleet sizes. PostgreSQL is measured when VIGIL_TEST_POSTGRES_URL is set (a
// fresh schema per run, dropped after). The "discard" store is this binary's own server mode: the
// same app.Start as vigil-server, whose CommitReports acknowledges without storing (enrollment and
// authentication still go to SQLite), so its figures are what HTTP, TLS, decoding and validation
// cost and a real store's ratio to it is what storage costs. -json writes every run and the
// machine to FILE (benchout.Sim) for e2e/benchcmd/benchcharts.
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
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/e2e/benchcmd/internal/benchout"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/sqlitestore"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "discard-server" {
		os.Exit(discardServer(os.Args[2:]))
	}
	os.Exit(run())
}

// discardStore stores nothing on the ingest path: it acks every batch at its highest seq. Every
// other method (enrollment, authentication) goes to the real store underneath.
type discardStore struct{ server.Store }

func (discardStore) CommitReports(_ context.Context, batches []server.HostReports) ([]uint64, error) {
	acked := make([]uint64, len(batches))
	for i, b := range batches {
		acked[i] = b.Reports[len(b.Reports)-1].Seq
	}
	return acked, nil
}

// discardServer is vigil-server's app.Start with the discard store, the settings vigil-server
// has by default (rate limits included), until SIGTERM.
func discardServer(args []string) int {
	fs := flag.NewFlagSet("discard-server", flag.ExitOnError)
	dir := fs.String("data-dir", "", "data dir")
	listen := fs.String("listen", "127.0.0.1:0", "address")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st, err := sqlitestore.Open(ctx, filepath.Join(*dir, "discard.db"), sqlitestore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	srv, err := app.Start(ctx, app.Config{DataDir: *dir, Listen: *listen, Store: discardStore{st},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	srv.Shutdown(context.Background())
	return 0
}

func run() int {
	hostsFlag := flag.String("hosts", "2000", "simulated hosts (fleet sizes), comma-separated")
	interval := flag.Duration("interval", 10*time.Second, "report interval")
	duration := flag.Duration("duration", 60*time.Second, "measured window")
	rounds := flag.Int("rounds", 1, "rounds per store (stores alternate within a round)")
	outage := flag.String("outage", "", "vigil-sim --outage PCT:DURATION[@START]")
	storesFlag := flag.String("stores", "sqlite,postgres", "stores to measure: discard, sqlite, postgres")
	clientsFlag := flag.String("clients", "net/http", "vigil-sim --client values to compare (each store runs each, alternating)")
	jsonOut := flag.String("json", "", "also write every run and the machine to this file (JSON, for benchcharts)")
	flag.Parse()
	extra := flag.Args()
	machine := benchout.Probe()
	var fleets []int
	for _, f := range strings.Split(*hostsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bad -hosts %q\n", f)
			return 2
		}
		fleets = append(fleets, n)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	tmp, err := os.MkdirTemp("", "simbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	for _, b := range []string{"vigil-server", "vigil-sim"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(tmp, b), "./cmd/"+b)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v (run from the repository root)\n", b, err)
			return 1
		}
	}
	pgBase := os.Getenv("VIGIL_TEST_POSTGRES_URL")
	var stores []string
	for _, s := range strings.Split(*storesFlag, ",") {
		if s == "postgres" && pgBase == "" {
			fmt.Println("VIGIL_TEST_POSTGRES_URL not set: PostgreSQL not measured")
			continue
		}
		if s != "discard" && s != "sqlite" && s != "postgres" {
			fmt.Fprintf(os.Stderr, "bad -stores %q\n", s)
			return 2
		}
		stores = append(stores, s)
	}
	type row struct {
		store, client string
		res           map[string]any
	}
	var rows []row
	out := benchout.Sim{IntervalS: interval.Seconds(), DurationS: duration.Seconds()}
	for r := range *rounds {
		for _, hosts := range fleets {
			for _, st := range stores {
				for _, cl := range strings.Split(*clientsFlag, ",") {
					raw, res, err := measure(tmp, self, st, pgBase, hosts, *interval, *duration, *outage, append([]string{"--client", cl}, extra...))
					if err != nil {
						fmt.Fprintf(os.Stderr, "round %d %s %d hosts %s: %v\n", r+1, st, hosts, cl, err)
						return 1
					}
					rows = append(rows, row{st, cl, res})
					out.Runs = append(out.Runs, benchout.SimRun{Round: r + 1, Store: st, Client: cl, Result: raw})
				}
			}
		}
	}
	if *jsonOut != "" {
		out.Machine = machine
		out.Machine.Finish()
		if err := benchout.Write(*jsonOut, out); err != nil {
			fmt.Fprintln(os.Stderr, "write -json:", err)
			return 1
		}
	}
	fmt.Println("\n| store | client | hosts | reports/s (nominal) | p50 / p99 / max ms | errors | server µs/report | PostgreSQL µs/report | vigil-sim µs/report | sim RSS/host | peak fds | unacked at end |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		m := r.res
		f := func(k string) string {
			if v, ok := m[k].(float64); ok {
				return strconv.FormatFloat(v, 'f', 1, 64)
			}
			return "n/a"
		}
		errs, _ := json.Marshal(m["errors"])
		rss, _ := m["sim_rss_bytes"].(float64)
		h, _ := m["hosts"].(float64)
		fmt.Printf("| %s | %s | %.0f | %s (%s) | %s / %s / %s | %s | %s | %s | %s | %.0f KB | %s | %s |\n", r.store, r.client, h,
			f("reports_per_s"), f("expected_reports_per_s"), f("latency_p50_ms"), f("latency_p99_ms"), f("latency_max_ms"),
			errs, f("server_cpu_us_per_report"), f("postgres_cpu_us_per_report"), f("sim_cpu_us_per_report"),
			rss/1e3/max(h, 1), f("peak_open_fds"), f("unacked_at_end"))
	}
	return 0
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// measure runs vigil-sim against a fresh server and returns its --json output, raw and decoded.
func measure(bin, self, store, pgBase string, hosts int, interval, duration time.Duration, outage string, extra []string) (json.RawMessage, map[string]any, error) {
	dir, err := os.MkdirTemp("", "simbench-data-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	addr, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	srv := exec.Command(filepath.Join(bin, "vigil-server"), "--data-dir", dir, "--listen", addr, "--log-level", "warn")
	switch store {
	case "postgres":
		u, cleanup, err := pgSchema(pgBase)
		if err != nil {
			return nil, nil, err
		}
		defer cleanup()
		srv.Args = append(srv.Args, "--database-url", u)
	case "discard":
		srv = exec.Command(self, "discard-server", "-data-dir", dir, "-listen", addr)
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return nil, nil, err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	url := "https://" + addr
	caFile := filepath.Join(dir, "tls", "ca.pem")
	hc, err := waitReady(url, caFile)
	if err != nil {
		return nil, nil, err
	}
	tok, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		return nil, nil, err
	}
	admin := apiclient.New(url, strings.TrimSpace(string(tok)), hc)
	et, err := admin.CreateEnrollmentToken(context.Background(), api.CreateEnrollmentTokenRequest{MaxUses: hosts * 2, TTL: "2h"})
	if err != nil {
		return nil, nil, fmt.Errorf("enrollment token: %w", err)
	}
	simArgs := []string{"--server", url, "--ca", caFile, "--hosts", strconv.Itoa(hosts), "--interval", interval.String(),
		"--duration", duration.String(), "--enroll-token", et.Token, "--state", filepath.Join(dir, "sim-state.json"),
		"--server-pid", strconv.Itoa(srv.Process.Pid), "--json", fmt.Sprintf("--postgres-cpu=%v", store == "postgres")}
	if outage != "" {
		simArgs = append(simArgs, "--outage", outage)
	}
	simArgs = append(simArgs, extra...)
	sim := exec.Command(filepath.Join(bin, "vigil-sim"), simArgs...)
	sim.Stderr = os.Stderr
	out, err := sim.Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) { // 3: ran, but with errors: still a result
		return nil, nil, fmt.Errorf("vigil-sim: %w", err)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, nil, fmt.Errorf("vigil-sim output %q: %w", out, err)
	}
	fmt.Printf("%s: %s\n", store, out)
	return json.RawMessage(bytes.TrimSpace(out)), res, nil
}

func waitReady(url, caFile string) (*http.Client, error) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			continue
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemData)
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := hc.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return hc, nil
			}
		}
	}
	return nil, errors.New("server not ready within 60s")
}

func pgSchema(base string) (string, func(), error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("simbench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema, func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	}, nil
}
