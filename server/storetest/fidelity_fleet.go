package storetest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/wire"
)

// This file holds more cases where the two dialects could disagree, over the flows the stores
// share through storesql: users and sessions, API and enrollment tokens, update events, agent
// settings, the audit log and rollouts. fidelity.go holds those of hosts, reports and alerts.

// rolloutStore is the rollout.Store of f's store.
func (f *fixture) rolloutStore() rollout.Store {
	f.t.Helper()
	rs, ok := f.s.(rollout.Store)
	if !ok {
		f.t.Fatalf("%T does not implement rollout.Store", f.s)
	}
	return rs
}

// keysOf lists key(x) for each x of xs, in order.
func keysOf[T any](xs []T, key func(T) string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, key(x))
	}
	return out
}

// testFleetNulls: optional fields left empty come back empty (never NULL turned into a stand-in,
// never a stand-in turned into NULL), and an update event without an ID is never taken for a
// repost of another without one (NULL is not equal to NULL).
func testFleetNulls(t *testing.T, f *fixture) {
	h, _ := f.host("nulls", server.DefaultGroup)
	ev := server.UpdateEvent{HostID: h.ID, ReceivedAt: t0, UpdateEvent: wire.UpdateEvent{
		Binary: "vigil-agent", ToVersion: "1.1.0", Phase: "download", Result: "ok", Time: t0}}
	for range 2 {
		if err := f.s.AddUpdateEvent(f.ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := f.s.ListUpdateEvents(f.ctx, h.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("two update events without ID = %d listed, want 2 (no ID is no repost)", len(evs))
	}
	for _, e := range evs {
		if e.ID != "" || e.FromVersion != "" || e.Reason != "" {
			t.Errorf("update event without ID, from version or reason = %+v, want them empty", e)
		}
	}

	api := server.APIToken{ID: randomID("at-"), Name: "", Role: server.RoleViewer, Hash: randomID("hash-"), CreatedAt: t0}
	if err := f.s.CreateAPIToken(f.ctx, api, audit("api-token.create", api.ID)); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.APITokenByHash(f.ctx, api.Hash); err != nil || got.Owner != "" || got.Name != "" || got.Revoked {
		t.Errorf("api token without owner or name = %+v, %v; want both empty, not revoked", got, err)
	}

	tok := server.EnrollmentToken{ID: randomID("et-"), Group: server.DefaultGroup, Hash: randomID("hash-"), CreatedAt: t0}
	if err := f.s.CreateEnrollmentToken(f.ctx, tok, audit("enrollment-token.create", tok.ID)); err != nil {
		t.Fatal(err)
	}
	toks, err := f.s.ListEnrollmentTokens(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range toks {
		if got.ID == tok.ID && (got.CreatedBy != "" || got.MaxUses != 0 || got.Uses != 0 || !got.ExpiresAt.IsZero()) {
			t.Errorf("bare enrollment token = %+v, want no creator, no limit, no expiry", got)
		}
	}

	// Agent settings: none until set; setting the zero value removes a host's own.
	g, own, err := f.s.AgentSettings(f.ctx, h.ID)
	if err != nil || !g.IsZero() || !own.IsZero() {
		t.Errorf("AgentSettings before any = %+v, %+v, %v; want zero", g, own, err)
	}
	set := server.AgentSettings{WatchUnits: []string{"nginx.service"}}
	if err := f.s.SetHostAgentSettings(f.ctx, h.ID, set, audit("host.settings", h.ID)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetHostAgentSettings(f.ctx, h.ID, server.AgentSettings{}, audit("host.settings", h.ID)); err != nil {
		t.Fatal(err)
	}
	if _, own, err := f.s.AgentSettings(f.ctx, h.ID); err != nil || !own.IsZero() {
		t.Errorf("host AgentSettings after setting none = %+v, %v; want zero", own, err)
	}

	// A user whose password never changed keeps a zero PasswordChangedAt; a session without an
	// address keeps it empty.
	u := server.User{ID: randomID("u-"), Name: "nulls", Role: server.RoleViewer, PasswordHash: "x", CreatedAt: t0}
	if err := f.s.CreateUser(f.ctx, u, audit("user.create", u.ID)); err != nil {
		t.Fatal(err)
	}
	gotU, err := f.s.UserByID(f.ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "user PasswordChangedAt never set", gotU.PasswordChangedAt, time.Time{})
	ss := server.Session{IDHash: randomID("sess-"), UserID: u.ID, CreatedAt: t0, LastSeen: t0}
	if err := f.s.CreateSession(f.ctx, ss); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.SessionByHash(f.ctx, ss.IDHash); err != nil || got.Address != "" {
		t.Errorf("session without address = %+v, %v; want empty address", got, err)
	}
}

// testFleetNumbers: integers at the edges of their Go types come back exactly, whatever the
// column type (bigint, INTEGER, or a number inside JSON text).
func testFleetNumbers(t *testing.T, f *fixture) {
	grace := time.Duration(math.MaxInt64)
	g := server.Group{Name: "numbers", Grace: grace, CreatedAt: t0}
	if err := f.s.CreateGroup(f.ctx, g, audit("group.create", g.Name)); err != nil {
		t.Fatal(err)
	}
	if got := f.getGroup(g.Name).Grace; got != grace {
		t.Errorf("group Grace = %d, want exactly %d", got, grace)
	}

	// A rank cutoff above 2^53, which a float64 (a JSON number read as double) would round.
	r := newRollout("numbers", t0)
	r.Cutoff, r.PrevCutoff = math.MaxUint64-1, 1<<53+1
	rs := f.rolloutStore()
	if err := rs.StartRollout(f.ctx, &r, audit("rollout.start", "group/numbers")); err != nil {
		t.Fatal(err)
	}
	got, err := rs.GetRollout(f.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cutoff != r.Cutoff || got.PrevCutoff != r.PrevCutoff {
		t.Errorf("rollout cutoffs = %d, %d; want exactly %d, %d", got.Cutoff, got.PrevCutoff, r.Cutoff, r.PrevCutoff)
	}

	// The largest "before" keeps every entry, as a bigint on both stores.
	all, err := f.s.ListAudit(f.ctx, 0, math.MaxInt64)
	if err != nil || len(all) == 0 {
		t.Errorf("ListAudit before MaxInt64 = %d entries, %v; want all", len(all), err)
	}
}

// testFleetTimeZones: times written in zones other than UTC, with sub-microsecond digits, come
// back as the same instant in UTC truncated to microseconds; bounds given in another zone select
// by instant.
func testFleetTimeZones(t *testing.T, f *fixture) {
	east, west := tNanos.In(zoneEast), tNanos.Add(time.Hour).In(zoneWest)

	u := server.User{ID: randomID("u-"), Name: "zoned", Role: server.RoleViewer, PasswordHash: "x",
		PasswordChangedAt: west, CreatedAt: east}
	if err := f.s.CreateUser(f.ctx, u, audit("user.create", u.ID)); err != nil {
		t.Fatal(err)
	}
	gotU, err := f.s.UserByName(f.ctx, u.Name)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "user CreatedAt", gotU.CreatedAt, east)
	checkTime(t, "user PasswordChangedAt", gotU.PasswordChangedAt, west)
	changed := west.Add(time.Minute).In(zoneEast)
	if err := f.s.SetUserPassword(f.ctx, u.ID, "y", changed, audit("user.passwd", u.ID)); err != nil {
		t.Fatal(err)
	}
	if gotU, err = f.s.UserByID(f.ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	checkTime(t, "user PasswordChangedAt after change", gotU.PasswordChangedAt, changed)

	ss := server.Session{IDHash: randomID("sess-"), UserID: u.ID, CreatedAt: east, LastSeen: east}
	if err := f.s.CreateSession(f.ctx, ss); err != nil {
		t.Fatal(err)
	}
	if err := f.s.TouchSession(f.ctx, ss.IDHash, west); err != nil {
		t.Fatal(err)
	}
	gotS, err := f.s.SessionByHash(f.ctx, ss.IDHash)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "session CreatedAt", gotS.CreatedAt, east)
	checkTime(t, "session LastSeen", gotS.LastSeen, west)
	// A cutoff at the very instant (exclusive), given in another zone, keeps the session; one a
	// microsecond later removes it.
	if n, err := f.s.DeleteStaleSessions(f.ctx, us(west).In(zoneEast), us(east).In(zoneWest)); err != nil || n != 0 {
		t.Errorf("DeleteStaleSessions at the session's own instants = %d, %v; want 0", n, err)
	}
	if n, err := f.s.DeleteStaleSessions(f.ctx, us(west).Add(time.Microsecond).In(zoneEast), time.Time{}); err != nil || n != 1 {
		t.Errorf("DeleteStaleSessions a microsecond after LastSeen = %d, %v; want 1", n, err)
	}

	// Audit: a search from an instant given in another zone includes it; until excludes it.
	a := server.AuditEntry{Time: east, Actor: "zoned", Action: "zoned.act", Target: "zoned/1"}
	if err := f.s.AppendAudit(f.ctx, a); err != nil {
		t.Fatal(err)
	}
	found, err := f.s.SearchAudit(f.ctx, server.AuditFilter{Actor: "zoned", Since: us(east).In(zoneWest)})
	if err != nil || len(found) != 1 {
		t.Fatalf("SearchAudit since the entry's instant (other zone) = %v, %v; want the entry", found, err)
	}
	checkTime(t, "audit Time", found[0].Time, east)
	if found, err := f.s.SearchAudit(f.ctx, server.AuditFilter{Actor: "zoned", Until: us(east).In(zoneWest)}); err != nil || len(found) != 0 {
		t.Errorf("SearchAudit until the entry's instant (exclusive) = %v, %v; want none", found, err)
	}
	p, ok := f.s.(auditPruner)
	if !ok {
		t.Fatalf("%T does not implement PruneAudit", f.s)
	}
	if n, err := p.PruneAudit(f.ctx, us(east).In(zoneWest)); err != nil {
		t.Fatal(err)
	} else if found, _ := f.s.SearchAudit(f.ctx, server.AuditFilter{Actor: "zoned"}); len(found) != 1 {
		t.Errorf("PruneAudit at the entry's instant (exclusive) removed it (%d pruned)", n)
	}

	f.group("zoned")
	r := newRollout("zoned", east)
	rs := f.rolloutStore()
	if err := rs.StartRollout(f.ctx, &r, audit("rollout.start", "group/zoned")); err != nil {
		t.Fatal(err)
	}
	gotR, err := rs.GetRollout(f.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "rollout CreatedAt", gotR.CreatedAt, east)
	checkTime(t, "rollout StageStarted", gotR.StageStarted, east)
}

// testFleetOrdering: the listings the stores share order text by bytes and break ties as
// documented, not as the database's collation or its physical order happens to.
func testFleetOrdering(t *testing.T, f *fixture) {
	// Users: by name, by bytes.
	for _, name := range shuffled(byteOrder) {
		u := server.User{ID: randomID("u-"), Name: name, Role: server.RoleViewer, PasswordHash: "x", CreatedAt: t0}
		if err := f.s.CreateUser(f.ctx, u, audit("user.create", u.ID)); err != nil {
			t.Fatal(err)
		}
	}
	users, err := f.s.ListUsers(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := keysOf(users, func(u server.User) string { return u.Name }); !slices.Equal(names, byteOrder) {
		t.Errorf("ListUsers order:\n got %v\nwant %v", names, byteOrder)
	}

	// Tokens created at one instant: API tokens first inserted first, enrollment tokens last
	// inserted first. They are inserted in neither byte order of their IDs, so an order by id
	// would show.
	var apiIDs, etIDs []string
	for _, name := range shuffled(byteOrder) {
		api := server.APIToken{ID: "at-" + name, Role: server.RoleViewer, Hash: randomID("hash-"), CreatedAt: t0}
		if err := f.s.CreateAPIToken(f.ctx, api, audit("api-token.create", api.ID)); err != nil {
			t.Fatal(err)
		}
		apiIDs = append(apiIDs, api.ID)
		et := server.EnrollmentToken{ID: "et-" + name, Group: server.DefaultGroup, Hash: randomID("hash-"), CreatedAt: t0}
		if err := f.s.CreateEnrollmentToken(f.ctx, et, audit("enrollment-token.create", et.ID)); err != nil {
			t.Fatal(err)
		}
		etIDs = append([]string{et.ID}, etIDs...)
	}
	apis, err := f.s.ListAPITokens(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gotAPI := keysOf(apis, func(a server.APIToken) string { return a.ID }); !slices.Equal(gotAPI, apiIDs) {
		t.Errorf("ListAPITokens at one instant:\n got %v\nwant %v (first inserted first)", gotAPI, apiIDs)
	}
	ets, err := f.s.ListEnrollmentTokens(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gotET := keysOf(ets, func(et server.EnrollmentToken) string { return et.ID }); !slices.Equal(gotET, etIDs) {
		t.Errorf("ListEnrollmentTokens at one instant:\n got %v\nwant %v (last inserted first)", gotET, etIDs)
	}

	// Update events: last added first, even when an older event arrives later.
	h, _ := f.host("ordering", server.DefaultGroup)
	var evWant []string
	for i, at := range []time.Time{t0, t0.Add(-time.Hour), t0, t0.Add(-2 * time.Hour)} {
		ev := server.UpdateEvent{HostID: h.ID, ReceivedAt: t0, UpdateEvent: wire.UpdateEvent{
			ID: fmt.Sprintf("ev-%d", i), Binary: "vigil-agent", ToVersion: "1.1.0", Phase: "commit", Result: "ok", Time: at}}
		if err := f.s.AddUpdateEvent(f.ctx, ev); err != nil {
			t.Fatal(err)
		}
		evWant = append([]string{ev.ID}, evWant...)
	}
	evs, err := f.s.ListUpdateEvents(f.ctx, h.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if evGot := keysOf(evs, func(e server.UpdateEvent) string { return e.ID }); !slices.Equal(evGot, evWant) {
		t.Errorf("ListUpdateEvents order = %v, want %v (last added first)", evGot, evWant)
	}
	if lu := f.getHost(h.ID).LastUpdate; lu == nil || lu.ID != evWant[0] {
		t.Errorf("LastUpdate = %+v, want the last added, %s", lu, evWant[0])
	}

	// Rollouts created at one instant (one per group: one active rollout each): by id,
	// descending, by bytes.
	rs := f.rolloutStore()
	var roIDs []string
	for i, name := range shuffled(byteOrder) {
		group := fmt.Sprintf("ro-group-%d", i)
		f.group(group)
		r := newRollout(group, t0)
		r.ID = "ro-" + name
		if err := rs.StartRollout(f.ctx, &r, audit("rollout.start", "group/"+group)); err != nil {
			t.Fatal(err)
		}
		roIDs = append(roIDs, r.ID)
	}
	slices.Sort(roIDs)
	slices.Reverse(roIDs)
	ros, err := rs.ListRollouts(f.ctx, rollout.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if roGot := keysOf(ros, func(r rollout.Rollout) string { return r.ID }); !slices.Equal(roGot, roIDs) {
		t.Errorf("ListRollouts at one instant:\n got %v\nwant %v (by id bytes, descending)", roGot, roIDs)
	}

	// Audit: newest (last appended) first, whatever the entries' own times say.
	var auditWant []string
	for i, at := range []time.Time{t0, t0.Add(-time.Hour), t0.Add(time.Hour)} {
		target := fmt.Sprintf("ordering/%d", i)
		if err := f.s.AppendAudit(f.ctx, server.AuditEntry{Time: at, Actor: "ordering", Action: "ordering.act", Target: target}); err != nil {
			t.Fatal(err)
		}
		auditWant = append([]string{target}, auditWant...)
	}
	found, err := f.s.SearchAudit(f.ctx, server.AuditFilter{Actor: "ordering"})
	if err != nil {
		t.Fatal(err)
	}
	if auditGot := keysOf(found, func(a server.AuditEntry) string { return a.Target }); !slices.Equal(auditGot, auditWant) {
		t.Errorf("SearchAudit order = %v, want %v (last appended first)", auditGot, auditWant)
	}
}
