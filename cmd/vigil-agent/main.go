// Command vigil-agent observes a Linux host and pushes reports to vigil-server.
//
//	vigil-agent --server URL (--ca FILE | --ca-fingerprint SHA256) [--enroll-token T] [--state-dir DIR]
//	            [--interval 10s] [--config FILE] [--procfs /proc] [--sysfs /sys]
//	vigil-agent --print-config [flags as above]
//
// --print-config checks the configuration and prints the effective one (flags, environment, file
// and defaults, health checks included) as YAML, without starting; the enrollment token is never
// printed.
// Every flag also reads VIGIL_<NAME> (VIGIL_SERVER, VIGIL_CA_FINGERPRINT, …); a flag on the command
// line wins over the environment, which wins over the --config file. VIGIL_LOG_LEVEL=debug turns
// on debug logs. The supervisor's notify pipe is VIGIL_NOTIFY_FD. HTTPS_PROXY and NO_PROXY choose
// an HTTP proxy for the connection to the server, as for any net/http client. See package agent for the
// behaviour and the trust model.
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
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/agent"
	"github.com/vigilhq/vigil/agent/anomaly"
	"github.com/vigilhq/vigil/agent/collect"
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
	server, ca, caFingerprint, enrollToken, stateDir, interval, config, procfs, sysfs string
	version, printConfig                                                              bool
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.server, "server", "", "vigil-server base `URL`, such as https://vigil.example.com:8443 (required)")
	fs.StringVar(&o.ca, "ca", "", "trust only the CA certificate(s) in this PEM `FILE`")
	fs.StringVar(&o.caFingerprint, "ca-fingerprint", "", "trust only the CA certificate with this `SHA256` fingerprint (hex, colons optional)")
	fs.StringVar(&o.enrollToken, "enroll-token", "", "enrollment `token`, used once on first start")
	fs.StringVar(&o.stateDir, "state-dir", "", "state `directory` for the credential and the spool (default "+agent.DefaultStateDir+")")
	fs.StringVar(&o.interval, "interval", "", "collection `interval`, 1s..1h (default 10s)")
	fs.StringVar(&o.config, "config", "", "YAML configuration `file`")
	fs.StringVar(&o.procfs, "procfs", "", "procfs mount `point` (default /proc)")
	fs.StringVar(&o.sysfs, "sysfs", "", "sysfs mount `point` (default /sys)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.printConfig, "print-config", false, "check the configuration, print the effective one (health checks included) and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil-agent --server URL (--ca FILE | --ca-fingerprint SHA256) [--enroll-token T] [--state-dir DIR]\n"+
			"                   [--interval 10s] [--config FILE] [--procfs /proc] [--sysfs /sys]\n"+
			"       vigil-agent --print-config [flags]\n\n"+
			"Health checks (checks:) and anomaly hints (anomaly:) are set only in the --config file;\n"+
			"see docs/operating.md.\n\n"+
			"Every flag also reads VIGIL_<NAME>, such as VIGIL_SERVER or VIGIL_CA_FINGERPRINT.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags, then fills each flag not given on the command line from its environment
// variable (package envflag).
func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return o, envflag.Apply(fs, getenv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil-agent: %v\n", err)
		return 2
	}
	if o.version {
		fmt.Fprintf(stdout, "vigil-agent %s\n", version)
		return 0
	}
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("VIGIL_LOG_LEVEL"), "debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := buildConfig(o, log)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-agent: %v\n", err)
		return 2
	}
	if o.printConfig {
		if err := printConfig(stdout, o, cfg); err != nil {
			fmt.Fprintf(stderr, "vigil-agent: %v\n", err)
			return 2
		}
		return 0
	}
	notify, err := agent.OpenNotifyFD(os.Getenv("VIGIL_NOTIFY_FD"))
	if err != nil {
		log.Warn("Running without the supervisor's notify pipe.", "error", err)
	} else if notify != nil {
		defer notify.Close()
		cfg.Notify = notify
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1) // one loop goroutine: more Ps only cost memory
	}
	// The loop allocates ~27 KB a cycle and keeps ~1 MB; health checks allocate in their own
	// goroutines. Left to itself the runtime collects at least every 2 minutes (the heap's 4 MB
	// minimum goal is far) and returns freed pages only slowly, so garbage would stay resident.
	// Collecting and returning freed memory whenever the process has allocated releaseAfterBytes
	// since the last time bounds the garbage resident between two returns, whatever runs (once
	// every ~7 cycles for the plain loop, more often with checks), at a fraction of the CPU the
	// same every cycle cost. (A soft memory limit low enough to matter made the runtime collect
	// several times a cycle instead.) Measured in docs/BENCHMARKS.md, "Host footprint".
	cfg.Idle = releaseAfter(releaseAfterBytes, allocatedBytes(), debug.FreeOSMemory)
	a, err := agent.New(*cfg)
	if errors.Is(err, agent.ErrPlainHTTP) {
		fmt.Fprintf(stderr, "vigil-agent: --server: %v\n", err)
		return 2 // a usage error, like the other flag errors
	}
	if err != nil {
		log.Error("Cannot start.", "error", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		log.Error("Agent failed.", "error", err)
		return 1
	}
	return 0
}

// buildConfig merges the configuration file with the flags; flags (and their environment
// variables) win.
func buildConfig(o *options, log *slog.Logger) (*agent.Config, error) {
	var fc fileConfig
	if o.config != "" {
		f, err := loadFile(o.config)
		if err != nil {
			return nil, err
		}
		fc = *f
	}
	pick := func(flagVal, fileVal string) string {
		if flagVal != "" {
			return flagVal
		}
		return fileVal
	}
	cfg := &agent.Config{
		Server:      pick(o.server, fc.Server),
		EnrollToken: o.enrollToken,
		StateDir:    pick(o.stateDir, fc.StateDir),
		Version:     version,
		// Set by a supervising vigil-updater; a version string is data, never a command.
		UpdaterVersion: os.Getenv("VIGIL_UPDATER_VERSION"),
		Logger:         log,
		SpoolBytes:     fc.SpoolBytes,
		Collect: collect.Config{
			ProcRoot:       pick(o.procfs, fc.Procfs),
			SysRoot:        pick(o.sysfs, fc.Sysfs),
			WatchProcesses: fc.Watch.Processes,
			WatchUnits:     fc.Watch.Units,
		},
		Checks: fc.Checks,
	}
	if fc.Anomaly.Enabled {
		cfg.Anomaly = &anomaly.Config{Threshold: fc.Anomaly.Threshold}
	}
	if cfg.Server == "" {
		return nil, errors.New("--server is required")
	}
	if iv := pick(o.interval, fc.Interval); iv != "" {
		d, err := time.ParseDuration(iv)
		if err != nil {
			return nil, fmt.Errorf("interval: %w", err)
		}
		cfg.Interval = d
	}
	for _, name := range collect.Names {
		if on, ok := fc.Collectors[name]; ok && !on {
			cfg.Collect.Disabled = append(cfg.Collect.Disabled, name)
		}
	}
	ca, fp := pick(o.ca, fc.CA), pick(o.caFingerprint, fc.CAFingerprint)
	switch {
	case ca != "" && fp != "":
		return nil, errors.New("give one of --ca and --ca-fingerprint, not both")
	case ca != "":
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		if cfg.TLS, err = tlspin.PinnedCA(pem); err != nil {
			return nil, fmt.Errorf("%s: %w", ca, err)
		}
	case fp != "":
		var err error
		if cfg.TLS, err = tlspin.PinnedCAFingerprint(fp); err != nil {
			return nil, err
		}
	default:
		log.Info("No --ca or --ca-fingerprint: verifying the server with the system roots.")
	}
	return cfg, nil
}
