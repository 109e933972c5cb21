// Command ingestbench measures vigil-server's ingest throughput in reports/s with each store, and
// the ratio to the same server whose store discards reports (what the storage path costs).
//
// It runs three processes per measurement: the server (this binary's "server" mode, which is
// app.Start exactly as vigil-server runs it, with the chosen store), and the load generator (this
// binary's "load" mode) in a separate process, so the generator's CPU is not the server's. Rounds
// alternate the stores so machine noise hits them alike; the summary quotes medians.
//
//	go run ./e2e/benchcmd/ingestbench [-rounds 3] [-duration 15s] [-hosts 2000,10000] [-batch 1,20] [-json FILE]
//
// -hosts takes a list of fleet sizes (each measured with every store and batch size; a larger fleet
// spreads the same load over more host credentials and rows). -json writes every run and the
// machine to FILE (benchout.Ingest) for e2e/benchcmd/benchcharts.
//
// PostgreSQL is measured when VIGIL_TEST_POSTGRES_URL is set (a fresh schema per run).
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/e2e/benchcmd/internal/benchout"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "server":
			os.Exit(serverMain(os.Args[2:]))
		case "load":
			os.Exit(loadMain(os.Args[2:]))
		}
	}
	os.Exit(orchestrate(os.Args[1:]))
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

func serverMain(args []string) int {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	store := fs.String("store", "sqlite", "sqlite, postgres or discard")
	dir := fs.String("data-dir", "", "data dir")
	dbURL := fs.String("database-url", "", "PostgreSQL URL")
	committers := fs.Int("committers", 0, "group-commit transactions in flight (0: the server's default)")
	linger := fs.Duration("commit-linger", 0, "group-commit linger (0: the server's default; negative: none)")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg := app.Config{DataDir: *dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		HostRate: 1e6, HostBurst: 1e6, Committers: *committers, CommitLinger: *linger,
		PprofListen: os.Getenv("INGESTBENCH_PPROF")} // e.g. 127.0.0.1:6070: profile the server under load
	switch *store {
	case "sqlite":
	case "postgres":
		cfg.DatabaseURL = *dbURL
	case "discard":
		st, err := sqlitestore.Open(ctx, filepath.Join(*dir, "discard.db"), sqlitestore.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer st.Close()
		cfg.Store = discardStore{st}
	}
	srv, err := app.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if p := os.Getenv("INGESTBENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p + "." + *store)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	fmt.Printf("READY %s %s\n", srv.URL, srv.CAFile)
	<-ctx.Done()
	srv.Shutdown(context.Background())
	return 0
}

// sampleReport is a realistic report: a few mounts, disks, interfaces, processes and units.
func sampleReport(seq uint64, now time.Time) wire.Report {
	r := wire.Report{
		Seq: seq, Time: now, AgentVersion: "1.0.0", IntervalSeconds: 10, BootTime: now.Add(-72 * time.Hour), UptimeSeconds: 259200,
		CPU:    &wire.CPU{Cores: 4, BusyPct: float64(seq%100) * 0.9, IOWaitPct: 0.4, StealPct: 0.1},
		Load:   &wire.Load{Load1: 0.42, Load5: 0.38, Load15: 0.31},
		Memory: &wire.Memory{TotalBytes: 16 << 30, AvailableBytes: 9 << 30, UsedPct: 43.75, SwapTotalBytes: 2 << 30, SwapFreeBytes: 2 << 30},
	}
	for _, m := range []string{"/", "/var", "/home", "/boot"} {
		r.Mounts = append(r.Mounts, wire.Mount{Path: m, Device: "/dev/nvme0n1p" + strconv.Itoa(len(m)), FSType: "ext4", TotalBytes: 100 << 30, FreeBytes: 40 << 30, UsedPct: 60, InodesTotal: 6553600, InodesFree: 6000000, InodesPct: 8.4})
	}
	for _, d := range []string{"nvme0n1", "sda"} {
		r.Disks = append(r.Disks, wire.DiskIO{Device: d, ReadBytesPS: 10240, WriteBytesPS: 40960, ReadIOPS: 2.5, WriteIOPS: 8.1, UtilizationPct: 1.2})
	}
	for _, n := range []string{"eth0", "eth1"} {
		r.Interfaces = append(r.Interfaces, wire.NetIO{Interface: n, RxBytesPS: 12000, TxBytesPS: 8000})
	}
	r.Processes = []wire.Process{{Name: "nginx", Running: 2, Instances: []wire.ProcInst{{PID: 1201, StartTime: now.Add(-time.Hour)}, {PID: 1202, StartTime: now.Add(-time.Hour)}}}}
	r.Units = []wire.Unit{{Name: "nginx.service", ActiveState: "active", SubState: "running", Result: "success"}, {Name: "ssh.service", ActiveState: "active", SubState: "running", Result: "success"}}
	return r
}

func tlsClient(caFile string, conns int) (*http.Client, error) {
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, ForceAttemptHTTP2: false,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}} // HTTP/1.1 keep-alive, like agents
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// loadMain enrolls hosts, then sends report batches from workers for a duration and prints
// "RESULT <reports acked> <seconds> <requests> <errors>".
func loadMain(args []string) int {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "", "server URL")
	ca := fs.String("ca", "", "CA file")
	token := fs.String("token", "", "admin token")
	hosts := fs.Int("hosts", 2000, "simulated hosts")
	workers := fs.Int("workers", 32, "concurrent connections (the server decodes at most 32 report bodies at once)")
	batch := fs.Int("batch", 1, "reports per request")
	duration := fs.Duration("duration", 15*time.Second, "measurement time")
	identity := fs.Bool("identity", false, "send bodies uncompressed (default gzip, as agents do)")
	fs.Parse(args)
	hc, err := tlsClient(*ca, *workers)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	admin := apiclient.New(*url, *token, hc)
	tok, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: *hosts, TTL: "1h"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create token:", err)
		return 1
	}
	creds := make([]string, *hosts)
	var wg sync.WaitGroup
	var enrollErr atomic.Value
	sem := make(chan struct{}, 16)
	for i := range creds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var resp wire.EnrollResponse
			err := apiclient.New(*url, "", hc).Do(ctx, http.MethodPost, "/api/v1/enroll",
				wire.EnrollRequest{EnrollmentToken: tok.Token, Hostname: fmt.Sprintf("bench-%05d", i), OS: "linux", Arch: "amd64"}, &resp)
			if err != nil {
				enrollErr.Store(err)
			}
			creds[i] = resp.Credential
		}()
	}
	wg.Wait()
	if e := enrollErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "enroll:", e)
		return 1
	}

	// Each host's next seq; a host is driven by one worker at a time (hosts are partitioned).
	nextSeq := make([]uint64, *hosts)
	for i := range nextSeq {
		nextSeq[i] = 1
	}
	var acked, requests, errs atomic.Int64
	// The orchestrator reads the server's (and PostgreSQL's) CPU time from here to RESULT.
	fmt.Println("START")
	stop := time.Now().Add(*duration)
	start := time.Now()
	// The generator must cost the shared CPU as little as possible: each report's JSON is built
	// once per second of wall time from a template, with only the seq spliced in per request.
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf, body bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
			var tmpl []byte
			var tmplAt time.Time
			for time.Now().Before(stop) {
				for h := w; h < *hosts && time.Now().Before(stop); h += *workers {
					if now := time.Now(); now.Sub(tmplAt) > time.Second {
						tmplAt = now
						r := sampleReport(1, now.UTC())
						enc, _ := json.Marshal(r)
						tmpl = bytes.TrimPrefix(enc, []byte(`{"seq":1,`))
					}
					body.Reset()
					body.WriteString(`{"reports":[`)
					for k := range *batch {
						if k > 0 {
							body.WriteByte(',')
						}
						body.WriteString(`{"seq":`)
						body.WriteString(strconv.FormatUint(nextSeq[h]+uint64(k), 10))
						body.WriteByte(',')
						body.Write(tmpl)
					}
					body.WriteString(`]}`)
					send := body.Bytes()
					if !*identity {
						buf.Reset()
						zw.Reset(&buf)
						zw.Write(body.Bytes())
						zw.Close()
						send = buf.Bytes()
					}
					req, _ := http.NewRequest(http.MethodPost, *url+"/api/v1/reports", bytes.NewReader(send))
					req.Header.Set("Authorization", "Bearer "+creds[h])
					if !*identity {
						req.Header.Set("Content-Encoding", "gzip")
					}
					resp, err := hc.Do(req)
					requests.Add(1)
					if err != nil {
						errs.Add(1)
						continue
					}
					var ack wire.Ack
					err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ack)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || err != nil || ack.AckedSeq != nextSeq[h]+uint64(*batch)-1 {
						errs.Add(1)
						continue
					}
					acked.Add(int64(*batch))
					nextSeq[h] += uint64(*batch)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("RESULT %d %.3f %d %d\n", acked.Load(), secs, requests.Load(), errs.Load())
	return 0
}

type result struct {
	store string
	batch int
	hosts int
	rps   float64
	errs  int64
	reqs  int64
	// srvUS and pgUS are the server's and all postgres processes' CPU per acknowledged report,
	// in µs, over the load's measured window.
	srvUS, pgUS float64
}

// cpuTicks is a process's utime+stime in clock ticks, 0 if unreadable.
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// postgresTicks sums cpuTicks of every process named postgres (the shared server's backends:
// other users' work on it counts too, so read it as an upper bound).
func postgresTicks() int64 {
	ents, _ := os.ReadDir("/proc")
	var sum int64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			sum += cpuTicks(pid)
		}
	}
	return sum
}

func orchestrate(args []string) int {
	fs := flag.NewFlagSet("ingestbench", flag.ExitOnError)
	rounds := fs.Int("rounds", 3, "rounds per store")
	duration := fs.Duration("duration", 15*time.Second, "measurement per round")
	hostsFlag := fs.String("hosts", "2000", "simulated hosts (fleet sizes), comma-separated")
	workers := fs.Int("workers", 32, "concurrent connections (the server decodes at most 32 report bodies at once)")
	batches := fs.String("batch", "1,20", "reports per request, comma-separated")
	jsonOut := fs.String("json", "", "also write every run and the machine to this file (JSON, for benchcharts)")
	storesFlag := fs.String("stores", "", "stores to measure, comma-separated (default discard,sqlite and postgres when VIGIL_TEST_POSTGRES_URL is set)")
	fs.Parse(args)
	machine := benchout.Probe()
	fleets, err := intList(*hostsFlag, 1, 1_000_000)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad -hosts: %v\n", err)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// `go run` leaves the binary in a temp dir that is fine to reuse for the child processes.
	stores := []string{"discard", "sqlite"}
	pgBase := os.Getenv("VIGIL_TEST_POSTGRES_URL")
	if pgBase != "" {
		stores = append(stores, "postgres")
	} else {
		fmt.Println("VIGIL_TEST_POSTGRES_URL not set: PostgreSQL not measured")
	}
	if *storesFlag != "" {
		stores = strings.Split(*storesFlag, ",")
		if !slices.Contains(stores, "discard") {
			stores = append([]string{"discard"}, stores...) // the ratio's denominator
		}
		for _, st := range stores {
			if st != "discard" && st != "sqlite" && (st != "postgres" || pgBase == "") {
				fmt.Fprintf(os.Stderr, "bad -stores: %q (postgres needs VIGIL_TEST_POSTGRES_URL)\n", st)
				return 2
			}
		}
	}
	bs, err := intList(*batches, 1, wire.MaxReportsPerBatch)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad -batch: %v\n", err)
		return 2
	}
	out := benchout.Ingest{Workers: *workers, DurationS: duration.Seconds()}
	var results []result
	for r := range *rounds {
		for _, hosts := range fleets {
			for _, b := range bs {
				for _, st := range stores {
					res, err := measure(self, st, pgBase, b, hosts, *workers, *duration)
					if err != nil {
						fmt.Fprintf(os.Stderr, "round %d %s hosts %d batch %d: %v\n", r+1, st, hosts, b, err)
						return 1
					}
					fmt.Printf("round %d  store %-8s hosts %6d  batch %3d  %8.0f reports/s  server %5.0f µs/report  postgres %5.0f µs/report  (%d requests, %d errors)\n",
						r+1, st, hosts, b, res.rps, res.srvUS, res.pgUS, res.reqs, res.errs)
					results = append(results, res)
					out.Runs = append(out.Runs, benchout.IngestRun{Round: r + 1, Store: st, Hosts: hosts, Batch: b, ReportsPerS: res.rps,
						ServerUSPer: res.srvUS, PostgresUSPer: res.pgUS, Requests: res.reqs, Errors: res.errs})
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
	for _, hosts := range fleets {
		printMedians(results, stores, bs, hosts)
	}
	return 0
}

// intList parses a comma-separated list of integers within [lo, hi].
func intList(s string, lo, hi int) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%q is not a number in %d…%d", f, lo, hi)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

func printMedians(results []result, stores []string, bs []int, hosts int) {
	fmt.Printf("\nmedians, %d hosts:\n", hosts)
	for _, b := range bs {
		med := map[string][3]float64{}
		for _, st := range stores {
			var v, s, p []float64
			for _, r := range results {
				if r.store == st && r.batch == b && r.hosts == hosts {
					v, s, p = append(v, r.rps), append(s, r.srvUS), append(p, r.pgUS)
				}
			}
			slices.Sort(v)
			slices.Sort(s)
			slices.Sort(p)
			med[st] = [3]float64{v[len(v)/2], s[len(s)/2], p[len(p)/2]}
		}
		for _, st := range stores {
			fmt.Printf("  batch %3d  %-8s %8.0f reports/s  ratio to discard %.2f  server %5.0f µs/report  postgres %5.0f µs/report\n",
				b, st, med[st][0], med[st][0]/med["discard"][0], med[st][1], med[st][2])
		}
	}
}

func measure(self, store, pgBase string, batch, hosts, workers int, d time.Duration) (result, error) {
	dir, err := os.MkdirTemp("", "ingestbench-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	args := []string{"server", "-store", store, "-data-dir", dir}
	if c := os.Getenv("INGESTBENCH_COMMITTERS"); c != "" {
		args = append(args, "-committers", c) // for tuning experiments
	}
	if l := os.Getenv("INGESTBENCH_COMMIT_LINGER"); l != "" {
		args = append(args, "-commit-linger", l) // for tuning experiments
	}
	if store == "postgres" {
		u, cleanup, err := pgSchema(pgBase)
		if err != nil {
			return result{}, err
		}
		defer cleanup()
		args = append(args, "-database-url", u)
	}
	srv := exec.Command(self, args...)
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 || f[0] != "READY" {
		return result{}, fmt.Errorf("server did not start: %q %v", line, err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		return result{}, err
	}
	load := exec.Command(self, "load", "-url", f[1], "-ca", f[2], "-token", strings.TrimSpace(string(tok)),
		"-hosts", strconv.Itoa(hosts), "-workers", strconv.Itoa(workers), "-batch", strconv.Itoa(batch), "-duration", d.String())
	if os.Getenv("INGESTBENCH_IDENTITY") != "" {
		load.Args = append(load.Args, "-identity")
	}
	load.Stderr = os.Stderr
	lout, err := load.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := load.Start(); err != nil {
		return result{}, fmt.Errorf("load generator: %w", err)
	}
	lr := bufio.NewReader(lout)
	startLine, err := lr.ReadString('\n')
	if err != nil || strings.TrimSpace(startLine) != "START" {
		load.Wait()
		return result{}, fmt.Errorf("load generator: %q %v", startLine, err)
	}
	srvCPU0, pgCPU0 := cpuTicks(srv.Process.Pid), postgresTicks()
	lo, err := io.ReadAll(lr)
	srvCPU1, pgCPU1 := cpuTicks(srv.Process.Pid), postgresTicks()
	if werr := load.Wait(); err != nil || werr != nil {
		return result{}, fmt.Errorf("load generator: %v %v", err, werr)
	}
	var acked, reqs, errs int64
	var secs float64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(lo)), "RESULT %d %f %d %d", &acked, &secs, &reqs, &errs); err != nil {
		return result{}, fmt.Errorf("parse %q: %w", lo, err)
	}
	if acked == 0 {
		return result{}, errors.New("nothing acknowledged")
	}
	const usPerTick = 1e6 / 100 // USER_HZ
	return result{store: store, batch: batch, hosts: hosts, rps: float64(acked) / secs, errs: errs, reqs: reqs,
		srvUS: float64(srvCPU1-srvCPU0) * usPerTick / float64(acked),
		pgUS:  float64(pgCPU1-pgCPU0) * usPerTick / float64(acked)}, nil
}

func pgSchema(base string) (string, func(), error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("ingestbench_%d", time.Now().UnixNano())
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
