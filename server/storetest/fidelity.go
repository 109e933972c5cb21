package storetest

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/wire"
)

// This file holds the cases where two SQL dialects most easily disagree: NULL against empty values,
// float precision, time zones and sub-second precision, and the order of listings (collation,
// ties). The rules are the ones the package comment states.

// Zones that are not UTC, one each side of it, with a half-hour offset, which a store converting
// through a whole-hour local time would get wrong.
var (
	zoneEast = time.FixedZone("UTC+05:30", 5*3600+1800)
	zoneWest = time.FixedZone("UTC-08:00", -8*3600)
)

// tNanos has sub-microsecond digits that round up but must be truncated: .123456999 keeps
// .123456, never .123457.
var tNanos = time.Date(2026, 11, 21, 10, 0, 0, 123456999, time.UTC)

func testTimePrecision(t *testing.T, f *fixture) {
	want := time.Date(2026, 11, 21, 10, 0, 0, 123456000, time.UTC)
	if us(tNanos) != want {
		t.Fatalf("test setup: us(%v) = %v", tNanos, us(tNanos))
	}
	g := server.Group{Name: "precise", CreatedAt: tNanos.In(zoneEast)}
	if err := f.s.CreateGroup(f.ctx, g, audit("group.create", g.Name)); err != nil {
		t.Fatal(err)
	}
	if got := f.getGroup(g.Name).CreatedAt; !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("group CreatedAt = %v, want %v (truncated to microseconds, UTC)", got, want)
	}

	// A sample written at .123456999 is found by a query from .123456 and not by one ending there.
	h, _ := f.host("precise", server.DefaultGroup)
	f.commit(server.HostReports{HostID: h.ID, Received: tNanos, Reports: []wire.Report{Report(1, tNanos)}})
	ss, err := f.s.ListSamples(f.ctx, h.ID, want, want.Add(time.Microsecond), 0)
	if err != nil || len(ss) != 1 {
		t.Fatalf("ListSamples [%v, +1µs) = %d samples, %v; want the one at %v", want, len(ss), err, tNanos)
	}
	checkTime(t, "sample Time", ss[0].Time, tNanos)
	if ss, err := f.s.ListSamples(f.ctx, h.ID, want.Add(-time.Second), want, 0); err != nil || len(ss) != 0 {
		t.Errorf("ListSamples up to %v (exclusive) = %d samples, %v; want none", want, len(ss), err)
	}
	checkTime(t, "LastSeen", f.getHost(h.ID).LastSeen, tNanos)
}

func testTimeZones(t *testing.T, f *fixture) {
	east, west := t0.In(zoneEast), t0.Add(time.Hour).In(zoneWest)

	g := server.Group{Name: "zoned", CreatedAt: east}
	if err := f.s.CreateGroup(f.ctx, g, server.AuditEntry{Time: west, Actor: "a", Action: "group.create", Target: "zoned"}); err != nil {
		t.Fatal(err)
	}
	checkTime(t, "group CreatedAt", f.getGroup("zoned").CreatedAt, east)
	checkTime(t, "audit Time", f.lastAudit().Time, west)

	tok := server.EnrollmentToken{ID: randomID("et-"), Group: "zoned", ExpiresAt: west.Add(time.Hour), MaxUses: 1,
		CreatedAt: east, Hash: randomID("hash-")}
	if err := f.s.CreateEnrollmentToken(f.ctx, tok, audit("enrollment-token.create", tok.ID)); err != nil {
		t.Fatal(err)
	}
	toks, err := f.s.ListEnrollmentTokens(f.ctx)
	if err != nil || len(toks) != 1 {
		t.Fatalf("ListEnrollmentTokens = %v, %v", toks, err)
	}
	checkTime(t, "token CreatedAt", toks[0].CreatedAt, east)
	checkTime(t, "token ExpiresAt", toks[0].ExpiresAt, tok.ExpiresAt)

	// Expiry compares instants: "now" given in another zone, a minute before the expiry, is in time.
	h, err := f.s.Enroll(f.ctx, tok.Hash, tok.ExpiresAt.Add(-time.Minute).In(zoneEast),
		server.Host{ID: randomID("h-"), Hostname: "zoned", EnrolledAt: east}, randomID("cred-"))
	if err != nil {
		t.Fatalf("Enroll before expiry, now in another zone: %v", err)
	}
	checkTime(t, "Enroll EnrolledAt", h.EnrolledAt, east)
	checkTime(t, "GetHost EnrolledAt", f.getHost(h.ID).EnrolledAt, east)

	r := Report(1, east)
	r.BootTime = west.Add(-24 * time.Hour)
	r.Outages = []wire.Outage{{Start: east.Add(-time.Hour), End: east.Add(-time.Minute), Class: wire.OutageDNS}}
	f.commit(server.HostReports{HostID: h.ID, Received: west, Reports: []wire.Report{r}})
	got := f.getHost(h.ID)
	checkTime(t, "LastSeen", got.LastSeen, west)
	checkTime(t, "BootTime", got.BootTime, r.BootTime)
	// Bounds in another zone select the same instants.
	ss, err := f.s.ListSamples(f.ctx, h.ID, t0.In(zoneWest), t0.Add(time.Microsecond).In(zoneEast), 0)
	if err != nil || len(ss) != 1 {
		t.Fatalf("ListSamples with zoned bounds = %d samples, %v; want 1", len(ss), err)
	}
	checkTime(t, "sample Time", ss[0].Time, east)
	os, err := f.s.ListOutages(f.ctx, h.ID, east.Add(-time.Minute).In(zoneWest))
	if err != nil || len(os) != 1 {
		t.Fatalf("ListOutages = %v, %v; want the outage", os, err)
	}
	checkTime(t, "outage Start", os[0].Start, r.Outages[0].Start)
	checkTime(t, "outage End", os[0].End, r.Outages[0].End)

	ev := server.UpdateEvent{HostID: h.ID, ReceivedAt: west, UpdateEvent: wire.UpdateEvent{
		Binary: "vigil-agent", FromVersion: "1.0.0", ToVersion: "1.1.0", Phase: "commit", Result: "ok", Time: east}}
	if err := f.s.AddUpdateEvent(f.ctx, ev); err != nil {
		t.Fatal(err)
	}
	evs, err := f.s.ListUpdateEvents(f.ctx, h.ID, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ListUpdateEvents = %v, %v", evs, err)
	}
	checkTime(t, "update event Time", evs[0].Time, east)
	checkTime(t, "update event ReceivedAt", evs[0].ReceivedAt, west)
	if lu := f.getHost(h.ID).LastUpdate; lu == nil {
		t.Error("LastUpdate is nil")
	} else {
		checkTime(t, "LastUpdate Time", lu.Time, east)
		checkTime(t, "LastUpdate ReceivedAt", lu.ReceivedAt, west)
	}

	api := server.APIToken{ID: randomID("at-"), Name: "zoned", Role: server.RoleViewer, Hash: randomID("hash-"), CreatedAt: west}
	if err := f.s.CreateAPIToken(f.ctx, api, audit("api-token.create", api.ID)); err != nil {
		t.Fatal(err)
	}
	gotAPI, err := f.s.APITokenByHash(f.ctx, api.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "api token CreatedAt", gotAPI.CreatedAt, west)

	as, ok := f.s.(alert.Store)
	if !ok {
		t.Fatalf("%T does not implement alert.Store", f.s)
	}
	rule := alert.Rule{ID: "zoned-rule", Name: "zoned", Kind: alert.KindCPU, Threshold: 90, CreatedAt: east}
	if err := as.CreateRule(f.ctx, rule, audit("rule.create", rule.ID)); err != nil {
		t.Fatal(err)
	}
	rules, err := as.ListRules(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.ID == rule.ID {
			checkTime(t, "rule CreatedAt", r.CreatedAt, east)
		}
	}
	sl := alert.Silence{ID: "zoned-silence", Group: "zoned", StartsAt: east, EndsAt: west.Add(time.Hour), CreatedAt: west}
	if err := as.CreateSilence(f.ctx, sl, audit("silence.create", sl.ID)); err != nil {
		t.Fatal(err)
	}
	// since is compared as an instant: EndsAt a nanosecond later in another zone still selects it.
	sls, err := as.ListSilences(f.ctx, sl.EndsAt.Add(-time.Microsecond).In(zoneEast))
	if err != nil || len(sls) != 1 {
		t.Fatalf("ListSilences = %v, %v; want the silence", sls, err)
	}
	checkTime(t, "silence StartsAt", sls[0].StartsAt, sl.StartsAt)
	checkTime(t, "silence EndsAt", sls[0].EndsAt, sl.EndsAt)
	checkTime(t, "silence CreatedAt", sls[0].CreatedAt, sl.CreatedAt)

	a := &alert.Alert{Key: "zoned", State: alert.StateFiring, HostID: h.ID, StartedAt: east, FiredAt: west}
	n := note("zoned-note", east)
	n.NextAttempt = west
	if err := as.SaveAlert(f.ctx, a, alert.AlertEvent{Time: west, Message: "fired"}, []alert.Notification{n}); err != nil {
		t.Fatal(err)
	}
	checkTime(t, "saved alert UpdatedAt", a.UpdatedAt, west)
	checkTime(t, "saved alert StartedAt (normalised in memory)", a.StartedAt, east)
	stored, err := as.GetAlert(f.ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "alert StartedAt", stored.StartedAt, east)
	checkTime(t, "alert FiredAt", stored.FiredAt, west)
	checkTime(t, "alert UpdatedAt", stored.UpdatedAt, west)
	if len(stored.History) != 1 {
		t.Fatalf("alert history = %+v, want one event", stored.History)
	}
	checkTime(t, "alert event Time", stored.History[0].Time, west)
	ns, err := as.ListNotifications(f.ctx, 0, 0)
	if err != nil || len(ns) != 1 {
		t.Fatalf("ListNotifications = %v, %v", ns, err)
	}
	checkTime(t, "notification CreatedAt", ns[0].CreatedAt, east)
	checkTime(t, "notification NextAttempt", ns[0].NextAttempt, west)
	checkTime(t, "notification SentAt", ns[0].SentAt, time.Time{})
}

func testNullsAndEmpties(t *testing.T, f *fixture) {
	// A host with no optional fields: empty strings stay empty, never-set times stay zero, and
	// there is no latest report or update before the first one.
	tok := f.token(server.DefaultGroup, 0, time.Time{})
	h, err := f.s.Enroll(f.ctx, tok.Hash, t0, server.Host{ID: randomID("h-"), Hostname: "bare"}, randomID("cred-"))
	if err != nil {
		t.Fatal(err)
	}
	got := f.getHost(h.ID)
	if got.MachineID != "" || got.OS != "" || got.Arch != "" || got.AgentVersion != "" || got.UpdaterVersion != "" ||
		got.IntervalSeconds != 0 || got.AckedSeq != 0 || got.Revoked {
		t.Errorf("bare host = %+v, want empty optional fields", got)
	}
	checkTime(t, "LastSeen before any report", got.LastSeen, time.Time{})
	checkTime(t, "BootTime before any report", got.BootTime, time.Time{})
	if got.Latest != nil || got.LastUpdate != nil {
		t.Errorf("bare host Latest = %v, LastUpdate = %v; want nil", got.Latest, got.LastUpdate)
	}
	checkTime(t, "EnrolledAt defaults to now", got.EnrolledAt, t0)

	// A token without expiry (NULL) never expires and lists with a zero ExpiresAt.
	toks, err := f.s.ListEnrollmentTokens(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.ID == tok.ID {
			checkTime(t, "token without expiry ExpiresAt", tk.ExpiresAt, time.Time{})
		}
	}

	// A report without CPU, memory, load or mounts (NULL key figures) and without boot time.
	bare := wire.Report{Seq: 1, Time: t0, IntervalSeconds: 10}
	f.commit(server.HostReports{HostID: h.ID, Received: t0, Reports: []wire.Report{bare}})
	got = f.getHost(h.ID)
	sameReport(t, "Latest of a bare report", got.Latest, &bare)
	checkTime(t, "BootTime after a report without one", got.BootTime, time.Time{})
	if ss := f.samples(h.ID); len(ss) != 1 {
		t.Fatalf("samples = %d, want 1", len(ss))
	} else {
		sameReport(t, "sample of a bare report", &ss[0].Report, &bare)
		if ss[0].Report.CPU != nil || ss[0].Report.Mounts != nil {
			t.Errorf("bare sample gained CPU %v or mounts %v", ss[0].Report.CPU, ss[0].Report.Mounts)
		}
	}

	// Alert emails: nil and empty are the same (none); an empty group round-trips as nil.
	for name, emails := range map[string][]string{"emails-nil": nil, "emails-empty": {}} {
		if err := f.s.CreateGroup(f.ctx, server.Group{Name: name, AlertEmails: emails, CreatedAt: t0}, audit("group.create", name)); err != nil {
			t.Fatal(err)
		}
		if g := f.getGroup(name); g.AlertEmails != nil || g.Pin != (server.Pin{}) || g.Grace != 0 {
			t.Errorf("group %s created with AlertEmails %#v = %+v, want nil emails, no pin, no grace", name, emails, g)
		}
	}

	// Audit entries keep empty target and detail as empty strings.
	if err := f.s.AppendAudit(f.ctx, server.AuditEntry{Time: t0, Action: "bare"}); err != nil {
		t.Fatal(err)
	}
	if a := f.lastAudit(); a.Action != "bare" || a.Actor != "" || a.Target != "" || a.Detail != "" {
		t.Errorf("bare audit entry = %+v", a)
	}
}

func testFloatPrecision(t *testing.T, f *fixture) {
	h, _ := f.host("floats", server.DefaultGroup)
	// Percentages as reports may carry them (0 to 100), and loads and counters that are not.
	pcts := []float64{0.1, 99.99, 100, 0, 1e-7, 1.0 / 3, 12.345678901234567}
	large := []float64{123456789.123456789, 1e300, math.SmallestNonzeroFloat64, math.MaxFloat64, 0.1, 1e-7, 2.5}
	var reports []wire.Report
	for i, v := range pcts {
		r := Report(uint64(i+1), reportTime(uint64(i+1)))
		r.CPU.BusyPct, r.Memory.UsedPct, r.Mounts[1].UsedPct = v, v, v
		r.Load.Load1, r.UptimeSeconds = large[i], large[i]
		reports = append(reports, r)
	}
	f.commit(server.HostReports{HostID: h.ID, Received: t0, Reports: reports})
	ss := f.samples(h.ID)
	if len(ss) != len(pcts) {
		t.Fatalf("samples = %d, want %d", len(ss), len(pcts))
	}
	for i, v := range pcts {
		r := ss[i].Report
		if r.CPU.BusyPct != v || r.Memory.UsedPct != v || r.Mounts[1].UsedPct != v {
			t.Errorf("sample %d: percentages = %v %v %v, want exactly %v", i+1, r.CPU.BusyPct, r.Memory.UsedPct, r.Mounts[1].UsedPct, v)
		}
		if r.Load.Load1 != large[i] || r.UptimeSeconds != large[i] {
			t.Errorf("sample %d: load1 %v, uptime %v, want exactly %v", i+1, r.Load.Load1, r.UptimeSeconds, large[i])
		}
	}
	if got := f.getHost(h.ID).Latest; got == nil || got.CPU.BusyPct != pcts[len(pcts)-1] || got.Load.Load1 != large[len(large)-1] {
		t.Errorf("Latest = %v, want CPU exactly %v and load1 %v", got, pcts[len(pcts)-1], large[len(large)-1])
	}

	as, ok := f.s.(alert.Store)
	if !ok {
		t.Fatalf("%T does not implement alert.Store", f.s)
	}
	for i, v := range []float64{0.1, 99.99, 1.0 / 3} {
		if err := as.CreateRule(f.ctx, alert.Rule{ID: fmt.Sprintf("float-%d", i), Kind: alert.KindCPU, Threshold: v}, audit("rule.create", "r")); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := as.ListRules(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		var i int
		if _, err := fmt.Sscanf(r.ID, "float-%d", &i); err == nil && r.Threshold != []float64{0.1, 99.99, 1.0 / 3}[i] {
			t.Errorf("rule %s Threshold = %v, want exactly %v", r.ID, r.Threshold, []float64{0.1, 99.99, 1.0 / 3}[i])
		}
	}
}

// byteOrder lists names as both stores order text: by bytes, whatever the database's collation
// (upper case before lower case, "_" between them, digits before letters).
var byteOrder = []string{"Alpha", "Beta", "_under", "alpha", "beta", "web10", "web9", "zeta", "ärger"}

func shuffled(names []string) []string {
	out := slices.Clone(names)
	slices.Reverse(out)
	out[0], out[len(out)/2] = out[len(out)/2], out[0]
	return out
}

func testOrdering(t *testing.T, f *fixture) {
	if !slices.IsSorted(byteOrder) {
		t.Fatal("test setup: byteOrder is not in byte order")
	}
	// Hosts: by hostname, then by id for equal hostnames.
	type hostKey struct{ hostname, id string }
	var want []hostKey
	for _, name := range shuffled(byteOrder) {
		h, _ := f.host(name, server.DefaultGroup)
		want = append(want, hostKey{name, h.ID})
	}
	for range 3 {
		h, _ := f.host("twin", server.DefaultGroup)
		want = append(want, hostKey{"twin", h.ID})
	}
	slices.SortFunc(want, func(a, b hostKey) int {
		return cmp.Or(strings.Compare(a.hostname, b.hostname), strings.Compare(a.id, b.id))
	})
	hs, err := f.s.ListHosts(f.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []hostKey
	for _, h := range hs {
		got = append(got, hostKey{h.Hostname, h.ID})
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListHosts order:\n got %v\nwant %v", got, want)
	}

	// Groups: by name.
	for _, name := range shuffled(byteOrder) {
		f.group(name)
	}
	gs, err := f.s.ListGroups(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range gs {
		names = append(names, g.Name)
	}
	if wantNames := slices.Sorted(slices.Values(append(slices.Clone(byteOrder), server.DefaultGroup))); !slices.Equal(names, wantNames) {
		t.Errorf("ListGroups order:\n got %v\nwant %v", names, wantNames)
	}

	// Samples at one time: by seq. Outages with equal times: by class, then detail, by bytes.
	h := hs[0]
	var rs []wire.Report
	for seq := uint64(1); seq <= 3; seq++ {
		r := Report(seq, t0)
		if seq == 1 {
			for _, d := range shuffled(byteOrder) {
				r.Outages = append(r.Outages, wire.Outage{Start: t0.Add(-time.Hour), End: t0, Class: wire.OutageHTTP, Detail: d})
			}
			r.Outages = append(r.Outages, wire.Outage{Start: t0.Add(-time.Hour), End: t0, Class: wire.OutageDNS, Detail: "zzz"})
		}
		rs = append(rs, r)
	}
	f.commit(server.HostReports{HostID: h.ID, Received: t0, Reports: rs})
	if seqs := seqsOf(f.samples(h.ID)); !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Errorf("samples at one time in seq order = %v, want [1 2 3]", seqs)
	}
	os, err := f.s.ListOutages(f.ctx, h.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, o := range os {
		details = append(details, o.Class+"/"+o.Detail)
	}
	wantDetails := []string{"dns/zzz"}
	for _, d := range byteOrder {
		wantDetails = append(wantDetails, "http/"+d)
	}
	if !slices.Equal(details, wantDetails) {
		t.Errorf("ListOutages order:\n got %v\nwant %v", details, wantDetails)
	}

	as, ok := f.s.(alert.Store)
	if !ok {
		t.Fatalf("%T does not implement alert.Store", f.s)
	}
	// Rules: by id. Silences starting together: by id.
	for _, name := range shuffled(byteOrder) {
		if err := as.CreateRule(f.ctx, alert.Rule{ID: "r-" + name, Kind: alert.KindCPU, Threshold: 1}, audit("rule.create", name)); err != nil {
			t.Fatal(err)
		}
		sl := alert.Silence{ID: "s-" + name, Group: "web", StartsAt: t0, EndsAt: t0.Add(time.Hour)}
		if err := as.CreateSilence(f.ctx, sl, audit("silence.create", name)); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := as.ListRules(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ruleIDs []string
	for _, r := range rules {
		ruleIDs = append(ruleIDs, r.ID)
	}
	if !slices.IsSorted(ruleIDs) {
		t.Errorf("ListRules order is not by id bytes: %v", ruleIDs)
	}
	sls, err := as.ListSilences(f.ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var silenceIDs []string
	for _, sl := range sls {
		silenceIDs = append(silenceIDs, sl.ID)
	}
	var wantSilences []string
	for _, name := range byteOrder {
		wantSilences = append(wantSilences, "s-"+name)
	}
	if !slices.Equal(silenceIDs, wantSilences) {
		t.Errorf("ListSilences order:\n got %v\nwant %v", silenceIDs, wantSilences)
	}
}
