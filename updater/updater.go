package updater

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/internal/wallclock"
	"github.com/vigilhq/vigil/releasespec"
	"github.com/vigilhq/vigil/wire"
)

// DefaultStateDir is where the updater keeps its state unless told otherwise.
const DefaultStateDir = "/var/lib/vigil"

// Config configures an Updater. Zero values take the defaults named on each field.
type Config struct {
	// Server is vigil-server's base URL. Required. TUF metadata is read from <Server>/tuf/metadata/
	// and targets from <Server>/tuf/targets/.
	Server string
	// HTTP sets the client's TLS verification and timeouts (see HTTPConfig for defaults).
	HTTP HTTPConfig
	// StateDir defaults to DefaultStateDir.
	StateDir string
	// TrustedRoot is the initial TUF root, used only while <StateDir>/tuf holds no root.
	TrustedRoot []byte
	// AgentArgs are passed to the agent before --state-dir (the --server and --ca or
	// --ca-fingerprint flags).
	AgentArgs []string
	// EnrollToken is passed to the agent with --enroll-token while it has no credential.
	EnrollToken string
	// AgentUser is the user the agent runs as when the updater runs as root. Empty: as ourselves.
	AgentUser string
	// Poll is the mean interval between update checks (±20 % jitter). Default 5m.
	Poll time.Duration
	// Grace is how long a new agent must run without exiting before it is committed. Default 60s.
	Grace time.Duration
	// ReadyTimeout is how long a new agent has to write READY. Default the smaller of Grace and 30s.
	ReadyTimeout time.Duration
	// VersionTimeout bounds `<new> --version` and `<new> self-check`. Default 10s.
	VersionTimeout time.Duration
	// InitialChannel is installed when no version is installed yet. Default "stable".
	InitialChannel string
	// BundledAgent is an agent build shipped beside the updater (the host package puts one at
	// /opt/vigil/lib/vigil-agent). The first install uses it instead of downloading only when it
	// is exactly the signed target of the version chosen (length and hashes); otherwise it is
	// ignored. Empty: always download.
	BundledAgent string
	// Version is this updater's version ("dev" disables self-update).
	Version string
	// Executable is this updater's binary, resolved once at start (for self-update). Empty
	// disables self-update.
	Executable string
	// Arch is the GOARCH of builds to install. Default runtime.GOARCH.
	Arch string
	// Failpoint is a test hook: the process SIGKILLs itself right after this journal step
	// (see Steps). Empty in production.
	Failpoint string
	// Watchdog is systemd's service watchdog, fed while the supervisor loop answers (see
	// WatchdogConfig). Zero: not fed.
	Watchdog WatchdogConfig
	// Supervisor overrides supervisor settings (backoff, stop timeout); Binary, Args, Env and
	// Credential are set by the Updater.
	Supervisor SupervisorConfig
	// Logger defaults to slog.Default() if nil.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Server == "" {
		return errors.New("updater: Config.Server is required")
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	abs, err := filepath.Abs(c.StateDir)
	if err != nil {
		return err
	}
	c.StateDir = abs
	if c.Poll <= 0 {
		c.Poll = 5 * time.Minute
	}
	if c.Grace <= 0 {
		c.Grace = 60 * time.Second
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = min(c.Grace, 30*time.Second)
	}
	if c.VersionTimeout <= 0 {
		c.VersionTimeout = 10 * time.Second
	}
	if c.InitialChannel == "" {
		c.InitialChannel = "stable"
	}
	if c.Arch == "" {
		c.Arch = runtime.GOARCH
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Updater supervises the agent and runs the update cycle. Run and CheckOnce must not be called
// concurrently.
type Updater struct {
	cfg   Config
	log   *slog.Logger
	state stateDir
	tuf   *TUFClient
	api   *apiClient
	sup   *Supervisor
	cred  *syscall.Credential

	refused map[string]bool // refusals already reported, so a standing pin is reported once
	// eventRefusal is the cause of the last update event the server refused, logged at WARN once
	// until an event goes through as it was (Run's goroutine only).
	eventRefusal string

	downloaded bool // the current cycle downloaded a build (releaseMemory; Run's goroutine only)
}

// New prepares the state directory, the TUF client and the supervisor. It makes no request.
func New(cfg Config) (*Updater, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u := &Updater{cfg: cfg, log: cfg.Logger, state: stateDir{cfg.StateDir}, refused: map[string]bool{}}
	if err := u.state.init(); err != nil {
		return nil, fmt.Errorf("prepare state dir: %w", err)
	}
	base := strings.TrimSuffix(cfg.Server, "/")
	// One server serves the API and the repository; the TLS configuration names its host, so a
	// CA pinned by fingerprint also verifies a server addressed by IP address.
	httpCfg := cfg.HTTP
	httpCfg.TLS = tlsForServer(httpCfg.TLS, base)
	client := NewHTTPClient(httpCfg)
	var err error
	u.tuf, err = NewTUFClient(TUFConfig{
		MetadataURL: base + "/tuf/metadata/",
		TargetsURL:  base + "/tuf/targets/",
		MetadataDir: u.state.path(tufDir),
		TrustedRoot: cfg.TrustedRoot,
		HTTP:        httpCfg,
		Client:      client,
		Logger:      cfg.Logger,
		Now:         wallclock.Override, // nil (the system clock) but in vigil_fakeclock test builds
	})
	if err != nil {
		return nil, err
	}
	u.api = &apiClient{base: base, client: client, timeout: cfg.HTTP.withDefaults().RequestTimeout,
		credPath: u.state.path(agentDir, "credential"), enrollToken: cfg.EnrollToken}
	if err := u.dropPrivileges(); err != nil {
		return nil, err
	}
	sc := cfg.Supervisor
	sc.Binary = u.state.path(currentLink, BinaryAgent)
	sc.Args = u.agentArgs
	sc.Env = childEnv(os.Environ(), "VIGIL_UPDATER_VERSION="+cfg.Version)
	sc.Credential = u.cred
	if sc.Logger == nil {
		sc.Logger = cfg.Logger
	}
	if u.sup, err = NewSupervisor(sc); err != nil {
		return nil, err
	}
	return u, nil
}

// dropPrivileges prepares the agent's credential when we run as root.
func (u *Updater) dropPrivileges() error {
	if u.cfg.AgentUser == "" {
		return nil
	}
	if os.Geteuid() != 0 {
		u.log.Info("Not running as root: the agent runs as this user, not as --agent-user.", "agent_user", u.cfg.AgentUser)
		return nil
	}
	usr, err := user.Lookup(u.cfg.AgentUser)
	if err != nil {
		return fmt.Errorf("agent user: %w", err)
	}
	uid, err1 := strconv.ParseUint(usr.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(usr.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("agent user %s: %w", u.cfg.AgentUser, err)
	}
	u.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	dir := u.state.path(agentDir)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(uid), int(gid))
	})
}

// agentArgs are the agent's arguments for its next start.
func (u *Updater) agentArgs() []string {
	args := append(slices.Clone(u.cfg.AgentArgs), "--state-dir", u.state.path(agentDir))
	if u.cfg.EnrollToken != "" {
		if _, err := u.api.credential(); errors.Is(err, errNotEnrolled) {
			args = append(args, "--enroll-token", u.cfg.EnrollToken)
		}
	}
	return args
}

// Supervisor returns the agent's supervisor.
func (u *Updater) Supervisor() *Supervisor { return u.sup }

// TUF returns the TUF client.
func (u *Updater) TUF() *TUFClient { return u.tuf }

func (u *Updater) failpoint(step string) {
	if u.cfg.Failpoint != "" && u.cfg.Failpoint == step {
		u.log.Warn("Failpoint reached: killing this process (test hook).", keyStep, step)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

// event logs an update event and returns it with a fresh ID, which the server dedupes on, so an
// event posted again after a kill is still recorded once.
func (u *Updater) event(ctx context.Context, binary, from, to, phase, result, reason string) wire.UpdateEvent {
	if len(reason) > wire.MaxMessageLen {
		reason = reason[:wire.MaxMessageLen]
	}
	var id [16]byte
	_, _ = crand.Read(id[:])
	e := wire.UpdateEvent{ID: hex.EncodeToString(id[:]), Binary: binary, FromVersion: from, ToVersion: to,
		Phase: phase, Result: result, Reason: reason, Time: wallclock.Now().UTC()}
	level := slog.LevelInfo
	if result == wire.ResultFailed || result == wire.ResultRefused {
		level = slog.LevelWarn
	}
	u.log.Log(ctx, level, "Update "+phase+": "+result+".", keyBinary, binary, keyPrevious, from, keyVersion, to, keyReason, reason)
	return e
}

// report logs an update event that changes no state, puts it in the journal's outbox and tries
// to deliver the outbox. A state change and its event go into the journal together instead
// (see trial, rollback and Recover).
func (u *Updater) report(ctx context.Context, binary, from, to, phase, result, reason string) {
	u.queue(ctx, u.event(ctx, binary, from, to, phase, result, reason))
	u.flushEvents(ctx)
}

// queue puts events in the outbox without trying to deliver them.
func (u *Updater) queue(ctx context.Context, es ...wire.UpdateEvent) {
	if _, err := u.state.updateJournal(func(j *Journal) { j.enqueue(es...) }); err != nil {
		u.log.Warn("Cannot queue the update event.", keyError, err)
	}
}

// flushEvents posts the outbox oldest first and removes from it what the server took. A kill
// between the server's answer and the removal posts those events again; their IDs make the
// server record them once.
func (u *Updater) flushEvents(ctx context.Context) {
	j, err := u.state.loadJournal()
	if err != nil || len(j.Outbox) == 0 {
		return
	}
	n, err := postEvents(ctx, j.Outbox, u.postEvent)
	if err != nil && !errors.Is(err, errNotEnrolled) {
		u.log.Debug("Update events stay queued.", keyError, err)
	}
	if n == 0 {
		return
	}
	sent := map[string]bool{}
	for _, e := range j.Outbox[:n] {
		sent[e.ID] = true
	}
	if _, err := u.state.updateJournal(func(j *Journal) {
		j.Outbox = slices.DeleteFunc(j.Outbox, func(e wire.UpdateEvent) bool { return sent[e.ID] })
	}); err != nil {
		u.log.Warn("Cannot remove delivered update events from the journal.", keyError, err)
	}
}

// adoptEventQueue moves the events.json queue of an earlier version into the journal's outbox.
func (u *Updater) adoptEventQueue(ctx context.Context) error {
	var ev []wire.UpdateEvent
	err := readJSON(u.state.path(eventsFile), &ev)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		for i := range ev {
			if ev[i].ID == "" {
				var id [16]byte
				_, _ = crand.Read(id[:])
				ev[i].ID = hex.EncodeToString(id[:])
			}
		}
		if _, err := u.state.updateJournal(func(j *Journal) { j.Outbox = append(ev, j.Outbox...); j.enqueue() }); err != nil {
			return err
		}
	} else {
		u.log.Warn("The update event queue of an earlier version is unreadable; dropping it.", keyError, err)
	}
	return os.Remove(u.state.path(eventsFile))
}

// jitter returns d ±20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Run recovers the state directory, starts the agent (without needing the network) and polls for
// updates until ctx is done. It returns ErrReexec after replacing its own binary; the agent is
// stopped then.
func (u *Updater) Run(ctx context.Context) error {
	if err := u.Recover(ctx); err != nil {
		u.log.Error("Recovering the state directory failed; continuing.", keyError, err)
	}
	supCtx, cancel := context.WithCancel(ctx)
	supDone := make(chan error, 1)
	go func() { supDone <- u.sup.Run(supCtx) }()
	wdDone := make(chan struct{})
	if u.cfg.Watchdog.Enabled() {
		go func() {
			defer close(wdDone)
			feedWatchdog(supCtx, u.cfg.Watchdog, u.sup.Ping, u.log)
		}()
	} else {
		close(wdDone)
	}
	defer func() {
		cancel()
		<-supDone
		<-wdDone
	}()
	t := time.NewTimer(jitter(min(u.cfg.Poll, 30*time.Second)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		u.downloaded = false
		err := u.CheckOnce(ctx)
		releaseMemory(ctx, u.log, u.downloaded)
		switch {
		case errors.Is(err, ErrReexec):
			stopCtx, c := context.WithTimeout(context.Background(), 30*time.Second)
			_ = u.sup.Stop(stopCtx)
			c()
			return ErrReexec
		case errors.Is(err, ErrQuarantined):
			// refuse reported and logged it at WARN once per version; every poll while the pin
			// stays on it would say the same again.
			u.log.Debug("The desired version is quarantined here; the installed version keeps running.", keyError, err)
		case err != nil && ctx.Err() == nil:
			u.log.Warn("Update check failed; the installed version keeps running.", keyError, err)
		}
		t.Reset(jitter(u.cfg.Poll))
	}
}

// CheckOnce runs one update cycle: ask the server what to run, refresh signed metadata, and
// install, try and commit (or roll back) the agent, then the updater itself. The installed
// version keeps running whatever fails.
func (u *Updater) CheckOnce(ctx context.Context) error {
	if u.state.linked() == "" {
		v, err := u.InstallDesired(ctx)
		if err != nil {
			return fmt.Errorf("first install: %w", err)
		}
		u.log.Info("Installed the first agent version.", keyVersion, v)
		_, err = u.sup.Restart(ctx, false)
		return err
	}
	u.flushEvents(ctx)
	d, err := u.api.desired(ctx)
	if errors.Is(err, errNotEnrolled) {
		u.log.Debug("The agent is not enrolled yet; no update check.")
		return nil
	}
	if err != nil {
		return err
	}
	if err := u.applyQuarantineGeneration(ctx, d.QuarantineGeneration); err != nil {
		u.log.Warn("Cannot clear the quarantine as the server asks.", keyError, err)
	}
	if d.Version == "" && d.Channel == "" {
		return nil
	}
	j, _ := u.state.loadJournal()
	repo, err := u.tuf.Refresh(ctx)
	if err != nil {
		if ctx.Err() == nil { // a refresh cut short by our own shutdown is no failure to report
			u.refuse(ctx, BinaryAgent, j.Current, d.Version, wire.PhaseCheck, wire.ResultFailed, err)
		}
		return err
	}
	aerr := u.updateAgent(ctx, repo, d)
	if errors.Is(aerr, ErrHealthGate) || ctx.Err() != nil {
		return aerr
	}
	serr := u.updateSelf(ctx, repo, d)
	if errors.Is(serr, ErrReexec) {
		return serr
	}
	return errors.Join(aerr, serr)
}

// applyQuarantineGeneration forgets every quarantined version and interrupted trial when the
// server's quarantine generation for this host (raised by an operator's clear-quarantine) is not
// the one last applied. Zero, from a server that never cleared or predates the field, changes
// nothing. Killed between the two writes, the next poll clears again: clearing is idempotent.
func (u *Updater) applyQuarantineGeneration(ctx context.Context, g uint64) error {
	if g == 0 {
		return nil
	}
	j, err := u.state.loadJournal()
	if err != nil || j.QuarantineGeneration == g {
		return err
	}
	q, _ := u.state.loadQuarantine()
	if err := u.state.clearQuarantine(); err != nil {
		return err
	}
	if _, err := u.state.updateJournal(func(j *Journal) { j.QuarantineGeneration, j.Interrupted = g, nil }); err != nil {
		return err
	}
	clear(u.refused)
	versions := make([]string, 0, len(q))
	for _, e := range q {
		versions = append(versions, e.Binary+" "+e.Version)
	}
	slices.Sort(versions)
	u.log.InfoContext(ctx, "An operator cleared this host's quarantine: its versions may be tried again.",
		"quarantine_generation", g, "cleared", strings.Join(versions, ", "))
	return nil
}

// refuse reports a refusal or check failure once per (binary, version, reason).
func (u *Updater) refuse(ctx context.Context, binary, from, to, phase, result string, err error) {
	key := binary + "\x00" + to + "\x00" + err.Error()
	if u.refused[key] {
		return
	}
	if len(u.refused) > 1000 {
		clear(u.refused)
	}
	u.refused[key] = true
	u.report(ctx, binary, from, to, phase, result, err.Error())
}

// resolve turns the server's desired version or channel into a version, using signed metadata
// for channels.
func (u *Updater) resolve(repo *Repository, binary string, d wire.UpdateDesired) (string, error) {
	if d.Version != "" {
		if _, err := releasespec.ParseVersion(d.Version); err != nil {
			return "", fmt.Errorf("desired %w", err)
		}
		return d.Version, nil
	}
	v, ok := releasespec.ChannelVersion(repo.Listing(), binary, u.cfg.Arch, d.Channel)
	if !ok {
		return "", fmt.Errorf("channel %q has no %s build for linux-%s: %w", d.Channel, binary, u.cfg.Arch, ErrUnknownVersion)
	}
	return v, nil
}

// policy returns the signed target for binary at want after checking its signed entry, the local
// quarantine and the signed floor and downgrade rules (releasespec.CheckInstall) against cur.
func (u *Updater) policy(repo *Repository, binary, want, cur string) (*metadata.TargetFiles, error) {
	path := TargetPath(binary, want, u.cfg.Arch)
	tf, err := repo.Target(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s for linux-%s: %w", binary, want, u.cfg.Arch, err)
	}
	b, err := parseBuild(path, tf)
	if err != nil {
		return nil, err
	}
	if e, ok := u.state.quarantined(binary, want); ok {
		return nil, fmt.Errorf("%s %s (%s): %w", binary, want, e.Reason, ErrQuarantined)
	}
	if err := releasespec.CheckInstall(repo.Listing(), b, cur); err != nil {
		return nil, err
	}
	return tf, nil
}

func sha256Hex(tf *metadata.TargetFiles) string { return hex.EncodeToString(tf.Hashes["sha256"]) }

// fetch downloads and verifies a build into download/, returning its path.
func (u *Updater) fetch(ctx context.Context, repo *Repository, tf *metadata.TargetFiles, binary, from, want string) (string, error) {
	u.report(ctx, binary, from, want, wire.PhaseDownload, wire.ResultStarted, "")
	u.downloaded = true
	path := u.state.path(downloadDir, binary+"-"+want)
	if err := repo.Download(ctx, tf, path, ""); err != nil {
		u.report(ctx, binary, from, want, wire.PhaseDownload, wire.ResultFailed, err.Error())
		return "", fmt.Errorf("download %s %s: %w", binary, want, err)
	}
	u.report(ctx, binary, from, want, wire.PhaseDownload, wire.ResultOK, "")
	return path, nil
}

func (u *Updater) updateAgent(ctx context.Context, repo *Repository, d wire.UpdateDesired) error {
	j, err := u.state.loadJournal()
	if err != nil {
		return err
	}
	cur := j.Current
	want, err := u.resolve(repo, BinaryAgent, d)
	if err != nil {
		u.refuse(ctx, BinaryAgent, cur, d.Version, wire.PhaseCheck, wire.ResultRefused, err)
		return err
	}
	if want == cur {
		return nil
	}
	tf, err := u.policy(repo, BinaryAgent, want, cur)
	if err != nil {
		u.refuse(ctx, BinaryAgent, cur, want, wire.PhaseCheck, wire.ResultRefused, err)
		return err
	}
	path, err := u.fetch(ctx, repo, tf, BinaryAgent, cur, want)
	if err != nil {
		return err
	}
	if err := u.checkBinary(ctx, path, want); err != nil {
		os.Remove(path)
		reason := err.Error()
		_ = u.state.quarantine(BinaryAgent, want, reason)
		u.report(ctx, BinaryAgent, cur, want, wire.PhaseVerify, wire.ResultFailed, reason)
		return fmt.Errorf("check %s: %w", want, err)
	}
	u.report(ctx, BinaryAgent, cur, want, wire.PhaseVerify, wire.ResultOK, "")
	if err := u.state.install(want, path, sha256Hex(tf)); err != nil {
		u.report(ctx, BinaryAgent, cur, want, wire.PhaseInstall, wire.ResultFailed, err.Error())
		return fmt.Errorf("install %s: %w", want, err)
	}
	u.failpoint(StepInstalled)
	u.report(ctx, BinaryAgent, cur, want, wire.PhaseInstall, wire.ResultOK, "")
	return u.trial(ctx, want, cur)
}

// trial journals the intent, switches current, restarts the agent and runs the health gate, then
// commits or rolls back.
func (u *Updater) trial(ctx context.Context, v, prev string) error {
	requireAck := false
	if c := u.sup.Current(); c != nil {
		requireAck = c.HasAcked()
	}
	started := u.event(ctx, BinaryAgent, prev, v, wire.PhaseTrial, wire.ResultStarted, "")
	if _, err := u.state.updateJournal(func(j *Journal) {
		j.Trial = &Trial{Version: v, Previous: prev, RequireAck: requireAck, Started: wallclock.Now().UTC()}
		j.enqueue(started)
	}); err != nil {
		return err
	}
	u.failpoint(StepTrial)
	u.flushEvents(ctx)
	start := time.Now()
	err := u.state.switchTo(v)
	var child *Child
	if err == nil {
		u.failpoint(StepSwitched)
		child, err = u.sup.Restart(ctx, true)
		u.failpoint(StepStarted)
	}
	if err == nil {
		err = u.gate(ctx, child, requireAck)
	}
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: the trial stays journaled and the next start rolls it back.
			return ctx.Err()
		}
		u.rollback(ctx, v, prev, err.Error())
		u.log.Warn("Rolled back.", keyVersion, v, keyPrevious, prev, "after", time.Since(start).Round(time.Millisecond))
		return fmt.Errorf("%s: %w: %w", v, ErrHealthGate, err)
	}
	u.failpoint(StepHealthy)
	committed := u.event(ctx, BinaryAgent, prev, v, wire.PhaseCommit, wire.ResultOK, "")
	if _, err := u.state.updateJournal(func(j *Journal) {
		j.Current, j.Previous, j.Trial = v, prev, nil
		delete(j.Interrupted, v)
		j.enqueue(committed)
	}); err != nil {
		return err
	}
	u.failpoint(StepCommitted)
	if err := u.sup.Release(ctx); err != nil {
		return err
	}
	u.flushEvents(ctx)
	if err := u.state.cleanup(v, prev); err != nil {
		u.log.Warn("Cleanup after commit failed.", keyError, err)
	}
	return nil
}

// gate passes when the child wrote READY within ReadyTimeout, did not exit during Grace, and
// wrote ACK by the end of Grace when requireAck.
func (u *Updater) gate(ctx context.Context, c *Child, requireAck bool) error {
	readyT := time.NewTimer(u.cfg.ReadyTimeout)
	defer readyT.Stop()
	graceT := time.NewTimer(u.cfg.Grace)
	defer graceT.Stop()
	ready := c.Ready()
	isReady := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Exited():
			return fmt.Errorf("the new agent exited during the grace window: %v", c.Err())
		case <-ready:
			isReady, ready = true, nil
		case <-readyT.C:
			if !isReady {
				return fmt.Errorf("the new agent did not write READY within %v", u.cfg.ReadyTimeout)
			}
		case <-graceT.C:
			switch {
			case !isReady:
				return fmt.Errorf("the new agent did not write READY within %v", u.cfg.Grace)
			case requireAck && !c.HasAcked():
				return fmt.Errorf("the previous version was delivering reports but the new one got no ACK within %v", u.cfg.Grace)
			}
			return nil
		}
	}
}

// rollback switches back to prev, quarantines v and restarts the agent. The quarantine comes
// first and the journal's end of the trial, with its events, is one write: killed in between,
// Recover finds the trial and a quarantine entry newer than it, and finishes this rollback.
func (u *Updater) rollback(ctx context.Context, v, prev, reason string) {
	if err := u.state.quarantine(BinaryAgent, v, reason); err != nil {
		u.log.Error("Cannot quarantine the failed version.", keyVersion, v, keyError, err)
	}
	if u.state.complete(prev) {
		if err := u.state.switchTo(prev); err != nil {
			u.log.Error("Cannot switch back to the previous version.", keyPrevious, prev, keyError, err)
		}
	}
	u.failpoint(StepRollbackSwitched)
	failed := u.event(ctx, BinaryAgent, prev, v, wire.PhaseTrial, wire.ResultFailed, reason)
	rolledBack := u.event(ctx, BinaryAgent, v, prev, wire.PhaseRollback, wire.ResultOK, reason)
	j, err := u.state.updateJournal(func(j *Journal) {
		j.Trial = nil
		j.Current = prev
		if j.Previous == prev {
			j.Previous = ""
		}
		delete(j.Interrupted, v)
		j.enqueue(failed, rolledBack)
	})
	if err != nil {
		u.log.Error("Cannot journal the rollback.", keyError, err)
	}
	u.failpoint(StepRolledBack)
	if _, err := u.sup.Restart(context.WithoutCancel(ctx), false); err != nil {
		u.log.Error("Cannot restart the previous version.", keyError, err)
	}
	u.flushEvents(ctx)
	if err := u.state.cleanup(prev, j.Previous); err != nil {
		u.log.Warn("Cleanup after rollback failed.", keyError, err)
	}
}

// Recover repairs the state directory at startup, before the agent starts: a journaled trial is
// rolled back (never committed), the current link is made to point at a complete version, an
// interrupted self-update is finished or undone, and leftovers are removed. It needs no network.
//
// A trial found in the journal either failed its health gate and was killed before the rollback
// was journaled (its quarantine entry is newer than the trial) or was interrupted: the supervisor
// was killed or the host rebooted during it. An interrupted trial proves nothing against the
// build, so it is counted and tried again at the next check; the second interruption of the same
// version quarantines it, so a build that makes the host restart cannot loop for ever.
func (u *Updater) Recover(ctx context.Context) error {
	s := u.state
	var errs []error
	if err := u.adoptEventQueue(ctx); err != nil {
		errs = append(errs, err)
	}
	j, err := s.loadJournal()
	if err != nil {
		u.log.Error("The journal is unreadable; rebuilding it from the installed versions.", keyError, err)
		j = Journal{}
	}
	if t := j.Trial; t != nil {
		var reason string
		if qe, ok := s.quarantined(BinaryAgent, t.Version); ok && !qe.Time.Before(t.Started) {
			reason = qe.Reason
			u.log.Warn("Found a failed trial in the journal: finishing its rollback.", keyVersion, t.Version, keyPrevious, t.Previous)
		} else {
			n := j.Interrupted[t.Version] + 1
			if n >= MaxInterruptions {
				reason = fmt.Sprintf("the supervisor restarted during the trial of %s, %d times: quarantined", t.Version, n)
				errs = append(errs, s.quarantine(BinaryAgent, t.Version, reason))
				j.Interrupted = nil
			} else {
				reason = fmt.Sprintf("the supervisor restarted during the trial of %s (interrupted %d of %d times): it is tried again", t.Version, n, MaxInterruptions)
				// Only the version last tried is counted: the map stays bounded.
				j.Interrupted = map[string]int{t.Version: n}
			}
			u.log.Warn("Found an interrupted trial in the journal: rolling back.", keyVersion, t.Version, keyPrevious, t.Previous, "interrupted", n)
		}
		if s.complete(t.Previous) {
			errs = append(errs, s.switchTo(t.Previous))
			j.Current = t.Previous
		}
		if j.Previous == j.Current {
			j.Previous = ""
		}
		j.Trial = nil
		j.enqueue(u.event(ctx, BinaryAgent, t.Previous, t.Version, wire.PhaseTrial, wire.ResultFailed, reason),
			u.event(ctx, BinaryAgent, t.Version, t.Previous, wire.PhaseRollback, wire.ResultOK, reason))
		errs = append(errs, s.saveJournal(j))
	}
	linked := s.linked()
	if !s.complete(linked) || (j.Current != "" && linked != j.Current && s.complete(j.Current)) {
		pick := ""
		for _, v := range []string{j.Current, j.Previous, linked} {
			if s.complete(v) {
				pick = v
				break
			}
		}
		if pick == "" {
			pick = u.bestInstalled()
		}
		if pick != "" {
			u.log.Warn("Relinking current.", "linked", linked, keyVersion, pick)
			errs = append(errs, s.switchTo(pick))
			linked = pick
		} else {
			linked = ""
		}
	}
	if linked != "" && j.Current != linked {
		if j.Current != "" && s.complete(j.Current) {
			j.Previous = j.Current
		}
		j.Current = linked
		errs = append(errs, s.saveJournal(j))
	}
	if st := j.SelfTrial; st != nil {
		if st.Version == u.cfg.Version {
			j.enqueue(u.event(ctx, BinaryUpdater, st.Previous, st.Version, wire.PhaseSelf, wire.ResultOK, "the new updater is running"))
		} else {
			reason := "the updater restarted as " + u.cfg.Version + ", not " + st.Version
			errs = append(errs, s.quarantine(BinaryUpdater, st.Version, reason))
			j.enqueue(u.event(ctx, BinaryUpdater, st.Previous, st.Version, wire.PhaseSelf, wire.ResultFailed, reason))
		}
		j.SelfTrial = nil
		errs = append(errs, s.saveJournal(j))
	}
	if u.cfg.Executable != "" {
		if restored, err := RecoverSelfSwap(u.cfg.Executable); err != nil {
			errs = append(errs, err)
		} else if restored {
			u.log.Warn("Restored the updater binary from its backup after an interrupted swap.", keyBinary, u.cfg.Executable)
		}
	}
	if j.Current != "" {
		errs = append(errs, s.cleanup(j.Current, j.Previous))
	} else {
		errs = append(errs, s.removeTemps())
	}
	return errors.Join(errs...)
}

// bestInstalled returns the highest complete, non-quarantined installed version.
func (u *Updater) bestInstalled() string {
	best := ""
	for _, v := range u.state.installedVersions() {
		if _, q := u.state.quarantined(BinaryAgent, v); q {
			continue
		}
		if best == "" {
			best = v
			continue
		}
		if c, err := releasespec.CompareVersions(v, best); err == nil && c > 0 {
			best = v
		}
	}
	return best
}

// InstallDesired is the first install of the version the server names for this host: the pin
// of its group, asked with the agent's credential or, before the agent has enrolled, with
// Config.EnrollToken. Without either, or when the group pins nothing, it installs
// Config.InitialChannel. An answer that cannot be had is an error (the caller tries again
// later): installing "stable" instead would run a version the operator did not choose.
func (u *Updater) InstallDesired(ctx context.Context) (string, error) {
	d, err := u.api.desiredFirst(ctx)
	switch {
	case errors.Is(err, errNotEnrolled):
		d = wire.UpdateDesired{}
	case err != nil:
		return "", fmt.Errorf("ask the server for this host's version: %w", err)
	}
	if d.Version == "" && d.Channel == "" {
		d.Channel = u.cfg.InitialChannel
	}
	u.log.Info("Installing the first agent version.", keyVersion, d.Version, "channel", d.Channel)
	return u.Install(ctx, d.Version, d.Channel)
}

// Install installs an agent version (or the version a channel points to) from the signed
// repository when none is installed: the first install. The build comes from Config.BundledAgent
// when that is exactly the signed target, else it is downloaded. It returns the installed version.
func (u *Updater) Install(ctx context.Context, version, channel string) (string, error) {
	if cur := u.state.linked(); cur != "" && u.state.complete(cur) {
		if version == "" || version == cur {
			return cur, nil
		}
		return "", fmt.Errorf("version %s is installed already; the server decides updates from here", cur)
	}
	repo, err := u.tuf.Refresh(ctx)
	if err != nil {
		return "", err
	}
	want, err := u.resolve(repo, BinaryAgent, wire.UpdateDesired{Version: version, Channel: channel})
	if err != nil {
		return "", err
	}
	tf, err := u.policy(repo, BinaryAgent, want, "")
	if err != nil {
		return "", err
	}
	path, err := u.fetchFirst(ctx, repo, tf, want)
	if err != nil {
		return "", err
	}
	if err := u.checkBinary(ctx, path, want); err != nil {
		os.Remove(path)
		_ = u.state.quarantine(BinaryAgent, want, err.Error())
		u.report(ctx, BinaryAgent, "", want, wire.PhaseVerify, wire.ResultFailed, err.Error())
		return "", err
	}
	if err := u.state.install(want, path, sha256Hex(tf)); err != nil {
		return "", err
	}
	if err := u.state.switchTo(want); err != nil {
		return "", err
	}
	if _, err := u.state.updateJournal(func(j *Journal) {
		*j = Journal{Current: want, Outbox: j.Outbox, QuarantineGeneration: j.QuarantineGeneration}
	}); err != nil {
		return "", err
	}
	u.report(ctx, BinaryAgent, "", want, wire.PhaseInstall, wire.ResultOK, "first install")
	return want, nil
}
