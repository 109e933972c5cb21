// Command vigil-sim simulates a fleet of vigil-agents (and optionally their vigil-updaters) against
// a real vigil-server from one process, to size a server before the fleet arrives.
//
//	vigil-sim --server URL (--ca FILE | --ca-fingerprint SHA256) --hosts N [--enroll-token T]
//	          [--state FILE] [--interval 10s] [--jitter 0.05] [--warmup 10s] --duration D
//	          [--churn-silent PCT] [--silent-for 2m] [--churn-new PER_MIN] [--outage PCT:DURATION[@START]]
//	          [--updaters] [--poll 5m] [--client net/http|raw] [--server-pid PID] [--postgres-cpu] [--json]
//
// Each simulated host speaks the wire protocol as vigil-agent does: it enrolls once with the
// enrollment token (credentials are cached in --state so a rerun reuses them), keeps one
// keep-alive HTTP/1.1 TLS connection, sends a realistic report every interval (gzip-compressed from 4 KiB, as the agent) with
// increasing sequence numbers, forgets reports only when acknowledged, backs off with full jitter,
// honours Retry-After on 429 and 503, and replays its backlog oldest first in batches after an
// outage. --client raw replaces each host's http.Transport with a minimal HTTP/1.1 client on the
// host's own TLS connection: the same traffic for about two thirds of the simulator's CPU and half
// its memory. It links wire, tlspin and envflag only, never server code (TestDeps).
//
// It prints achieved reports/s, latency percentiles, errors by kind, and the CPU per report of the
// server process and of PostgreSQL (from /proc, when they run on this machine) and of itself. Every
// flag also reads VIGIL_<NAME>, such as VIGIL_SERVER or VIGIL_ENROLL_TOKEN.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/envflag"
	"github.com/vigilhq/vigil/tlspin"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	cfg                  Config
	ca, caFingerprint    string
	outage, client       string
	serverPID            int
	jsonOut, showVersion bool
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &o.cfg
	fs.StringVar(&c.Server, "server", "", "vigil-server base `URL` (required)")
	fs.StringVar(&o.ca, "ca", "", "trust only the CA certificate(s) in this PEM `FILE`")
	fs.StringVar(&o.caFingerprint, "ca-fingerprint", "", "trust only the CA certificate with this `SHA256` fingerprint")
	fs.IntVar(&c.Hosts, "hosts", 100, "simulated `hosts`")
	fs.StringVar(&c.EnrollToken, "enroll-token", "", "enrollment `token` for hosts the state file lacks (needs enough uses)")
	fs.StringVar(&c.StatePath, "state", "", "state `FILE` caching host credentials and sequence numbers (0600); a rerun reuses them")
	fs.IntVar(&c.EnrollConcurrency, "enroll-concurrency", 16, "concurrent enrollments")
	fs.DurationVar(&c.Interval, "interval", 10*time.Second, "report `interval` of every host")
	fs.Float64Var(&c.Jitter, "jitter", 0.05, "vary each interval by up to ±this `fraction` (0..0.5); hosts start at random phases regardless")
	fs.DurationVar(&c.Warmup, "warmup", 0, "run this long before measuring (default one interval: every host has connected)")
	fs.DurationVar(&c.Duration, "duration", time.Minute, "measured `window`")
	fs.DurationVar(&c.Drain, "drain", 0, "after the window, wait up to this long for hosts to deliver what they hold (default 30s, plus --max-backoff with --outage)")
	fs.Float64Var(&c.SilentPerMin, "churn-silent", 0, "`percent` of the fleet going silent (powered off) per minute")
	fs.DurationVar(&c.SilentFor, "silent-for", 2*time.Minute, "how long a silent host stays off before it comes back rebooted")
	fs.Float64Var(&c.NewPerMin, "churn-new", 0, "new hosts enrolled per minute during the run (the token needs the uses)")
	fs.StringVar(&o.outage, "outage", "", "`PCT:DURATION[@START]`: PCT % of hosts lose the server for DURATION from START into the window "+
		"(default a quarter of it), keep collecting, then replay their backlog")
	fs.BoolVar(&c.Updaters, "updaters", false, "also simulate each host's vigil-updater polling GET /api/v1/updates/desired")
	fs.DurationVar(&c.Poll, "poll", 5*time.Minute, "updater poll `period` (±20 %)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 30*time.Second, "timeout of each request (the agent's)")
	fs.DurationVar(&c.MaxBackoff, "max-backoff", 5*time.Minute, "largest retry delay (the agent's)")
	fs.StringVar(&c.AgentVersion, "agent-version", "0.0.0-sim", "agent `version` the hosts claim")
	fs.StringVar(&o.client, "client", "net/http", "`client` of each simulated agent: net/http (an http.Transport per host) or raw "+
		"(a minimal HTTP/1.1 client on the host's own TLS connection: same traffic, less CPU and memory in the simulator)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "`PID` of vigil-server for CPU per report (default: the one process named vigil-server, if any; -1: none)")
	fs.BoolVar(&c.PostgresCPU, "postgres-cpu", true, "measure the CPU of processes named postgres on this machine")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil-sim --server URL (--ca FILE | --ca-fingerprint SHA256) --hosts N [--enroll-token T] [--state FILE]\n"+
			"                 [--interval 10s] [--duration 1m] [--churn-silent PCT] [--churn-new PER_MIN]\n"+
			"                 [--outage PCT:DURATION[@START]] [--updaters] [--server-pid PID] [--json]\n\n"+
			"Simulates N vigil-agents against a real server, one keep-alive TLS connection each, and reports\n"+
			"reports/s, latency, errors and CPU per report of the server, PostgreSQL and itself.\n"+
			"Every flag also reads VIGIL_<NAME>, such as VIGIL_SERVER or VIGIL_ENROLL_TOKEN.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseOutage parses PCT:DURATION[@START].
func parseOutage(v string, c *Config) error {
	if v == "" {
		return nil
	}
	pct, rest, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("--outage %q: want PCT:DURATION[@START]", v)
	}
	dur, start, hasStart := strings.Cut(rest, "@")
	p, err := strconv.ParseFloat(strings.TrimSuffix(pct, "%"), 64)
	if err != nil || p <= 0 || p > 100 {
		return fmt.Errorf("--outage %q: percentage must be within (0, 100]", v)
	}
	d, err := time.ParseDuration(dur)
	if err != nil || d <= 0 {
		return fmt.Errorf("--outage %q: bad duration", v)
	}
	c.OutagePct, c.OutageFor = p, d
	if hasStart {
		if c.OutageStart, err = time.ParseDuration(start); err != nil || c.OutageStart <= 0 {
			return fmt.Errorf("--outage %q: bad start", v)
		}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := envflag.Apply(fs, os.Getenv); err != nil {
		fmt.Fprintf(stderr, "vigil-sim: %v\n", err)
		return 2
	}
	if o.showVersion {
		fmt.Fprintf(stdout, "vigil-sim %s\n", version)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vigil-sim: unexpected arguments %q\n", fs.Args())
		return 2
	}
	switch o.client {
	case "net/http":
	case "raw":
		o.cfg.RawClient = true
	default:
		fmt.Fprintf(stderr, "vigil-sim: --client %q: want net/http or raw\n", o.client)
		return 2
	}
	if err := parseOutage(o.outage, &o.cfg); err != nil {
		fmt.Fprintf(stderr, "vigil-sim: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o.cfg.Logger = log
	switch {
	case o.ca != "" && o.caFingerprint != "":
		fmt.Fprintln(stderr, "vigil-sim: --ca and --ca-fingerprint are alternatives")
		return 2
	case o.ca != "":
		pem, err := os.ReadFile(o.ca)
		if err == nil {
			o.cfg.TLS, err = tlspin.PinnedCA(pem)
		}
		if err != nil {
			fmt.Fprintf(stderr, "vigil-sim: --ca: %v\n", err)
			return 2
		}
	case o.caFingerprint != "":
		var err error
		if o.cfg.TLS, err = tlspin.PinnedCAFingerprint(o.caFingerprint); err != nil {
			fmt.Fprintf(stderr, "vigil-sim: --ca-fingerprint: %v\n", err)
			return 2
		}
	}

	// One connection per host (two with --updaters), plus a margin for the process itself.
	soft, hard, err := raiseFDLimit()
	if err != nil {
		fmt.Fprintf(stderr, "vigil-sim: raise the file descriptor limit: %v\n", err)
		return 1
	}
	o.cfg.FDLimit = soft
	perHost := 1
	if o.cfg.Updaters {
		perHost = 2
	}
	need := uint64(o.cfg.Hosts+int(o.cfg.NewPerMin*(o.cfg.Duration.Minutes()+1)))*uint64(perHost) + 64
	log.Info("File descriptor limit raised to the hard limit.", "soft", soft, "hard", hard, "needed", need)
	if need > soft {
		fmt.Fprintf(stderr, "vigil-sim: %d hosts need about %d file descriptors; the limit is %d (raise the hard limit: ulimit -Hn, LimitNOFILE=)\n",
			o.cfg.Hosts, need, soft)
		return 1
	}

	switch {
	case o.serverPID > 0:
		o.cfg.ServerPID = o.serverPID
	case o.serverPID == 0:
		if pids := pidsByName("vigil-server"); len(pids) == 1 {
			o.cfg.ServerPID = pids[0]
			log.Info("Measuring the CPU of the vigil-server process found.", "pid", pids[0])
		} else if len(pids) > 1 {
			log.Warn("Several vigil-server processes: give --server-pid to measure the server's CPU.", "pids", pids)
		}
	}

	o.cfg.CPUProfile = os.Getenv("VIGIL_SIM_CPUPROFILE") // the window only, for work on the simulator's own cost
	sim, err := newSim(o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-sim: %v\n", err)
		return 2
	}
	res, err := sim.Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-sim: %v\n", err)
		return 1
	}
	if o.jsonOut {
		res.writeJSON(stdout)
	} else {
		res.writeTable(stdout)
	}
	if res.Unacked > 0 || len(res.Errors) > 0 {
		return 3 // the run completed but the server lost or refused something: scripts should notice
	}
	return 0
}
