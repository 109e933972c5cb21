package alert

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhq/vigil/server"
)

// Log keys.
const (
	logKeyErr   = "err"
	logKeyHost  = "host"
	logKeyAlert = "alert"
	logKeyState = "state"
)

// Config configures an Engine. Zero values take the defaults in the comments.
type Config struct {
	// Store holds hosts, rules, alerts and the outbox. Required.
	Store Store
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Started is when this server process started: no host is silent before Started + its
	// interval + grace, because the server's own downtime is not the hosts'. Defaults to Now()
	// when the Engine is made.
	Started time.Time
	// Overload tells when the server last turned reports away for its own overload (server.Service
	// implements it). Like Started, it moves every host's deadlines: no host is late or silent
	// before the last overload + its interval + grace, because reports the server refused are not
	// the hosts' silence. Nil: the server never counts as overloaded.
	Overload OverloadSource
	// Recipients get every alert email; groups add their own AlertEmails.
	Recipients []string
	// PublicURL is the dashboard's base URL, for links to hosts (<PublicURL>/hosts/<id>).
	PublicURL string

	// ScanInterval is how often the whole fleet's narrow host state is re-read (new hosts,
	// changed intervals and grace, new reports for the threshold rules). Defaults to 10s.
	ScanInterval time.Duration
	// DefaultInterval is the report interval assumed for hosts that never said theirs.
	// Defaults to 10s.
	DefaultInterval time.Duration
	// FlapDamping is how long a host that came back (or a condition that cleared) must stay so
	// before the recovery email. Defaults to 1m; negative means no damping.
	FlapDamping time.Duration
	// RepeatInterval is how often a reminder goes out while an alert keeps firing. Defaults to
	// 4h; negative means never.
	RepeatInterval time.Duration
	// GroupShare: when more than this share of a group's hosts are late or silent at once, one
	// email covers the group. Defaults to 0.5; 1 or more disables collapsing.
	GroupShare float64
	// GroupMinHosts is the fewest late or silent hosts a group email covers. Defaults to 3.
	GroupMinHosts int
	// EvalBudget bounds the wall time one Tick spends running rules on new reports; hosts left
	// over wait for the next Tick, so a large fleet's rule work is spread out and never holds up
	// silence detection for long. Defaults to 250ms.
	EvalBudget time.Duration
	// OnQueued is called after notifications were queued (the Sender's Wake), so emails leave
	// at once instead of at the Sender's next poll.
	OnQueued func()
	// Retention is how long resolved alerts (with their history) and sent or skipped emails are
	// kept; open alerts and unsent emails are kept whatever their age. The leader deletes older
	// ones every PruneInterval. Defaults to DefaultRetention; it must be at least MinRetention.
	Retention time.Duration
	// PruneInterval is how often Tick applies Retention and AuditRetention. Defaults to 1h.
	PruneInterval time.Duration
	// Audit, when set, has the leader delete audit entries older than AuditRetention every
	// PruneInterval (the alerting leader is the server's one singleton housekeeper).
	Audit AuditPruner
	// AuditRetention is how long audit entries are kept. Defaults to DefaultAuditRetention; it
	// must be at least MinRetention.
	AuditRetention time.Duration
	// Metrics records evaluation time, outbox depth and pruning. nil records nothing.
	Metrics *Metrics
}

// OverloadSource reports when ingest last refused reports because the server itself was
// overloaded, or the zero time. It is implemented by server.Service (NoteOverload records it).
type OverloadSource interface {
	LastOverload() time.Time
}

// DefaultRetention is how long resolved alerts and sent emails are kept by default: 90 days.
const DefaultRetention = 90 * 24 * time.Hour

// DefaultAuditRetention is how long audit entries are kept by default: 365 days.
const DefaultAuditRetention = 365 * 24 * time.Hour

// AuditPruner deletes old audit entries; sqlitestore.Store and pgstore.Store implement it.
type AuditPruner interface {
	// PruneAudit deletes audit entries older than before and returns how many. Idempotent.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// MinRetention is the shortest Retention accepted: an hour, so a unit typo (--alert-retention
// 90s for 90 days) is refused instead of wiping the alert history.
const MinRetention = time.Hour

// ErrConfig marks an out-of-range setting.
var ErrConfig = errors.New("alert: invalid configuration")

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return errors.New("alert: Config.Store is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Started.IsZero() {
		c.Started = c.Now()
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = 10 * time.Second
	}
	if c.DefaultInterval <= 0 {
		c.DefaultInterval = 10 * time.Second
	}
	switch {
	case c.FlapDamping == 0:
		c.FlapDamping = time.Minute
	case c.FlapDamping < 0:
		c.FlapDamping = 0
	}
	switch {
	case c.RepeatInterval == 0:
		c.RepeatInterval = 4 * time.Hour
	case c.RepeatInterval < 0:
		c.RepeatInterval = 0
	}
	if c.GroupShare <= 0 {
		c.GroupShare = 0.5
	}
	if c.GroupMinHosts <= 0 {
		c.GroupMinHosts = 3
	}
	if c.EvalBudget <= 0 {
		c.EvalBudget = 250 * time.Millisecond
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Retention < MinRetention {
		return fmt.Errorf("%w: alert retention %s is below the minimum %s", ErrConfig, c.Retention, MinRetention)
	}
	if c.PruneInterval <= 0 {
		c.PruneInterval = time.Hour
	}
	if c.AuditRetention == 0 {
		c.AuditRetention = DefaultAuditRetention
	}
	if c.AuditRetention < MinRetention {
		return fmt.Errorf("%w: audit retention %s is below the minimum %s", ErrConfig, c.AuditRetention, MinRetention)
	}
	return nil
}

// Engine evaluates silence and rules and records alerts. Tick runs one evaluation cycle; the
// Runner calls it on the leader only. Tick calls are serialized.
type Engine struct {
	cfg   Config
	store Store
	log   *slog.Logger

	mu       sync.Mutex
	loaded   bool
	lastScan time.Time
	hosts    map[string]*hostEntry
	due      hostHeap
	open     map[string]*Alert // open alerts by Key
	rules    []Rule
	silences []Silence
	groups   map[string]server.Group
	// hostnames counts the hosts of each hostname at the last scan, so emails can tell apart
	// hosts that share one (hostLabel).
	hostnames map[string]int
	// rulesGen counts the changes of the rules seen by scans (rulesSig is their JSON), so hosts
	// evaluated under other rules are evaluated again.
	rulesGen uint64
	rulesSig string
	// toEvaluate queues hosts with new reports for the rules (hostEntry.queued marks them).
	toEvaluate []*hostEntry
	// scanGen counts scans; hostEntry.seenGen is the last one that listed the host.
	scanGen uint64
	// lastCount and lastPrune are when housekeeping last counted the outbox and pruned.
	lastCount, lastPrune time.Time
	// overloadAt is Config.Overload's answer, read once per Tick.
	overloadAt time.Time
}

// hostEntry is the engine's view of one host.
type hostEntry struct {
	st HostState
	// due is when the host must next be looked at; idx its place in the heap, -1 if not in it.
	due time.Time
	idx int
	// seenGen is the Engine's scanGen of the last scan that listed the host; queued says it waits
	// in toEvaluate; gone that it left the fleet (removed from Engine.hosts).
	seenGen uint64
	queued  bool
	gone    bool
	// evaluatedSeq is the AckedSeq whose latest report the rules last saw; evaluatedAt when.
	evaluatedSeq uint64
	evaluatedAt  time.Time
	// evaluatedHash, evaluatedGroup and evaluatedRules are the FiguresHash, group and rules
	// generation that evaluation saw: while all three stay, a host without open rule alerts needs
	// no new evaluation.
	evaluatedHash  int64
	evaluatedGroup string
	evaluatedRules uint64
}

// NewEngine returns an Engine. It loads nothing until its first Tick.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, store: cfg.Store, log: cfg.Logger}, nil
}

// Reset forgets the in-memory state; the next Tick rebuilds it from the store. The Runner calls
// it when leadership is lost, so a later term starts from what the other leader stored.
func (e *Engine) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.loaded = false
	e.hosts, e.open, e.due = nil, nil, nil
}

// Tick runs one evaluation cycle at Now(): on the first call (or after Reset) it rebuilds its
// state from the store; every ScanInterval it re-reads the fleet and evaluates rules on new
// reports; every call it handles the hosts whose deadline passed, the hosts already alerting, and
// the alerts' timers (for durations, flap damping, reminders, maintenance ends). Any error (a
// store conflict because another leader wrote, a failed or cancelled write) resets the engine and
// is returned: the engine changes an alert in memory before it saves it (state, NotifiedAt), so
// after a failed save memory may be ahead of the store, and continuing from it would lose the
// email that save carried. The next Tick rebuilds from what the store holds.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	start := time.Now() // wall time on purpose: the cost of a cycle, whatever the clock says
	err := e.tick(ctx, now)
	e.cfg.Metrics.observeEval(time.Since(start).Seconds())
	if err != nil {
		e.loaded = false
	}
	e.housekeep(ctx, now)
	return err
}

// housekeep counts the outbox every ScanInterval and applies Retention every PruneInterval. Its
// failures are logged and counted, not returned: they leave the evaluation state intact.
func (e *Engine) housekeep(ctx context.Context, now time.Time) {
	if ctx.Err() != nil {
		return
	}
	if now.Sub(e.lastCount) >= e.cfg.ScanInterval || e.lastCount.IsZero() {
		e.lastCount = now
		if n, err := e.store.CountUnsent(ctx); err != nil {
			e.cfg.Metrics.housekeepingError()
			e.log.WarnContext(ctx, "Counting the alert outbox failed.", logKeyErr, err)
		} else {
			e.cfg.Metrics.setOutboxDepth(n)
		}
	}
	if now.Sub(e.lastPrune) < e.cfg.PruneInterval && !e.lastPrune.IsZero() {
		return
	}
	e.lastPrune = now
	if _, _, err := e.Prune(ctx); err != nil {
		e.cfg.Metrics.housekeepingError()
		e.log.ErrorContext(ctx, "Alert retention failed.", logKeyErr, err)
	}
	if _, err := e.PruneAudit(ctx); err != nil {
		e.cfg.Metrics.housekeepingError()
		e.log.ErrorContext(ctx, "Audit retention failed.", logKeyErr, err)
	}
}

// PruneAudit deletes audit entries older than AuditRetention, now, when Config.Audit is set.
// Tick calls it every PruneInterval on the leader.
func (e *Engine) PruneAudit(ctx context.Context) (int64, error) {
	if e.cfg.Audit == nil {
		return 0, nil
	}
	cutoff := e.cfg.Now().Add(-e.cfg.AuditRetention)
	n, err := e.cfg.Audit.PruneAudit(ctx, cutoff)
	if err != nil {
		return 0, fmt.Errorf("audit retention: %w", err)
	}
	e.cfg.Metrics.prunedAudit(n)
	if n > 0 {
		e.log.InfoContext(ctx, "Audit retention deleted old audit entries.", "entries", n, "before", cutoff.UTC().Format(time.RFC3339))
	}
	return n, nil
}

// Prune deletes resolved alerts and sent or skipped emails older than Retention, now. Tick calls
// it every PruneInterval on the leader.
func (e *Engine) Prune(ctx context.Context) (alerts, notifications int64, err error) {
	cutoff := e.cfg.Now().Add(-e.cfg.Retention)
	alerts, notifications, err = e.store.PruneAlerts(ctx, cutoff)
	if err != nil {
		return 0, 0, fmt.Errorf("alert retention: %w", err)
	}
	e.cfg.Metrics.prunedRows(alerts, notifications)
	if alerts > 0 || notifications > 0 {
		e.log.InfoContext(ctx, "Alert retention deleted old alerts and emails.", "alerts", alerts, "emails", notifications,
			"before", cutoff.UTC().Format(time.RFC3339))
	}
	return alerts, notifications, nil
}

func (e *Engine) tick(ctx context.Context, now time.Time) error {
	e.readOverload(ctx)
	if !e.loaded {
		if err := e.load(ctx, now); err != nil {
			return err
		}
	} else if now.Sub(e.lastScan) >= e.cfg.ScanInterval {
		if err := e.scan(ctx, now); err != nil {
			return err
		}
	}
	if err := e.checkSilence(ctx, now); err != nil {
		return err
	}
	if err := e.evaluateQueued(ctx, now); err != nil {
		return err
	}
	return e.checkTimers(ctx, now)
}

// load rebuilds the state from the store.
func (e *Engine) load(ctx context.Context, now time.Time) error {
	e.hosts = map[string]*hostEntry{}
	e.open = map[string]*Alert{}
	e.due = nil
	e.toEvaluate = nil
	e.hostnames = map[string]int{}
	as, err := e.store.OpenAlerts(ctx)
	if err != nil {
		return fmt.Errorf("load open alerts: %w", err)
	}
	for i := range as {
		a := as[i]
		e.open[a.Key] = &a
	}
	if err := e.scan(ctx, now); err != nil {
		return err
	}
	e.loaded = true
	return nil
}

// scan re-reads settings and the fleet, fixes every host's deadline and evaluates the rules on
// hosts with new reports.
func (e *Engine) scan(ctx context.Context, now time.Time) error {
	rules, err := e.store.ListRules(ctx)
	if err != nil {
		return fmt.Errorf("load rules: %w", err)
	}
	sils, err := e.store.ListSilences(ctx, now)
	if err != nil {
		return fmt.Errorf("load silences: %w", err)
	}
	gs, err := e.store.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("load groups: %w", err)
	}
	sts, err := e.store.ListHostStates(ctx)
	if err != nil {
		return fmt.Errorf("load hosts: %w", err)
	}
	if err := e.refreshAcks(ctx); err != nil {
		return err
	}
	if sig, err := json.Marshal(rules); err != nil || string(sig) != e.rulesSig {
		e.rulesGen++
		e.rulesSig = string(sig)
	}
	e.rules, e.silences = rules, sils
	e.groups = make(map[string]server.Group, len(gs))
	for _, g := range gs {
		e.groups[g.Name] = g
	}
	e.lastScan = now

	// Per host, no allocation and one map lookup: which hosts this scan listed is a generation
	// number in their entries, the hostname counts change only where a hostname did.
	e.scanGen++
	queuedBefore := len(e.toEvaluate)
	for i := range sts {
		st := &sts[i]
		ent := e.hosts[st.ID]
		if ent == nil {
			ent = &hostEntry{idx: -1}
			e.hosts[st.ID] = ent
			e.hostnames[st.Hostname]++
			ent.st.Hostname = st.Hostname
		}
		e.setState(ent, *st)
		ent.seenGen = e.scanGen
		e.schedule(ent, now)
		if st.AckedSeq != ent.evaluatedSeq && !ent.queued {
			ent.queued = true
			e.toEvaluate = append(e.toEvaluate, ent)
		}
	}
	// In ID order, so each batch's figures are neighbours in the store's primary key (the same
	// pages, not one page per host).
	slices.SortFunc(e.toEvaluate[queuedBefore:], func(a, b *hostEntry) int { return strings.Compare(a.st.ID, b.st.ID) })
	if len(e.hosts) > len(sts) {
		for _, ent := range e.hosts {
			if ent.seenGen != e.scanGen {
				e.forgetHost(ent)
			}
		}
	}
	// Alerts of hosts that were revoked or removed resolve without email.
	for _, a := range e.sortedOpen() {
		if a.HostID != "" && e.hosts[a.HostID] == nil {
			if err := e.resolve(ctx, now, a, "host revoked or removed", false); err != nil {
				return err
			}
		}
	}
	return nil
}

// setState gives a host known to the engine its state as the store just read it, keeping the
// hostname counts right.
func (e *Engine) setState(ent *hostEntry, st HostState) {
	if ent.st.Hostname != st.Hostname {
		e.forgetHostname(ent.st.Hostname)
		e.hostnames[st.Hostname]++
	}
	ent.st = st
}

// forgetHost takes a host that left the fleet out of the engine; a queued evaluation of it is
// then skipped.
func (e *Engine) forgetHost(ent *hostEntry) {
	e.unschedule(ent)
	e.forgetHostname(ent.st.Hostname)
	ent.gone = true
	delete(e.hosts, ent.st.ID)
}

// forgetHostname takes one host of hostname out of the counts.
func (e *Engine) forgetHostname(hostname string) {
	if e.hostnames[hostname] <= 1 {
		delete(e.hostnames, hostname)
	} else {
		e.hostnames[hostname]--
	}
}

// refreshAcks copies the operators' acknowledgements of open alerts from the store: the engine
// never writes them (Store.AckAlert does), it only reads them to skip reminders.
func (e *Engine) refreshAcks(ctx context.Context) error {
	acks, err := e.store.OpenAlertAcks(ctx)
	if err != nil {
		return fmt.Errorf("load alert acknowledgements: %w", err)
	}
	for _, a := range e.open {
		if k, ok := acks[a.ID]; ok {
			a.AckedAt, a.AckedBy = k.At, k.By
		}
	}
	return nil
}

// schedule puts a host in the heap at the time it must next be looked at: once it is late (now
// past lateAt), or past its deadline when there is no late stage. Hosts with an open silence alert are checked
// every tick instead, and hosts no silence rule covers are not scheduled.
func (e *Engine) schedule(ent *hostEntry, now time.Time) {
	if e.silenceOpen(ent.st.ID) || e.silenceRule(ent.st) == nil {
		e.unschedule(ent)
		return
	}
	lateAt, _ := e.timing(ent.st)
	if ent.idx >= 0 && ent.due.Equal(lateAt) {
		return // in place already (a scan finds most hosts so)
	}
	ent.due = lateAt
	if ent.idx >= 0 {
		heap.Fix(&e.due, ent.idx)
	} else {
		heap.Push(&e.due, ent)
	}
}

func (e *Engine) unschedule(ent *hostEntry) {
	if ent.idx >= 0 {
		heap.Remove(&e.due, ent.idx)
	}
}

// interval returns a host's report interval.
func (e *Engine) interval(st HostState) time.Duration {
	if st.IntervalSeconds > 0 {
		return time.Duration(st.IntervalSeconds) * time.Second
	}
	return e.cfg.DefaultInterval
}

// grace returns the grace of a host's group: the group's setting, or three intervals.
func (e *Engine) grace(st HostState) time.Duration {
	if g, ok := e.groups[st.Group]; ok && g.Grace > 0 {
		return g.Grace
	}
	return server.DefaultGrace(e.interval(st))
}

// readOverload takes the server's last overload for this tick and logs when a new episode
// starts to hold silence deadlines back.
func (e *Engine) readOverload(ctx context.Context) {
	if e.cfg.Overload == nil {
		return
	}
	at := e.cfg.Overload.LastOverload()
	if at.After(e.overloadAt) {
		if e.overloadAt.IsZero() || at.Sub(e.overloadAt) > e.cfg.ScanInterval {
			e.log.WarnContext(ctx, "Ingest is turning reports away for the server's own overload; silence deadlines count from the last refusal, so no host is taken for silent meanwhile.", "overload_at", at)
		}
		e.overloadAt = at
	}
}

// timing returns when a host is late (missed a whole interval beyond the expected report) and
// its deadline (late + grace: then it is silent). Both count from its last report, from the
// server's start or from the server's last overload (Config.Overload), whichever is latest.
func (e *Engine) timing(st HostState) (lateAt, deadline time.Time) {
	base := st.LastSeen
	if base.Before(e.cfg.Started) {
		base = e.cfg.Started
	}
	if base.Before(e.overloadAt) {
		base = e.overloadAt
	}
	return server.LivenessTimes(base, e.interval(st), e.grace(st))
}

func silenceKey(hostID string) string { return "silence/" + hostID }

// silenceOpen says whether hostID has an open silence alert, without building its key on the
// heap (a scan asks for every host).
func (e *Engine) silenceOpen(hostID string) bool {
	if len(e.open) == 0 {
		return false
	}
	var buf [128]byte
	k := append(append(buf[:0], "silence/"...), hostID...)
	return e.open[string(k)] != nil
}
func groupSilenceKey(group string) string { return "silence-group/" + group }

// silenceRule returns the silence rule covering a host: the most specific one.
func (e *Engine) silenceRule(st HostState) *Rule {
	var best *Rule
	score := -1
	for i := range e.rules {
		r := &e.rules[i]
		if r.Kind != KindSilence || !r.Matches(st.ID, st.Group) {
			continue
		}
		s := 0
		if r.HostID != "" {
			s += 2
		}
		if r.Group != "" {
			s++
		}
		if s > score {
			best, score = r, s
		}
	}
	return best
}

func (e *Engine) rule(id string) *Rule {
	for i := range e.rules {
		if e.rules[i].ID == id {
			return &e.rules[i]
		}
	}
	return nil
}

// sortedOpen returns the open alerts by ID (new ones, ID 0, last), for deterministic order.
func (e *Engine) sortedOpen() []*Alert {
	out := make([]*Alert, 0, len(e.open))
	for _, a := range e.open {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *Alert) int {
		if a.ID != b.ID {
			return cmpID(a.ID, b.ID)
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

func cmpID(a, b int64) int {
	switch {
	case a == 0:
		return 1
	case b == 0:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// silentHost is a host found past its deadline in this tick.
type silentHost struct {
	st       HostState
	existing *Alert // its pending (late) alert, if any
}

// checkSilence handles the hosts whose heap time passed and the hosts with open silence alerts,
// re-reading exactly those from the store in one batch.
func (e *Engine) checkSilence(ctx context.Context, now time.Time) error {
	var ids []string
	for e.due.Len() > 0 && e.due[0].due.Before(now) {
		ent := heap.Pop(&e.due).(*hostEntry)
		ids = append(ids, ent.st.ID)
	}
	var alerting []*Alert
	for _, a := range e.sortedOpen() {
		if a.Kind == KindSilence && a.HostID != "" {
			alerting = append(alerting, a)
			ids = append(ids, a.HostID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sts, err := e.store.HostStates(ctx, ids)
	if err != nil {
		return fmt.Errorf("check silence: %w", err)
	}
	fresh := make(map[string]HostState, len(sts))
	for _, st := range sts {
		if !st.Revoked {
			fresh[st.ID] = st
		}
	}

	var silent []silentHost
	for _, id := range ids[:len(ids)-len(alerting)] {
		ent := e.hosts[id]
		st, ok := fresh[id]
		if ent == nil || !ok {
			if ent != nil {
				e.forgetHost(ent)
			}
			continue
		}
		e.setState(ent, st)
		rule := e.silenceRule(st)
		if rule == nil {
			continue
		}
		lateAt, deadline := e.timing(st)
		switch {
		case !now.After(lateAt):
			e.schedule(ent, now)
		case !now.After(deadline):
			a := e.newAlert(rule, st, "", now)
			a.State = StatePending
			a.LastSeen, a.BootTime = st.LastSeen, st.BootTime
			a.Summary = fmt.Sprintf("%s is late: no report since %s (interval %s)", st.Hostname, fmtClock(st.LastSeen), e.interval(st))
			if err := e.save(ctx, a, now, "late: "+a.Summary, nil); err != nil {
				return err
			}
		default:
			silent = append(silent, silentHost{st: st})
		}
	}

	for _, a := range alerting {
		st, ok := fresh[a.HostID]
		if !ok {
			if err := e.resolve(ctx, now, a, "host revoked or removed", false); err != nil {
				return err
			}
			continue
		}
		if ent := e.hosts[a.HostID]; ent != nil {
			ent.st = st
		}
		_, deadline := e.timing(st)
		reported := st.LastSeen.After(a.LastSeen)
		up := reported && !now.After(deadline)
		switch {
		case a.State == StatePending && reported:
			if err := e.resolve(ctx, now, a, fmt.Sprintf("reported again after %s", fmtDur(st.LastSeen.Sub(a.LastSeen))), false); err != nil {
				return err
			}
		case a.State == StatePending && now.After(deadline):
			silent = append(silent, silentHost{st: st, existing: a})
		case a.State == StateFiring && up && a.RecoveringSince.IsZero():
			a.RecoveringSince, a.BackAt = now, st.LastSeen
			msg := fmt.Sprintf("reported again after %s silent", fmtDur(st.LastSeen.Sub(a.LastSeen)))
			if e.cfg.FlapDamping > 0 {
				msg += fmt.Sprintf("; resolves if it keeps reporting for %s", e.cfg.FlapDamping)
			}
			if err := e.save(ctx, a, now, msg, nil); err != nil {
				return err
			}
		case a.State == StateFiring && !up && !a.RecoveringSince.IsZero():
			a.RecoveringSince, a.BackAt = time.Time{}, time.Time{}
			if err := e.save(ctx, a, now, "silent again before the flap damping time passed", nil); err != nil {
				return err
			}
		}
	}
	return e.fireSilent(ctx, now, silent)
}

// fireSilent fires the silence alerts of hosts past their deadline, one email per host, or one
// per group when more than GroupShare of the group is late or silent at once.
func (e *Engine) fireSilent(ctx context.Context, now time.Time, silent []silentHost) error {
	if len(silent) == 0 {
		return nil
	}
	byGroup := map[string][]silentHost{}
	var groups []string
	for _, s := range silent {
		if _, ok := byGroup[s.st.Group]; !ok {
			groups = append(groups, s.st.Group)
		}
		byGroup[s.st.Group] = append(byGroup[s.st.Group], s)
	}
	slices.Sort(groups)
	for _, g := range groups {
		hosts := byGroup[g]
		gk := groupSilenceKey(g)
		ga := e.open[gk]
		if ga == nil && e.cfg.GroupShare < 1 {
			total, late := 0, 0
			for _, ent := range e.hosts {
				if ent.st.Group == g && e.silenceRule(ent.st) != nil {
					total++
				}
			}
			newOnes := 0
			for _, a := range e.open {
				if a.Kind == KindSilence && a.HostID != "" && a.Group == g {
					late++
				}
			}
			for _, s := range hosts {
				if s.existing == nil {
					newOnes++
				}
			}
			late += newOnes
			if late >= e.cfg.GroupMinHosts && total > 0 && float64(late)/float64(total) > e.cfg.GroupShare {
				if err := e.fireGroup(ctx, now, g, hosts, late, total); err != nil {
					return err
				}
				continue
			}
		}
		for _, s := range hosts {
			covered := ""
			if ga != nil {
				covered = gk
			}
			if err := e.fireHostSilence(ctx, now, s, covered); err != nil {
				return err
			}
		}
		if ga != nil {
			for _, s := range hosts {
				ga.Hosts = append(ga.Hosts, s.st.ID)
			}
			ga.Summary = fmt.Sprintf("%s of group %s stopped reporting", server.Plural(len(ga.Hosts), "host", "hosts"), g)
			if err := e.save(ctx, ga, now, fmt.Sprintf("%s more went silent and are covered by this alert", server.Plural(len(hosts), "host", "hosts")), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// fireHostSilence fires one host's silence alert; covered names the group alert whose email
// stands for it ("" to email about the host itself).
func (e *Engine) fireHostSilence(ctx context.Context, now time.Time, s silentHost, covered string) error {
	a := s.existing
	if a == nil {
		rule := e.silenceRule(s.st)
		if rule == nil {
			return nil
		}
		a = e.newAlert(rule, s.st, "", now)
		a.LastSeen, a.BootTime = s.st.LastSeen, s.st.BootTime
	}
	a.State, a.FiredAt, a.CoveredBy = StateFiring, now, covered
	a.Summary = fmt.Sprintf("%s has not reported since %s (%s ago; interval %s, grace %s)",
		s.st.Hostname, fmtClock(a.LastSeen), fmtDur(now.Sub(a.LastSeen)), e.interval(s.st), e.grace(s.st))
	var notes []Notification
	msg := "silent: " + a.Summary
	if covered != "" {
		msg += "; covered by the group alert " + covered
	} else {
		notes = e.notifyFiring(a, now)
	}
	if ent := e.hosts[s.st.ID]; ent != nil {
		e.unschedule(ent)
	}
	return e.save(ctx, a, now, msg, notes)
}

// fireGroup fires a group silence alert covering hosts, and their own alerts without email.
func (e *Engine) fireGroup(ctx context.Context, now time.Time, group string, hosts []silentHost, late, total int) error {
	ga := &Alert{
		Key: groupSilenceKey(group), Kind: KindSilence, Group: group, State: StateFiring,
		StartedAt: now, FiredAt: now,
	}
	if r := e.silenceRule(hosts[0].st); r != nil {
		ga.RuleID, ga.RuleName = r.ID, r.Name
	}
	var names []string
	for _, s := range hosts {
		ga.Hosts = append(ga.Hosts, s.st.ID)
		names = append(names, s.st.Hostname)
	}
	ga.Value = float64(late)
	ga.Summary = fmt.Sprintf("%d of %d hosts in group %s stopped reporting", late, total, group)
	var others []*Alert // late hosts of the group not yet past their deadline
	for _, a := range e.sortedOpen() {
		if a.Kind == KindSilence && a.HostID != "" && a.Group == group && !slices.Contains(ga.Hosts, a.HostID) {
			others = append(others, a)
			names = append(names, a.Hostname+" (late)")
		}
	}
	notes := e.notifyGroupFiring(ga, hosts, others, late, total, now)
	if err := e.save(ctx, ga, now, "silent: "+ga.Summary+": "+strings.Join(names, ", "), notes); err != nil {
		return err
	}
	for _, s := range hosts {
		if err := e.fireHostSilence(ctx, now, s, ga.Key); err != nil {
			return err
		}
	}
	return nil
}

// newAlert starts an alert of rule on a host.
func (e *Engine) newAlert(rule *Rule, st HostState, subject string, now time.Time) *Alert {
	key := silenceKey(st.ID)
	if rule.Kind != KindSilence {
		key = rule.ID + "/" + st.ID + "/" + subject
	}
	return &Alert{
		Key: key, RuleID: rule.ID, RuleName: rule.Name, Kind: rule.Kind, HostID: st.ID, Hostname: st.Hostname,
		Group: st.Group, Subject: subject, StartedAt: now,
	}
}

// save stores a change of a with its event and notifications, and keeps e.open current.
func (e *Engine) save(ctx context.Context, a *Alert, now time.Time, msg string, notes []Notification) error {
	if err := e.store.SaveAlert(ctx, a, AlertEvent{Time: now, State: a.State, Message: msg}, notes); err != nil {
		return fmt.Errorf("save alert %s: %w", a.Key, err)
	}
	if a.Open() {
		e.open[a.Key] = a
	} else {
		delete(e.open, a.Key)
	}
	e.log.InfoContext(ctx, "Alert "+a.State+".", logKeyAlert, a.Key, logKeyHost, a.Hostname, "message", msg, "emails", len(notes))
	if len(notes) > 0 && e.cfg.OnQueued != nil {
		e.cfg.OnQueued()
	}
	return nil
}

// resolve resolves a; email says whether a recovery email may go (it does only if the firing
// one went).
func (e *Engine) resolve(ctx context.Context, now time.Time, a *Alert, msg string, email bool) error {
	wasFiring := a.State == StateFiring
	a.State, a.ResolvedAt = StateResolved, now
	var notes []Notification
	if email && wasFiring && !a.NotifiedAt.IsZero() && a.CoveredBy == "" {
		notes = e.notifyResolved(a, now)
	}
	if err := e.save(ctx, a, now, msg, notes); err != nil {
		return err
	}
	if a.Kind == KindSilence && a.HostID != "" {
		if ent := e.hosts[a.HostID]; ent != nil {
			e.schedule(ent, now)
		}
		if a.CoveredBy != "" {
			return e.coveredResolved(ctx, now, a)
		}
	}
	return nil
}

// coveredResolved notes a covered host's recovery in its group alert, and resolves the group
// alert (one recovery email) once none of its hosts is silent any more.
func (e *Engine) coveredResolved(ctx context.Context, now time.Time, a *Alert) error {
	ga := e.open[a.CoveredBy]
	if ga == nil {
		return nil
	}
	line := fmt.Sprintf("%s: %s", a.Hostname, a.Summary)
	ga.Details = append(ga.Details, line)
	for _, o := range e.open {
		if o.CoveredBy == ga.Key {
			return e.save(ctx, ga, now, line, nil)
		}
	}
	ga.State, ga.ResolvedAt = StateResolved, now
	var notes []Notification
	if !ga.NotifiedAt.IsZero() {
		notes = e.notifyGroupResolved(ga, now)
	}
	return e.save(ctx, ga, now, "every host of the group reports again", notes)
}

// checkTimers advances alerts whose time came: pending ones whose for-duration passed, recovering
// ones whose flap damping passed, reminders, and emails held back by a maintenance silence that
// ended.
func (e *Engine) checkTimers(ctx context.Context, now time.Time) error {
	acksFresh := false
	for _, a := range e.sortedOpen() {
		if e.open[a.Key] != a {
			continue // resolved meanwhile (a group alert)
		}
		switch {
		case a.State == StatePending && a.Kind != KindSilence:
			r := e.rule(a.RuleID)
			if r == nil {
				if err := e.resolve(ctx, now, a, "rule deleted", false); err != nil {
					return err
				}
				continue
			}
			if now.Sub(a.StartedAt) >= time.Duration(r.For) {
				a.State, a.FiredAt = StateFiring, now
				if err := e.save(ctx, a, now, fmt.Sprintf("firing after %s: %s", fmtDur(now.Sub(a.StartedAt)), a.Summary), e.notifyFiring(a, now)); err != nil {
					return err
				}
			}
		case a.State == StateFiring && !a.RecoveringSince.IsZero():
			if now.Sub(a.RecoveringSince) < e.cfg.FlapDamping {
				continue
			}
			msg := "condition cleared: " + a.Summary
			if a.Kind == KindSilence && a.HostID != "" {
				a.Reason, msg = e.silenceReason(ctx, a)
				a.Summary = fmt.Sprintf("silent for %s (%s)", fmtDur(a.BackAt.Sub(a.LastSeen)), msg)
				msg = "reporting again: " + a.Summary
			}
			if err := e.resolve(ctx, now, a, msg, true); err != nil {
				return err
			}
		case a.State == StateFiring && a.CoveredBy == "" && a.NotifiedAt.IsZero():
			// Held back by a maintenance silence (or never sent): send once it no longer applies.
			if e.suppressed(a, now) {
				continue
			}
			if err := e.save(ctx, a, now, "maintenance over, still firing: "+a.Summary, e.notifyFiring(a, now)); err != nil {
				return err
			}
		case a.State == StateFiring && a.CoveredBy == "" && e.cfg.RepeatInterval > 0 && now.Sub(a.NotifiedAt) >= e.cfg.RepeatInterval && a.AckedAt.IsZero():
			if e.suppressed(a, now) {
				continue
			}
			// An operator may have acknowledged it since the last scan: look before reminding.
			if !acksFresh {
				if err := e.refreshAcks(ctx); err != nil {
					return err
				}
				acksFresh = true
			}
			if !a.AckedAt.IsZero() {
				continue
			}
			a.Reminders++
			if err := e.save(ctx, a, now, "still firing, reminder sent", e.notifyReminder(a, now)); err != nil {
				return err
			}
		}
	}
	return nil
}

// silenceReason says why a host was silent: the agent reported a connectivity outage covering
// most of the silence (network), its boot time changed (reboot), or unknown.
func (e *Engine) silenceReason(ctx context.Context, a *Alert) (reason, text string) {
	from, to := a.LastSeen, a.BackAt
	if to.After(from) {
		outs, err := e.store.ListOutages(ctx, a.HostID, from)
		if err != nil {
			e.log.WarnContext(ctx, "Reading outages failed; the recovery reason may be unknown.", logKeyHost, a.HostID, logKeyErr, err)
		}
		var covered time.Duration
		var classes []string
		for _, o := range outs {
			s, t := maxTime(o.Start, from), minTime(o.End, to)
			if t.After(s) {
				covered += t.Sub(s)
				if !slices.Contains(classes, o.Class) {
					classes = append(classes, o.Class)
				}
			}
		}
		if covered*2 >= to.Sub(from) {
			return ReasonNetwork, fmt.Sprintf("network: the host was up but could not reach the server (%s)", strings.Join(classes, ", "))
		}
	}
	if ent := e.hosts[a.HostID]; ent != nil && !a.BootTime.IsZero() && !ent.st.BootTime.IsZero() && !ent.st.BootTime.Equal(a.BootTime) {
		return ReasonReboot, fmt.Sprintf("rebooted: booted at %s", fmtClock(ent.st.BootTime))
	}
	return ReasonUnknown, "reason unknown: no outage reported and no reboot"
}

// suppressed reports whether a maintenance silence covers a at now.
func (e *Engine) suppressed(a *Alert, now time.Time) bool {
	for _, s := range e.silences {
		if s.Active(now) && s.Covers(a) {
			return true
		}
	}
	return false
}

// evaluateQueued runs the metric, process, unit, check and anomaly rules on the figures of the
// latest reports of queued hosts, a batch at a time, until the queue is empty or EvalBudget is
// spent. A host is read and evaluated only if the evaluation could come out differently from the
// previous one: its figures, its group or the rules changed, or it has an open rule alert (whose
// recovery, or a process restart timed against the previous evaluation, depends on when it is
// evaluated). Otherwise its conditions are the ones of the last evaluation, none of which held.
func (e *Engine) evaluateQueued(ctx context.Context, now time.Time) error {
	hasRules := false
	for _, r := range e.rules {
		if r.Kind != KindSilence {
			hasRules = true
		}
	}
	alerting := map[string]bool{}
	for _, a := range e.open {
		if a.Kind != KindSilence && a.HostID != "" {
			alerting[a.HostID] = true
		}
	}
	start := time.Now() // wall time on purpose: the budget is CPU spent, whatever the clock says
	var read []string
	for len(e.toEvaluate) > 0 {
		n := min(len(e.toEvaluate), evaluateBatch)
		chunk := e.toEvaluate[:n]
		read = read[:0]
		for _, ent := range chunk {
			if ent.gone || ent.st.FiguresHash == 0 {
				continue // gone, or no figures yet (its report predates them): as before, no rule sees it
			}
			if !hasRules || (!alerting[ent.st.ID] && ent.st.FiguresHash == ent.evaluatedHash &&
				ent.st.Group == ent.evaluatedGroup && ent.evaluatedRules == e.rulesGen) {
				continue
			}
			read = append(read, ent.st.ID)
		}
		if len(read) > 0 {
			var in ruleInput // reused: its lists are decoded per host, and only when a rule reads them
			err := e.store.HostFigures(ctx, read, func(hf HostFigures) error {
				ent := e.hosts[hf.HostID]
				if ent == nil {
					return nil
				}
				in.reset(&hf.Figures)
				return e.evaluateHost(ctx, now, ent, &in, alerting[hf.HostID])
			})
			if err != nil {
				return fmt.Errorf("evaluate rules: %w", err)
			}
		}
		for _, ent := range chunk {
			if !ent.gone {
				ent.evaluatedSeq, ent.evaluatedAt = ent.st.AckedSeq, now
				ent.evaluatedHash, ent.evaluatedGroup, ent.evaluatedRules = ent.st.FiguresHash, ent.st.Group, e.rulesGen
			}
			ent.queued = false
		}
		clear(chunk) // let gone entries go
		e.toEvaluate = e.toEvaluate[n:]
		if time.Since(start) >= e.cfg.EvalBudget {
			break
		}
	}
	if len(e.toEvaluate) == 0 {
		e.toEvaluate = nil // let the backing array go
	}
	return nil
}

// evaluateBatch is how many hosts' figures are read at once.
const evaluateBatch = 1000

// ruleConditions is what one rule found on a host.
type ruleConditions struct {
	rule  *Rule
	found []condition
}

// evaluateHost applies the rules to one host's figures; alerting says whether it had open rule
// alerts before (if not, none can need resolving).
func (e *Engine) evaluateHost(ctx context.Context, now time.Time, ent *hostEntry, in *ruleInput, alerting bool) error {
	st := ent.st
	var found []ruleConditions
	for i := range e.rules {
		r := &e.rules[i]
		if r.Kind == KindSilence || !r.Matches(st.ID, st.Group) {
			continue
		}
		if cs := conditions(r, in, ent.evaluatedAt); len(cs) > 0 {
			found = append(found, ruleConditions{r, cs})
		}
	}
	if len(in.decodeProblems) > 0 {
		e.log.WarnContext(ctx, "Undecodable rule figures; rules skip this report.", logKeyHost, st.ID, logKeyErr, errors.Join(in.decodeProblems...))
		return nil
	}
	var active map[string]bool
	if len(found) > 0 {
		active = map[string]bool{}
	}
	for _, rc := range found {
		r := rc.rule
		for _, c := range rc.found {
			a := e.newAlert(r, st, c.subject, now)
			active[a.Key] = true
			if cur := e.open[a.Key]; cur != nil {
				cur.Value, cur.Summary = c.value, c.summary
				if !cur.RecoveringSince.IsZero() {
					cur.RecoveringSince = time.Time{}
					if err := e.save(ctx, cur, now, "condition back before the flap damping time passed: "+c.summary, nil); err != nil {
						return err
					}
				}
				continue
			}
			a.Value, a.Summary = c.value, c.summary
			if r.For <= 0 {
				a.State, a.FiredAt = StateFiring, now
				if err := e.save(ctx, a, now, "firing: "+c.summary, e.notifyFiring(a, now)); err != nil {
					return err
				}
				continue
			}
			a.State = StatePending
			if err := e.save(ctx, a, now, fmt.Sprintf("pending for %s: %s", time.Duration(r.For), c.summary), nil); err != nil {
				return err
			}
		}
	}
	if !alerting {
		return nil // no alert of this host was open before: every open one is active
	}
	for _, a := range e.sortedOpen() {
		if a.HostID != st.ID || a.Kind == KindSilence || active[a.Key] {
			continue
		}
		switch {
		case a.State == StatePending:
			if err := e.resolve(ctx, now, a, "condition cleared before it lasted long enough", false); err != nil {
				return err
			}
		case a.RecoveringSince.IsZero():
			a.RecoveringSince = now
			if e.cfg.FlapDamping == 0 {
				if err := e.resolve(ctx, now, a, "condition cleared: "+a.Summary, true); err != nil {
					return err
				}
				continue
			}
			if err := e.save(ctx, a, now, fmt.Sprintf("condition cleared; resolves if it stays so for %s", e.cfg.FlapDamping), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// hostHeap is a min-heap of hosts by due time.
type hostHeap []*hostEntry

func (h hostHeap) Len() int           { return len(h) }
func (h hostHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h hostHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *hostHeap) Push(x any) {
	ent := x.(*hostEntry)
	ent.idx = len(*h)
	*h = append(*h, ent)
}
func (h *hostHeap) Pop() any {
	old := *h
	ent := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	ent.idx = -1
	return ent
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// fmtDur renders a duration for people: whole seconds, or milliseconds below one second.
func fmtDur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func fmtClock(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
