package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/wire"
)

// Log keys used across the server.
const (
	logKeyHost  = "host"
	logKeyErr   = "err"
	logKeyGroup = "group"
)

// Config configures a Service. Zero values take the defaults in the comments.
type Config struct {
	// Store persists everything. Required.
	Store Store
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// DefaultInterval is the report interval given to enrolling agents. Defaults to 10s.
	DefaultInterval time.Duration
	// Retention is how long samples are kept. Defaults to 14 days.
	Retention time.Duration
	// RollupMinuteRetention and RollupHourRetention are how long one-minute and one-hour rollups
	// of the chart figures are kept. Defaults DefaultRollupMinuteRetention (7 days) and
	// DefaultRollupHourRetention (90 days); at least 1h each.
	RollupMinuteRetention time.Duration
	RollupHourRetention   time.Duration
	// Registerer receives the Service's Prometheus metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// CommitQueue is how many ingest requests may wait for a commit before new ones are refused
	// with ErrOverloaded. Defaults to 1024.
	CommitQueue int
	// Committers is the number of concurrent group-commit transactions. Defaults to 1, which is
	// right for SQLite (one writer); PostgreSQL benefits from 2 to 4.
	Committers int
	// MaxCommitReports caps the reports merged into one transaction. Defaults to 2000.
	MaxCommitReports int
	// CommitLinger is how long a committer, holding fewer than MaxCommitReports reports, waits
	// for more requests before it commits: a bounded wait that lets a transaction gather more
	// reports when each request carries one. Defaults to DefaultCommitLinger; negative: none
	// (commit what is queued at once).
	CommitLinger time.Duration
	// HostCacheSize bounds the host-credential cache (LRU). Defaults to DefaultHostCacheSize.
	HostCacheSize int
	// HostCacheTTL is how long a cached credential is used without a store read. Defaults to
	// DefaultHostCacheTTL.
	HostCacheTTL time.Duration
	// AgentSettingsTTL is how long a host's effective agent settings, read for the answer to its
	// report, are reused without a store read (changes on this replica drop them at once).
	// Defaults to DefaultAgentSettingsTTL; negative: no cache (a store read per report).
	AgentSettingsTTL time.Duration
	// RevocationPoll is how often revocations and deletions of hosts made by other replicas are
	// looked for (the store's credential generation), when the store can tell. Defaults to DefaultRevocationPoll.
	RevocationPoll time.Duration
	// SessionIdle ends a dashboard session not used for this long (default DefaultSessionIdle);
	// SessionMax ends any session this long after sign-in (default DefaultSessionMax).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// LoginMaxFailuresUser and LoginMaxFailuresAddress failed sign-ins within LoginWindow lock the
	// account, or the address, out for LoginLockout. Defaults: DefaultLoginMaxFailuresUser,
	// DefaultLoginMaxFailuresAddress, DefaultLoginWindow, DefaultLoginLockout.
	LoginMaxFailuresUser    int
	LoginMaxFailuresAddress int
	LoginWindow             time.Duration
	LoginLockout            time.Duration
	// Stager stages pin changes as rollouts and answers updaters by their wave. Nil: a pin
	// applies to the whole group at once.
	Stager Stager
}

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return errors.New("server: Config.Store is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DefaultInterval == 0 {
		c.DefaultInterval = 10 * time.Second
	}
	if c.Retention == 0 {
		c.Retention = 14 * 24 * time.Hour
	}
	if c.RollupMinuteRetention == 0 {
		c.RollupMinuteRetention = DefaultRollupMinuteRetention
	}
	if c.RollupHourRetention == 0 {
		c.RollupHourRetention = DefaultRollupHourRetention
	}
	if c.RollupMinuteRetention < time.Hour || c.RollupHourRetention < time.Hour {
		return errors.New("server: Config out of range (rollup retentions >= 1h)")
	}
	if c.CommitQueue == 0 {
		c.CommitQueue = 1024
	}
	if c.Committers == 0 {
		c.Committers = 1
	}
	if c.MaxCommitReports == 0 {
		c.MaxCommitReports = 2000
	}
	if c.CommitLinger == 0 {
		c.CommitLinger = DefaultCommitLinger
	}
	if c.HostCacheSize <= 0 {
		c.HostCacheSize = DefaultHostCacheSize
	}
	if c.HostCacheTTL <= 0 {
		c.HostCacheTTL = DefaultHostCacheTTL
	}
	if c.AgentSettingsTTL == 0 {
		c.AgentSettingsTTL = DefaultAgentSettingsTTL
	}
	if c.RevocationPoll <= 0 {
		c.RevocationPoll = DefaultRevocationPoll
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = DefaultSessionIdle
	}
	if c.SessionMax == 0 {
		c.SessionMax = DefaultSessionMax
	}
	if c.LoginMaxFailuresUser == 0 {
		c.LoginMaxFailuresUser = DefaultLoginMaxFailuresUser
	}
	if c.LoginMaxFailuresAddress == 0 {
		c.LoginMaxFailuresAddress = DefaultLoginMaxFailuresAddress
	}
	if c.LoginWindow == 0 {
		c.LoginWindow = DefaultLoginWindow
	}
	if c.LoginLockout == 0 {
		c.LoginLockout = DefaultLoginLockout
	}
	if c.SessionIdle < time.Minute || c.SessionMax < c.SessionIdle || c.LoginMaxFailuresUser < 1 || c.LoginMaxFailuresAddress < 1 {
		return errors.New("server: Config out of range (session idle >= 1m, session max >= idle, login failures >= 1)")
	}
	if c.DefaultInterval < time.Second || c.Retention < time.Hour || c.CommitQueue < 1 || c.Committers < 1 {
		return errors.New("server: Config out of range (interval >= 1s, retention >= 1h, queue and committers >= 1)")
	}
	return nil
}

// Service implements the server's behaviour over a Store. It is safe for concurrent use.
type Service struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	metrics *metrics
	commit  *committer
	login   *loginLimiter
	pw      *hasher

	hosts     *hostCache // credential hash → host
	credWatch credentialWatch
	// settings: host ID → effective agent settings for the answer to a report
	settings *settingsCache
	// overloadAt is when (Unix nanoseconds) ingest last turned a report away for the server's own
	// overload; 0 if never (NoteOverload, LastOverload).
	overloadAt atomic.Int64
}

// New returns a Service. Call Start to run its background work and Close to stop it.
func New(cfg Config) (*Service, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger,
		metrics:  newMetrics(cfg.Registerer),
		hosts:    newHostCache(cfg.HostCacheSize, cfg.HostCacheTTL),
		settings: newSettingsCache(cfg.HostCacheSize, cfg.AgentSettingsTTL),
	}
	s.pw = newHasher()
	s.login = newLoginLimiter(cfg.LoginMaxFailuresUser, cfg.LoginMaxFailuresAddress, cfg.LoginWindow, cfg.LoginLockout)
	s.commit = newCommitter(cfg.Store, cfg.CommitQueue, cfg.MaxCommitReports, max(cfg.CommitLinger, 0), s.metrics, cfg.Logger)
	return s, nil
}

// Start runs the group committers and the retention job until ctx ends or Close is called.
func (s *Service) Start(ctx context.Context) {
	s.commit.start(s.cfg.Committers)
	go s.retentionLoop(ctx)
	if cg, ok := s.store.(credentialGenerations); ok {
		go s.revocationLoop(ctx, cg)
	}
}

// Close stops accepting ingest work and waits for in-flight commits to finish.
func (s *Service) Close() {
	s.commit.stop()
}

// Store returns the underlying store.
func (s *Service) Store() Store { return s.store }

// storeErr counts and passes through an unexpected store error.
func (s *Service) storeErr(op string, err error) error {
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) &&
		!errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrGroupNotEmpty) &&
		!errors.Is(err, ErrLastAdmin) &&
		!errors.Is(err, context.Canceled) {
		s.metrics.storeErrors.WithLabelValues(op).Inc()
	}
	return err
}

// Bootstrap creates the first admin API token when the store has none and returns its secret.
// created is false (and the secret empty) when tokens already exist.
func (s *Service) Bootstrap(ctx context.Context) (secret string, created bool, err error) {
	toks, err := s.store.ListAPITokens(ctx)
	if err != nil {
		return "", false, fmt.Errorf("list API tokens: %w", s.storeErr("list_api_tokens", err))
	}
	if len(toks) > 0 {
		return "", false, nil
	}
	var owner User
	if u, err := s.store.UserByName(ctx, BootstrapAdminName); err == nil && u.Role == RoleAdmin {
		owner = u
	}
	secret, _, err = s.createAPIToken(ctx, Principal{Name: "bootstrap"}, owner, "admin", RoleAdmin)
	if err != nil {
		return "", false, err
	}
	return secret, true, nil
}

// Authenticate resolves an operator's API token. A token owned by a user acts for that user and
// never with more than the user's current role: one whose owner was removed is refused, one above
// its owner's role is ErrForbidden.
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, prefixAPIToken) {
		return Principal{}, ErrUnauthorized
	}
	t, err := s.store.APITokenByHash(ctx, HashSecret(secret))
	if errors.Is(err, ErrNotFound) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", s.storeErr("api_token_by_hash", err))
	}
	if t.Revoked {
		return Principal{}, ErrUnauthorized
	}
	p := Principal{TokenID: t.ID, Name: t.Name, Role: t.Role}
	if t.Owner != "" {
		u, err := s.store.UserByID(ctx, t.Owner)
		if errors.Is(err, ErrNotFound) {
			return Principal{}, ErrUnauthorized
		}
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", s.storeErr("user_by_id", err))
		}
		if !covers(u.Role, t.Role) {
			return Principal{}, fmt.Errorf("%w: this token's role %s is above its owner %s's role %s now; create a new token",
				ErrForbidden, t.Role, u.Name, u.Role)
		}
		p.UserID, p.User = u.ID, u.Name
	}
	return p, nil
}

// Allowed reports whether p may perform an action that needs role need. admin may do everything;
// operator and release may do their own things; everyone may read.
func Allowed(p Principal, need string) bool {
	switch {
	case p.Role == RoleAdmin:
		return true
	case need == RoleViewer:
		return ValidRole(p.Role)
	default:
		return p.Role == need
	}
}

func require(p Principal, role string) error {
	if !Allowed(p, role) {
		return fmt.Errorf("%w: needs role %s, token has %s", ErrForbidden, role, p.Role)
	}
	return nil
}

func (s *Service) audit(p Principal, action, target, detail string) AuditEntry {
	return AuditFor(p, s.cfg.Now(), action, target, detail)
}

// auditChange is audit with the object's state before and after the change.
func (s *Service) auditChange(p Principal, action, target, before, after string) AuditEntry {
	a := AuditFor(p, s.cfg.Now(), action, target, "")
	a.Before, a.After = before, after
	return a
}

// AuditFor describes a change p made at now: the actor's display name, the user and token behind
// it and the address it came from. Features beside the Service (alerting) build entries with it.
func AuditFor(p Principal, now time.Time, action, target, detail string) AuditEntry {
	actor := p.Name
	if len(p.TokenID) >= 8 {
		actor = fmt.Sprintf("%s (token %s)", p.Name, p.TokenID[:8])
	}
	return AuditEntry{Time: now.UTC(), Actor: actor, Action: action, Target: target, Detail: detail,
		User: p.User, TokenID: p.TokenID, Address: p.Address}
}

// AuthenticateHost resolves a host credential. Revoked or unknown credentials get ErrUnauthorized.
func (s *Service) AuthenticateHost(ctx context.Context, credential string) (Host, error) {
	if !strings.HasPrefix(credential, prefixCredential) || len(credential) > 128 {
		return Host{}, ErrUnauthorized
	}
	hash := HashSecret(credential)
	now := s.cfg.Now()
	h, ok, gen := s.hosts.get(hash, now)
	if ok {
		return h, nil
	}
	h, err := s.store.HostByCredential(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return Host{}, ErrUnauthorized
	}
	if err != nil {
		return Host{}, fmt.Errorf("authenticate host: %w", s.storeErr("host_by_credential", err))
	}
	if h.Revoked {
		return Host{}, fmt.Errorf("%w: %w", ErrUnauthorized, ErrHostRevoked)
	}
	s.hosts.put(hash, h, now, gen)
	return h, nil
}

// NoteOverload records that ingest just turned a report away for the server's own overload (a
// full queue, no decode slot in time): alerting reads LastOverload so that hosts turned away are
// not taken for silent ones.
func (s *Service) NoteOverload() {
	s.overloadAt.Store(s.cfg.Now().UnixNano())
}

// LastOverload returns when ingest last turned a report away for the server's own overload, or
// the zero time if it never did since this process started.
func (s *Service) LastOverload() time.Time {
	if n := s.overloadAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Limits on operator input.
const (
	maxTokenTTL     = 365 * 24 * time.Hour
	defaultTokenTTL = 24 * time.Hour
	maxTokenUses    = 1_000_000
	maxAlertEmails  = 32
	maxGrace        = 7 * 24 * time.Hour
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName reports whether s is a valid group or channel name: lower-case letters, digits, '.',
// '_' and '-', starting with a letter or digit, at most 63 characters.
func ValidName(s string) bool { return nameRE.MatchString(s) }

var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]{1,40})?$`)

// ValidVersion reports whether v is a release version such as 1.2.3 or 1.3.0-rc.1.
func ValidVersion(v string) bool { return versionRE.MatchString(v) }

// CreateEnrollmentToken makes a token for group that expires after ttl (default 24 h) and admits
// maxUses enrollments (default 1). The secret is returned once.
func (s *Service) CreateEnrollmentToken(ctx context.Context, p Principal, group string, ttl time.Duration, maxUses int) (string, EnrollmentToken, error) {
	if err := require(p, RoleOperator); err != nil {
		return "", EnrollmentToken{}, err
	}
	if group == "" {
		group = DefaultGroup
	}
	if ttl == 0 {
		ttl = defaultTokenTTL
	}
	if maxUses == 0 {
		maxUses = 1
	}
	if !ValidName(group) {
		return "", EnrollmentToken{}, fmt.Errorf("%w: group name %q", ErrInvalid, group)
	}
	if ttl < time.Minute || ttl > maxTokenTTL {
		return "", EnrollmentToken{}, fmt.Errorf("%w: ttl %s not within 1m..%s", ErrInvalid, ttl, maxTokenTTL)
	}
	if maxUses < 1 || maxUses > maxTokenUses {
		return "", EnrollmentToken{}, fmt.Errorf("%w: max uses %d not within 1..%d", ErrInvalid, maxUses, maxTokenUses)
	}
	secret := newSecret(prefixEnrollment)
	now := s.cfg.Now().UTC()
	t := EnrollmentToken{
		ID: newID(), Group: group, ExpiresAt: now.Add(ttl), MaxUses: maxUses,
		CreatedAt: now, CreatedBy: p.Name, Hash: HashSecret(secret),
	}
	err := s.store.CreateEnrollmentToken(ctx, t, s.audit(p, "enrollment_token.create", "token/"+t.ID,
		fmt.Sprintf("group=%s ttl=%s max_uses=%d", group, ttl, maxUses)))
	if err != nil {
		return "", EnrollmentToken{}, fmt.Errorf("create enrollment token: %w", s.storeErr("create_enrollment_token", err))
	}
	return secret, t, nil
}

// ListEnrollmentTokens lists enrollment tokens (never their secrets).
func (s *Service) ListEnrollmentTokens(ctx context.Context, p Principal) ([]EnrollmentToken, error) {
	if err := require(p, RoleViewer); err != nil {
		return nil, err
	}
	return s.store.ListEnrollmentTokens(ctx)
}

// RevokeEnrollmentToken revokes an enrollment token.
func (s *Service) RevokeEnrollmentToken(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	return s.storeErr("revoke_enrollment_token", s.store.RevokeEnrollmentToken(ctx, id, s.audit(p, "enrollment_token.revoke", "token/"+id, "")))
}

// Enroll admits a host with a valid enrollment token and returns its credential.
func (s *Service) Enroll(ctx context.Context, req wire.EnrollRequest) (wire.EnrollResponse, error) {
	if err := req.Validate(); err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !strings.HasPrefix(req.EnrollmentToken, prefixEnrollment) {
		return wire.EnrollResponse{}, ErrTokenInvalid
	}
	cred := newSecret(prefixCredential)
	now := s.cfg.Now().UTC()
	h := Host{
		ID: newID(), Hostname: req.Hostname, MachineID: req.MachineID, OS: req.OS, Arch: req.Arch,
		AgentVersion: req.AgentVersion, EnrolledAt: now, IntervalSeconds: int(s.cfg.DefaultInterval / time.Second),
	}
	h, err := s.store.Enroll(ctx, HashSecret(req.EnrollmentToken), now, h, HashSecret(cred))
	if err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("enroll %s: %w", req.Hostname, s.storeErr("enroll", err))
	}
	s.metrics.enrollments.Inc()
	s.log.InfoContext(ctx, "Host enrolled.", logKeyHost, h.ID, "hostname", h.Hostname, logKeyGroup, h.Group)
	return wire.EnrollResponse{HostID: h.ID, Credential: cred, ReportIntervalSeconds: h.IntervalSeconds}, nil
}

// Ingest validates a batch from an authenticated host, commits it with other hosts' batches and
// returns the ack. It returns only after the commit; ErrOverloaded when the commit queue is full.
func (s *Service) Ingest(ctx context.Context, h Host, batch wire.ReportBatch) (wire.Ack, error) {
	return s.IngestRaw(ctx, h, batch, nil)
}

// IngestRaw is Ingest with each report's JSON as received (wire.UnmarshalReportBatchRaw), which
// is stored as it is instead of encoding the report again; raw may be nil or hold nil entries.
func (s *Service) IngestRaw(ctx context.Context, h Host, batch wire.ReportBatch, raw [][]byte) (wire.Ack, error) {
	if raw != nil && len(raw) != len(batch.Reports) {
		return wire.Ack{}, fmt.Errorf("ingest: %d raw reports for %d reports", len(raw), len(batch.Reports))
	}
	if err := errors.Join(batch.Validate(), batch.CheckClock(s.cfg.Now())); err != nil {
		s.metrics.ingestRejected.Inc()
		return wire.Ack{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	acked, err := s.commit.submit(ctx, HostReports{HostID: h.ID, Reports: batch.Reports, Raw: raw, Received: s.cfg.Now().UTC()})
	if errors.Is(err, ErrNotFound) {
		// Removed (by another replica) while its credential was cached here: refuse it as
		// an unknown credential and forget it.
		s.hosts.forgetHost(h.ID)
		s.log.WarnContext(ctx, "Refused reports of a host that no longer exists.", logKeyHost, h.ID)
		return wire.Ack{}, ErrUnauthorized
	}
	if err != nil {
		if errors.Is(err, ErrOverloaded) {
			s.metrics.ingestOverloaded.Inc()
		}
		return wire.Ack{}, err
	}
	ack := wire.Ack{AckedSeq: acked}
	// Every answer carries the host's complete settings, so a change reaches the agent at its next
	// report (from another replica: within AgentSettingsTTL). The cost is a primary-key read per
	// host per AgentSettingsTTL and a few hundred bytes at most in the answer: the lists are
	// bounded (MaxSettingsProcesses, MaxSettingsUnits) and usually empty ("config":{}).
	now := s.cfg.Now()
	config, ok, gen := s.settings.get(h.ID, now)
	if ok {
		ack.Config = config
		return ack, nil
	}
	group, host, err := s.store.AgentSettings(ctx, h.ID)
	if err != nil {
		// The reports are committed: acknowledge them, and leave the agent's settings as they are.
		s.log.WarnContext(ctx, "Reading a host's agent settings failed; acknowledging without them.", logKeyErr, s.storeErr("agent_settings", err), logKeyHost, h.ID)
		return ack, nil
	}
	ack.Config = EffectiveAgentSettings(group, host).Wire()
	s.settings.put(h.ID, ack.Config, now, gen)
	return ack, nil
}

// GroupAgentSettings returns a group's agent settings.
func (s *Service) GroupAgentSettings(ctx context.Context, p Principal, group string) (AgentSettings, error) {
	g, err := s.GetGroup(ctx, p, group)
	return g.AgentSettings, err
}

// SetGroupAgentSettings replaces a group's agent settings; the zero value clears them. Its hosts'
// agents get them with the answer to their next report.
func (s *Service) SetGroupAgentSettings(ctx context.Context, p Principal, group string, as AgentSettings) (AgentSettings, error) {
	if err := require(p, RoleOperator); err != nil {
		return AgentSettings{}, err
	}
	if err := as.Validate(); err != nil {
		return AgentSettings{}, err
	}
	err := s.store.SetGroupAgentSettings(ctx, group, as, s.audit(p, "group.agent_settings", "group/"+group, as.String()))
	s.settings.forgetAll()
	if err != nil {
		return AgentSettings{}, fmt.Errorf("set agent settings of group %s: %w", group, s.storeErr("set_group_agent_settings", err))
	}
	return as, nil
}

// HostAgentSettings returns a host's group settings, its own, and the effective settings its
// agent gets.
func (s *Service) HostAgentSettings(ctx context.Context, p Principal, hostID string) (group, host, effective AgentSettings, err error) {
	if err := require(p, RoleViewer); err != nil {
		return group, host, effective, err
	}
	group, host, err = s.store.AgentSettings(ctx, hostID)
	if err != nil {
		return group, host, effective, fmt.Errorf("agent settings of host %s: %w", hostID, s.storeErr("agent_settings", err))
	}
	return group, host, EffectiveAgentSettings(group, host), nil
}

// SetHostAgentSettings replaces a host's own agent settings (added to its group's); the zero value
// removes them.
func (s *Service) SetHostAgentSettings(ctx context.Context, p Principal, hostID string, as AgentSettings) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	if err := as.Validate(); err != nil {
		return err
	}
	action := "host.agent_settings"
	if as.IsZero() {
		action = "host.agent_settings_clear"
	}
	err := s.store.SetHostAgentSettings(ctx, hostID, as, s.audit(p, action, "host/"+hostID, as.String()))
	s.settings.forgetAll()
	if err != nil {
		return fmt.Errorf("set agent settings of host %s: %w", hostID, s.storeErr("set_host_agent_settings", err))
	}
	return nil
}

// Desired answers a host's updater with the pin of its group.
func (s *Service) Desired(ctx context.Context, h Host) (wire.UpdateDesired, error) {
	// The cached host may predate a move; read the group from the store.
	cur, err := s.store.GetHost(ctx, h.ID)
	if err != nil {
		return wire.UpdateDesired{}, fmt.Errorf("desired for %s: %w", h.ID, s.storeErr("get_host", err))
	}
	g, err := s.store.GetGroup(ctx, cur.Group)
	if err != nil {
		return wire.UpdateDesired{}, fmt.Errorf("desired for %s: %w", h.ID, s.storeErr("get_group", err))
	}
	qg, err := s.store.QuarantineGeneration(ctx, h.ID)
	if err != nil {
		return wire.UpdateDesired{}, fmt.Errorf("desired for %s: %w", h.ID, s.storeErr("quarantine_generation", err))
	}
	if s.cfg.Stager != nil {
		d, err := s.cfg.Stager.Desired(ctx, cur, g)
		if err != nil {
			return wire.UpdateDesired{}, fmt.Errorf("desired for %s: %w", h.ID, s.storeErr("rollout_desired", err))
		}
		d.QuarantineGeneration = qg
		return d, nil
	}
	return wire.UpdateDesired{Version: g.Pin.Version, Channel: g.Pin.Channel, QuarantineGeneration: qg}, nil
}

// DesiredForEnrollment answers GET /api/v1/updates/desired for a host that has not enrolled yet:
// the pin of the group a valid enrollment token admits to, so an updater's first install runs
// what the operator pinned instead of whatever "stable" points to. It reads only: the token is
// not consumed (a use is counted at enrollment), and an invalid, expired, revoked or used-up
// token is ErrTokenInvalid. Every token is compared in constant time, so the time taken says
// nothing about which secret was close.
func (s *Service) DesiredForEnrollment(ctx context.Context, token string) (wire.UpdateDesired, error) {
	if !strings.HasPrefix(token, prefixEnrollment) {
		return wire.UpdateDesired{}, ErrTokenInvalid
	}
	tokens, err := s.store.ListEnrollmentTokens(ctx)
	if err != nil {
		return wire.UpdateDesired{}, fmt.Errorf("desired for an enrollment token: %w", s.storeErr("list_enrollment_tokens", err))
	}
	want := []byte(HashSecret(token))
	var found *EnrollmentToken
	for i := range tokens {
		if subtle.ConstantTimeCompare(want, []byte(tokens[i].Hash)) == 1 {
			found = &tokens[i]
		}
	}
	now := s.cfg.Now()
	if found == nil || found.Revoked || !now.Before(found.ExpiresAt) || found.Uses >= found.MaxUses {
		return wire.UpdateDesired{}, ErrTokenInvalid
	}
	g, err := s.store.GetGroup(ctx, found.Group)
	if err != nil {
		return wire.UpdateDesired{}, fmt.Errorf("desired for an enrollment token: %w", s.storeErr("get_group", err))
	}
	if s.cfg.Stager != nil {
		d, err := s.cfg.Stager.DesiredForNewHost(ctx, g)
		if err != nil {
			return wire.UpdateDesired{}, fmt.Errorf("desired for an enrollment token: %w", s.storeErr("rollout_desired", err))
		}
		return d, nil
	}
	return wire.UpdateDesired{Version: g.Pin.Version, Channel: g.Pin.Channel}, nil
}

// RecordUpdateEvent stores an update phase reported by a host's updater.
func (s *Service) RecordUpdateEvent(ctx context.Context, h Host, e wire.UpdateEvent) error {
	if err := errors.Join(e.Validate(), e.CheckClock(s.cfg.Now())); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if e.Binary == "" {
		e.Binary = "vigil-agent"
	}
	ev := UpdateEvent{HostID: h.ID, UpdateEvent: e, ReceivedAt: s.cfg.Now().UTC()}
	if err := s.store.AddUpdateEvent(ctx, ev); err != nil {
		return fmt.Errorf("record update event: %w", s.storeErr("add_update_event", err))
	}
	if e.Result == wire.ResultFailed {
		s.log.WarnContext(ctx, "Host reported a failed update.", logKeyHost, h.ID, "phase", e.Phase, "to", e.ToVersion, "reason", e.Reason)
	}
	return nil
}

// ListHosts lists hosts, optionally of one group.
func (s *Service) ListHosts(ctx context.Context, p Principal, group string) ([]Host, error) {
	if err := require(p, RoleViewer); err != nil {
		return nil, err
	}
	hs, err := s.store.ListHosts(ctx, group)
	if err != nil {
		return nil, s.storeErr("list_hosts", err)
	}
	return hs, s.withStatus(ctx, hs)
}

// GetHost returns one host, with its status and what its agent dropped from a full spool over the
// last DroppedWindow.
func (s *Service) GetHost(ctx context.Context, p Principal, id string) (Host, error) {
	if err := require(p, RoleViewer); err != nil {
		return Host{}, err
	}
	h, err := s.store.GetHost(ctx, id)
	if err != nil {
		return Host{}, s.storeErr("get_host", err)
	}
	hs := []Host{h}
	if err := s.withStatus(ctx, hs); err != nil {
		return Host{}, err
	}
	since := s.cfg.Now().Add(-DroppedWindow)
	d, err := s.store.ReportsDropped(ctx, id, since)
	if err != nil {
		// The host itself was read: a failed sum costs the operator one figure, not the page.
		s.log.WarnContext(ctx, "Could not sum the reports a host dropped; showing the host without it.", logKeyHost, id, logKeyErr, s.storeErr("reports_dropped", err))
		return hs[0], nil
	}
	d.Since = since
	hs[0].Dropped = d
	return hs[0], nil
}

// DroppedWindow is how far back GetHost sums the reports a host dropped from its full spool: a
// day. The stores read only the reports that carry a count (a partial index, migration 0012).
const DroppedWindow = 24 * time.Hour

// RevokeHost revokes a host's credential; its next report is refused.
func (s *Service) RevokeHost(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	a := s.auditChange(p, "host.revoke", "host/"+id, "", "revoked")
	if h, err := s.store.GetHost(ctx, id); err == nil {
		a.Before = fmt.Sprintf("hostname=%s group=%s revoked=%v", h.Hostname, h.Group, h.Revoked)
	}
	err := s.store.RevokeHost(ctx, id, a)
	s.hosts.forgetHost(id)
	return s.storeErr("revoke_host", err)
}

// ClearQuarantine tells a host's updater to forget the versions it quarantined (and its
// interrupted trials) at its next poll, by raising the host's quarantine generation, which the
// desired-version answer carries. It returns the new generation. Operator role; audited.
func (s *Service) ClearQuarantine(ctx context.Context, p Principal, id string) (uint64, error) {
	if err := require(p, RoleOperator); err != nil {
		return 0, err
	}
	if err := s.store.ClearQuarantine(ctx, id, s.audit(p, "host.clear_quarantine", "host/"+id, "")); err != nil {
		return 0, s.storeErr("clear_quarantine", err)
	}
	g, err := s.store.QuarantineGeneration(ctx, id)
	return g, s.storeErr("quarantine_generation", err)
}

// DeleteHost removes a host from the fleet: its credential stops working at once and its stored
// reports, outages and update events are deleted. Alerts and the audit log keep their history. An
// agent still running on it is refused (401) and must enroll again to come back, as a new host.
func (s *Service) DeleteHost(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	h, err := s.store.GetHost(ctx, id)
	if err != nil {
		return fmt.Errorf("delete host %s: %w", id, s.storeErr("get_host", err))
	}
	err = s.store.DeleteHost(ctx, id, s.audit(p, "host.delete", "host/"+id, "hostname="+h.Hostname))
	s.hosts.forgetHost(id)
	s.settings.forgetAll()
	if err != nil {
		return fmt.Errorf("delete host %s: %w", id, s.storeErr("delete_host", err))
	}
	return nil
}

// MoveHost moves a host to another group.
func (s *Service) MoveHost(ctx context.Context, p Principal, id, group string) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	a := s.audit(p, "host.move", "host/"+id, "group="+group)
	if h, err := s.store.GetHost(ctx, id); err == nil {
		a.Before, a.After = "group="+h.Group, "group="+group
	}
	err := s.store.MoveHost(ctx, id, group, a)
	s.settings.forgetAll() // the host now has its new group's settings
	return s.storeErr("move_host", err)
}

// ListGroups lists groups with their host counts.
func (s *Service) ListGroups(ctx context.Context, p Principal) ([]Group, error) {
	if err := require(p, RoleViewer); err != nil {
		return nil, err
	}
	gs, err := s.store.ListGroups(ctx)
	return gs, s.storeErr("list_groups", err)
}

// GetGroup returns one group.
func (s *Service) GetGroup(ctx context.Context, p Principal, name string) (Group, error) {
	if err := require(p, RoleViewer); err != nil {
		return Group{}, err
	}
	g, err := s.store.GetGroup(ctx, name)
	return g, s.storeErr("get_group", err)
}

func validateGroupSettings(g Group) error {
	if !ValidName(g.Name) {
		return fmt.Errorf("%w: group name %q (lower-case letters, digits, '.', '_', '-'; at most 63)", ErrInvalid, g.Name)
	}
	if g.Grace < 0 || g.Grace > maxGrace {
		return fmt.Errorf("%w: grace %s not within 0..%s", ErrInvalid, g.Grace, maxGrace)
	}
	if len(g.AlertEmails) > maxAlertEmails {
		return fmt.Errorf("%w: at most %d alert emails", ErrInvalid, maxAlertEmails)
	}
	for _, a := range g.AlertEmails {
		if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "<>\r\n ") {
			return fmt.Errorf("%w: alert email %q is not a plain address", ErrInvalid, a)
		}
	}
	return nil
}

// CreateGroup creates a group.
func (s *Service) CreateGroup(ctx context.Context, p Principal, g Group) (Group, error) {
	if err := require(p, RoleOperator); err != nil {
		return Group{}, err
	}
	if err := validateGroupSettings(g); err != nil {
		return Group{}, err
	}
	g.Pin = Pin{}
	g.CreatedAt = s.cfg.Now().UTC()
	if err := s.store.CreateGroup(ctx, g, s.audit(p, "group.create", "group/"+g.Name, groupDetail(g))); err != nil {
		return Group{}, fmt.Errorf("create group %s: %w", g.Name, s.storeErr("create_group", err))
	}
	return g, nil
}

func groupDetail(g Group) string {
	return fmt.Sprintf("grace=%s alert_emails=%s", g.Grace, strings.Join(g.AlertEmails, ","))
}

// UpdateGroup sets a group's grace and alert recipients.
func (s *Service) UpdateGroup(ctx context.Context, p Principal, g Group) (Group, error) {
	if err := require(p, RoleOperator); err != nil {
		return Group{}, err
	}
	if err := validateGroupSettings(g); err != nil {
		return Group{}, err
	}
	a := s.audit(p, "group.update", "group/"+g.Name, groupDetail(g))
	if old, err := s.store.GetGroup(ctx, g.Name); err == nil {
		a.Before, a.After = groupDetail(old), groupDetail(g)
	}
	if err := s.store.UpdateGroup(ctx, g, a); err != nil {
		return Group{}, fmt.Errorf("update group %s: %w", g.Name, s.storeErr("update_group", err))
	}
	return s.store.GetGroup(ctx, g.Name)
}

// SetPin pins a group to an exact version or a channel; an empty pin lets hosts stay where they are.
func (s *Service) SetPin(ctx context.Context, p Principal, group string, pin Pin) (Group, error) {
	if err := require(p, RoleOperator); err != nil {
		return Group{}, err
	}
	switch {
	case pin.Version != "" && pin.Channel != "":
		return Group{}, fmt.Errorf("%w: pin either a version or a channel, not both", ErrInvalid)
	case pin.Version != "" && !ValidVersion(pin.Version):
		return Group{}, fmt.Errorf("%w: version %q is not like 1.2.3", ErrInvalid, pin.Version)
	case pin.Channel != "" && !ValidName(pin.Channel):
		return Group{}, fmt.Errorf("%w: channel name %q", ErrInvalid, pin.Channel)
	}
	detail := "unpinned"
	if pin.Version != "" {
		detail = "version=" + pin.Version
	} else if pin.Channel != "" {
		detail = "channel=" + pin.Channel
	}
	a := s.audit(p, "group.pin", "group/"+group, detail)
	if old, err := s.store.GetGroup(ctx, group); err == nil {
		a.Before, a.After = pinDetail(old.Pin), detail
	}
	if s.cfg.Stager != nil {
		g, err := s.store.GetGroup(ctx, group)
		if err != nil {
			return Group{}, fmt.Errorf("pin group %s: %w", group, s.storeErr("get_group", err))
		}
		if err := s.cfg.Stager.StagePin(ctx, g, pin, a); err != nil {
			return Group{}, fmt.Errorf("pin group %s: %w", group, s.storeErr("stage_pin", err))
		}
		return s.store.GetGroup(ctx, group)
	}
	if err := s.store.SetPin(ctx, group, pin, a); err != nil {
		return Group{}, fmt.Errorf("pin group %s: %w", group, s.storeErr("set_pin", err))
	}
	return s.store.GetGroup(ctx, group)
}

func pinDetail(pin Pin) string {
	switch {
	case pin.Version != "":
		return "version=" + pin.Version
	case pin.Channel != "":
		return "channel=" + pin.Channel
	}
	return "unpinned"
}

// DeleteGroup deletes an empty group.
func (s *Service) DeleteGroup(ctx context.Context, p Principal, name string) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	if name == DefaultGroup {
		return fmt.Errorf("%w: the default group cannot be deleted", ErrInvalid)
	}
	if err := s.store.DeleteGroup(ctx, name, s.audit(p, "group.delete", "group/"+name, "")); err != nil {
		return fmt.Errorf("delete group %s: %w", name, s.storeErr("delete_group", err))
	}
	return nil
}

// CreateAPIToken makes an API token with a role, owned by the user behind p. The secret is returned
// once. Anyone may make tokens for themselves, never above their own role (ErrForbidden).
func (s *Service) CreateAPIToken(ctx context.Context, p Principal, name, role string) (string, APIToken, error) {
	if err := require(p, RoleViewer); err != nil {
		return "", APIToken{}, err
	}
	if ValidRole(role) && !covers(p.Role, role) {
		return "", APIToken{}, fmt.Errorf("%w: you may not create a token with role %s above your own role %s", ErrForbidden, role, p.Role)
	}
	return s.createAPIToken(ctx, p, User{ID: p.UserID, Name: p.User}, name, role)
}

// CreateAPITokenFor makes an API token owned by the user named owner, at most that user's role.
// Admin only.
func (s *Service) CreateAPITokenFor(ctx context.Context, p Principal, owner, name, role string) (string, APIToken, error) {
	if err := require(p, RoleAdmin); err != nil {
		return "", APIToken{}, fmt.Errorf("%w (only an admin may create a token for another user)", err)
	}
	u, err := s.userByName(ctx, owner)
	if err != nil {
		return "", APIToken{}, err
	}
	if ValidRole(role) && !covers(u.Role, role) {
		return "", APIToken{}, fmt.Errorf("%w: a token with role %s is above %s's role %s", ErrForbidden, role, owner, u.Role)
	}
	return s.createAPIToken(ctx, p, u, name, role)
}

// createAPIToken makes a token owned by owner (the zero User: no owner), audited as p's change.
func (s *Service) createAPIToken(ctx context.Context, p Principal, owner User, name, role string) (string, APIToken, error) {
	if !ValidRole(role) {
		return "", APIToken{}, fmt.Errorf("%w: role %q (admin, operator, release, viewer)", ErrInvalid, role)
	}
	if name == "" || len(name) > 64 {
		return "", APIToken{}, fmt.Errorf("%w: token name must be 1..64 characters", ErrInvalid)
	}
	secret := newSecret(prefixAPIToken)
	t := APIToken{ID: newID(), Name: name, Role: role, CreatedAt: s.cfg.Now().UTC(), Hash: HashSecret(secret), Owner: owner.ID, OwnerName: owner.Name}
	a := s.auditChange(p, "api_token.create", "api_token/"+t.ID, "", "name="+name+" role="+role)
	a.Detail = "name=" + name + " role=" + role
	if owner.Name != "" {
		a.After += " owner=" + owner.Name
	}
	if err := s.store.CreateAPIToken(ctx, t, a); err != nil {
		return "", APIToken{}, fmt.Errorf("create API token: %w", s.storeErr("create_api_token", err))
	}
	return secret, t, nil
}

// ListAPITokens lists API tokens (never their secrets): all of them for an admin, one's own for
// everyone else.
func (s *Service) ListAPITokens(ctx context.Context, p Principal) ([]APIToken, error) {
	if err := require(p, RoleViewer); err != nil {
		return nil, err
	}
	ts, err := s.store.ListAPITokens(ctx)
	if err != nil {
		return nil, err
	}
	us, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", s.storeErr("list_users", err))
	}
	names := map[string]string{}
	for _, u := range us {
		names[u.ID] = u.Name
	}
	for i := range ts {
		ts[i].OwnerName = names[ts[i].Owner]
	}
	if Allowed(p, RoleAdmin) {
		return ts, nil
	}
	mine := ts[:0]
	for _, t := range ts {
		if p.UserID != "" && t.Owner == p.UserID {
			mine = append(mine, t)
		}
	}
	return mine, nil
}

// RevokeAPIToken revokes an API token: any for an admin, one's own for everyone else.
func (s *Service) RevokeAPIToken(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleViewer); err != nil {
		return err
	}
	ts, err := s.store.ListAPITokens(ctx)
	if err != nil {
		return fmt.Errorf("list API tokens: %w", s.storeErr("list_api_tokens", err))
	}
	before := ""
	for _, t := range ts {
		if t.ID != id {
			continue
		}
		if !Allowed(p, RoleAdmin) && (p.UserID == "" || t.Owner != p.UserID) {
			return fmt.Errorf("%w: only an admin may revoke another user's token", ErrForbidden)
		}
		before = "name=" + t.Name + " role=" + t.Role
	}
	if before == "" {
		return fmt.Errorf("API token %s: %w", id, ErrNotFound)
	}
	return s.storeErr("revoke_api_token", s.store.RevokeAPIToken(ctx, id, s.auditChange(p, "api_token.revoke", "api_token/"+id, before, "revoked")))
}

// MaxAuditPage is the most audit entries one call returns; DefaultAuditPage is the default.
const (
	MaxAuditPage     = 1000
	DefaultAuditPage = 100
)

// ListAudit pages through the audit log, newest first.
func (s *Service) ListAudit(ctx context.Context, p Principal, limit int, before int64) ([]AuditEntry, error) {
	return s.SearchAudit(ctx, p, AuditFilter{Limit: limit, Before: before})
}

// SearchAudit returns the audit entries f selects, newest first, at most MaxAuditPage
// (DefaultAuditPage when f.Limit is zero or less).
func (s *Service) SearchAudit(ctx context.Context, p Principal, f AuditFilter) ([]AuditEntry, error) {
	if err := require(p, RoleViewer); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > MaxAuditPage {
		f.Limit = DefaultAuditPage
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil, fmt.Errorf("%w: since must be before until", ErrInvalid)
	}
	return s.store.SearchAudit(ctx, f)
}

// ListUpdateEvents returns a host's recent update events.
func (s *Service) ListUpdateEvents(ctx context.Context, p Principal, hostID string) ([]UpdateEvent, error) {
	if err := require(p, RoleViewer); err != nil {
		return nil, err
	}
	return s.store.ListUpdateEvents(ctx, hostID, 100)
}

// retentionInterval is how often the retention job runs.
const retentionInterval = time.Hour

func (s *Service) retentionLoop(ctx context.Context) {
	t := time.NewTicker(retentionInterval)
	defer t.Stop()
	for {
		s.RunRetention(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunRetention deletes samples, and rollups, older than their retention periods once.
func (s *Service) RunRetention(ctx context.Context) {
	s.runRollupRetention(ctx)
	cutoff := s.cfg.Now().Add(-s.cfg.Retention)
	n, err := s.store.DeleteSamplesBefore(ctx, cutoff)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "Retention failed.", logKeyErr, s.storeErr("delete_samples", err))
		}
		return
	}
	if n > 0 {
		s.log.InfoContext(ctx, "Retention deleted old samples.", "samples", n, "before", cutoff.Format(time.RFC3339))
	}
}
