package main

import (
	"bytes"
	"compress/gzip"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/wire"
)

// What the simulated agent does, as vigil-agent does it (agent/push.go, agent/agent.go).
const (
	pathEnroll  = "/api/v1/enroll"
	pathReports = "/api/v1/reports"
	pathDesired = "/api/v1/updates/desired"
	// batchBytes bounds the uncompressed payload of one batch (agent: batchBytes).
	batchBytes = 512 << 10
	// gzipMinBytes is the agent's: a batch body under it (one report) goes uncompressed.
	gzipMinBytes = 4 << 10
	// backoffBase is the first retry delay before jitter (agent: backoffBase).
	backoffBase = time.Second
	// maxRetryAfter bounds how long a server's Retry-After parks a host (agent: maxRetryAfter).
	maxRetryAfter = time.Hour
	// maxAnswerBytes bounds what is read of an answer.
	maxAnswerBytes = 64 << 10
)

// Config is a simulation. Server, TLS, Hosts and Duration are required; zero values take the
// defaults in the comments.
type Config struct {
	// Server is vigil-server's base URL.
	Server string
	// TLS verifies the server (tlspin). Nil means the system roots.
	TLS *tls.Config
	// Hosts is the number of simulated agents.
	Hosts int
	// Interval between a host's reports. Default 10s.
	Interval time.Duration
	// Jitter varies each interval by up to ±Jitter of it (0..0.5). Hosts start at uniformly
	// spread phases of the interval whatever it is, as a fleet whose agents started at random times.
	Jitter float64
	// Warmup runs before measuring: every host connects and sends its first report. Default Interval.
	Warmup time.Duration
	// Duration is the measured window.
	Duration time.Duration
	// Drain bounds the time after the window for hosts to deliver what they still hold (the run ends
	// as soon as they have). Default 30s, plus MaxBackoff with an outage.
	Drain time.Duration
	// EnrollToken enrolls hosts the state file does not have.
	EnrollToken string
	// StatePath caches credentials and sequence numbers between runs. Empty: nothing is kept.
	StatePath string
	// EnrollConcurrency bounds concurrent enrollments. Default 16.
	EnrollConcurrency int
	// SilentPerMin is the percentage of the fleet that goes silent (powered off: no reports, no
	// connection) per minute, each for SilentFor (default 2m), then comes back rebooted.
	SilentPerMin float64
	SilentFor    time.Duration
	// NewPerMin is the number of new hosts enrolled per minute during the window.
	NewPerMin float64
	// OutagePct of the fleet loses connectivity OutageStart after the window opens (default a
	// quarter of Duration) for OutageFor. Its hosts keep collecting, retry with backoff, and replay
	// their backlog oldest first in batches when the outage ends, as agents replay their spool.
	OutagePct   float64
	OutageFor   time.Duration
	OutageStart time.Duration
	// Updaters also runs, per host, an updater polling GET /api/v1/updates/desired every Poll
	// (default 5m, ±20 %) on its own connection, as vigil-updater does.
	Updaters bool
	Poll     time.Duration
	// RequestTimeout bounds each request. Default 30s (the agent's).
	RequestTimeout time.Duration
	// MaxBackoff caps retry delays. Default 5m (the agent's).
	MaxBackoff time.Duration
	// AgentVersion is the version the simulated agents claim. Default "0.0.0-sim".
	AgentVersion string
	// ServerPID is the server process whose CPU is measured; 0: none.
	ServerPID int
	// PostgresCPU measures the CPU of every process named postgres on this machine.
	PostgresCPU bool
	// FDLimit is the file descriptor limit the caller set, for the summary.
	FDLimit uint64
	// RawClient sends each host's requests over its own tls.Conn with a minimal HTTP/1.1 client
	// instead of an http.Transport per host (see rawConn). The updaters always use net/http.
	RawClient bool
	// CPUProfile, if set, is where a CPU profile of the simulator over the window is written.
	CPUProfile string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Server == "" {
		return errors.New("no --server")
	}
	c.Server = strings.TrimRight(c.Server, "/")
	if c.Hosts < 1 {
		return errors.New("--hosts must be at least 1")
	}
	if c.Interval == 0 {
		c.Interval = 10 * time.Second
	}
	if c.Interval < time.Duration(wire.MinIntervalSeconds)*time.Second || c.Interval > time.Duration(wire.MaxIntervalSeconds)*time.Second {
		return fmt.Errorf("--interval %s outside %ds..%ds", c.Interval, wire.MinIntervalSeconds, wire.MaxIntervalSeconds)
	}
	if c.Jitter < 0 || c.Jitter > 0.5 {
		return errors.New("--jitter must be within 0..0.5")
	}
	if c.Warmup == 0 {
		c.Warmup = c.Interval
	}
	if c.Duration <= 0 {
		return errors.New("--duration must be positive")
	}
	if c.EnrollConcurrency <= 0 {
		c.EnrollConcurrency = 16
	}
	if c.SilentPerMin < 0 || c.SilentPerMin > 100 || c.OutagePct < 0 || c.OutagePct > 100 || c.NewPerMin < 0 {
		return errors.New("churn and outage percentages must be within 0..100")
	}
	if c.SilentFor == 0 {
		c.SilentFor = 2 * time.Minute
	}
	if c.OutagePct > 0 {
		if c.OutageFor <= 0 {
			return errors.New("an outage needs a duration (--outage PCT:DURATION)")
		}
		if c.OutageStart == 0 {
			c.OutageStart = c.Duration / 4
		}
		if c.OutageStart+c.OutageFor > c.Duration {
			return fmt.Errorf("the outage (%s from %s) must end within --duration %s", c.OutageFor, c.OutageStart, c.Duration)
		}
	}
	if c.Poll == 0 {
		c.Poll = 5 * time.Minute
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.Drain == 0 {
		c.Drain = 30 * time.Second
		if c.OutagePct > 0 {
			// Hosts back from an outage may sit in a backoff of up to MaxBackoff before they replay.
			c.Drain += c.MaxBackoff
		}
	}
	if c.AgentVersion == "" {
		c.AgentVersion = "0.0.0-sim"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// pendingReport is a collected report not yet acknowledged. Its JSON is rebuilt from the host's
// shape when it is sent (see report.go): 40 bytes a report instead of ~1.6 KB for a backlog.
type pendingReport struct {
	seq     uint64
	t       time.Time
	outages []wire.Outage
}

// host is one simulated agent (and its updater). Its fields belong to its goroutine, except
// silentUntil, which the churn controller sets.
type host struct {
	idx   int
	state hostState
	shape reportShape

	tr     *http.Transport // one keep-alive HTTP/1.1 connection, like the agent's
	client *http.Client
	hdr    http.Header // for gzipped report bodies
	plain  http.Header // for report bodies sent as they are (under gzipMinBytes)
	raw    *rawConn    // instead of tr and client with Config.RawClient
	rawHdr []byte
	// rawPlain is rawHdr without Content-Encoding.
	rawPlain []byte
	upd      *http.Client // the updater's own connection

	nextSeq    uint64
	pending    []pendingReport
	attempt    int
	retryAt    time.Time
	batchLimit int
	bootTime   time.Time

	outageStart time.Time // first failure of the current delivery outage
	outageClass string
	doneOutages []wire.Outage // ended outages for the next report

	inOutage    bool // part of the simulated network outage
	silentUntil atomic.Int64
	replayed    int // reports delivered in batches of more than one
}

// Sim runs a simulation. Create it with newSim, then Run once.
type Sim struct {
	cfg   Config
	log   *slog.Logger
	stats *stats

	st     *stateFile
	stMu   sync.Mutex
	hosts  []*host
	hMu    sync.Mutex
	closed bool // under hMu: no more hosts start (Run is waiting for them)
	wg     sync.WaitGroup

	start, windowStart, collectEnd time.Time
	outageFrom, outageTo           time.Time

	agentTLS, updaterTLS *tls.Config
	addr, hostHdr        string // for rawConn: host:port to dial, Host header
	enrollHdr            []byte // rawConn headers of an enrollment

	gzPool      sync.Pool
	scratchPool sync.Pool
	bufPool     sync.Pool
	repPool     sync.Pool
}

func newSim(cfg Config) (*Sim, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, err := loadState(cfg.StatePath, cfg.Server)
	if err != nil {
		return nil, err
	}
	if cfg.TLS, err = pinnedName(cfg.Server, cfg.TLS); err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, log: cfg.Logger, stats: newStats(), st: st}
	// Two shared configurations: net/http adds "h2" to the NextProtos of a transport that may
	// speak HTTP/2, in place, so the agents' HTTP/1.1 transports must not share the updaters'.
	s.agentTLS = cfg.TLS.Clone()
	s.agentTLS.NextProtos = []string{"http/1.1"}
	s.updaterTLS = cfg.TLS.Clone()
	u, _ := url.Parse(cfg.Server) // pinnedName checked it
	s.hostHdr, s.addr = u.Host, u.Host
	if u.Port() == "" {
		s.addr = net.JoinHostPort(u.Hostname(), "443")
	}
	s.enrollHdr = []byte("Content-Type: application/json\r\nUser-Agent: vigil-sim/" + cfg.AgentVersion + "\r\n" +
		wire.ProtocolHeader + ": " + strconv.Itoa(wire.ProtocolVersion) + "\r\n")
	s.gzPool.New = func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }
	s.bufPool.New = func() any { return new(bytes.Buffer) }
	s.scratchPool.New = func() any { b := make([]byte, 0, 4096); return &b }
	s.repPool.New = func() any {
		r := &wire.Report{Mounts: make([]wire.Mount, 0, len(mountPaths)), Disks: make([]wire.DiskIO, 0, 2),
			Interfaces: make([]wire.NetIO, 0, 2), Processes: make([]wire.Process, 0, 2), Units: make([]wire.Unit, 0, 3)}
		return r
	}
	return s, nil
}

// pinnedName returns conf with ServerName set to the server's host, as the agent does:
// crypto/tls leaves ConnectionState.ServerName empty for an IP address (no SNI), and the pinned
// fingerprint check must still verify the certificate against the name dialled.
func pinnedName(server string, conf *tls.Config) (*tls.Config, error) {
	u, err := url.Parse(server)
	if err != nil || u.Hostname() == "" || u.Scheme != "https" {
		return nil, fmt.Errorf("--server %q is not an https URL", server)
	}
	if conf == nil {
		conf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	conf = conf.Clone()
	if conf.ServerName == "" {
		conf.ServerName = u.Hostname()
	}
	if inner := conf.VerifyConnection; inner != nil {
		name := conf.ServerName
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.ServerName == "" {
				cs.ServerName = name
			}
			return inner(cs)
		}
	}
	return conf, nil
}

func (s *Sim) newHost(idx int, hs hostState) *host {
	h := &host{idx: idx, state: hs, shape: newShape(idx),
		nextSeq: hs.Seq + 1, batchLimit: wire.MaxReportsPerBatch,
		bootTime: time.Now().Add(-time.Duration(1+mix(uint64(idx))%(30*24)) * time.Hour).UTC().Truncate(time.Second)}
	if s.cfg.RawClient {
		h.raw = &rawConn{addr: s.addr, host: s.hostHdr, tls: s.agentTLS, timeout: s.cfg.RequestTimeout}
	} else {
		h.tr = s.newTransport()
		h.client = &http.Client{Transport: h.tr}
	}
	h.setCredential(hs.Credential, s.cfg.AgentVersion)
	if s.cfg.Updaters {
		h.upd = &http.Client{Transport: &http.Transport{
			DialContext: (&net.Dialer{Timeout: s.cfg.RequestTimeout}).DialContext,
			// Its own copy: net/http's HTTP/2 set-up writes the transport's TLS configuration.
			TLSClientConfig:   s.updaterTLS.Clone(),
			MaxIdleConns:      1,
			IdleConnTimeout:   90 * time.Second, // vigil-updater's: a 5 min poll makes a new connection
			ForceAttemptHTTP2: true,
		}, Timeout: s.cfg.RequestTimeout}
	}
	return h
}

// newTransport is one host's net/http transport: one keep-alive HTTP/1.1 connection.
func (s *Sim) newTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: s.cfg.RequestTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     s.agentTLS,
		TLSHandshakeTimeout: s.cfg.RequestTimeout,
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		MaxIdleConns:        1,
		DisableCompression:  true,
		// HTTP/1.1 only, as vigil-agent's own client speaks.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
}

// closeConn drops the host's connection (powered off, network gone, or the end).
func (h *host) closeConn() {
	if h.raw != nil {
		h.raw.close()
	} else {
		h.tr.CloseIdleConnections()
	}
}

// roundTrip sends one request of the agent's on the host's connection and returns the answer.
// enroll selects the enrollment headers (no credential, no gzip); gzipped says whether a report
// body is compressed.
func (s *Sim) roundTrip(ctx context.Context, h *host, method, path string, body []byte, enroll, gzipped bool) ([]byte, int, string, error) {
	if h.raw != nil {
		hdr := h.rawHdr
		if !gzipped {
			hdr = h.rawPlain
		}
		if enroll {
			hdr = s.enrollHdr
		}
		status, ra, b, err := h.raw.roundTrip(ctx, method, path, hdr, body)
		return b, status, ra, err
	}
	req, _ := http.NewRequestWithContext(ctx, method, s.cfg.Server+path, bytes.NewReader(body))
	req.Header = h.hdr
	if !gzipped {
		req.Header = h.plain
	}
	if enroll {
		req.Header = http.Header{"Content-Type": {"application/json"}, "User-Agent": {"vigil-sim/" + s.cfg.AgentVersion},
			wire.ProtocolHeader: {strconv.Itoa(wire.ProtocolVersion)}}
	}
	return do(h.client, req)
}

func (h *host) setCredential(cred, version string) {
	h.state.Credential = cred
	h.hdr = http.Header{
		"Content-Type":      {"application/json"},
		"User-Agent":        {"vigil-sim/" + version},
		wire.ProtocolHeader: {strconv.Itoa(wire.ProtocolVersion)},
		"Content-Encoding":  {"gzip"},
		"Authorization":     {"Bearer " + cred},
	}
	h.plain = h.hdr.Clone()
	h.plain.Del("Content-Encoding")
	if h.raw != nil {
		h.rawHdr = []byte("Content-Type: application/json\r\nUser-Agent: vigil-sim/" + version + "\r\n" +
			wire.ProtocolHeader + ": " + strconv.Itoa(wire.ProtocolVersion) + "\r\nContent-Encoding: gzip\r\n" +
			"Authorization: Bearer " + cred + "\r\n")
		h.rawPlain = []byte("Content-Type: application/json\r\nUser-Agent: vigil-sim/" + version + "\r\n" +
			wire.ProtocolHeader + ": " + strconv.Itoa(wire.ProtocolVersion) + "\r\n" +
			"Authorization: Bearer " + cred + "\r\n")
	}
}

// Run enrolls what the state file lacks, runs warm-up, window and drain, saves the state and
// returns the result. Cancelling ctx stops the run early; the result covers what ran.
func (s *Sim) Run(ctx context.Context) (*Result, error) {
	if err := s.prepareHosts(ctx); err != nil {
		return nil, err
	}
	s.start = time.Now()
	s.windowStart = s.start.Add(s.cfg.Warmup)
	s.collectEnd = s.windowStart.Add(s.cfg.Duration)
	if s.cfg.OutagePct > 0 {
		s.outageFrom = s.windowStart.Add(s.cfg.OutageStart)
		s.outageTo = s.outageFrom.Add(s.cfg.OutageFor)
		k := int(float64(len(s.hosts))*s.cfg.OutagePct/100 + 0.5)
		for _, i := range rand.Perm(len(s.hosts))[:k] {
			s.hosts[i].inOutage = true
		}
	}
	runCtx, cancel := context.WithDeadline(ctx, s.collectEnd.Add(s.cfg.Drain))
	defer cancel()
	for _, h := range s.hosts {
		s.startHost(runCtx, h, s.start.Add(time.Duration(rand.Int64N(int64(s.cfg.Interval)))))
	}
	m := newMeter(s)
	go s.churn(runCtx)
	go m.sampleFDs(runCtx)

	timer := time.NewTimer(time.Until(s.windowStart))
	select {
	case <-runCtx.Done():
	case <-timer.C:
	}
	m.begin()
	timer.Reset(time.Until(s.collectEnd))
	select {
	case <-runCtx.Done():
	case <-timer.C:
	}
	m.end()
	s.hMu.Lock()
	s.closed = true
	s.hMu.Unlock()
	s.wg.Wait() // hosts return once they delivered everything, or at the drain deadline
	res := m.result()
	s.stMu.Lock()
	s.hMu.Lock()
	for _, h := range s.hosts {
		s.st.Hosts[h.idx].Seq = h.nextSeq - 1
		res.Unacked += len(h.pending)
		res.HostsAtEnd = append(res.HostsAtEnd, HostEnd{HostID: h.state.HostID, LastSeq: h.nextSeq - 1,
			Unacked: len(h.pending), Replayed: h.replayed, InOutage: h.inOutage})
	}
	s.hMu.Unlock()
	err := s.st.save(s.cfg.StatePath)
	s.stMu.Unlock()
	return res, err
}

// prepareHosts takes Hosts hosts from the state file and enrolls the missing ones.
func (s *Sim) prepareHosts(ctx context.Context) error {
	have := len(s.st.Hosts)
	for i := range min(have, s.cfg.Hosts) {
		s.hosts = append(s.hosts, s.newHost(i, s.st.Hosts[i]))
	}
	need := s.cfg.Hosts - len(s.hosts)
	if need <= 0 {
		s.log.Info("Reusing enrolled hosts from the state file.", "hosts", len(s.hosts), "state", s.cfg.StatePath)
		return nil
	}
	if s.cfg.EnrollToken == "" {
		return fmt.Errorf("%d hosts to enroll and no --enroll-token", need)
	}
	s.log.Info("Enrolling hosts.", "reused", len(s.hosts), "new", need, "concurrency", s.cfg.EnrollConcurrency)
	t0 := time.Now()
	sem := make(chan struct{}, s.cfg.EnrollConcurrency)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	newHosts := make([]*host, need)
	for i := range need {
		sem <- struct{}{}
		if firstErr.Load() != nil || ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			h, err := s.enrollNew(ctx, have+i)
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			newHosts[i] = h
		}()
	}
	wg.Wait()
	// Keep every host that did enroll, in index order, so a failed run still saves its credentials.
	for _, h := range newHosts {
		if h == nil {
			break
		}
		s.hosts = append(s.hosts, h)
	}
	s.st.Hosts = s.st.Hosts[:0]
	for _, h := range s.hosts {
		s.st.Hosts = append(s.st.Hosts, h.state)
	}
	serr := s.st.save(s.cfg.StatePath)
	if p := firstErr.Load(); p != nil {
		return fmt.Errorf("enroll: %w", *p)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.stats.enrollTime = time.Since(t0)
	s.log.Info("Enrolled.", "hosts", need, "took", s.stats.enrollTime.Round(time.Millisecond))
	return serr
}

// enrollNew enrolls host number idx, as the agent does on first start.
func (s *Sim) enrollNew(ctx context.Context, idx int) (*host, error) {
	id := make([]byte, 16)
	crand.Read(id)
	hs := hostState{Hostname: fmt.Sprintf("sim-%06d-%s", idx, hex.EncodeToString(id[:3])), MachineID: hex.EncodeToString(id)}
	h := s.newHost(idx, hs)
	body, _ := json.Marshal(wire.EnrollRequest{EnrollmentToken: s.cfg.EnrollToken, Hostname: hs.Hostname,
		MachineID: hs.MachineID, OS: "linux", Arch: "amd64", AgentVersion: s.cfg.AgentVersion})
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	b, status, _, err := s.roundTrip(ctx, h, http.MethodPost, pathEnroll, body, true, false)
	if err != nil {
		s.stats.addError(classify(err).kind)
		return nil, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		s.stats.addError("enroll_http_" + strconv.Itoa(status))
		return nil, fmt.Errorf("HTTP %d: %s", status, bytes.TrimSpace(b))
	}
	var er wire.EnrollResponse
	if err := wire.Unmarshal(b, false, &er); err != nil || er.Credential == "" {
		return nil, fmt.Errorf("malformed enrollment answer: %v", err)
	}
	h.state.HostID = er.HostID
	h.setCredential(er.Credential, s.cfg.AgentVersion)
	s.stats.enrolled.Add(1)
	return h, nil
}

func (s *Sim) startHost(ctx context.Context, h *host, first time.Time) {
	s.wg.Add(1)
	go s.runHost(ctx, h, first)
	if h.upd != nil {
		s.wg.Add(1)
		go s.runUpdater(ctx, h)
	}
}

// interval returns the next interval with jitter.
func (s *Sim) interval() time.Duration {
	d := s.cfg.Interval
	if s.cfg.Jitter > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * s.cfg.Jitter * float64(d))
	}
	return d
}

// runHost is one agent's loop (agent.Run): collect every interval, deliver what is pending
// unless a retry is scheduled, sleep until the next of the two.
func (s *Sim) runHost(ctx context.Context, h *host, first time.Time) {
	defer s.wg.Done()
	defer h.closeConn()
	nextCollect := first
	timer := time.NewTimer(time.Until(first))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		collecting := now.Before(s.collectEnd)
		if until := h.silentUntil.Load(); collecting && until > now.UnixNano() {
			// Powered off: the connection goes, nothing is collected; it comes back rebooted.
			h.closeConn()
			back := time.Unix(0, until)
			h.bootTime = back.UTC().Truncate(time.Second)
			nextCollect = back
			timer.Reset(time.Until(back))
			continue
		}
		if collecting && !now.Before(nextCollect) {
			s.collect(h, now)
			nextCollect = nextCollect.Add(s.interval())
			if !nextCollect.After(now) {
				nextCollect = now.Add(s.cfg.Interval)
			}
		}
		if len(h.pending) > 0 && !now.Before(h.retryAt) {
			s.deliver(ctx, h, nextCollect)
		}
		var wake time.Time
		if collecting {
			wake = nextCollect
			if s.collectEnd.Before(wake) {
				wake = s.collectEnd // wake at the end to drain or leave promptly
			}
		}
		if len(h.pending) > 0 && (wake.IsZero() || h.retryAt.Before(wake)) {
			wake = h.retryAt
		}
		if wake.IsZero() {
			return // window over and everything delivered
		}
		timer.Reset(max(time.Until(wake), 0))
	}
}

// collect makes the next report. Outages that ended since the last report go with it.
func (s *Sim) collect(h *host, now time.Time) {
	h.pending = append(h.pending, pendingReport{seq: h.nextSeq, t: now.UTC().Truncate(time.Millisecond), outages: h.doneOutages})
	h.nextSeq++
	h.doneOutages = nil
	s.stats.collected()
}

// deliver sends batches, oldest first, until nothing is pending, a delivery fails or the next
// collection is due (agent.deliver).
func (s *Sim) deliver(ctx context.Context, h *host, deadline time.Time) {
	for len(h.pending) > 0 && ctx.Err() == nil {
		now := time.Now()
		if h.inOutage && !now.Before(s.outageFrom) && now.Before(s.outageTo) {
			s.outageFail(h, now)
			return
		}
		n, body, raw, gzipped := s.encode(h)
		first, last := h.pending[0].seq, h.pending[n-1].seq
		t0 := time.Now()
		ack, se := s.post(ctx, h, body.Bytes(), gzipped)
		lat := time.Since(t0)
		wireLen := body.Len()
		if se == nil {
			// An ack means the server read the whole body. After an error net/http may still be
			// writing it (the server can answer 503 first), so that buffer is left to the GC.
			s.bufPool.Put(body)
		}
		if se != nil {
			if ctx.Err() != nil {
				return // stopping: not the server's fault
			}
			s.stats.addError(se.kind)
			if se.status == http.StatusBadRequest || se.status == http.StatusRequestEntityTooLarge {
				// The agent retries smaller and drops a report the server refuses alone.
				if h.batchLimit > 1 {
					h.batchLimit = max(h.batchLimit/2, 1)
				} else {
					h.pending = h.pending[1:]
					s.stats.dropped.Add(1)
				}
				continue
			}
			s.failed(h, se)
			return
		}
		s.stats.request(lat, raw, wireLen)
		if !h.outageStart.IsZero() {
			h.doneOutages = append(h.doneOutages, wire.Outage{Start: h.outageStart, End: now.UTC().Truncate(time.Millisecond),
				Class: h.outageClass, Detail: "simulated"})
			h.outageStart = time.Time{}
		}
		h.attempt, h.retryAt, h.batchLimit = 0, time.Time{}, wire.MaxReportsPerBatch
		if ack.AckedSeq < first {
			s.stats.addError("ack_below_batch")
			h.attempt++
			h.retryAt = now.Add(backoff(h.attempt, s.cfg.MaxBackoff))
			return
		}
		if ack.AckedSeq < last {
			s.stats.addError("partial_ack")
		}
		k := 0
		for k < len(h.pending) && h.pending[k].seq <= ack.AckedSeq {
			k++
		}
		h.pending = h.pending[k:]
		if len(h.pending) == 0 {
			h.pending = nil // give a replayed backlog's array back
		}
		h.nextSeq = max(h.nextSeq, ack.AckedSeq+1)
		if n > 1 {
			h.replayed += k
		}
		s.stats.acked(k, n > 1)
		if !time.Now().Before(deadline) {
			return
		}
	}
}

// encode builds the batch of the oldest pending reports, at most batchLimit and batchBytes, as
// the agent batches its spool, gzip-compressed from gzipMinBytes as the agent does. It returns
// the count, the body (from bufPool), the uncompressed size and whether it is compressed.
func (s *Sim) encode(h *host) (int, *bytes.Buffer, int, bool) {
	buf := s.bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	cw := countingWriter{w: buf}
	r := s.repPool.Get().(*wire.Report)
	scratch := s.scratchPool.Get().(*[]byte)
	io.WriteString(&cw, `{"reports":[`)
	n := 0
	for n < len(h.pending) && n < h.batchLimit && cw.n < batchBytes {
		p := &h.pending[n]
		b := (*scratch)[:0]
		if n > 0 {
			b = append(b, ',')
		}
		h.shape.fill(r, p.seq, p.t, h.bootTime, s.cfg.Interval, s.cfg.AgentVersion, p.outages)
		b = appendReport(b, r)
		cw.Write(b)
		*scratch = b
		n++
	}
	io.WriteString(&cw, "]}")
	r.Outages = nil
	s.repPool.Put(r)
	s.scratchPool.Put(scratch)
	if cw.n < gzipMinBytes {
		return n, buf, cw.n, false
	}
	zbuf := s.bufPool.Get().(*bytes.Buffer)
	zbuf.Reset()
	zw := s.gzPool.Get().(*gzip.Writer)
	zw.Reset(zbuf)
	zw.Write(buf.Bytes())
	zw.Close()
	s.gzPool.Put(zw)
	s.bufPool.Put(buf)
	return n, zbuf, cw.n, true
}

type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// sendError is a failed request: its kind for the summary, and what the retry needs.
type sendError struct {
	kind       string // dns, connect, tls, timeout, other, http_<status>, bad_ack
	class      string // wire outage class
	status     int
	retryAfter time.Duration
}

func (s *Sim) post(ctx context.Context, h *host, body []byte, gzipped bool) (*wire.Ack, *sendError) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	b, status, retryAfter, err := s.roundTrip(ctx, h, http.MethodPost, pathReports, body, false, gzipped)
	if err != nil {
		return nil, classify(err)
	}
	if status != http.StatusOK {
		se := &sendError{kind: "http_" + strconv.Itoa(status), class: wire.OutageHTTP, status: status}
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			se.retryAfter = parseRetryAfter(retryAfter)
		}
		return nil, se
	}
	var ack wire.Ack
	if err := json.Unmarshal(b, &ack); err != nil {
		return nil, &sendError{kind: "bad_ack", class: wire.OutageOther}
	}
	return &ack, nil
}

// do runs a request and reads a bounded answer, keeping the connection reusable.
func do(c *http.Client, req *http.Request) ([]byte, int, string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, 0, "", err
	}
	return b, resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// failed schedules the retry after a failed delivery (agent.failed): exponential backoff with
// full jitter, or the server's Retry-After if longer.
func (s *Sim) failed(h *host, se *sendError) {
	now := time.Now()
	delay := max(backoff(h.attempt, s.cfg.MaxBackoff), se.retryAfter)
	h.attempt++
	h.retryAt = now.Add(delay)
	if h.outageStart.IsZero() {
		h.outageStart, h.outageClass = now.UTC().Truncate(time.Millisecond), se.class
	}
}

// outageFail is a delivery attempt during the simulated outage: it fails as a connect error
// would, without touching the network (the server must not see it), and is not counted as an error.
func (s *Sim) outageFail(h *host, now time.Time) {
	if h.outageStart.IsZero() {
		h.outageStart, h.outageClass = now.UTC().Truncate(time.Millisecond), wire.OutageConnect
		h.closeConn() // the old connection does not survive the outage
	}
	s.stats.outageAttempts.Add(1)
	h.retryAt = now.Add(backoff(h.attempt, s.cfg.MaxBackoff))
	h.attempt++
}

// backoff is the agent's: uniformly random in [0, min(max, 1s·2^attempt)], at least 100 ms.
func backoff(attempt int, maxDelay time.Duration) time.Duration {
	d := maxDelay
	if attempt < 30 {
		d = min(maxDelay, backoffBase<<attempt)
	}
	return max(time.Duration(rand.Int64N(int64(d)+1)), 100*time.Millisecond)
}

// parseRetryAfter reads delay seconds or an HTTP date, bounded by maxRetryAfter.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(max(n, 0)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), maxRetryAfter)
}

// classify maps a transport error to a kind, as the agent classifies outages.
func classify(err error) *sendError {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recErr tls.RecordHeaderError
	var alertErr tls.AlertError
	var pinErr *tlspin.VerifyError
	switch {
	case errors.As(err, &dnsErr):
		return &sendError{kind: wire.OutageDNS, class: wire.OutageDNS}
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &recErr),
		errors.As(err, &alertErr), errors.As(err, &pinErr), errors.Is(err, tlspin.ErrFingerprintMismatch),
		strings.Contains(err.Error(), "tls: "):
		return &sendError{kind: wire.OutageTLS, class: wire.OutageTLS}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &sendError{kind: wire.OutageTimeout, class: wire.OutageTimeout}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return &sendError{kind: wire.OutageConnect, class: wire.OutageConnect}
	}
	return &sendError{kind: wire.OutageOther, class: wire.OutageOther}
}

// runUpdater is one vigil-updater's poll: GET /api/v1/updates/desired every Poll ±20 %, on its
// own connection, while the host is up and reachable.
func (s *Sim) runUpdater(ctx context.Context, h *host) {
	defer s.wg.Done()
	next := time.Now().Add(time.Duration(rand.Int64N(int64(s.cfg.Poll))))
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		if !now.Before(s.collectEnd) {
			return
		}
		down := h.silentUntil.Load() > now.UnixNano() || (h.inOutage && !now.Before(s.outageFrom) && now.Before(s.outageTo))
		if !down {
			rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, s.cfg.Server+pathDesired, nil)
			req.Header = http.Header{"Authorization": h.hdr["Authorization"], "User-Agent": {"vigil-sim-updater/" + s.cfg.AgentVersion},
				wire.ProtocolHeader: h.hdr[wire.ProtocolHeader]}
			t0 := time.Now()
			b, status, _, err := do(h.upd, req)
			cancel()
			var d wire.UpdateDesired
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				s.stats.addError("updater_" + classify(err).kind)
			case status != http.StatusOK:
				s.stats.addError("updater_http_" + strconv.Itoa(status))
			case wire.Unmarshal(b, false, &d) != nil:
				s.stats.addError("updater_bad_answer")
			default:
				s.stats.poll(time.Since(t0))
			}
		}
		next = next.Add(time.Duration(float64(s.cfg.Poll) * (0.8 + 0.4*rand.Float64())))
		timer.Reset(max(time.Until(next), 0))
	}
}

// churn makes hosts go silent and come back, and enrolls new hosts, during warm-up and window.
func (s *Sim) churn(ctx context.Context) {
	if s.cfg.SilentPerMin == 0 && s.cfg.NewPerMin == 0 {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var silentAcc, newAcc float64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		if !now.Before(s.collectEnd) {
			return
		}
		s.hMu.Lock()
		hosts := s.hosts
		s.hMu.Unlock()
		silentAcc += float64(len(hosts)) * s.cfg.SilentPerMin / 100 / 60
		for ; silentAcc >= 1; silentAcc-- {
			var h *host
			for range 10 { // a host that is up and not in the outage
				if c := hosts[rand.IntN(len(hosts))]; !c.inOutage && c.silentUntil.Load() <= now.UnixNano() {
					h = c
					break
				}
			}
			if h == nil {
				continue
			}
			until := now.Add(s.cfg.SilentFor)
			if s.collectEnd.Before(until) {
				until = s.collectEnd
			}
			h.silentUntil.Store(until.UnixNano())
			s.stats.wentSilent.Add(1)
		}
		newAcc += s.cfg.NewPerMin / 60
		for ; newAcc >= 1; newAcc-- {
			go s.addHost(ctx)
		}
	}
}

// addHost enrolls one new host during the run and starts it.
func (s *Sim) addHost(ctx context.Context) {
	s.stMu.Lock()
	idx := len(s.st.Hosts)
	s.st.Hosts = append(s.st.Hosts, hostState{}) // reserve the index
	s.stMu.Unlock()
	h, err := s.enrollNew(ctx, idx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("Could not enroll a new host.", "error", err)
		}
		s.stMu.Lock()
		s.st.Hosts[idx] = hostState{Hostname: "enroll-failed"}
		s.stMu.Unlock()
		return
	}
	s.stMu.Lock()
	s.st.Hosts[idx] = h.state
	s.stMu.Unlock()
	s.hMu.Lock()
	defer s.hMu.Unlock()
	if s.closed {
		return // enrolled too late to take part; its credential is kept
	}
	s.hosts = append(s.hosts, h)
	s.startHost(ctx, h, time.Now())
}
