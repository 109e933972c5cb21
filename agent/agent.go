// Package agent is vigil-agent's collect → spool → push loop.
//
// Every interval the agent collects one wire.Report (package collect), gives it the next sequence
// number, stores it in a bounded on-disk spool (Spool) and pushes unacknowledged reports to
// vigil-server, oldest first and one batch at a time, over HTTPS with its per-host credential.
// Reports leave the spool only when the server acknowledges them, so a server outage, a restart
// or a kill -9 loses nothing but what the spool's size bound drops (and says it dropped).
//
// The loop is in this file; push.go speaks the wire protocol to the server over the net/http
// transport in transport.go; spool.go is the on-disk queue, outage.go records and classifies
// connectivity outages, notify.go talks to the supervisor.
//
// Trust model: the agent trusts the server it was pointed at, over https only (system roots, a
// pinned CA file or a pinned CA fingerprint), with its observations and for data-only
// configuration: the interval and the watch lists in wire.AgentConfig, validated and bounded
// before use. Nothing the server sends
// can make the agent run code — the agent binary does not even link os/exec (see
// cmd/vigil-agent TestDeps) — and the agent listens on no socket. The supervisor, not the agent,
// installs updates.
//
// Health checks (package check) come only from the local configuration (Config.Checks), never
// from the server. They run in the checks' own goroutines (batched, package check); a report carries the latest result of each and
// never waits for one. With Config.Anomaly set, each report's CPU, memory and load are also scored
// against the host's hour-of-day baselines (package anomaly) and unusual values ride as hints.
//
// An Agent is NOT safe for concurrent use: Run is its only goroutine besides the checks'.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"crypto/tls"

	"github.com/vigilhq/vigil/agent/anomaly"
	"github.com/vigilhq/vigil/agent/check"
	"github.com/vigilhq/vigil/agent/collect"
	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/internal/wallclock"
	"github.com/vigilhq/vigil/wire"
)

// Log keys.
const (
	keyError    = "error"
	keySeq      = "seq"
	keyCount    = "count"
	keyHostID   = "host_id"
	keyRetry    = "retry_in"
	keyInterval = "interval"
	keyClass    = "class"
)

// Defaults and bounds.
const (
	DefaultInterval       = 10 * time.Second
	MinInterval           = time.Duration(wire.MinIntervalSeconds) * time.Second
	MaxInterval           = time.Duration(wire.MaxIntervalSeconds) * time.Second
	DefaultStateDir       = "/var/lib/vigil/agent"
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxBackoff     = 5 * time.Minute
)

// ErrNoCredential is returned by New when the agent is not enrolled and has no enrollment token.
var ErrNoCredential = errors.New("not enrolled and no enrollment token given")

// ErrPlainHTTP is returned (wrapped) by New for an http:// server URL: the agent sends its
// credential with every report and only ever talks to its server over TLS.
var ErrPlainHTTP = errors.New("server URL must be https://")

// Config configures an Agent. Server and StateDir are required.
type Config struct {
	// Server is the base URL of vigil-server, such as https://vigil.example.com:8443.
	Server string
	// TLS verifies the server. Nil means the system roots; see package tlspin.
	TLS *tls.Config
	// EnrollToken is used once, when StateDir holds no credential yet.
	EnrollToken string
	// StateDir holds the credential, the spool and pending outages. Defaults to DefaultStateDir.
	StateDir string
	// Interval between collections: the local setting, which wins over the server's. Zero takes
	// the interval of the server's agent settings (sent with each ack), else the server's default
	// given at enrollment, else DefaultInterval; MinInterval..MaxInterval.
	Interval time.Duration
	// Collect configures the collectors (roots, switches, watch lists).
	Collect collect.Config
	// Checks are the health checks to run, from the local configuration only (package check).
	Checks []check.Spec
	// Anomaly, if set, switches anomaly hints on (package anomaly): CPU busy, memory used and load
	// per core are scored against their hour-of-day baselines, kept in StateDir/anomaly.json.
	// Its Interval is the agent's.
	Anomaly *anomaly.Config
	// SpoolBytes bounds the on-disk spool. Defaults to DefaultSpoolBytes.
	SpoolBytes int64
	// Version is the agent's version, sent with enrollment and every report.
	Version string
	// UpdaterVersion is the version of the vigil-updater supervising this agent (it says so in
	// VIGIL_UPDATER_VERSION), sent with every report; empty when the agent runs alone.
	UpdaterVersion string
	// Hostname defaults to <ProcRoot>/sys/kernel/hostname, then os.Hostname.
	Hostname string
	// MachineIDPath defaults to etc/machine-id beside the procfs root (/etc/machine-id for /proc,
	// /host/etc/machine-id for /host/proc).
	MachineIDPath string
	// Notify receives READY, ACK and WATCHDOG lines for the supervisor. Nil runs standalone.
	Notify io.Writer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RequestTimeout bounds each HTTP request. Defaults to DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxBackoff caps the delay between retries. Defaults to DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Idle, if set, is called after each collection or delivery, before the loop sleeps until
	// the next one (cmd/vigil-agent returns freed memory to the OS there, when enough was allocated).
	Idle func()
	// Dial replaces dialling the server or the proxy (tests); TLS is still done on the connection
	// it returns. Nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c *Config) validate() error {
	if c.Server == "" {
		return errors.New("no server URL")
	}
	u, err := url.Parse(c.Server)
	if err == nil && u.Scheme == "http" {
		return fmt.Errorf("%w: %q would send the credential in clear text", ErrPlainHTTP, c.Server)
	}
	if err != nil || u.Host == "" || u.Scheme != "https" {
		return fmt.Errorf("server URL %q is not an https URL", c.Server)
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Interval < MinInterval || c.Interval > MaxInterval {
		return fmt.Errorf("interval %s not within %s..%s", c.Interval, MinInterval, MaxInterval)
	}
	if c.SpoolBytes < 0 {
		return errors.New("negative spool size")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c.Collect.Validate()
}

// Agent is one running vigil-agent. Create it with New, then call Run once.
type Agent struct {
	cfg       Config
	log       *slog.Logger
	collector *collect.Collector
	checks    *check.Runner
	anomaly   *anomaly.Detector
	anomPath  string
	anomSaved int // cycles since the baselines were last saved
	spool     *Spool
	client    *client
	notify    notifier

	credPath    string
	credential  string
	interval    time.Duration
	localIntvl  bool // Config.Interval was set: no server setting replaces it
	enrollIntvl int  // the interval the server gave at enrollment, seconds; 0 if none

	outages    outageLog
	attempt    int         // consecutive failed deliveries
	retryAt    time.Time   // no delivery before this
	batchLimit int         // reports per batch; shrinks when the server refuses a batch
	drops      *dropLedger // dropped reports until a stored report carries their count
	applied    wire.AgentConfig

	report  wire.Report
	payload []byte
	rnd     func(int64) int64
}

// New opens the state directory and spool and prepares the collectors. It does not contact the
// server.
func New(cfg Config) (*Agent, error) {
	localInterval := cfg.Interval != 0
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	a := &Agent{
		cfg:        cfg,
		log:        cfg.Logger,
		credPath:   filepath.Join(cfg.StateDir, "credential"),
		interval:   cfg.Interval,
		localIntvl: localInterval,
		batchLimit: wire.MaxReportsPerBatch,
		rnd:        randInt64N,
	}
	a.notify = notifier{w: cfg.Notify, log: a.log}
	var err error
	if a.credential, err = readCredential(a.credPath); err != nil {
		return nil, err
	}
	if a.credential == "" && cfg.EnrollToken == "" {
		return nil, ErrNoCredential
	}
	if a.checks, err = check.New(check.Config{Specs: cfg.Checks, Logger: a.log}); err != nil {
		return nil, err
	}
	if a.collector, err = collect.New(cfg.Collect); err != nil {
		return nil, err
	}
	if cfg.Anomaly != nil {
		ac := *cfg.Anomaly
		ac.Interval = cfg.Interval
		if a.anomaly, err = anomaly.New(ac); err != nil {
			return nil, err
		}
		a.anomPath = filepath.Join(cfg.StateDir, "anomaly.json")
		if err := a.anomaly.Load(a.anomPath); err != nil {
			a.log.Warn("Could not load the anomaly baselines; learning them again.", keyError, err)
		}
	}
	if a.spool, err = OpenSpool(filepath.Join(cfg.StateDir, "spool"), cfg.SpoolBytes); err != nil {
		return nil, err
	}
	a.spool.Log = a.log
	if a.drops, err = openDrops(filepath.Join(cfg.StateDir, "drops"), a.spool, a.log); err != nil {
		a.spool.Close()
		return nil, err
	}
	a.outages.path = filepath.Join(cfg.StateDir, "outages.json")
	a.outages.load(a.log)
	a.client = newClient(cfg.Server, cfg.TLS, cfg.RequestTimeout, cfg.Version, cfg.Dial)
	return a, nil
}

// Close releases the spool and the D-Bus connection. Run calls it on return.
func (a *Agent) Close() error {
	a.collector.Close()
	a.client.Close()
	return a.spool.Close()
}

// Run collects and pushes until ctx is done, then returns nil after finishing the current cycle.
// Data is durable in the spool at every point, so an abrupt stop loses nothing either.
func (a *Agent) Run(ctx context.Context) error {
	defer a.Close()
	a.log.Info("Agent started.", "version", a.cfg.Version, "server", a.cfg.Server, keyInterval, a.interval,
		"pending", a.spool.Pending(), "enrolled", a.credential != "")
	checkCtx, stopChecks := context.WithCancel(ctx)
	defer stopChecks()
	a.checks.Start(checkCtx)
	nextCollect := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		worked := false
		if !now.Before(nextCollect) {
			worked = true
			a.cycle(now)
			nextCollect = nextCollect.Add(a.interval)
			if !nextCollect.After(now) {
				nextCollect = now.Add(a.interval) // we fell behind (suspend, slow disk): do not catch up
			}
		}
		if a.spool.Pending() > 0 && !time.Now().Before(a.retryAt) {
			worked = true
			a.deliver(ctx, nextCollect)
		}
		if worked && a.cfg.Idle != nil {
			a.cfg.Idle()
		}
		wake := nextCollect
		if a.spool.Pending() > 0 && a.retryAt.Before(wake) {
			wake = a.retryAt
		}
		timer.Reset(max(time.Until(wake), 0))
		select {
		case <-ctx.Done():
			a.saveBaselines()
			a.log.Info("Agent stopped.", "pending", a.spool.Pending())
			return nil
		case <-timer.C:
		}
	}
}

// cycle collects one report and spools it.
func (a *Agent) cycle(now time.Time) {
	r := &a.report
	a.collector.Collect(now, r)
	a.notify.readyOnce()
	a.notify.send(NotifyWatchdog)

	seq, err := a.spool.Reserve()
	if err != nil {
		a.log.Error("Could not reserve a report sequence number; this report is lost.", keyError, err)
		a.countDrops(1)
		return
	}
	r.Seq = seq
	r.Time = wallclock.Stamp(now).UTC().Truncate(time.Millisecond) // the wall clock (a test seam in vigil_fakeclock builds)
	r.AgentVersion = a.cfg.Version
	r.UpdaterVersion = a.cfg.UpdaterVersion
	r.IntervalSeconds = int(a.interval / time.Second)
	r.Outages = a.outages.done
	r.Checks = a.checks.Results(now)
	r.Hints = a.hints(now, r)
	dropped, corrupt := a.spool.TakeCounters()
	if dropped > 0 { // this report carries them: seq-1 is the last that does not
		if err := a.drops.dropped(dropped, seq-1); err != nil {
			a.log.Error("Could not record the dropped reports; their count may not reach the server after a restart.", keyError, err)
		}
		if _, err := a.drops.lostCarriers(a.spool, seq-1); err != nil {
			a.log.Error("Could not record the dropped reports; their count may not reach the server.", keyError, err)
		}
	}
	r.SpoolDropped = a.drops.pending
	r.SpoolCorrupt = corrupt
	if err := r.Validate(); err != nil {
		// Never spool a report the server would refuse: it would block every later one.
		a.log.Error("Collected report is invalid; sending only the error.", keyError, err)
		msg := err.Error()
		if len(msg) > wire.MaxMessageLen {
			msg = msg[:wire.MaxMessageLen]
		}
		*r = wire.Report{Seq: r.Seq, Time: r.Time, AgentVersion: r.AgentVersion, IntervalSeconds: r.IntervalSeconds,
			Outages: r.Outages, SpoolDropped: r.SpoolDropped, SpoolCorrupt: r.SpoolCorrupt,
			Errors: []wire.CollectorError{{Collector: "agent", Message: msg}}}
	}
	a.payload, err = appendJSON(a.payload[:0], r)
	if err == nil {
		err = a.spool.Append(seq, a.payload)
	}
	if err != nil {
		a.log.Error("Could not spool the report; it is lost.", keySeq, seq, keyError, err)
		a.countDrops(1)
		a.spool.corrupt += corrupt // keep the count for the next report
		return
	}
	a.drops.spooled(seq, r.SpoolDropped)
	a.recordSpoolDrops(seq)
	a.log.Debug("Report spooled.", keySeq, seq)
	if len(r.Outages) > 0 {
		a.outages.attached(a.log)
	}
	if cap(a.payload) > 256<<10 {
		a.payload = nil
	}
}

// recordSpoolDrops saves at once the drops the spool made room with while appending seq (full:
// whole oldest segments go), rather than at the next cycle: a kill -9 in between would lose their
// count. The next report spooled, above seq, carries them. Nothing is written when nothing was dropped.
func (a *Agent) recordSpoolDrops(seq uint64) {
	dropped, corrupt := a.spool.TakeCounters()
	a.spool.corrupt += corrupt // for the next report to carry
	if dropped == 0 {
		return
	}
	if err := a.drops.dropped(dropped, seq); err != nil {
		a.log.Error("Could not record the dropped reports; their count may not reach the server after a restart.", keyError, err)
	}
	if _, err := a.drops.lostCarriers(a.spool, seq); err != nil {
		a.log.Error("Could not record the dropped reports; their count may not reach the server.", keyError, err)
	}
}

// anomalySaveEvery is how many cycles pass between saves of the anomaly baselines (and at stop):
// a crash loses at most this much learning.
const anomalySaveEvery = 60

// hints scores the report's metrics against their baselines, when anomaly hints are on.
func (a *Agent) hints(now time.Time, r *wire.Report) []wire.AnomalyHint {
	if a.anomaly == nil {
		return nil
	}
	var out []wire.AnomalyHint
	observe := func(metric string, v float64) {
		if h, ok := a.anomaly.Observe(metric, now, v); ok {
			out = append(out, h)
		}
	}
	if r.CPU != nil {
		observe(anomaly.MetricCPU, r.CPU.BusyPct)
		if r.Load != nil && r.CPU.Cores > 0 {
			observe(anomaly.MetricLoad, r.Load.Load1/float64(r.CPU.Cores))
		}
	}
	if r.Memory != nil {
		observe(anomaly.MetricMemory, r.Memory.UsedPct)
	}
	if a.anomSaved++; a.anomSaved >= anomalySaveEvery {
		a.saveBaselines()
	}
	return out
}

func (a *Agent) saveBaselines() {
	if a.anomaly == nil {
		return
	}
	a.anomSaved = 0
	if err := a.anomaly.Save(a.anomPath); err != nil {
		a.log.Warn("Could not save the anomaly baselines.", keyError, err)
	}
}

func appendJSON(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v) // encoding/json has no append API; one allocation per cycle
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// deliver sends batches until the spool is empty, a delivery fails, or the next collection is due.
func (a *Agent) deliver(ctx context.Context, deadline time.Time) {
	for a.spool.Pending() > 0 && ctx.Err() == nil {
		if a.credential == "" {
			if err := a.enroll(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				a.failed(err)
				return
			}
		}
		n, first, err := a.sendOne(ctx)
		if err != nil && ctx.Err() != nil {
			// Our own shutdown cut the send short: not a connectivity outage. The batch
			// stays in the spool and goes first after the restart.
			return
		}
		if err != nil {
			var se *sendError
			if errors.As(err, &se) && se.class == wire.OutageHTTP &&
				(se.status == http.StatusBadRequest || se.status == http.StatusRequestEntityTooLarge) {
				a.refused(se, first)
				continue
			}
			a.failed(err)
			return
		}
		if n == 0 || time.Now().Before(a.retryAt) || !time.Now().Before(deadline) {
			return
		}
	}
}

// sendOne posts the oldest batch and applies the ack. It returns the batch's seq range.
func (a *Agent) sendOne(ctx context.Context) (n int, first uint64, err error) {
	a.client.startBatch()
	n, err = a.spool.Peek(a.batchLimit, batchBytes, func(seq uint64, payload []byte) error {
		if first == 0 {
			first = seq
		}
		a.client.addToBatch(int(seq-first), payload)
		return nil
	})
	if err != nil {
		return 0, 0, &sendError{class: wire.OutageOther, detail: "read spool", err: err}
	}
	if n == 0 {
		return 0, 0, nil
	}
	ack, err := a.client.sendBatch(ctx, a.credential)
	if err != nil {
		return n, first, err
	}
	now := time.Now()
	if a.outages.end(now, a.log) {
		a.log.Info("Server reachable again.", "pending", a.spool.Pending())
	}
	a.attempt, a.retryAt, a.batchLimit = 0, time.Time{}, wire.MaxReportsPerBatch
	if ack.AckedSeq < first {
		// The server committed nothing of this batch; do not spin resending it.
		a.log.Warn("Server acknowledged none of the batch; retrying later.", keySeq, first, "acked_seq", ack.AckedSeq)
		a.attempt++
		a.retryAt = now.Add(backoff(a.attempt, a.cfg.MaxBackoff, a.rnd))
		return n, first, nil
	}
	if err := a.drops.acked(ack.AckedSeq); err != nil {
		a.log.Error("Could not record that the count of dropped reports was delivered; it may be sent again.", keyError, err)
	}
	if err := a.spool.Ack(ack.AckedSeq); err != nil {
		a.log.Error("Could not record the acknowledgement; reports may be sent twice.", keyError, err)
	}
	a.log.Debug("Report acknowledged.", keySeq, ack.AckedSeq, keyCount, n)
	a.notify.ackOnce()
	if ack.Config != nil {
		a.applyConfig(ack.Config)
	}
	return n, first, nil
}

// refused handles a batch the server will not take (400, 413): retry smaller, and drop a single
// report it refuses rather than block every later one.
func (a *Agent) refused(se *sendError, first uint64) {
	if a.batchLimit > 1 {
		a.batchLimit = max(a.batchLimit/2, 1)
		a.log.Warn("Server refused a batch; retrying with smaller batches.", keyError, se, "batch", a.batchLimit)
		return
	}
	a.log.Error("Server refused a report; dropping it.", keySeq, first, keyError, se)
	if err := a.drops.refusedSeq(first, a.spool.lastReserved()); err != nil {
		a.log.Error("Could not record the dropped report; its count may not reach the server.", keyError, err)
	}
	if err := a.spool.Ack(first); err != nil {
		a.log.Error("Could not drop the refused report.", keyError, err)
	}
}

// countDrops adds n dropped reports to the ledger, to be carried by the next report reserved.
func (a *Agent) countDrops(n uint64) {
	if err := a.drops.dropped(n, a.spool.lastReserved()); err != nil {
		a.log.Error("Could not record the dropped reports; their count may not reach the server after a restart.", keyError, err)
	}
}

// failed records a failed delivery and schedules the retry.
func (a *Agent) failed(err error) {
	now := time.Now()
	var se *sendError
	if !errors.As(err, &se) {
		se = &sendError{class: wire.OutageOther, detail: err.Error(), err: err}
	}
	delay := backoff(a.attempt, a.cfg.MaxBackoff, a.rnd)
	if se.retryAfter > delay {
		delay = se.retryAfter
	}
	a.attempt++
	a.retryAt = now.Add(delay)
	if se.status == http.StatusUnauthorized {
		a.log.Error("The server rejected the agent's credential (401); reports stay in the spool. "+
			"Re-enroll the host: remove the credential file and start with a new --enroll-token.",
			"credential_file", a.credPath, keyRetry, delay)
	} else {
		a.log.Warn("Could not deliver reports.", keyClass, se.class, keyError, se, keyRetry, delay.Round(time.Millisecond),
			"pending", a.spool.Pending())
	}
	a.outages.fail(now, se, a.log)
}

func (a *Agent) enroll(ctx context.Context) error {
	req := &wire.EnrollRequest{
		EnrollmentToken: a.cfg.EnrollToken,
		Hostname:        a.hostname(),
		MachineID:       a.machineID(),
		OS:              runtime.GOOS,
		Arch:            runtime.GOARCH,
		AgentVersion:    a.cfg.Version,
	}
	resp, err := a.client.enroll(ctx, req)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(a.credPath, []byte(resp.Credential+"\n"), 0o600); err != nil {
		return fmt.Errorf("store credential: %w", err)
	}
	a.credential = resp.Credential
	a.log.Info("Enrolled.", keyHostID, resp.HostID)
	if resp.ReportIntervalSeconds >= wire.MinIntervalSeconds && resp.ReportIntervalSeconds <= wire.MaxIntervalSeconds {
		a.enrollIntvl = resp.ReportIntervalSeconds
		a.setInterval()
	}
	return nil
}

func (a *Agent) hostname() string {
	if a.cfg.Hostname != "" {
		return a.cfg.Hostname
	}
	procRoot := a.cfg.Collect.ProcRoot
	if procRoot == "" {
		procRoot = "/proc"
	}
	if b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/hostname")); err == nil {
		if h := strings.TrimSpace(string(b)); h != "" {
			return h
		}
	}
	h, _ := os.Hostname()
	if h == "" {
		h = "unknown"
	}
	return h
}

func (a *Agent) machineID() string {
	path := a.cfg.MachineIDPath
	if path == "" {
		procRoot := a.cfg.Collect.ProcRoot
		if procRoot == "" {
			procRoot = "/proc"
		}
		path = filepath.Join(filepath.Dir(filepath.Clean(procRoot)), "etc/machine-id")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		a.log.Debug("No machine ID.", keyError, err)
		return ""
	}
	id := strings.TrimSpace(string(b))
	if len(id) > wire.MaxNameLen || strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return ""
	}
	return id
}

// applyConfig applies the data-only settings the server sent (its complete settings for this
// host, see wire.AgentConfig) after validating them: the agent never trusts the server further
// than those bounds. The server's watch entries are added to the local ones, which it cannot
// remove; a local interval wins over the server's. Nothing here can run anything: it sets a
// duration and two lists.
func (a *Agent) applyConfig(c *wire.AgentConfig) {
	if err := c.Validate(); err != nil {
		a.log.Warn("Ignoring invalid configuration from the server.", keyError, err)
		return
	}
	if c.IntervalSeconds != a.applied.IntervalSeconds {
		a.applied.IntervalSeconds = c.IntervalSeconds
		a.setInterval()
	}
	if slices.Equal(c.WatchProcesses, a.applied.WatchProcesses) && slices.Equal(c.WatchUnits, a.applied.WatchUnits) {
		return
	}
	a.applied.WatchProcesses, a.applied.WatchUnits = slices.Clone(c.WatchProcesses), slices.Clone(c.WatchUnits)
	procs, units := MergeWatches(a.cfg.Collect.WatchProcesses, a.cfg.Collect.WatchUnits, c.WatchProcesses, c.WatchUnits)
	a.collector.SetWatches(procs, units)
	a.log.Info("Server set the watch lists.", "processes", len(procs), "units", len(units),
		"server_processes", len(c.WatchProcesses), "server_units", len(c.WatchUnits))
}

// setInterval picks the interval in use: the local one if set, else the server's settings, else
// the interval the server gave at enrollment, else the default.
func (a *Agent) setInterval() {
	d := a.cfg.Interval // the local interval, or DefaultInterval
	if !a.localIntvl {
		switch {
		case a.applied.IntervalSeconds != 0:
			d = time.Duration(a.applied.IntervalSeconds) * time.Second
		case a.enrollIntvl != 0:
			d = time.Duration(a.enrollIntvl) * time.Second
		}
	}
	if d != a.interval {
		a.interval = d
		a.log.Info("Report interval changed.", keyInterval, d, "local", a.localIntvl)
	}
}

// MergeWatches returns the watch lists the agent uses: every local entry, then the server's
// entries the local lists do not already have, each list bounded by wire.MaxWatchEntries (local
// entries are never the ones left out).
func MergeWatches(localProcs []wire.ProcessWatch, localUnits []string, serverProcs []wire.ProcessWatch,
	serverUnits []string) ([]wire.ProcessWatch, []string) {
	return mergeList(localProcs, serverProcs), mergeList(localUnits, serverUnits)
}

func mergeList[T comparable](local, server []T) []T {
	out := slices.Clone(local)
	for _, e := range server {
		if len(out) >= wire.MaxWatchEntries {
			break
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Interval returns the interval in use (tests).
func (a *Agent) Interval() time.Duration { return a.interval }
