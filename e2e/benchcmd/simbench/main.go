// Command simbench runs vigil-sim against a real vigil-server process with each store and prints
// the simulator's figures side by side: the server and the simulator are separate processes
// built as `make build` builds them, so /proc gives each one's CPU, and PostgreSQL's backends are
// measured the same way when it runs on this machine.
//
//	go run ./e2e/benchcmd/simbench [-hosts 2000] [-interval 10s] [-duration 60s] [-rounds 1]
//	                               [-outage 20:20s] [-clients net/http,raw] [-- extra vigil-sim flags]
//
// PostgreSQL is measured when VIGIL_TEST_POSTGRES_URL is set (a fresh schema per run, dropped after).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/app"
)

func main() { os.Exit(run()) }

func run() int {
	hosts := flag.Int("hosts", 2000, "simulated hosts")
	interval := flag.Duration("interval", 10*time.Second, "report interval")
	duration := flag.Duration("duration", 60*time.Second, "measured window")
	rounds := flag.Int("rounds", 1, "rounds per store (stores alternate within a round)")
	outage := flag.String("outage", "", "vigil-sim --outage PCT:DURATION[@START]")
	storesFlag := flag.String("stores", "sqlite,postgres", "stores to measure")
	clientsFlag := flag.String("clients", "net/http", "vigil-sim --client values to compare (each store runs each, alternating)")
	flag.Parse()
	extra := flag.Args()

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
		stores = append(stores, s)
	}
	type row struct {
		store, client string
		res           map[string]any
	}
	var rows []row
	for r := range *rounds {
		for _, st := range stores {
			for _, cl := range strings.Split(*clientsFlag, ",") {
				res, err := measure(tmp, st, pgBase, *hosts, *interval, *duration, *outage, append([]string{"--client", cl}, extra...))
				if err != nil {
					fmt.Fprintf(os.Stderr, "round %d %s %s: %v\n", r+1, st, cl, err)
					return 1
				}
				rows = append(rows, row{st, cl, res})
			}
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

func measure(bin, store, pgBase string, hosts int, interval, duration time.Duration, outage string, extra []string) (map[string]any, error) {
	dir, err := os.MkdirTemp("", "simbench-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--data-dir", dir, "--listen", addr, "--log-level", "warn"}
	if store == "postgres" {
		u, cleanup, err := pgSchema(pgBase)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		args = append(args, "--database-url", u)
	}
	srv := exec.Command(filepath.Join(bin, "vigil-server"), args...)
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	url := "https://" + addr
	caFile := filepath.Join(dir, "tls", "ca.pem")
	hc, err := waitReady(url, caFile)
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		return nil, err
	}
	admin := apiclient.New(url, strings.TrimSpace(string(tok)), hc)
	et, err := admin.CreateEnrollmentToken(context.Background(), api.CreateEnrollmentTokenRequest{MaxUses: hosts * 2, TTL: "2h"})
	if err != nil {
		return nil, fmt.Errorf("enrollment token: %w", err)
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
		return nil, fmt.Errorf("vigil-sim: %w", err)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("vigil-sim output %q: %w", out, err)
	}
	fmt.Printf("%s: %s\n", store, out)
	return res, nil
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
