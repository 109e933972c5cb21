// Package app assembles a vigil-server process from its parts: the store chosen by configuration,
// the Service, the HTTP API with health and metrics endpoints, TLS (its own CA when no certificate
// is given) and the first admin token. cmd/vigil-server only parses flags into a Config; tests run
// the real server in-process on 127.0.0.1:0 through Start.
//
// Trust model: the data directory holds secrets (the CA key, the admin token, the SQLite database
// with credential hashes) and is created mode 0700; files holding secrets are 0600.
package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/deploy"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/httpapi"
	"github.com/vigilhq/vigil/server/pgstore"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/server/web"
)

// Config configures a server. Zero values take the defaults in the comments.
type Config struct {
	// DataDir holds the SQLite database, TLS material and the admin token. Default ./vigil-data.
	DataDir string
	// Listen is the TCP address to serve on. Default 127.0.0.1:8443.
	Listen string
	// DatabaseURL selects PostgreSQL (postgres://…); empty means SQLite in DataDir.
	DatabaseURL string
	// TLSCert and TLSKey are a PEM certificate chain and key. Empty: the server makes its own CA
	// and certificate in DataDir/tls.
	TLSCert, TLSKey string
	// PublicURL is how agents and browsers reach this server (its host goes into the self-made
	// certificate). Default https://<Listen>.
	PublicURL string
	// Version is this build's version, logged at start, shown in the dashboard and served to
	// token holders as the vigil_build_info series of /metrics (not in /healthz).
	Version string
	// MetricsListen, when set, is a second address serving /metrics over plain HTTP without
	// authentication, for a Prometheus on a private network or loopback. On the main listener
	// /metrics always needs an API token (any role).
	MetricsListen string
	// PprofListen, when set, is a loopback address (127.0.0.0/8, ::1 or localhost) serving the Go
	// runtime's profiles (net/http/pprof, under /debug/pprof/) over plain HTTP without
	// authentication, on a listener of its own: never on Listen. A profile shows the process's
	// memory and command line, so Start refuses any other address (ErrPprofNotLoopback). Empty: off.
	PprofListen string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Retention is how long samples are kept. Default 14 days.
	Retention time.Duration
	// RollupMinuteRetention and RollupHourRetention are how long the one-minute and one-hour
	// rollups of the chart figures are kept (server.Config; defaults 7 and 90 days).
	RollupMinuteRetention time.Duration
	RollupHourRetention   time.Duration
	// RepoDir holds the release repository (TUF metadata, targets, drafts). Default DataDir/tuf;
	// replicas share one directory.
	RepoDir string
	// OnlineKeyPassphraseFile holds the passphrase the online TUF keys are encrypted with. Empty:
	// a random one is generated once into DataDir/tuf-keys/passphrase.
	OnlineKeyPassphraseFile string
	// OnlineKeyPassphrase is that passphrase itself (cmd/vigil-server reads it from the
	// VIGIL_ONLINE_KEY_PASSPHRASE environment variable, never from a flag, which ps would show).
	// At most one of the two may be set.
	OnlineKeyPassphrase []byte
	// ReleaseMaxBlobBytes bounds one uploaded build. Default (and at most) release.MaxArtifactSize, 512 MiB.
	ReleaseMaxBlobBytes int64
	// ReleaseMaxStagedBytes bounds the uploaded builds not yet published, all together.
	// Default release.DefaultMaxStagedBytes, 2 GiB.
	ReleaseMaxStagedBytes int64

	// Store, when set, is used instead of opening one from DataDir/DatabaseURL (tests, benchmarks).
	Store server.Store
	// Committers overrides the number of group-commit transactions in flight (default 1 for
	// SQLite, 2 for PostgreSQL: fewer, larger transactions measured faster, see docs/BENCHMARKS.md).
	Committers int
	// CommitLinger overrides server.Config.CommitLinger (default server.DefaultCommitLinger;
	// negative: none). For benchmarks and tuning.
	CommitLinger time.Duration
	// HostRate and HostBurst override the per-host request rate limit (see httpapi.Config).
	HostRate, HostBurst float64
	// ShutdownTimeout bounds a graceful shutdown. Default 30s.
	ShutdownTimeout time.Duration

	// SMTPURL is where alert emails go: smtp:// (plain, a local relay), smtp+starttls:// or
	// smtps://, with user:pass@ for authentication. Empty: emails are queued and listed, not sent.
	SMTPURL string
	// SMTPFrom is the From address of alert emails. Default vigil@<host of PublicURL>.
	SMTPFrom string
	// AlertEmails are the default recipients of alert emails; groups add their own.
	AlertEmails []string
	// AlertRetention is how long resolved alerts and sent or skipped alert emails are kept.
	// Default alert.DefaultRetention (90 days); at least alert.MinRetention.
	AlertRetention time.Duration
	// AuditRetention is how long audit entries are kept; the alerting leader deletes older ones.
	// Default alert.DefaultAuditRetention (365 days); at least alert.MinRetention.
	AuditRetention time.Duration
	// Alert tunes alerting (see AlertTuning).
	Alert AlertTuning
	// Rollout tunes the rollout driver (see RolloutTuning).
	Rollout RolloutTuning
}

// Default values of Config.
const (
	DefaultDataDir = "./vigil-data"
	DefaultListen  = "127.0.0.1:8443"
	// AdminTokenFile is the file under DataDir the first admin token is written to.
	AdminTokenFile = "admin-token"
	// AdminPasswordFile is the file under DataDir the first admin user's password is written to.
	AdminPasswordFile = "admin-password"
	sqliteFile        = "vigil.db"
)

// Server is a running vigil-server.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store server.Store
	svc   *server.Service
	http  *http.Server
	ln    net.Listener

	cancel   context.CancelFunc
	done     chan error
	alerting alerting
	// tufDone is closed when the release repository's re-signing loop has returned.
	tufDone      chan struct{}
	rollouts     *rollout.Manager
	rolloutsDone chan struct{}

	// URL is the base URL the server listens on (https://127.0.0.1:port).
	URL string
	// CAFile is the CA certificate agents should trust, when the server made its own TLS.
	CAFile string
	// CAFingerprint is the hex SHA-256 of that CA certificate.
	CAFingerprint string
	// AdminTokenPath is where the first admin token was written ("" if tokens already existed).
	AdminTokenPath string
	// AdminPasswordPath is where the first admin user's password was written, and AdminPassword
	// that password, shown once ("" if users already existed).
	AdminPasswordPath string
	AdminPassword     string
	// MetricsURL is the plain-HTTP /metrics URL of Config.MetricsListen ("" without it).
	MetricsURL string
	// PprofURL is the plain-HTTP /debug/pprof/ URL of Config.PprofListen ("" without it).
	PprofURL string

	metricsHTTP *http.Server
	pprofHTTP   *http.Server
}

// Start opens the store, applies migrations, prepares TLS and the admin token, and starts serving.
// It returns once the listener is bound.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.PprofListen != "" {
		if err := checkLoopback(cfg.PprofListen); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// An existing directory keeps its mode with MkdirAll: tighten it (it holds the CA key, the
	// admin token and the database).
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("restrict data dir: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, done: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.closeStore()
		}
	}()

	committers := cfg.Committers
	switch {
	case cfg.Store != nil:
		s.store = cfg.Store
	case cfg.DatabaseURL != "":
		u, perr := url.Parse(cfg.DatabaseURL)
		if perr != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, fmt.Errorf("--database-url must be a postgres:// URL")
		}
		if s.store, err = pgstore.Open(ctx, cfg.DatabaseURL, pgstore.Options{}); err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		if committers == 0 {
			committers = 2
		}
		s.log.Info("Using PostgreSQL.", "host", u.Host, "database", strings.TrimPrefix(u.Path, "/"))
	default:
		path := filepath.Join(cfg.DataDir, sqliteFile)
		if s.store, err = sqlitestore.Open(ctx, path, sqlitestore.Options{}); err != nil {
			return nil, fmt.Errorf("open SQLite store: %w", err)
		}
		s.log.Info("Using SQLite.", "path", path)
	}
	if committers == 0 {
		committers = 1
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	releases, err := s.openReleases()
	if err != nil {
		return nil, err
	}
	if err := s.prepareRollouts(releases); err != nil {
		return nil, err
	}
	scfg := server.Config{
		Store: s.store, Logger: cfg.Logger, Registerer: reg, Committers: committers, CommitLinger: cfg.CommitLinger, Retention: cfg.Retention,
		RollupMinuteRetention: cfg.RollupMinuteRetention, RollupHourRetention: cfg.RollupHourRetention,
		Now: cfg.Rollout.Now,
	}
	if s.rollouts != nil {
		scfg.Stager = s.rollouts
	}
	s.svc, err = server.New(scfg)
	if err != nil {
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{
		Service: s.svc, Logger: cfg.Logger, Registerer: reg, HostRate: cfg.HostRate, HostBurst: cfg.HostBurst,
		Releases: releases, Rollouts: s.rollouts,
	})
	if err != nil {
		return nil, err
	}

	if err := s.prepareAlerting(reg); err != nil {
		return nil, err
	}
	if err := s.bootstrapAdmin(ctx); err != nil {
		return nil, err
	}

	tlsConf, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}

	router := api.Router()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_build_info", Help: "Always 1; the version label is this build's.",
		ConstLabels: prometheus.Labels{"version": cfg.Version}}, func() float64 { return 1 }))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	// /metrics tells per-route 401/403 counts and enrollment totals: token holders only (a viewer
	// token is enough, so a scraper holds no power to change anything), or --metrics-addr.
	router.Handle("/metrics", api.RequireToken(server.RoleViewer, metrics))
	// /healthz says only that the process runs; the build is for token holders (vigil_build_info).
	router.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	router.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := api.Ready(r.Context()); err != nil {
			s.log.WarnContext(r.Context(), "Not ready: store unreachable.", "err", err)
			http.Error(w, "store unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})

	dash, err := web.New(web.Config{Service: s.svc, Logger: cfg.Logger, Version: cfg.Version, Releases: releases, Rollouts: s.rollouts,
		Now: cfg.Rollout.Now})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	router.PathPrefix("/tuf/").Handler(releases.Handler())
	// The one-line host install (docs/install.md): public files, fetched with the server's key pinned.
	router.HandleFunc("/install.sh", serveFile("text/x-shellscript; charset=utf-8", deploy.InstallScript)).Methods(http.MethodGet, http.MethodHead)
	router.HandleFunc("/install/vigil-updater.service", serveFile("text/plain; charset=utf-8", deploy.UpdaterUnit)).Methods(http.MethodGet, http.MethodHead)
	// The dashboard takes every path the API, probes and metrics did not: register it last.
	router.PathPrefix("/").Handler(dash)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s.ln = ln
	s.URL = "https://" + ln.Addr().String()
	if cfg.MetricsListen != "" {
		if err := s.listenMetrics(metrics); err != nil {
			ln.Close()
			return nil, err
		}
	}
	if cfg.PprofListen != "" {
		if err := s.listenPprof(); err != nil {
			ln.Close()
			if s.metricsHTTP != nil {
				s.metricsHTTP.Close()
			}
			return nil, err
		}
	}
	s.http = &http.Server{
		Handler:           securityHeaders(router),
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.svc.Start(runCtx)
	s.startReleases(runCtx, releases)
	s.startAlerting(runCtx)
	s.startRollouts(runCtx)
	go func() {
		err := s.http.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	s.log.Info("Vigil server listening.", "url", s.URL, "version", cfg.Version, "data_dir", cfg.DataDir)
	return s, nil
}

func (s *Server) bootstrapAdmin(ctx context.Context) error {
	password, created, err := s.svc.BootstrapAdmin(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap admin user: %w", err)
	}
	if created {
		path := filepath.Join(s.cfg.DataDir, AdminPasswordFile)
		if err := atomicfile.Write(path, []byte(password+"\n"), 0o600); err != nil {
			return fmt.Errorf("save admin password: %w", err)
		}
		s.AdminPasswordPath, s.AdminPassword = path, password
		s.log.Info("Created the first admin user.", "user", server.BootstrapAdminName, "password_file", path)
	}
	secret, created, err := s.svc.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	if !created {
		return nil
	}
	path := filepath.Join(s.cfg.DataDir, AdminTokenFile)
	if err := atomicfile.Write(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("save admin token: %w", err)
	}
	s.AdminTokenPath = path
	s.log.Info("Created the first admin API token.", "path", path)
	return nil
}

func (s *Server) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: tls12CipherSuites}
	if s.cfg.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
		return conf, nil
	}
	names := []string{"localhost", "127.0.0.1", "::1"}
	if host, _, err := net.SplitHostPort(s.cfg.Listen); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		names = append(names, host)
	}
	if s.cfg.PublicURL != "" {
		u, err := url.Parse(s.cfg.PublicURL)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("--public-url %q is not a URL with a host", s.cfg.PublicURL)
		}
		names = append(names, u.Hostname())
	}
	if hn, err := os.Hostname(); err == nil && hn != "" {
		names = append(names, hn)
	}
	st, err := ensureSelfTLS(s.cfg.DataDir, names, time.Now())
	if err != nil {
		return nil, fmt.Errorf("prepare self-made TLS: %w", err)
	}
	s.CAFile, s.CAFingerprint = st.caPath, st.fingerprint
	s.log.Info("Serving TLS with the server's own CA; agents pin it with --ca or --ca-fingerprint.",
		"ca", st.caPath, "ca_sha256", st.fingerprint)
	conf.Certificates = []tls.Certificate{st.cert}
	return conf, nil
}

// Service returns the server's Service (for tests).
func (s *Server) Service() *server.Service { return s.svc }

// Wait blocks until the server stops serving and returns why.
func (s *Server) Wait() error { return <-s.done }

// Shutdown stops accepting connections, lets in-flight requests finish (bounded by
// ShutdownTimeout), drains pending commits, stops alerting and the release repository's
// re-signing (each gives its leadership up) and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if s.metricsHTTP != nil {
		_ = s.metricsHTTP.Shutdown(ctx)
	}
	if s.pprofHTTP != nil {
		// A profile or trace in progress streams for its ?seconds=: cut it rather than wait.
		_ = s.pprofHTTP.Close()
	}
	s.svc.Close()
	s.cancel()
	s.stopRollouts(ctx)
	s.stopAlerting()
	s.stopReleases(ctx)
	if cerr := s.closeStore(); err == nil {
		err = cerr
	}
	s.log.Info("Vigil server stopped.")
	return err
}

func (s *Server) closeStore() error {
	if s.store == nil || s.cfg.Store != nil {
		return nil
	}
	err := s.store.Close()
	s.store = nil
	return err
}

// listenMetrics serves /metrics without authentication on Config.MetricsListen, and nothing else.
func (s *Server) listenMetrics(metrics http.Handler) error {
	ln, err := net.Listen("tcp", s.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", s.cfg.MetricsListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	s.metricsHTTP = &http.Server{
		Handler:           securityHeaders(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.MetricsURL = "http://" + ln.Addr().String() + "/metrics"
	go func() {
		if err := s.metricsHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("The metrics listener stopped.", "err", err)
		}
	}()
	s.log.Info("Serving /metrics without authentication.", "url", s.MetricsURL)
	return nil
}

// serveFile serves a file built into the binary.
func serveFile(contentType string, data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}

// BackupSQLite writes a consistent copy of the SQLite database in dataDir to out (mode 0600), safe
// while a server runs on it. Restoring is docs/install.md's "Backup and restore".
func BackupSQLite(ctx context.Context, dataDir, out string) error {
	return sqlitestore.Backup(ctx, filepath.Join(dataDir, sqliteFile), out)
}
