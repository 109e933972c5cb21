package updater

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Notify lines the agent writes to its supervisor (agent.NotifyReady and friends).
const (
	notifyReady    = "READY"
	notifyAck      = "ACK"
	notifyWatchdog = "WATCHDOG"
	// maxNotifyLine bounds one notify line.
	maxNotifyLine = 256
	// NotifyFD is the descriptor number of the notify pipe in the child (ExtraFiles[0]).
	NotifyFD = 3
)

// SupervisorConfig configures a Supervisor.
type SupervisorConfig struct {
	// Binary is the path started, resolved at every start (for example <state>/current/vigil-agent).
	// Required.
	Binary string
	// Args returns the arguments for the next start. Required.
	Args func() []string
	// Env is the child's environment; VIGIL_NOTIFY_FD is added.
	Env []string
	// Credential runs the child as another user (nil: as ourselves).
	Credential *syscall.Credential
	// Stdout and Stderr receive the child's output. Default os.Stderr.
	Stdout, Stderr *os.File
	// StopTimeout is how long a child has to exit after SIGTERM before SIGKILL. Default 10s.
	StopTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before restarting a crashed child, doubled on
	// every crash. Defaults 1s and 2m.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter resets the backoff when a child ran at least this long. Default 60s.
	StableAfter time.Duration
	// Logger defaults to slog.Default() if nil.
	Logger *slog.Logger
}

// Supervisor keeps one child process running. Its methods are safe for concurrent use; Run must
// be running for Restart and Stop to return.
type Supervisor struct {
	cfg  SupervisorConfig
	log  *slog.Logger
	reqs chan supReq
	cur  atomic.Pointer[Child]
}

type supKind int

const (
	supRestart supKind = iota // stop the child and start a new one now
	supRelease                // allow automatic restarts again
	supStop                   // stop the child and hold
	supPing                   // answer at once (the watchdog's liveness check)
)

type supReq struct {
	kind  supKind
	hold  bool
	reply chan supReply
}

type supReply struct {
	child *Child
	err   error
}

// Child is one run of the supervised binary.
type Child struct {
	PID     int
	Binary  string // the resolved binary path
	Started time.Time

	ready, acked, exited chan struct{}
	readyOnce, ackOnce   sync.Once
	watchdog             atomic.Int64 // unix nanos of the last WATCHDOG
	exitErr              error
	cmd                  *exec.Cmd
}

// Ready is closed when the child wrote READY.
func (c *Child) Ready() <-chan struct{} { return c.ready }

// Acked is closed when the child wrote ACK (its first report was acknowledged).
func (c *Child) Acked() <-chan struct{} { return c.acked }

// Exited is closed when the child has exited; Err is then valid.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Err is the exit error (nil for exit status 0). Valid after Exited is closed.
func (c *Child) Err() error { return c.exitErr }

// HasAcked reports whether the child wrote ACK.
func (c *Child) HasAcked() bool {
	select {
	case <-c.acked:
		return true
	default:
		return false
	}
}

// NewSupervisor checks cfg.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	if cfg.Binary == "" || cfg.Args == nil {
		return nil, errors.New("updater: SupervisorConfig.Binary and Args are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stderr
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.StopTimeout, 10*time.Second)
	def(&cfg.MinBackoff, time.Second)
	def(&cfg.MaxBackoff, 2*time.Minute)
	def(&cfg.StableAfter, 60*time.Second)
	return &Supervisor{cfg: cfg, log: cfg.Logger, reqs: make(chan supReq)}, nil
}

// Current returns the running child, or nil.
func (s *Supervisor) Current() *Child { return s.cur.Load() }

// Restart stops the child (SIGTERM, then SIGKILL after StopTimeout) and starts the binary again at
// once. With hold, a child that exits is not restarted automatically until Release or the next
// Restart without hold: the health gate watches it instead.
func (s *Supervisor) Restart(ctx context.Context, hold bool) (*Child, error) {
	return s.do(ctx, supReq{kind: supRestart, hold: hold})
}

// Release allows automatic restarts again after a Restart with hold.
func (s *Supervisor) Release(ctx context.Context) error {
	_, err := s.do(ctx, supReq{kind: supRelease})
	return err
}

// Stop stops the child and holds until the next Restart.
func (s *Supervisor) Stop(ctx context.Context) error {
	_, err := s.do(ctx, supReq{kind: supStop})
	return err
}

// Ping returns once the supervisor loop has answered: it is not stuck.
func (s *Supervisor) Ping(ctx context.Context) error {
	_, err := s.do(ctx, supReq{kind: supPing})
	return err
}

func (s *Supervisor) do(ctx context.Context, r supReq) (*Child, error) {
	r.reply = make(chan supReply, 1)
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case rep := <-r.reply:
		return rep.child, rep.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run keeps the child running until ctx is done, then stops it (SIGTERM forwarded, SIGKILL after
// StopTimeout). It starts the installed binary without any network.
func (s *Supervisor) Run(ctx context.Context) error {
	var (
		cur     *Child
		hold    bool
		backoff = s.cfg.MinBackoff
		timer   *time.Timer
		timerC  <-chan time.Time
	)
	setCur := func(c *Child) {
		cur = c
		s.cur.Store(c)
	}
	schedule := func() {
		if timer != nil {
			timer.Stop()
		}
		s.log.Info("Restarting the agent after a delay.", keyDelay, backoff)
		timer = time.NewTimer(backoff)
		timerC = timer.C
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
	start := func() error {
		c, err := s.start()
		if err != nil {
			s.log.Error("Cannot start the agent.", keyError, err)
			setCur(nil)
			return err
		}
		setCur(c)
		return nil
	}
	// No agent installed yet (a fresh host): nothing to start until the first install, which
	// calls Restart. Trying would only log errors and back off.
	if _, err := os.Stat(s.cfg.Binary); errors.Is(err, fs.ErrNotExist) {
		s.log.Info("No agent is installed yet; waiting for the first install.", keyBinary, s.cfg.Binary)
		hold = true
	} else if start() != nil {
		schedule()
	}
	for {
		var exited <-chan struct{}
		if cur != nil {
			exited = cur.exited
		}
		select {
		case <-ctx.Done():
			if cur != nil {
				s.stop(cur)
				setCur(nil)
			}
			return nil
		case <-exited:
			ran := time.Since(cur.Started)
			s.log.Warn("The agent exited.", keyPID, cur.PID, keyError, cur.exitErr, "ran", ran.Round(time.Millisecond))
			if ran >= s.cfg.StableAfter {
				backoff = s.cfg.MinBackoff
			}
			setCur(nil)
			if !hold {
				schedule()
			}
		case <-timerC:
			timerC = nil
			if cur == nil && !hold {
				if start() != nil {
					schedule()
				}
			}
		case r := <-s.reqs:
			switch r.kind {
			case supRestart:
				if cur != nil {
					s.stop(cur)
					setCur(nil)
				}
				if timer != nil {
					timer.Stop()
					timerC = nil
				}
				hold = r.hold
				backoff = s.cfg.MinBackoff
				err := start()
				if err != nil && !hold {
					schedule()
				}
				r.reply <- supReply{child: cur, err: err}
			case supRelease:
				hold = false
				if cur == nil {
					schedule()
				}
				r.reply <- supReply{child: cur}
			case supPing:
				r.reply <- supReply{child: cur}
			case supStop:
				hold = true
				if cur != nil {
					s.stop(cur)
					setCur(nil)
				}
				r.reply <- supReply{}
			}
		}
	}
}

// start runs the binary with the notify pipe as descriptor 3.
func (s *Supervisor) start() (*Child, error) {
	bin, err := filepath.EvalSymlinks(s.cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", s.cfg.Binary, err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, s.cfg.Args()...)
	cmd.Env = append(append([]string{}, s.cfg.Env...), fmt.Sprintf("VIGIL_NOTIFY_FD=%d", NotifyFD))
	cmd.ExtraFiles = []*os.File{pw}
	cmd.Stdout, cmd.Stderr = s.cfg.Stdout, s.cfg.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cfg.Credential,
		// The agent must not outlive its supervisor (kill -9 included).
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	pw.Close()
	c := &Child{
		PID: cmd.Process.Pid, Binary: bin, Started: time.Now(), cmd: cmd,
		ready: make(chan struct{}), acked: make(chan struct{}), exited: make(chan struct{}),
	}
	s.log.Info("Started the agent.", keyPID, c.PID, keyBinary, bin)
	go c.readNotify(pr, s.log)
	go func() {
		c.exitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

func (c *Child) readNotify(r io.ReadCloser, log *slog.Logger) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, maxNotifyLine), maxNotifyLine)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case notifyReady:
			c.readyOnce.Do(func() { close(c.ready) })
		case notifyAck:
			c.ackOnce.Do(func() { close(c.acked) })
		case notifyWatchdog:
			c.watchdog.Store(time.Now().UnixNano())
		default:
			log.Debug("Unknown notify line from the agent.", "line", sc.Text())
		}
	}
}

// stop sends SIGTERM, waits StopTimeout, then SIGKILL.
func (s *Supervisor) stop(c *Child) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(s.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		s.log.Warn("The agent did not stop after SIGTERM; killing it.", keyPID, c.PID)
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// childEnv is the agent's environment: ours without VIGIL_* variables (flags given on the command
// line must not be contradicted by the updater's own VIGIL_CA and friends), plus extra.
func childEnv(environ []string, extra ...string) []string {
	var out []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, "VIGIL_") && !strings.HasPrefix(kv, "VIGIL_LOG_LEVEL=") {
			continue
		}
		// systemd's notify socket and watchdog are the updater's alone (sd_notify(3)'s
		// unset_environment): the agent must not feed the unit's watchdog.
		if strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, "WATCHDOG_USEC=") || strings.HasPrefix(kv, "WATCHDOG_PID=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// Kill sends SIGKILL to the child (tests and emergencies).
func (c *Child) Kill() error { return c.cmd.Process.Kill() }
