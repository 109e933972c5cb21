// Command footprint measures what Vigil costs a host, side by side with Debian's
// prometheus-node-exporter, in one run on one machine, and prints Markdown tables for
// docs/BENCHMARKS.md ("Host footprint").
//
// A host runs two Vigil processes: vigil-updater (the systemd unit) and the vigil-agent it
// supervises. This command runs them as a host does, against a local vigil-server whose release
// repository it creates with vigilctl (keys generated at run time, one root key, two targets keys,
// threshold 2) and releases agent builds 1.0.0 … (1+updates).0.0 into:
//
//  1. vigil-updater is installed with `vigil-updater install --pin 1.0.0` and started with
//     `vigil-updater run` (its group pinned to 1.0.0, so every poll refreshes TUF metadata); it
//     starts the agent, which enrolls and reports every 10 s (its default) over HTTPS. At the same
//     time prometheus-node-exporter starts (directly, default collectors) and a loop in this
//     process scrapes it every -interval on 127.0.0.1, as Prometheus would.
//  2. After -duration (default 10m) the three processes are measured: "idle".
//  3. The group is pinned to 2.0.0, 3.0.0, … in turn, each a real update (TUF refresh, download,
//     verify, --version check, install, switch, health gate, commit); -settle after the last
//     commit the updater and the new agent are measured again: "after updates".
//
// Memory is judged by what the host cannot reclaim: RssAnon (heap, stacks, runtime; the budget
// line). VmRSS, RssFile (pages of the binary, reclaimable page cache), Pss (smaps_rollup: shared
// pages split among the processes that map them) and the peak VmHWM are reported beside it. CPU is
// utime+stime over the time since the process started, as a percentage of one core. Budgets are
// checked against the measured numbers. With -baseline REV, a second updater built from that git
// revision runs the same sequence beside the first (its own group, state and agent), so a change
// to the updater is compared in the same run.
//
// With -checks a second agent, vigil-agent-checks, runs beside from the start (the same 1.0.0 binary,
// started directly, its own group and state) with ten health checks of every kind, each every 10 s,
// against local targets this process serves (TCP, HTTP, a unix socket, a DNS responder) or that run
// anyway (vigil-server's port and HTTPS, its CA file and log), and anomaly hints on (CPU, memory and
// load: every metric hints cover); it is measured in the agent table. With -series FILE, every 30 s
// one JSON line per measured process is appended to FILE (see seriesLine): vigil-agent,
// vigil-agent-checks, vigil-updater, node_exporter. With -checks-also 30s a third agent runs the
// same checks every 30 s (their default), beside, and is measured and sampled the same way.
//
// Run it from the module root (make bench does):
//
//	go run ./e2e/benchcmd/footprint [-duration 10m] [-updates 3] [-settle 1m] [-install] [-baseline REV]
//	    [-checks [-checks-also 30s]] [-series FILE] [-v]
//
// node_exporter must be installed: apt-get update && apt-get install -y prometheus-node-exporter
// (-install does that when it is missing and we are root).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
)

const nodeExporterBin = "/usr/bin/prometheus-node-exporter"

// Budgets of issue 10.
const (
	mib               = 1 << 20
	budgetAgentBinary = 8_000_000 // bytes, stripped
	budgetAgentAnon   = 4 * mib   // RssAnon after 10 minutes at a 10 s interval
	budgetAgentCPU    = 0.03      // % of one core
	budgetHostAnon    = 8 * mib   // agent + updater RssAnon, idle and after updates
	budgetDuration    = 10 * time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "footprint: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	duration, interval, settle time.Duration
	poll, grace                time.Duration
	updates                    int
	baseline, series           string
	install, verbose, keep     bool
	checks                     bool
	checksAlso                 time.Duration
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the host's processes and node_exporter run side by side before the idle measurement")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "node_exporter scrape interval (the agent reports at its default, 10s)")
	fs.IntVar(&o.updates, "updates", 3, "agent updates after the idle measurement")
	fs.DurationVar(&o.settle, "settle", time.Minute, "wait after the last update before measuring again")
	fs.DurationVar(&o.poll, "poll", 30*time.Second, "vigil-updater --poll (mean interval between update checks)")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "vigil-updater --grace (health-gate window of an update)")
	fs.StringVar(&o.baseline, "baseline", "", "also run a vigil-updater built from this git `revision`, beside, for comparison")
	fs.BoolVar(&o.install, "install", false, "apt-get install prometheus-node-exporter if it is missing (needs root)")
	fs.BoolVar(&o.verbose, "v", false, "print a sample line every minute")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, data)")
	fs.BoolVar(&o.checks, "checks", false, "also run a second agent (vigil-agent-checks) with ten local health checks and anomaly hints, beside")
	fs.DurationVar(&o.checksAlso, "checks-also", 0, "with -checks, also run a third agent (vigil-agent-checks-INTERVAL) with the same checks every `interval` (30s: their default), beside")
	fs.StringVar(&o.series, "series", "", "append one JSON line per measured process every 30 s to this `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.updates < 1 {
		return errors.New("-updates must be at least 1")
	}
	if err := ensureNodeExporter(ctx, o.install); err != nil {
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
	h := &harness{o: o, dir: dir}
	defer h.stopAll() // before the directory goes
	return h.run(ctx)
}

// harness holds the processes and the repository of one run.
type harness struct {
	o     options
	dir   string
	procs []*process

	url, ca, token, root string
	client               *http.Client
	keys                 []string // targets keys
}

func (h *harness) bin(name string) string { return filepath.Join(h.dir, "bin", name) }

// host is one vigil-updater and the agent it supervises.
type host struct {
	name, group, state string
	token              string // enrollment token of the host's group
	updater            *process
}

func version(i int) string { return fmt.Sprintf("%d.0.0", i) }

func (h *harness) run(ctx context.Context) error {
	t0 := time.Now()
	if err := h.build(ctx); err != nil {
		return err
	}
	h.logf("built in %v", time.Since(t0).Round(time.Second))
	srv, err := h.startServer(ctx)
	if err != nil {
		return err
	}
	if err := h.setupRepo(ctx); err != nil {
		return err
	}
	h.logf("repository with %d releases ready", h.o.updates+1)

	hosts := []*host{{name: "vigil-updater", group: "footprint", state: filepath.Join(h.dir, "host")}}
	if h.o.baseline != "" {
		hosts = append(hosts, &host{name: "vigil-updater@" + h.o.baseline, group: "baseline", state: filepath.Join(h.dir, "host-baseline")})
	}
	for _, x := range hosts {
		if err := h.prepare(ctx, x); err != nil {
			return err
		}
	}

	// The agents with checks: vigil-agent-checks (every checkInterval) and, with -checks-also, one
	// more at that interval; each its own group, configuration and state.
	var checkers []*checker
	if h.o.checks {
		targets, err := startCheckTargets(ctx, h.dir)
		if err != nil {
			return err
		}
		defer targets.Close()
		checkers = append(checkers, &checker{name: "vigil-agent-checks", group: "checks", every: checkInterval})
		if h.o.checksAlso > 0 {
			g := "checks-" + h.o.checksAlso.String()
			checkers = append(checkers, &checker{name: "vigil-agent-" + g, group: g, every: h.o.checksAlso})
		}
		for _, c := range checkers {
			if err := h.ctl(ctx, "groups", "create", c.group); err != nil {
				return err
			}
			if c.token, err = h.enrollToken(ctx, c.group); err != nil {
				return err
			}
			c.cfg = filepath.Join(h.dir, "agent-"+c.group+".yaml")
			if err := os.WriteFile(c.cfg, []byte(h.checksConfig(targets, c.every)), 0o644); err != nil {
				return err
			}
		}
	}

	// The measured processes, started together.
	nePort := freePort()
	ne, err := h.start(filepath.Join(h.dir, "node-exporter.log"), nodeExporterBin, "--web.listen-address=127.0.0.1:"+nePort)
	if err != nil {
		return err
	}
	for _, x := range hosts {
		bin := h.bin("vigil-updater")
		if x.group == "baseline" {
			bin = h.bin("vigil-updater-baseline")
		}
		x.updater, err = h.start(filepath.Join(h.dir, x.group+"-updater.log"), bin, "run", "--server", h.url, "--ca", h.ca,
			"--state-dir", x.state, "--trusted-root", h.root, "--enroll-token", x.token,
			"--poll", h.o.poll.String(), "--grace", h.o.grace.String(), "--agent-user", "")
		if err != nil {
			return err
		}
	}
	// The second agent configuration runs directly (no updater of its own), with the same binary.
	watched := append([]*process{ne, srv}, updaters(hosts)...)
	for _, c := range checkers {
		c.proc, err = h.start(filepath.Join(h.dir, c.group+"-agent.log"), h.bin("agent-"+version(1)), "--server", h.url, "--ca", h.ca,
			"--enroll-token", c.token, "--state-dir", filepath.Join(h.dir, "host-"+c.group), "--config", c.cfg)
		if err != nil {
			return err
		}
		watched = append(watched, c.proc)
	}
	begin := time.Now()
	if h.o.series != "" {
		series := []seriesProc{{"vigil-agent", func() int { return agentOf(hosts[0]) }}}
		for _, c := range checkers {
			series = append(series, seriesProc{c.name, c.proc.pid})
		}
		series = append(series, seriesProc{"vigil-updater", hosts[0].updater.pid}, seriesProc{"node_exporter", ne.pid})
		stop, err := writeSeries(ctx, h.o.series, begin, series)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Printf("Measuring vigil-updater + vigil-agent and prometheus-node-exporter side by side for %s on %d CPUs, %s, load %s.\n",
		h.o.duration, runtime.NumCPU(), kernel(), loadavg())
	for _, c := range checkers {
		fmt.Printf("Beside them %s: the same agent started directly with ten health checks (every %s) and anomaly hints.\n", c.name, c.every)
	}
	scrapes, scrapeErrs := 0, 0
	neClient := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	nextScrape, nextSample := begin, begin.Add(time.Minute)
	// CPU after the first minute (enrollment, first TLS handshakes and TUF refresh done).
	var warmAgent, warmNE sample
	var warmAt time.Time
	for time.Since(begin) < h.o.duration {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		for _, p := range watched {
			if p.exited() {
				return fmt.Errorf("%s exited early; see its log %s", filepath.Base(p.cmd.Path), p.log)
			}
		}
		if !time.Now().Before(nextScrape) {
			nextScrape = nextScrape.Add(h.o.interval)
			if err := scrape(ctx, neClient, "http://127.0.0.1:"+nePort+"/metrics"); err != nil {
				scrapeErrs++
				if scrapeErrs <= 3 {
					fmt.Fprintf(os.Stderr, "scrape: %v\n", err)
				}
			} else {
				scrapes++
			}
		}
		if warmAt.IsZero() && time.Since(begin) >= time.Minute && h.o.duration > 2*time.Minute {
			warmAt, warmAgent, warmNE = time.Now(), measure(agentOf(hosts[0])), measure(ne.pid())
			for _, c := range checkers {
				c.warm = measure(c.proc.pid())
			}
		}
		if h.o.verbose && !time.Now().Before(nextSample) {
			nextSample = nextSample.Add(time.Minute)
			for _, x := range hosts {
				u, a := measure(x.updater.pid()), measure(agentOf(x))
				fmt.Printf("%5.0fs %-24s updater anon %5d kB rss %5d kB | agent anon %5d kB rss %5d kB\n",
					time.Since(begin).Seconds(), x.group, u.anonKB, u.rssKB, a.anonKB, a.rssKB)
			}
			for _, c := range checkers {
				m := measure(c.proc.pid())
				fmt.Printf("%5.0fs %-24s %s agent anon %5d kB rss %5d kB\n", time.Since(begin).Seconds(), c.group, strings.Repeat(" ", 34), m.anonKB, m.rssKB)
			}
		}
	}

	// Idle.
	idle := map[string][2]sample{}
	for _, x := range hosts {
		idle[x.group] = [2]sample{measure(x.updater.pid()), measure(agentOf(x))}
	}
	neS, idleAt := measure(ne.pid()), time.Now()
	for _, c := range checkers {
		c.s = measure(c.proc.pid())
	}
	stats, err := h.hosts(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("\nAfter %s (load %s): node_exporter scraped %d times (%d failed); the server acknowledged the agent's reports up to seq %d.\n",
		h.o.duration, loadavg(), scrapes, scrapeErrs, stats["footprint"].AckedSeq)
	for _, c := range checkers {
		fmt.Printf("%s: acknowledged up to seq %d; its latest report's checks: %s.\n", c.name, stats[c.group].AckedSeq, h.checkResults(ctx, c.group))
	}
	fmt.Println()
	agent := idle["footprint"][1]
	errs := []error{agent.err, neS.err}
	for _, c := range checkers {
		errs = append(errs, c.s.err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	agentSize, neSize, updSize := fileSize(h.bin("agent-1.0.0")), fileSize(nodeExporterBin), fileSize(h.bin("vigil-updater"))
	cols := []column{{"vigil-agent", agent, warmAgent}}
	for _, c := range checkers {
		cols = append(cols, column{fmt.Sprintf("%s (ten checks every %s + hints)", c.name, c.every), c.s, c.warm})
	}
	h.agentTable(cols, column{"prometheus-node-exporter", neS, warmNE}, agentSize, neSize)
	if !warmAt.IsZero() {
		w := idleAt.Sub(warmAt).Seconds()
		var parts []string
		for _, c := range append(cols, column{"prometheus-node-exporter", neS, warmNE}) {
			d := (c.s.cpu - c.warm.cpu).Seconds()
			parts = append(parts, fmt.Sprintf("%s %.3f %% (%.0f ms)", c.name, 100*d/w, 1000*d))
		}
		fmt.Printf("CPU after the first minute (%.0f s): %s.\n\n", w, strings.Join(parts, ", "))
	}

	// Updates.
	var commits []time.Duration
	for i := 2; i <= h.o.updates+1; i++ {
		v := version(i)
		pinned := time.Now()
		for _, x := range hosts {
			if err := h.ctl(ctx, "groups", "pin", x.group, v); err != nil {
				return err
			}
		}
		if err := h.waitCommitted(ctx, hosts, v); err != nil {
			return err
		}
		commits = append(commits, time.Since(pinned))
		h.logf("%s committed on every host %v after the pin", v, time.Since(pinned).Round(time.Millisecond))
	}
	h.logf("settling for %v", h.o.settle)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(h.o.settle):
	}
	after := map[string][2]sample{}
	for _, x := range hosts {
		after[x.group] = [2]sample{measure(x.updater.pid()), measure(agentOf(x))}
		if err := errors.Join(after[x.group][0].err, after[x.group][1].err); err != nil {
			return err
		}
	}
	fmt.Printf("Then %d updates (1.0.0 → %s; pin → commit %s), measured %s after the last commit.\n\n",
		h.o.updates, version(h.o.updates+1), durations(commits), h.o.settle)
	h.updaterTable(hosts, idle, after, updSize)
	return nil
}

func updaters(hosts []*host) []*process {
	var ps []*process
	for _, x := range hosts {
		ps = append(ps, x.updater)
	}
	return ps
}

// column is one process of the agent table: its sample at the idle measurement and after the
// first minute.
type column struct {
	name    string
	s, warm sample
}

// agentTable prints the agent(s) beside node_exporter, with the agent's budgets.
func (h *harness) agentTable(agents []column, ne column, agentSize, neSize int64) {
	short := ""
	if h.o.duration < budgetDuration {
		short = fmt.Sprintf(" (run of %s, budget is for 10m)", h.o.duration)
	}
	ratio := func(x, y int64) string {
		if y == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", float64(x)/float64(y))
	}
	head := "| after " + h.o.duration.String()
	sep := "|---"
	for _, a := range agents {
		head += " | " + a.name
		sep += "|---"
	}
	head += " | " + ne.name
	sep += "|---"
	for _, a := range agents {
		head += " | " + a.name + " ÷ node_exporter"
		sep += "|---"
	}
	fmt.Println(head + " | budget (each agent) |")
	fmt.Println(sep + "|---|")
	row := func(label string, val func(sample) string, num func(sample) int64, ok func(sample) bool, goal string) {
		line := "| " + label
		for _, a := range agents {
			line += " | " + val(a.s)
		}
		line += " | " + val(ne.s)
		for _, a := range agents {
			line += " | " + ratio(num(a.s), num(ne.s))
		}
		line += " | "
		if ok != nil {
			var v []string
			for _, a := range agents {
				v = append(v, verdict(ok(a.s), ""))
			}
			line += goal + ": " + strings.Join(v, " / ")
		}
		fmt.Println(line + " |")
	}
	kb := func(f func(sample) int64) (func(sample) string, func(sample) int64) {
		return func(s sample) string { return mibs(f(s)) }, f
	}
	line := "| stripped binary"
	for range agents {
		line += " | " + commas(agentSize) + " B"
	}
	line += " | " + commas(neSize) + " B"
	for range agents {
		line += " | " + ratio(agentSize, neSize)
	}
	fmt.Println(line + " | " + verdict(agentSize <= budgetAgentBinary, "≤ 8,000,000 B") + " |")
	v, n := kb(func(s sample) int64 { return s.anonKB })
	row("**RssAnon** (heap, stacks, runtime)", v, n, func(s sample) bool { return s.anonKB*1024 <= budgetAgentAnon }, "≤ 4 MiB"+short)
	v, n = kb(func(s sample) int64 { return s.rssKB })
	row("VmRSS", v, n, nil, "")
	v, n = kb(func(s sample) int64 { return s.fileKB })
	row("RssFile (binary pages, reclaimable)", v, n, nil, "")
	v, n = kb(func(s sample) int64 { return s.pssKB })
	row("Pss (smaps_rollup)", v, n, nil, "")
	v, n = kb(func(s sample) int64 { return s.hwmKB })
	row("peak VmHWM", v, n, nil, "")
	row("CPU, % of one core since start", func(s sample) string { return fmt.Sprintf("%.3f %% (%s)", s.cpuPct, s.cpu.Round(time.Millisecond)) },
		func(s sample) int64 { return int64(s.cpu) }, func(s sample) bool { return s.cpuPct <= budgetAgentCPU }, "≤ 0.03 %")
	fmt.Println()
}

// updaterTable prints the updater(s) and agent(s) idle and after the updates, and the host budget.
func (h *harness) updaterTable(hosts []*host, idle, after map[string][2]sample, updSize int64) {
	fmt.Printf("vigil-updater stripped binary: %s B.\n\n", commas(updSize))
	fmt.Println("| process | when | **RssAnon** | VmRSS | RssFile | Pss | VmHWM | CPU % of a core since start |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, x := range hosts {
		for _, w := range []struct {
			when string
			s    [2]sample
		}{{"idle", idle[x.group]}, {"after updates", after[x.group]}} {
			for i, s := range w.s {
				name := x.name
				if i == 1 {
					name = "vigil-agent (child of " + x.name + ")"
				}
				fmt.Printf("| %s | %s | **%s** | %s | %s | %s | %s | %.3f %% |\n", name, w.when, mibs(s.anonKB), mibs(s.rssKB),
					mibs(s.fileKB), mibs(s.pssKB), mibs(s.hwmKB), s.cpuPct)
			}
		}
	}
	fmt.Println()
	fmt.Println("| host (updater + agent) | RssAnon idle | RssAnon after updates | VmRSS idle | VmRSS after updates | budget (RssAnon ≤ 8 MiB, idle and after) |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, x := range hosts {
		i, a := idle[x.group], after[x.group]
		ia, aa := i[0].anonKB+i[1].anonKB, a[0].anonKB+a[1].anonKB
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", x.name, mibs(ia), mibs(aa), mibs(i[0].rssKB+i[1].rssKB), mibs(a[0].rssKB+a[1].rssKB),
			verdict(ia*1024 <= budgetHostAnon && aa*1024 <= budgetHostAnon, "≤ 8 MiB"))
	}
	fmt.Println()
}

func verdict(ok bool, goal string) string {
	if goal != "" {
		goal += ": "
	}
	if ok {
		return goal + "met"
	}
	return goal + "**NOT met**"
}

func mibs(kB int64) string { return fmt.Sprintf("%.2f MiB", float64(kB)/1024) }

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func durations(d []time.Duration) string {
	var s []string
	for _, x := range d {
		s = append(s, fmt.Sprintf("%.1f s", x.Seconds()))
	}
	return strings.Join(s, ", ")
}

func (h *harness) logf(format string, args ...any) {
	if h.o.verbose {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

// build builds every binary as `make build` does: stripped, trimmed, CGO off.
func (h *harness) build(ctx context.Context) error {
	type bld struct{ name, pkg, version, srcDir string }
	builds := []bld{
		{"vigil-server", "./cmd/vigil-server", "0.0.0-footprint", ""},
		{"vigilctl", "./cmd/vigilctl", "0.0.0-footprint", ""},
		{"vigil-updater", "./cmd/vigil-updater", "1.0.0", ""},
	}
	for i := 1; i <= h.o.updates+1; i++ {
		builds = append(builds, bld{"agent-" + version(i), "./cmd/vigil-agent", version(i), ""})
	}
	if h.o.baseline != "" {
		src := filepath.Join(h.dir, "baseline-src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", h.o.baseline, src)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git archive %s: %v\n%s", h.o.baseline, err, out)
		}
		builds = append(builds, bld{"vigil-updater-baseline", "./cmd/vigil-updater", "1.0.0", src})
	}
	for _, b := range builds {
		out, err := filepath.Abs(h.bin(b.name))
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+b.version, "-o", out, b.pkg)
		cmd.Dir = b.srcDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

func (h *harness) startServer(ctx context.Context) (*process, error) {
	port := freePort()
	h.url = "https://127.0.0.1:" + port
	dataDir := filepath.Join(h.dir, "server")
	srv, err := h.start(filepath.Join(h.dir, "server.log"), h.bin("vigil-server"), "--data-dir", dataDir, "--listen", "127.0.0.1:"+port, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	h.ca = filepath.Join(dataDir, "tls", "ca.pem")
	tokenFile := filepath.Join(dataDir, "admin-token")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if srv.exited() {
			return nil, fmt.Errorf("vigil-server exited; see %s", srv.log)
		}
		pem, err1 := os.ReadFile(h.ca)
		tok, err2 := os.ReadFile(tokenFile)
		if err1 == nil && err2 == nil && len(tok) > 0 {
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) {
				h.token = strings.TrimSpace(string(tok))
				h.client = &http.Client{Timeout: 10 * time.Second,
					Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				if resp, err := h.client.Get(h.url + "/readyz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return srv, nil
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("vigil-server at %s not ready after 60s", h.url)
}

// keyPassphrase protects the release keys generated for this run only.
const keyPassphrase = "footprint bench release key passphrase"

// ctlOut runs vigilctl against the server and returns its stdout.
func (h *harness) ctlOut(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin("vigilctl"), append([]string{"--server", h.url, "--ca", h.ca}, args...)...)
	cmd.Env = append(os.Environ(), "VIGIL_TOKEN="+h.token, "VIGIL_KEY_PASSPHRASE="+keyPassphrase,
		"VIGIL_TRUSTED_ROOT="+filepath.Join(h.dir, "vigilctl-trusted-root.json")) // never the real home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("vigilctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// ctl runs vigilctl against the server.
func (h *harness) ctl(ctx context.Context, args ...string) error {
	_, err := h.ctlOut(ctx, args...)
	return err
}

// setupRepo creates the release repository with vigilctl and releases every agent build.
func (h *harness) setupRepo(ctx context.Context) error {
	keyDir := filepath.Join(h.dir, "keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"root", "targets-a", "targets-b"} {
		if err := h.ctl(ctx, "keys", "gen", "--out", filepath.Join(keyDir, name+".key")); err != nil {
			return err
		}
	}
	h.keys = []string{filepath.Join(keyDir, "targets-a.key"), filepath.Join(keyDir, "targets-b.key")}
	if err := h.ctl(ctx, "repo", "init", "--root-key", filepath.Join(keyDir, "root.key"), "--root-threshold", "1",
		"--targets-key", h.keys[0], "--targets-key", h.keys[1], "--targets-threshold", "2"); err != nil {
		return err
	}
	for i := 1; i <= h.o.updates+1; i++ {
		v := version(i)
		dist := filepath.Join(h.dir, "dist", v)
		if err := os.MkdirAll(dist, 0o755); err != nil {
			return err
		}
		data, err := os.ReadFile(h.bin("agent-" + v))
		if err != nil {
			return err
		}
		file := filepath.Join(dist, "vigil-agent-linux-"+runtime.GOARCH)
		if err := os.WriteFile(file, data, 0o755); err != nil {
			return err
		}
		if err := h.ctl(ctx, "release", "stage", v, file); err != nil {
			return err
		}
		for _, k := range h.keys {
			if err := h.ctl(ctx, "release", "sign", v, "--key", k, "--yes"); err != nil {
				return err
			}
		}
		if err := h.ctl(ctx, "release", "publish", v); err != nil {
			return err
		}
	}
	root, err := h.get(ctx, "/tuf/metadata/1.root.json", false)
	if err != nil {
		return err
	}
	h.root = filepath.Join(h.dir, "root.json")
	return os.WriteFile(h.root, root, 0o644)
}

// prepare creates the host's group (pinned to 1.0.0) and enrollment token and installs 1.0.0.
func (h *harness) prepare(ctx context.Context, x *host) error {
	if err := h.ctl(ctx, "groups", "create", x.group); err != nil {
		return err
	}
	if err := h.ctl(ctx, "groups", "pin", x.group, version(1)); err != nil {
		return err
	}
	var err error
	if x.token, err = h.enrollToken(ctx, x.group); err != nil {
		return err
	}
	bin := h.bin("vigil-updater")
	if x.group == "baseline" {
		bin = h.bin("vigil-updater-baseline")
	}
	cmd := exec.CommandContext(ctx, bin, "install", "--server", h.url, "--ca", h.ca,
		"--state-dir", x.state, "--trusted-root", h.root, "--pin", version(1))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vigil-updater install: %v\n%s", err, out)
	}
	return nil
}

// enrollToken creates a one-use enrollment token for group.
func (h *harness) enrollToken(ctx context.Context, group string) (string, error) {
	out, err := h.ctlOut(ctx, "--output", "json", "enroll", "create-token", "--group", group, "--max-uses", "1")
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

func (h *harness) get(ctx context.Context, path string, auth bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+path, nil)
	if err != nil {
		return nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body, nil
}

// checker is an agent with the ten health checks, run directly beside the measured host.
type checker struct {
	name, group string
	every       time.Duration // the checks' interval
	token, cfg  string
	proc        *process
	s, warm     sample // at the idle measurement, after the first minute
}

// hostState is what the server knows of a host (GET /api/v1/hosts).
type hostState struct {
	Group        string `json:"group"`
	AgentVersion string `json:"agent_version"`
	AckedSeq     uint64 `json:"acked_seq"`
	Latest       *struct {
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"checks"`
	} `json:"latest"`
	LastUpdate *struct {
		ToVersion string `json:"to_version"`
		Phase     string `json:"phase"`
		Result    string `json:"result"`
		Reason    string `json:"reason"`
	} `json:"last_update"`
}

// hosts returns the server's view of every host, by group (one host per group).
func (h *harness) hosts(ctx context.Context) (map[string]hostState, error) {
	body, err := h.get(ctx, "/api/v1/hosts", true)
	if err != nil {
		return nil, err
	}
	var hs []hostState
	if err := json.Unmarshal(body, &hs); err != nil {
		return nil, err
	}
	out := map[string]hostState{}
	for _, x := range hs {
		out[x.Group] = x
	}
	return out, nil
}

// checkResults summarizes the checks of the -checks agent's latest report: how many passed, and
// the names of those that failed.
func (h *harness) checkResults(ctx context.Context, group string) string {
	hs, err := h.hosts(ctx)
	if err != nil {
		return err.Error()
	}
	l := hs[group].Latest
	if l == nil {
		return "no report"
	}
	ok := 0
	var failed []string
	for _, c := range l.Checks {
		if c.OK {
			ok++
		} else {
			failed = append(failed, c.Name)
		}
	}
	out := fmt.Sprintf("%d of %d passed", ok, len(l.Checks))
	if len(failed) > 0 {
		out += " (failed: " + strings.Join(failed, ", ") + ")"
	}
	return out
}

// waitCommitted waits until every host committed v (and its new agent reported), or fails on a
// failed or refused update.
func (h *harness) waitCommitted(ctx context.Context, hosts []*host, v string) error {
	deadline := time.Now().Add(3*h.o.poll + 2*h.o.grace + 2*time.Minute)
	for {
		hs, err := h.hosts(ctx)
		if err != nil {
			return err
		}
		done := 0
		for _, x := range hosts {
			s := hs[x.group]
			if e := s.LastUpdate; e != nil && e.ToVersion == v {
				if e.Result == "failed" || e.Result == "refused" {
					return fmt.Errorf("%s: update to %s: %s %s: %s", x.group, v, e.Phase, e.Result, e.Reason)
				}
				if e.Phase == "commit" && e.Result == "ok" && s.AgentVersion == v {
					done++
				}
			}
		}
		if done == len(hosts) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not committed on every host by %v", v, deadline.Format(time.TimeOnly))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ensureNodeExporter checks node_exporter is installed, installing it with apt-get if asked.
func ensureNodeExporter(ctx context.Context, install bool) error {
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
	cmd := exec.CommandContext(ctx, "sh", "-c", how)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("install node_exporter: %w", err)
	}
	// Debian starts the service it installs; we run our own copy, so stop theirs.
	_ = exec.CommandContext(ctx, "systemctl", "disable", "--now", "prometheus-node-exporter").Run()
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

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start starts bin in its own process group, logging to logFile, with the Go runtime settings
// of this environment removed so the binaries run with their own.
func (h *harness) start(logFile, bin string, args ...string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	h.procs = append(h.procs, p)
	return p, nil
}

// stopAll stops every process in reverse order of start (updaters stop their agents), killing
// the process group of any still running after 30 s.
func (h *harness) stopAll() {
	for i := len(h.procs) - 1; i >= 0; i-- {
		p := h.procs[i]
		if p.exited() {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
			<-p.done
		}
	}
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

// agentOf returns the PID of the agent the host's updater runs (its only long-lived child), or 0.
// It scans /proc: a Go program forks from any of its threads, so /proc/<pid>/task/<pid>/children
// does not list them all.
func agentOf(x *host) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) >= 2 && f[1] == strconv.Itoa(x.updater.pid()) {
			return pid
		}
	}
	return 0
}

// sample is one process's memory and CPU, from /proc.
type sample struct {
	rssKB, hwmKB   int64 // VmRSS, VmHWM
	anonKB, fileKB int64 // RssAnon, RssFile
	pssKB          int64 // Pss from smaps_rollup
	cpu            time.Duration
	cpuPct         float64
	err            error
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go supports.
const clockTicks = 100

// fields returns the "Key: value kB" lines of a /proc file as kB values.
func fields(path string) (map[string]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && strings.HasSuffix(f[0], ":") {
			if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				out[strings.TrimSuffix(f[0], ":")] = v
			}
		}
	}
	return out, nil
}

func measure(pid int) sample {
	var s sample
	if pid <= 0 {
		s.err = errors.New("process not found")
		return s
	}
	status, err := fields(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		s.err = err
		return s
	}
	s.rssKB, s.hwmKB, s.anonKB, s.fileKB = status["VmRSS"], status["VmHWM"], status["RssAnon"], status["RssFile"]
	rollup, err := fields(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		s.err = err
		return s
	}
	s.pssKB = rollup["Pss"]
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
	if elapsed := uptime() - time.Duration(start)*time.Second/clockTicks; elapsed > 0 {
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
