// Command footprint measures vigil-agent's footprint side by side with Debian's
// prometheus-node-exporter, in one run on one machine, and prints a table:
//
//   - stripped binary size (the agent built as `make build` builds it, against
//     /usr/bin/prometheus-node-exporter as Debian ships it);
//   - RSS (VmRSS from /proc/<pid>/status) at the end of the run, and its peak (VmHWM);
//   - CPU as a percentage of one core over the run: utime+stime from /proc/<pid>/stat, from the
//     process's start to the end, divided by the time since its start.
//
// Both run at the same time for -duration (default 10m): the agent reports every -interval
// (default 10s) over HTTPS to a local vigil-server, and node_exporter is scraped every -interval
// by a loop in this process on 127.0.0.1, as Prometheus would scrape it. The server and the
// scrape loop are not measured. Run it from the module root (make bench does):
//
//	go run ./e2e/benchcmd/footprint [-duration 10m] [-interval 10s] [-install] [-v]
//
// node_exporter must be installed: apt-get update && apt-get install -y prometheus-node-exporter
// (-install does that when it is missing and we are root). It is started directly, not through
// systemd.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
)

const nodeExporterBin = "/usr/bin/prometheus-node-exporter"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "footprint: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	duration, interval time.Duration
	install, verbose   bool
	keep               bool
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long both run side by side")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "agent report interval and node_exporter scrape interval")
	fs.BoolVar(&o.install, "install", false, "apt-get install prometheus-node-exporter if it is missing (needs root)")
	fs.BoolVar(&o.verbose, "v", false, "print a sample line every interval")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := ensureNodeExporter(o.install); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vigil-footprint-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("working directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	// Build the agent exactly as `make build` does, and the server.
	agentBin, serverBin := filepath.Join(dir, "vigil-agent"), filepath.Join(dir, "vigil-server")
	if err := gobuild(ctx, agentBin, "./cmd/vigil-agent"); err != nil {
		return err
	}
	if err := gobuild(ctx, serverBin, "./cmd/vigil-server"); err != nil {
		return err
	}

	// vigil-server and an enrollment token.
	srvPort, nePort := freePort(), freePort()
	srvURL := "https://127.0.0.1:" + srvPort
	dataDir := filepath.Join(dir, "server")
	srv, err := start(ctx, filepath.Join(dir, "server.log"), serverBin, "--data-dir", dataDir, "--listen", "127.0.0.1:"+srvPort)
	if err != nil {
		return err
	}
	defer stopProcess(srv)
	caFile := filepath.Join(dataDir, "tls", "ca.pem")
	hc, err := waitServer(ctx, srvURL, caFile, filepath.Join(dataDir, "admin-token"))
	if err != nil {
		return err
	}
	token, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		return err
	}
	cl := apiclient.New(srvURL, strings.TrimSpace(string(token)), hc)
	et, err := cl.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{TTL: "1h", MaxUses: 1})
	if err != nil {
		return fmt.Errorf("create enrollment token: %w", err)
	}

	// Both measured processes, started together.
	ne, err := start(ctx, filepath.Join(dir, "node-exporter.log"), nodeExporterBin, "--web.listen-address=127.0.0.1:"+nePort)
	if err != nil {
		return err
	}
	defer stopProcess(ne)
	ag, err := start(ctx, filepath.Join(dir, "agent.log"), agentBin, "--server", srvURL, "--ca", caFile,
		"--enroll-token", et.Token, "--state-dir", filepath.Join(dir, "agent"), "--interval", o.interval.String())
	if err != nil {
		return err
	}
	defer stopProcess(ag)

	fmt.Printf("Measuring vigil-agent and prometheus-node-exporter side by side for %s (interval %s) on %d CPUs, %s, load %s.\n",
		o.duration, o.interval, runtime.NumCPU(), kernel(), loadavg())
	scrapes, scrapeErrs := 0, 0
	neClient := &http.Client{Timeout: 5 * time.Second}
	begin := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	nextSample, nextScrape := begin.Add(o.interval), begin
	for time.Since(begin) < o.duration {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		for _, p := range []*process{ag, ne, srv} {
			if p.exited() {
				return fmt.Errorf("%s exited early; see its log %s", filepath.Base(p.cmd.Path), p.log)
			}
		}
		if !time.Now().Before(nextScrape) {
			nextScrape = nextScrape.Add(o.interval)
			if err := scrape(ctx, neClient, "http://127.0.0.1:"+nePort+"/metrics"); err != nil {
				scrapeErrs++
				if scrapeErrs <= 3 {
					fmt.Fprintf(os.Stderr, "scrape: %v\n", err)
				}
			} else {
				scrapes++
			}
		}
		if o.verbose && !time.Now().Before(nextSample) {
			nextSample = nextSample.Add(o.interval)
			a, n := measure(ag), measure(ne)
			fmt.Printf("%6.0fs  agent rss %6d kB (anon %5d) cpu %5.3f %%   node_exporter rss %6d kB (anon %5d) cpu %5.3f %%\n",
				time.Since(begin).Seconds(), a.rssKB, a.anonKB, a.cpuPct, n.rssKB, n.anonKB, n.cpuPct)
		}
	}
	a, n := measure(ag), measure(ne)
	if a.err != nil || n.err != nil {
		return errors.Join(a.err, n.err)
	}
	agentSize, neSize := fileSize(agentBin), fileSize(nodeExporterBin)
	reports := ackedSeq(ctx, cl)

	fmt.Printf("\nAfter %s (load %s): node_exporter scraped %d times (%d failed); the server acknowledged the agent's reports up to seq %s.\n\n",
		o.duration, loadavg(), scrapes, scrapeErrs, reports)
	fmt.Printf("| %-34s | %14s | %24s | %-28s |\n", "", "vigil-agent", "prometheus-node-exporter", "goal (agent)")
	fmt.Printf("|%s|%s|%s|%s|\n", strings.Repeat("-", 36), strings.Repeat("-", 16), strings.Repeat("-", 26), strings.Repeat("-", 30))
	row := func(name, av, nv, goal string) {
		fmt.Printf("| %-34s | %14s | %24s | %-28s |\n", name, av, nv, goal)
	}
	row("stripped binary", mb(agentSize), mb(neSize), verdict(float64(agentSize) <= 6e6, "≤ 6 MB"))
	row("RSS at the end (VmRSS)", mb(a.rssKB*1024), mb(n.rssKB*1024), verdict(a.rssKB*1024 <= 8e6, "≤ 8 MB"))
	row("  of which anonymous (RssAnon)", mb(a.anonKB*1024), mb(n.anonKB*1024), "")
	row("  of which file-backed (RssFile)", mb(a.fileKB*1024), mb(n.fileKB*1024), "")
	row("peak RSS (VmHWM)", mb(a.hwmKB*1024), mb(n.hwmKB*1024), "")
	row("CPU, % of one core since start", fmt.Sprintf("%.3f %%", a.cpuPct), fmt.Sprintf("%.3f %%", n.cpuPct), verdict(a.cpuPct <= 0.03, "≤ 0.03 %"))
	row("CPU time since start", a.cpu.Round(time.Millisecond).String(), n.cpu.Round(time.Millisecond).String(), "")
	return nil
}

func verdict(ok bool, goal string) string {
	if ok {
		return goal + " (met)"
	}
	return goal + " (MISSED)"
}

func mb(bytes int64) string { return fmt.Sprintf("%.2f MB", float64(bytes)/1e6) }

// ensureNodeExporter checks node_exporter is installed, installing it with apt-get if asked.
func ensureNodeExporter(install bool) error {
	if _, err := os.Stat(nodeExporterBin); err == nil {
		return nil
	}
	const how = "apt-get update && apt-get install -y prometheus-node-exporter"
	if !install {
		return fmt.Errorf("%s is missing: install it with `%s` (or run with -install as root)", nodeExporterBin, how)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s is missing and -install needs root: run `sudo %s`", nodeExporterBin, how)
	}
	fmt.Println("Installing prometheus-node-exporter: " + how)
	cmd := exec.Command("sh", "-c", how)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("install node_exporter: %w", err)
	}
	return nil
}

func gobuild(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=0.0.0-footprint", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func start(ctx context.Context, logFile, bin string, args ...string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			env = append(env, kv) // measure the binaries' own runtime settings
		}
	}
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func stopProcess(p *process) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// waitServer waits for the server's admin token, CA and /healthz.
func waitServer(ctx context.Context, url, caFile, tokenFile string) (*http.Client, error) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pem, err1 := os.ReadFile(caFile)
		_, err2 := os.Stat(tokenFile)
		if err1 == nil && err2 == nil {
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) {
				hc := &http.Client{Timeout: 10 * time.Second,
					Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				if resp, err := hc.Get(url + "/healthz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return hc, nil
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("vigil-server at %s not ready after 60s", url)
}

func scrape(ctx context.Context, hc *http.Client, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && (resp.StatusCode != http.StatusOK || n == 0) {
		err = fmt.Errorf("%s: %d bytes", resp.Status, n)
	}
	return err
}

// ackedSeq returns the highest seq the server acknowledged to the (only) host.
func ackedSeq(ctx context.Context, cl *apiclient.Client) string {
	hosts, err := cl.ListHosts(ctx, "")
	if err != nil || len(hosts) != 1 {
		return fmt.Sprintf("unknown (%d hosts, %v)", len(hosts), err)
	}
	return strconv.FormatUint(hosts[0].AckedSeq, 10)
}

type sample struct {
	rssKB, hwmKB   int64
	anonKB, fileKB int64 // RssAnon, RssFile (+RssShmem, none here)
	cpu            time.Duration
	cpuPct         float64
	err            error
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go supports.
const clockTicks = 100

func measure(p *process) sample {
	var s sample
	pid := p.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		s.err = err
		return s
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			s.rssKB = v
		case "VmHWM:":
			s.hwmKB = v
		case "RssAnon:":
			s.anonKB = v
		case "RssFile:":
			s.fileKB = v
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		s.err = err
		return s
	}
	// Fields after the command name, which is in parentheses and may contain spaces.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	start, _ := strconv.ParseInt(f[19], 10, 64) // field 22, ticks after boot
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	up := uptime()
	if elapsed := up - time.Duration(start)*time.Second/clockTicks; elapsed > 0 {
		s.cpuPct = 100 * s.cpu.Seconds() / elapsed.Seconds()
	}
	return s
}

func uptime() time.Duration {
	b, _ := os.ReadFile("/proc/uptime")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return time.Duration(v * float64(time.Second))
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
