// Command vigil-server runs Vigil's server: API, ingestion, alerting, release repository and
// dashboard in one process. It only parses flags and environment; package app does the work.
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
	"strings"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/envflag"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
)

// onlineKeyPassphraseEnv holds the online TUF keys' passphrase itself. It is an environment
// variable only: a flag's value would show in ps.
const onlineKeyPassphraseEnv = "VIGIL_ONLINE_KEY_PASSPHRASE"

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "backup" {
		return runBackup(ctx, args[1:], os.Getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("vigil-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg app.Config
	var showVersion bool
	var logLevel string
	fs.StringVar(&cfg.DataDir, "data-dir", app.DefaultDataDir, "directory for the SQLite database, TLS material and the admin token")
	fs.StringVar(&cfg.Listen, "listen", app.DefaultListen, "address to serve HTTPS on")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://…); empty uses SQLite in the data dir")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate chain; without it the server makes its own CA in the data dir")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL agents and browsers use to reach this server")
	fs.StringVar(&cfg.MetricsListen, "metrics-addr", "", "also serve /metrics on this address over plain HTTP WITHOUT authentication (loopback or a private network); /metrics on --listen always needs an API token")
	fs.StringVar(&cfg.PprofListen, "pprof", "", "serve Go profiles (net/http/pprof, /debug/pprof/) on this LOOPBACK address over plain HTTP without authentication, on its own listener; off by default; any other address is refused")
	addAlertFlags(fs, &cfg)
	fs.DurationVar(&cfg.Retention, "retention", 14*24*time.Hour, "how long samples are kept")
	fs.DurationVar(&cfg.RollupMinuteRetention, "rollup-1m-retention", server.DefaultRollupMinuteRetention, "how long the one-minute rollups of the chart figures are kept (at least 1h; the 24h chart falls back to hourly ones beyond it)")
	fs.DurationVar(&cfg.RollupHourRetention, "rollup-1h-retention", server.DefaultRollupHourRetention, "how long the one-hour rollups of the chart figures are kept (at least 1h; the 30d chart needs 720h)")
	fs.StringVar(&cfg.RepoDir, "repo-dir", "", "release repository directory (TUF metadata and builds); default <data-dir>/tuf, shared between replicas")
	fs.StringVar(&cfg.OnlineKeyPassphraseFile, "online-key-passphrase-file", "", "file holding the passphrase of the online TUF keys, best outside the data dir (or the passphrase itself in $"+onlineKeyPassphraseEnv+"); default a random one in <data-dir>/tuf-keys/passphrase, which protects the keys only as well as the data dir's permissions do")
	fs.Int64Var(&cfg.ReleaseMaxBlobBytes, "release-max-blob-bytes", release.MaxArtifactSize, "largest build a release upload may be, in bytes (at most the default)")
	fs.Int64Var(&cfg.ReleaseMaxStagedBytes, "release-max-staged-bytes", release.DefaultMaxStagedBytes, "bytes of uploaded builds not yet published the server holds at once; further uploads get 413 staging_full until releases are published or discarded")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil-server [flags]\n       vigil-server backup --data-dir DIR --out FILE\n\nRuns the Vigil server. Every flag also reads VIGIL_<NAME> (e.g. VIGIL_DATA_DIR).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseWithEnv(fs, args, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if showVersion {
		fmt.Fprintf(stdout, "vigil-server %s\n", version)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vigil-server: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintf(stderr, "vigil-server: --log-level: %v\n", err)
		return 2
	}
	if p, ok := os.LookupEnv(onlineKeyPassphraseEnv); ok {
		cfg.OnlineKeyPassphrase = []byte(p)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log
	cfg.Version = version

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := app.Start(ctx, cfg)
	if err != nil {
		log.Error("Vigil server could not start.", "err", err)
		return 1
	}
	if srv.AdminTokenPath != "" {
		fmt.Fprintf(stdout, "Admin API token written to %s\n", srv.AdminTokenPath)
	}
	if srv.AdminPassword != "" {
		fmt.Fprintf(stdout, "Dashboard: sign in at %s/ as %q with password %s (shown once; also in %s)\n",
			srv.URL, server.BootstrapAdminName, srv.AdminPassword, srv.AdminPasswordPath)
	}
	if srv.CAFingerprint != "" {
		fmt.Fprintf(stdout, "CA certificate %s, SHA-256 fingerprint %s\n", srv.CAFile, srv.CAFingerprint)
	}
	select {
	case <-ctx.Done():
		log.Info("Shutting down: finishing in-flight requests.")
		if err := srv.Shutdown(context.Background()); err != nil {
			log.Error("Shutdown was not clean.", "err", err)
			return 1
		}
		return 0
	case err := <-waitErr(srv):
		if err != nil {
			log.Error("Vigil server stopped.", "err", err)
			return 1
		}
		return 0
	}
}

func waitErr(srv *app.Server) <-chan error {
	c := make(chan error, 1)
	go func() { c <- srv.Wait() }()
	return c
}

// parseWithEnv parses args; a flag not given on the command line takes VIGIL_<NAME> from the
// environment when set (package envflag).
func parseWithEnv(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envflag.Apply(fs, getenv); err != nil {
		fmt.Fprintf(fs.Output(), "vigil-server: %v\n", err)
		return err
	}
	return nil
}
