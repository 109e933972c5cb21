package rollout

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/wire"
)

// Fleet is what the Manager reads of the fleet: server.Store's methods of those names.
type Fleet interface {
	GetGroup(ctx context.Context, name string) (server.Group, error)
	ListGroups(ctx context.Context) ([]server.Group, error)
	ListHosts(ctx context.Context, group string) ([]server.Host, error)
	ListUpdateEvents(ctx context.Context, hostID string, limit int) ([]server.UpdateEvent, error)
	SetPin(ctx context.Context, name string, p server.Pin, audit server.AuditEntry) error
}

// ChannelResolver tells which vigil-agent version a release channel points to in the published
// (signed) repository. tufrepo's repository is one, through an adapter in server/app.
type ChannelResolver interface {
	// ChannelVersion returns the version, or ErrNoChannel.
	ChannelVersion(ctx context.Context, channel string) (string, error)
}

// ErrActive is returned (it wraps server.ErrConflict) for a pin change while the group has an
// active rollout.
var ErrActive = fmt.Errorf("%w: the group has an active rollout", server.ErrConflict)

// ErrNoChannel is returned by a ChannelResolver for a channel no published version is on.
var ErrNoChannel = errors.New("no published vigil-agent version is on that channel")

// Config configures a Manager. Zero values take the defaults in the comments.
type Config struct {
	// Store keeps rollouts and policies. Required.
	Store Store
	// Fleet is read for hosts, groups and update events, and written for pins outside rollouts.
	// Required.
	Fleet Fleet
	// Channels resolves channel pins. Nil: a channel pin applies at once, without a rollout, and
	// channel moves are not noticed.
	Channels ChannelResolver
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Interval is how often the driver steps the active rollouts. Defaults to 5s.
	Interval time.Duration
	// Recipients get the halt emails, with the group's own alert emails.
	Recipients []string
	// PublicURL is the dashboard's address, for links and Message-IDs.
	PublicURL string
	// OnQueued is called after a halt email was queued (wakes the sender).
	OnQueued func()
}

// Manager stages pin changes, answers updaters by their wave and drives rollouts. It is safe
// for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	channels map[string]cachedChannel
}

var _ server.Stager = (*Manager)(nil)

// NewManager returns a Manager.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Fleet == nil {
		return nil, errors.New("rollout: Config.Store and Config.Fleet are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	return &Manager{cfg: cfg, log: cfg.Logger, channels: map[string]cachedChannel{}}, nil
}

// Log keys.
const (
	logKeyRollout = "rollout"
	logKeyGroup   = "group"
	logKeyErr     = "err"
)

// driverActor is the audit actor of the driver's own changes.
const driverActor = "vigil (rollout driver)"

// maxEventsPerHost bounds the update events read to judge one host.
const maxEventsPerHost = 50

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "ro-" + hex.EncodeToString(b)
}

// activeOf returns the group's active rollout, if any.
func (m *Manager) activeOf(ctx context.Context, group string) (*Rollout, error) {
	rs, err := m.cfg.Store.ListRollouts(ctx, Filter{Group: group, ActiveOnly: true, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return &rs[0], nil
}

// StagePin changes g's pin. A pin to a version or channel starts a rollout from the current pin;
// an empty pin (hosts stay where they are) and an unchanged pin apply at once.
func (m *Manager) StagePin(ctx context.Context, g server.Group, pin server.Pin, audit server.AuditEntry) error {
	active, err := m.activeOf(ctx, g.Name)
	if err != nil {
		return fmt.Errorf("stage pin: %w", err)
	}
	if active != nil {
		return fmt.Errorf("group %s has a %s rollout %s (to %s); one rollout per group: wait for it or abort it first (vigilctl rollouts abort %s): %w",
			g.Name, active.State, active.ID, active.ToVersion, active.ID, ErrActive)
	}
	if pin == (server.Pin{}) || pin == g.Pin {
		return m.cfg.Fleet.SetPin(ctx, g.Name, pin, audit)
	}
	policy, err := m.cfg.Store.RolloutPolicy(ctx, g.Name)
	if err != nil {
		return fmt.Errorf("stage pin: %w", err)
	}
	hosts, err := m.cfg.Fleet.ListHosts(ctx, g.Name)
	if err != nil {
		return fmt.Errorf("stage pin: %w", err)
	}
	if len(liveIDs(hosts)) <= policy.WithDefaults().Canaries {
		// Nothing to stage: the canaries would be the whole group.
		return m.cfg.Fleet.SetPin(ctx, g.Name, pin, audit)
	}
	toVersion := pin.Version
	if pin.Channel != "" {
		if m.cfg.Channels == nil {
			return m.cfg.Fleet.SetPin(ctx, g.Name, pin, audit)
		}
		v, err := m.cfg.Channels.ChannelVersion(ctx, pin.Channel)
		if errors.Is(err, ErrNoChannel) {
			return fmt.Errorf("%w: channel %q: %w, so there is nothing to roll out (vigilctl release ls shows the channels)", server.ErrInvalid, pin.Channel, err)
		}
		if err != nil {
			return fmt.Errorf("resolve channel %s: %w", pin.Channel, err)
		}
		toVersion = v
	}
	if !slices.ContainsFunc(hosts, func(h server.Host) bool { return !h.Revoked && h.AgentVersion != toVersion }) {
		// Nothing to roll out: every host runs the version already.
		return m.cfg.Fleet.SetPin(ctx, g.Name, pin, audit)
	}
	return m.start(ctx, g, g.Pin, pin, toVersion, policy, hosts, audit)
}

func (m *Manager) start(ctx context.Context, g server.Group, from, to server.Pin, toVersion string, policy Policy, hosts []server.Host, audit server.AuditEntry) error {
	r := Start(newID(), g.Name, from, to, toVersion, policy, liveIDs(hosts), audit.Actor, m.cfg.Now().UTC())
	audit.Detail += " rollout=" + r.ID
	if err := m.cfg.Store.StartRollout(ctx, &r, audit); err != nil {
		return fmt.Errorf("start rollout: %w", err)
	}
	m.log.InfoContext(ctx, "Rollout started.", logKeyRollout, r.ID, logKeyGroup, g.Name, "to", toVersion,
		"hosts", r.Progress.GroupHosts, "canaries", r.Progress.Admitted)
	return nil
}

func liveIDs(hosts []server.Host) []string {
	ids := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if !h.Revoked {
			ids = append(ids, h.ID)
		}
	}
	return ids
}

// Desired answers host h of group g: the new pin when the group's active rollout admits h (for a
// channel, the version it pointed to when the rollout started), the previous one when it does
// not, the group's pin when no rollout is active.
func (m *Manager) Desired(ctx context.Context, h server.Host, g server.Group) (wire.UpdateDesired, error) {
	r, err := m.activeOf(ctx, g.Name)
	if err != nil {
		return wire.UpdateDesired{}, err
	}
	if r == nil {
		return m.desiredUnstaged(ctx, g)
	}
	pin := r.From
	if r.Admits(h.ID) {
		pin = r.To
		if pin.Channel != "" && r.ToVersion != "" {
			// The version the channel pointed to at the start, not the channel: a channel that
			// moves mid-rollout must not hand admitted hosts an unstaged build.
			pin = server.Pin{Version: r.ToVersion}
		}
	}
	return wire.UpdateDesired{Version: pin.Version, Channel: pin.Channel, RolloutID: r.ID}, nil
}

// DesiredForNewHost answers an updater installing before its host enrolled (it has no rank yet):
// during a rollout the previous pin when there was one (the proven version; once enrolled the
// host follows its wave), else the group's pin as Desired would answer it.
func (m *Manager) DesiredForNewHost(ctx context.Context, g server.Group) (wire.UpdateDesired, error) {
	r, err := m.activeOf(ctx, g.Name)
	if err != nil {
		return wire.UpdateDesired{}, err
	}
	if r == nil {
		return m.desiredUnstaged(ctx, g)
	}
	if r.From != (server.Pin{}) {
		return wire.UpdateDesired{Version: r.From.Version, Channel: r.From.Channel, RolloutID: r.ID}, nil
	}
	pin := r.To
	if pin.Channel != "" && r.ToVersion != "" {
		pin = server.Pin{Version: r.ToVersion}
	}
	return wire.UpdateDesired{Version: pin.Version, Channel: pin.Channel, RolloutID: r.ID}, nil
}

// desiredUnstaged answers for a group without an active rollout: its pin, except that a group
// whose last rollout completed on its channel stays on that rollout's version when the channel
// has moved since, until the driver starts the rollout to the new version.
func (m *Manager) desiredUnstaged(ctx context.Context, g server.Group) (wire.UpdateDesired, error) {
	d := wire.UpdateDesired{Version: g.Pin.Version, Channel: g.Pin.Channel}
	if g.Pin.Channel == "" || m.cfg.Channels == nil {
		return d, nil
	}
	last, err := m.cfg.Store.ListRollouts(ctx, Filter{Group: g.Name, Limit: 1})
	if err != nil || len(last) == 0 || last[0].State != StateCompleted || last[0].To != g.Pin {
		return d, err
	}
	v, err := m.channelVersion(ctx, g.Pin.Channel)
	if err != nil || v == last[0].ToVersion {
		return d, nil // unresolvable: the updater's own TUF check decides, as without rollouts
	}
	return wire.UpdateDesired{Version: last[0].ToVersion}, nil
}

// channelTTL bounds how stale a cached channel resolution may be on the desired-version path.
const channelTTL = 2 * time.Second

func (m *Manager) channelVersion(ctx context.Context, channel string) (string, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	c, ok := m.channels[channel]
	m.mu.Unlock()
	if ok && now.Sub(c.at) < channelTTL && now.After(c.at) {
		return c.version, c.err
	}
	v, err := m.cfg.Channels.ChannelVersion(ctx, channel)
	m.mu.Lock()
	if len(m.channels) > 1000 {
		clear(m.channels)
	}
	m.channels[channel] = cachedChannel{version: v, err: err, at: now}
	m.mu.Unlock()
	return v, err
}

type cachedChannel struct {
	version string
	err     error
	at      time.Time
}

func require(p server.Principal, role string) error {
	if !server.Allowed(p, role) {
		return fmt.Errorf("%w: needs role %s, token has %s", server.ErrForbidden, role, p.Role)
	}
	return nil
}

// audit records who (user, token, address) did what, as every other change is recorded.
func (m *Manager) audit(p server.Principal, action, target, detail string) server.AuditEntry {
	return server.AuditFor(p, m.cfg.Now(), action, target, detail)
}

// List lists rollouts, newest first.
func (m *Manager) List(ctx context.Context, p server.Principal, f Filter) ([]Rollout, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return nil, err
	}
	return m.cfg.Store.ListRollouts(ctx, f)
}

// Get returns one rollout.
func (m *Manager) Get(ctx context.Context, p server.Principal, id string) (Rollout, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return Rollout{}, err
	}
	return m.cfg.Store.GetRollout(ctx, id)
}

// Act pauses, resumes or aborts a rollout. Abort sets the group's pin back to the rollout's
// From in the same transaction.
func (m *Manager) Act(ctx context.Context, p server.Principal, id, action string) (Rollout, error) {
	if err := require(p, server.RoleOperator); err != nil {
		return Rollout{}, err
	}
	// The driver may store a step between our read and our write: read again and retry, a few
	// times, so an operator's action never fails for the driver's bookkeeping.
	for attempt := 0; ; attempt++ {
		r, err := m.cfg.Store.GetRollout(ctx, id)
		if err != nil {
			return Rollout{}, err
		}
		a := m.audit(p, "rollout."+action, "rollout/"+id, "group="+r.Group)
		next, err := Apply(r, action, a.Actor, m.cfg.Now().UTC())
		if err != nil {
			return Rollout{}, err
		}
		var pin *server.Pin
		if next.State == StateAborted {
			pin = &next.From
		}
		err = m.cfg.Store.SaveRollout(ctx, &next, pin, nil, &a)
		if errors.Is(err, server.ErrConflict) && attempt < maxActAttempts {
			continue
		}
		if err != nil {
			return Rollout{}, fmt.Errorf("%s rollout %s: %w", action, id, err)
		}
		m.log.InfoContext(ctx, "Rollout changed by an operator.", logKeyRollout, id, logKeyGroup, r.Group, "action", action, "by", a.Actor)
		return next, nil
	}
}

// maxActAttempts bounds the retries of an operator action that raced the driver.
const maxActAttempts = 5

// Policy returns a group's rollout policy as set (zero fields mean the defaults).
func (m *Manager) Policy(ctx context.Context, p server.Principal, group string) (Policy, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return Policy{}, err
	}
	return m.cfg.Store.RolloutPolicy(ctx, group)
}

// Policies returns the rollout policy of every group as set, by group name, in one store read.
func (m *Manager) Policies(ctx context.Context, p server.Principal) (map[string]Policy, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return nil, err
	}
	return m.cfg.Store.RolloutPolicies(ctx)
}

// SetPolicy replaces a group's rollout policy. It applies to rollouts that start afterwards.
func (m *Manager) SetPolicy(ctx context.Context, p server.Principal, group string, pol Policy) error {
	if err := require(p, server.RoleOperator); err != nil {
		return err
	}
	if err := pol.Validate(); err != nil {
		return err
	}
	detail := fmt.Sprintf("canaries=%d wave_percent=%d soak=%s failure_threshold=%d health_deadline=%s",
		pol.Canaries, pol.WavePercent, pol.Soak, pol.FailureThreshold, pol.HealthDeadline)
	return m.cfg.Store.SetRolloutPolicy(ctx, group, pol, m.audit(p, "group.rollout_policy", "group/"+group, detail))
}

// Run steps the active rollouts every Interval while leading() says this replica leads, until
// ctx ends.
func (m *Manager) Run(ctx context.Context, leading func() bool) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !leading() {
			continue
		}
		if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
			m.log.ErrorContext(ctx, "Stepping rollouts failed.", logKeyErr, err)
		}
	}
}

// Tick starts rollouts for channels that moved and steps every running rollout once. Call it
// only on the leader; a concurrent change (an operator's pause) wins, and the step is retried
// on the next tick.
func (m *Manager) Tick(ctx context.Context) error {
	var errs []error
	if m.cfg.Channels != nil {
		errs = append(errs, m.followChannels(ctx))
	}
	rs, err := m.cfg.Store.ListRollouts(ctx, Filter{ActiveOnly: true})
	if err != nil {
		return fmt.Errorf("list active rollouts: %w", err)
	}
	for _, r := range rs {
		if r.State != StateRunning {
			continue
		}
		if err := m.step(ctx, r); err != nil && !errors.Is(err, server.ErrConflict) {
			errs = append(errs, fmt.Errorf("rollout %s: %w", r.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) step(ctx context.Context, r Rollout) error {
	now := m.cfg.Now().UTC()
	hosts, err := m.cfg.Fleet.ListHosts(ctx, r.Group)
	if err != nil {
		return err
	}
	v := View{HostIDs: liveIDs(hosts)}
	for _, h := range hosts {
		if h.Revoked || !r.InStage(h.ID) {
			continue
		}
		evs, err := m.cfg.Fleet.ListUpdateEvents(ctx, h.ID, maxEventsPerHost)
		if err != nil {
			return err
		}
		v.Stage = append(v.Stage, Judge(&r, h, evs, now))
	}
	next, ev := Step(r, v, now)
	if ev == NoChange {
		return nil
	}
	var (
		notes []alert.Notification
		audit *server.AuditEntry
	)
	switch ev {
	case Advanced:
		audit = &server.AuditEntry{Time: now, Actor: driverActor, Action: "rollout.advance", Target: "rollout/" + r.ID,
			Detail: fmt.Sprintf("group=%s %s admits %d of %d hosts", r.Group, StageName(next.Stage), next.Progress.Admitted, next.Progress.GroupHosts)}
	case Halted:
		audit = &server.AuditEntry{Time: now, Actor: driverActor, Action: "rollout.halt", Target: "rollout/" + r.ID, Detail: next.Reason}
		n, err := m.haltEmail(ctx, next, now)
		if err != nil {
			return err
		}
		notes = append(notes, n)
	case Completed:
		audit = &server.AuditEntry{Time: now, Actor: driverActor, Action: "rollout.complete", Target: "rollout/" + r.ID, Detail: "group=" + r.Group}
	}
	if err := m.cfg.Store.SaveRollout(ctx, &next, nil, notes, audit); err != nil {
		return err
	}
	switch ev {
	case Advanced:
		m.log.InfoContext(ctx, "Rollout advanced.", logKeyRollout, r.ID, logKeyGroup, r.Group, "stage", StageName(next.Stage), "admitted", next.Progress.Admitted)
	case Halted:
		m.log.WarnContext(ctx, "Rollout halted.", logKeyRollout, r.ID, logKeyGroup, r.Group, "reason", next.Reason)
		if m.cfg.OnQueued != nil {
			m.cfg.OnQueued()
		}
	case Completed:
		m.log.InfoContext(ctx, "Rollout completed.", logKeyRollout, r.ID, logKeyGroup, r.Group, "version", r.ToVersion)
	}
	return nil
}

// followChannels starts a rollout for each group that follows a channel which now points to a
// version other than the group's last rollout's (or, for a group that never had a rollout, a
// version some of its hosts do not run). Hosts not yet admitted stay on what they run.
func (m *Manager) followChannels(ctx context.Context) error {
	groups, err := m.cfg.Fleet.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("follow channels: %w", err)
	}
	var errs []error
	for _, g := range groups {
		if g.Pin.Channel == "" {
			continue
		}
		last, err := m.cfg.Store.ListRollouts(ctx, Filter{Group: g.Name, Limit: 1})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(last) > 0 && Active(last[0].State) {
			continue
		}
		v, err := m.cfg.Channels.ChannelVersion(ctx, g.Pin.Channel)
		if err != nil {
			if !errors.Is(err, ErrNoChannel) {
				errs = append(errs, err)
			}
			continue
		}
		hosts, err := m.cfg.Fleet.ListHosts(ctx, g.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		policy, err := m.cfg.Store.RolloutPolicy(ctx, g.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(liveIDs(hosts)) <= policy.WithDefaults().Canaries {
			continue // nothing to stage: the hosts follow the channel at once
		}
		from := server.Pin{}
		switch {
		case len(last) > 0 && last[0].ToVersion == v && last[0].To == g.Pin:
			continue
		case len(last) > 0 && last[0].State == StateCompleted && last[0].To == g.Pin:
			from = server.Pin{Version: last[0].ToVersion}
		case mostRun(hosts) == v || mostRun(hosts) == "":
			continue // no rollout to compare with, and the group already runs v
		}
		a := server.AuditEntry{Time: m.cfg.Now().UTC(), Actor: driverActor, Action: "rollout.start", Target: "group/" + g.Name,
			Detail: fmt.Sprintf("channel %s moved to %s", g.Pin.Channel, v)}
		if err := m.start(ctx, g, from, g.Pin, v, policy, hosts, a); err != nil && !errors.Is(err, server.ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mostRun returns the agent version most live hosts run ("" when none reported one).
func mostRun(hosts []server.Host) string {
	count := map[string]int{}
	best := ""
	for _, h := range hosts {
		if h.Revoked || h.AgentVersion == "" {
			continue
		}
		count[h.AgentVersion]++
		if c := count[h.AgentVersion]; c > count[best] || (c == count[best] && h.AgentVersion < best) {
			best = h.AgentVersion
		}
	}
	return best
}

// haltEmail is the notification a halt queues: one per rollout (its key is the rollout's), with
// the failing hosts and their update logs.
func (m *Manager) haltEmail(ctx context.Context, r Rollout, now time.Time) (alert.Notification, error) {
	to := slices.Clone(m.cfg.Recipients)
	g, err := m.cfg.Fleet.GetGroup(ctx, r.Group)
	if err != nil && !errors.Is(err, server.ErrNotFound) {
		return alert.Notification{}, err
	}
	for _, a := range g.AlertEmails {
		if !slices.Contains(to, a) {
			to = append(to, a)
		}
	}
	key := "rollout/" + r.ID + "/halted"
	base := strings.TrimRight(m.cfg.PublicURL, "/")
	mail := haltMail{R: r, Key: key, Stage: StageName(r.Stage)}
	for _, f := range r.Failures {
		mail.Hosts = append(mail.Hosts, haltHost{Failure: f, URL: base + "/hosts/" + url.PathEscape(f.HostID)})
	}
	var text, html bytes.Buffer
	if err := haltText.Execute(&text, mail); err != nil {
		return alert.Notification{}, fmt.Errorf("halt email: %w", err)
	}
	if err := haltHTML.Execute(&html, mail); err != nil {
		return alert.Notification{}, fmt.Errorf("halt email: %w", err)
	}
	return alert.Notification{
		Key: key, AlertKey: "rollout/" + r.ID, Group: r.Group, Event: "rollout_halted", To: to,
		Subject:   fmt.Sprintf("[vigil] Rollout of %s to %s halted: %d of %s failed", r.Group, r.ToVersion, r.Progress.Failed, StageName(r.Stage)),
		Text:      text.String(),
		HTML:      html.String(),
		MessageID: alert.MessageID(key, m.cfg.PublicURL), CreatedAt: now, NextAttempt: now,
	}, nil
}

type haltMail struct {
	R     Rollout
	Key   string
	Stage string
	Hosts []haltHost
}

type haltHost struct {
	Failure
	URL string
}

var haltText = template.Must(template.New("text").Parse(`The rollout {{.R.ID}} of group {{.R.Group}} to {{.R.ToVersion}} halted in {{.Stage}}: {{.R.Reason}}.
No more hosts get {{.R.ToVersion}}; hosts not yet admitted stay on the previous pin.
To return every host to the previous pin: vigilctl rollouts abort {{.R.ID}}
{{range .Hosts}}
{{.Hostname}} ({{.HostID}}): {{.Reason}}
{{range .Log}}  {{.}}
{{end}}  {{.URL}}
{{end}}
-- 
Vigil rollout {{.Key}}
`))

var haltHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>Rollout of {{.R.Group}} to {{.R.ToVersion}} halted</h2>
<p>The rollout {{.R.ID}} halted in {{.Stage}}: {{.R.Reason}}. No more hosts get {{.R.ToVersion}}; hosts not yet admitted stay on the previous pin.</p>
<p>To return every host to the previous pin: <code>vigilctl rollouts abort {{.R.ID}}</code></p>
{{range .Hosts}}<h3><a href="{{.URL}}">{{.Hostname}}</a> ({{.HostID}})</h3>
<p>{{.Reason}}</p>
<pre>{{range .Log}}{{.}}
{{end}}</pre>
{{end}}<p style="color: #888; font-size: small">Vigil rollout {{.Key}}</p>
</body></html>
`))
