// Command vigil-updater supervises vigil-agent and updates it, and itself, from the signed release
// repository. It is the only systemd unit on a host.
//
//	vigil-updater run --server URL (--ca FILE | --ca-fingerprint SHA256) [--state-dir /var/lib/vigil]
//	                  [--enroll-token T] [--trusted-root FILE] [--poll 5m] [--grace 60s] [--agent-user vigil]
//	                  [--bundled-agent FILE] [--agent-config FILE]
//	vigil-updater install --server URL (--ca FILE | --ca-fingerprint SHA256) [--state-dir DIR]
//	                  [--trusted-root FILE] [--channel stable | --pin VERSION] [--bundled-agent FILE]
//	                  [--enroll-token T]
//	vigil-updater status [--state-dir DIR]
//	vigil-updater self-check [--trusted-root FILE]
//	vigil-updater --version
//
// Every flag also reads VIGIL_<NAME> (VIGIL_SERVER, VIGIL_CA_FINGERPRINT, …); a flag on the command
// line wins. VIGIL_LOG_LEVEL=debug turns on debug logs.
//
// Test hook: VIGIL_UPDATER_FAILPOINT=<step> makes the process kill itself with SIGKILL right after
// that journal step (updater.Steps). It is inert unless set. See package updater for the
// behaviour and the trust model.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/envflag"
	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/updater"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

// trust holds the embedded initial root (trust/root.json) in release builds.
//
//go:embed trust
var trust embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage:
  vigil-updater run --server URL (--ca FILE | --ca-fingerprint SHA256) [--state-dir /var/lib/vigil]
                    [--enroll-token T] [--trusted-root FILE] [--poll 5m] [--grace 60s] [--agent-user vigil]
                    [--bundled-agent FILE] [--agent-config FILE]
  vigil-updater install --server URL (--ca FILE | --ca-fingerprint SHA256) [--state-dir DIR]
                    [--trusted-root FILE] [--channel stable | --pin VERSION] [--bundled-agent FILE]
                    [--enroll-token T]
  vigil-updater status [--state-dir DIR] [--json]
  vigil-updater self-check [--trusted-root FILE]
  vigil-updater --version

Every flag also reads VIGIL_<NAME>, such as VIGIL_SERVER or VIGIL_CA_FINGERPRINT.
`

type options struct {
	server, ca, caFingerprint, stateDir, enrollToken, trustedRoot, agentUser string
	bundledAgent, agentConfig                                                string
	channel, pin                                                             string
	poll, grace                                                              time.Duration
	json                                                                     bool
}

func newFlagSet(cmd string, o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil-updater "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage, "\nFlags of "+cmd+":\n")
		fs.PrintDefaults()
	}
	switch cmd {
	case "run", "install":
		fs.StringVar(&o.server, "server", "", "vigil-server base `URL` (required)")
		fs.StringVar(&o.ca, "ca", "", "trust only the CA certificate(s) in this PEM `FILE`")
		fs.StringVar(&o.caFingerprint, "ca-fingerprint", "", "trust only the CA certificate with this `SHA256` fingerprint")
		fs.StringVar(&o.stateDir, "state-dir", updater.DefaultStateDir, "state `directory`")
		fs.StringVar(&o.trustedRoot, "trusted-root", "", "initial TUF root `FILE`, used only when no root is cached (release builds embed one)")
		fs.StringVar(&o.bundledAgent, "bundled-agent", "", "agent build `FILE` shipped with the updater; the first install uses it only if it is exactly the signed build, else downloads")
	case "status":
		fs.StringVar(&o.stateDir, "state-dir", updater.DefaultStateDir, "state `directory`")
		fs.BoolVar(&o.json, "json", false, "print JSON")
	case "self-check":
		fs.StringVar(&o.trustedRoot, "trusted-root", "", "initial TUF root `FILE` to check")
	}
	switch cmd {
	case "run", "install":
		fs.StringVar(&o.enrollToken, "enroll-token", "", "enrollment `token`: passed to the agent on first start; "+
			"before the agent enrolls, the first install asks the server with it for the group's pin")
	}
	switch cmd {
	case "run":
		fs.DurationVar(&o.poll, "poll", 5*time.Minute, "mean `interval` between update checks (jittered)")
		fs.DurationVar(&o.grace, "grace", 60*time.Second, "a new agent must run this `long` without exiting before it is committed")
		fs.StringVar(&o.agentUser, "agent-user", "vigil", "`user` the agent runs as when the updater runs as root")
		fs.StringVar(&o.agentConfig, "agent-config", "", "the agent's local YAML configuration `FILE`, passed to it as --config (default "+defaultAgentConfig+" if it exists); its watch entries and interval win over the server's")
	case "install":
		fs.StringVar(&o.channel, "channel", "stable", "install the version this signed `channel` points to "+
			"(with --enroll-token: only when the token's group pins nothing)")
		fs.StringVar(&o.pin, "pin", "", "install this exact `version` instead of a channel")
	}
	return fs
}

// parseArgs parses a subcommand's flags, then fills each flag not given from its environment
// variable (package envflag).
func parseArgs(cmd string, args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(cmd, o, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return o, envflag.Apply(fs, getenv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "--version", "-version", "version":
		fmt.Fprintf(stdout, "vigil-updater %s\n", version)
		return 0
	case "--help", "-help", "-h", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run", "install", "status", "self-check":
	default:
		fmt.Fprintf(stderr, "vigil-updater: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	cmd := args[0]
	o, err := parseArgs(cmd, args[1:], os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil-updater %s: %v\n", cmd, err)
		return 2
	}
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("VIGIL_LOG_LEVEL"), "debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	switch cmd {
	case "self-check":
		return selfCheck(o, stdout, stderr)
	case "status":
		return status(o, stdout, stderr)
	}
	cfg, err := buildConfig(o, log)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-updater %s: %v\n", cmd, err)
		return 2
	}
	if cmd == "run" {
		if cfg.Watchdog, err = watchdogFromEnv(os.Getenv, os.Getpid()); err != nil {
			log.Warn("Ignoring systemd's watchdog settings.", "error", err)
		} else if cfg.Watchdog.Enabled() {
			log.Info("Feeding systemd's watchdog.", "interval", cfg.Watchdog.Interval)
		}
	}
	u, err := updater.New(*cfg)
	if err != nil {
		log.Error("Cannot start.", "error", err)
		return 1
	}
	if cmd == "install" {
		var v string
		if o.pin == "" && o.enrollToken != "" {
			v, err = u.InstallDesired(ctx)
		} else {
			v, err = u.Install(ctx, o.pin, o.channel)
		}
		if err != nil {
			log.Error("Install failed.", "error", err)
			return 1
		}
		fmt.Fprintf(stdout, "installed vigil-agent %s in %s\n", v, cfg.StateDir)
		return 0
	}
	err = u.Run(ctx)
	if errors.Is(err, updater.ErrReexec) {
		log.Info("Re-executing the new updater binary.", "binary", cfg.Executable)
		err = syscall.Exec(cfg.Executable, append([]string{cfg.Executable}, args...), os.Environ())
		log.Error("Cannot re-execute the new updater binary; exiting so systemd restarts it.", "error", err)
		return 1
	}
	if err != nil {
		log.Error("Updater failed.", "error", err)
		return 1
	}
	return 0
}

// watchdogFromEnv reads systemd's watchdog settings (sd_watchdog_enabled(3)): $WATCHDOG_USEC, for
// this process only if $WATCHDOG_PID is unset or names pid, and $NOTIFY_SOCKET. Zero when the unit
// sets no WatchdogSec=.
func watchdogFromEnv(getenv func(string) string, pid int) (updater.WatchdogConfig, error) {
	usec, socket := getenv("WATCHDOG_USEC"), getenv("NOTIFY_SOCKET")
	if usec == "" {
		return updater.WatchdogConfig{}, nil
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return updater.WatchdogConfig{}, nil
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return updater.WatchdogConfig{}, fmt.Errorf("WATCHDOG_USEC=%q is not a positive number of microseconds", usec)
	}
	if socket == "" {
		return updater.WatchdogConfig{}, errors.New("WATCHDOG_USEC is set but NOTIFY_SOCKET is not")
	}
	return updater.WatchdogConfig{Socket: socket, Interval: time.Duration(n) * time.Microsecond}, nil
}

// trustedRoot returns --trusted-root's content, else the embedded root (nil if none).
func trustedRoot(path string) ([]byte, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("trusted root: %w", err)
		}
		return data, nil
	}
	data, err := fs.ReadFile(trust, "trust/root.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

func checkRoot(data []byte) error {
	if len(data) > updater.MaxRootSize {
		return fmt.Errorf("trusted root larger than %d bytes", updater.MaxRootSize)
	}
	md, err := metadata.Root().FromBytes(data)
	if err != nil {
		return fmt.Errorf("trusted root: %w", err)
	}
	if err := md.VerifyDelegate(metadata.ROOT, md); err != nil {
		return fmt.Errorf("trusted root is not signed by its own threshold: %w", err)
	}
	return nil
}

func buildConfig(o *options, log *slog.Logger) (*updater.Config, error) {
	if o.server == "" {
		return nil, errors.New("--server is required")
	}
	cfg := &updater.Config{
		Server:         o.server,
		StateDir:       o.stateDir,
		EnrollToken:    o.enrollToken,
		AgentUser:      o.agentUser,
		Poll:           o.poll,
		Grace:          o.grace,
		Version:        version,
		Failpoint:      os.Getenv("VIGIL_UPDATER_FAILPOINT"),
		Logger:         log,
		AgentArgs:      []string{"--server", o.server},
		InitialChannel: o.channel,
		BundledAgent:   o.bundledAgent,
	}
	if o.poll < 0 || o.grace < 0 {
		return nil, errors.New("--poll and --grace must be positive")
	}
	agentConfig, err := agentConfigFile(o.agentConfig)
	if err != nil {
		return nil, err
	}
	if agentConfig != "" {
		cfg.AgentArgs = append(cfg.AgentArgs, "--config", agentConfig)
		log.Info("The agent reads its local configuration.", "agent_config", agentConfig)
	}
	if cfg.TrustedRoot, err = trustedRoot(o.trustedRoot); err != nil {
		return nil, err
	}
	if cfg.TrustedRoot != nil {
		if err := checkRoot(cfg.TrustedRoot); err != nil {
			return nil, err
		}
	}
	switch {
	case o.ca != "" && o.caFingerprint != "":
		return nil, errors.New("give one of --ca and --ca-fingerprint, not both")
	case o.ca != "":
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		if cfg.HTTP.TLS, err = tlspin.PinnedCA(pem); err != nil {
			return nil, fmt.Errorf("%s: %w", o.ca, err)
		}
		abs, err := filepath.Abs(o.ca)
		if err != nil {
			return nil, err
		}
		cfg.AgentArgs = append(cfg.AgentArgs, "--ca", abs)
	case o.caFingerprint != "":
		if cfg.HTTP.TLS, err = tlspin.PinnedCAFingerprint(o.caFingerprint); err != nil {
			return nil, err
		}
		cfg.AgentArgs = append(cfg.AgentArgs, "--ca-fingerprint", o.caFingerprint)
	default:
		log.Info("No --ca or --ca-fingerprint: verifying the server with the system roots.")
	}
	// Resolve our own binary once: after a swap /proc/self/exe names the saved old file.
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			cfg.Executable = exe
		}
	}
	return cfg, nil
}

// selfCheck verifies that this binary runs and its trusted configuration loads; it is run on a new
// updater binary before it replaces the old one. It makes no request and changes nothing.
func selfCheck(o *options, stdout, stderr io.Writer) int {
	root, err := trustedRoot(o.trustedRoot)
	if err == nil && root != nil {
		err = checkRoot(root)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil-updater self-check: %v\n", err)
		return 1
	}
	embedded := "no embedded root"
	if root != nil {
		embedded = "trusted root ok"
	}
	fmt.Fprintf(stdout, "vigil-updater %s self-check ok (%s)\n", version, embedded)
	return 0
}

func status(o *options, stdout, stderr io.Writer) int {
	st, err := updater.ReadStatus(o.stateDir)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-updater status: %v\n", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
		return 0
	}
	fmt.Fprintf(stdout, "state dir:  %s\ncurrent:    %s (journal: %s)\nbackup:     %s\ninstalled:  %s\n",
		st.StateDir, orNone(st.Linked), orNone(st.Journal.Current), orNone(st.Journal.Previous), orNone(strings.Join(st.Installed, ", ")))
	if t := st.Journal.Trial; t != nil {
		fmt.Fprintf(stdout, "trial:      %s (from %s, since %s)\n", t.Version, t.Previous, t.Started.Format(time.RFC3339))
	}
	for v, n := range st.Journal.Interrupted {
		fmt.Fprintf(stdout, "interrupted: %s, %d trial(s) cut short by a restart (quarantined at %d)\n", v, n, updater.MaxInterruptions)
	}
	for _, q := range st.Quarantine {
		fmt.Fprintf(stdout, "quarantine: %s %s: %s\n", q.Binary, q.Version, q.Reason)
	}
	fmt.Fprintf(stdout, "events not yet delivered: %d\n", st.Pending)
	return 0
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// defaultAgentConfig is the agent's local configuration file, used when it exists.
const defaultAgentConfig = "/etc/vigil/agent.yaml"

// agentConfigFile resolves --agent-config: a file given must exist and be a regular file (a typo
// is refused, not ignored); without one, defaultAgentConfig if it exists. It returns an absolute
// path ("" for none), as the agent starts in another directory.
func agentConfigFile(given string) (string, error) {
	path := given
	if path == "" {
		if _, err := os.Stat(defaultAgentConfig); err != nil {
			return "", nil
		}
		path = defaultAgentConfig
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--agent-config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("--agent-config: %s is not a regular file", path)
	}
	return filepath.Abs(path)
}
