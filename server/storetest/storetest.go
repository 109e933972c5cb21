// Package storetest is the conformance suite for server.Store. Every store (sqlitestore,
// pgstore) runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) server.Store { return openTempStore(t) })
//	}
//
// The suite checks every promise of the Store doc comments, plus the conventions the stores share
// beyond them: times are instants, whatever zone they are written in, and come back in UTC,
// truncated (never rounded) to microseconds; a zero EnrollmentToken.ExpiresAt never expires and a
// MaxUses of zero or less is unlimited; empty version strings, a zero interval and a zero boot
// time in a report keep the host's previous values; unset optional fields come back empty, zero or
// nil, never as a stand-in value; reports (and rule thresholds) keep every float64 bit for bit;
// integers at the edges of their Go types (durations, uint64 cutoffs) come back exactly; listings
// order text by bytes, not by the database's collation, and break ties deterministically (hosts by
// id, samples by seq, tokens, update events and audit entries by insertion, rollouts by id); limits
// of zero or less mean "no limit".
//
// KeyFigures checks the per-sample key figures, which no Store method reads, through a function
// each store's own test supplies.
//
// BenchCommitReports is the shared ingest benchmark, so the stores can be compared side by side.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// Run runs the conformance suite. newStore must return a fresh, migrated store that no other
// subtest uses and register its own cleanup with t.Cleanup. Subtests run in parallel, so newStore
// must be safe for concurrent use.
func Run(t *testing.T, newStore func(t *testing.T) server.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"Migrated", testMigrated},
		{"EnrollmentTokens", testEnrollmentTokens},
		{"Enroll", testEnroll},
		{"EnrollConcurrent", testEnrollConcurrent},
		{"Hosts", testHosts},
		{"RevokeHost", testRevokeHost},
		{"DeleteHost", testDeleteHost},
		{"MoveHost", testMoveHost},
		{"CommitReportsAck", testCommitReportsAck},
		{"CommitReportsDedupe", testCommitReportsDedupe},
		{"CommitReportsHostState", testCommitReportsHostState},
		{"CommitReportsAtomic", testCommitReportsAtomic},
		{"CommitReportsConcurrent", testCommitReportsConcurrent},
		{"CommitReportsRaw", testCommitReportsRaw},
		{"CommitReportsLarge", testCommitReportsLarge},
		{"Samples", testSamples},
		{"Outages", testOutages},
		{"ReportsDropped", testReportsDropped},
		{"Retention", testRetention},
		{"Groups", testGroups},
		{"DeleteGroup", testDeleteGroup},
		{"AgentSettings", testAgentSettings},
		{"UpdateEvents", testUpdateEvents},
		{"UpdateEventIDs", testUpdateEventIDs},
		{"QuarantineGeneration", testQuarantineGeneration},
		{"APITokens", testAPITokens},
		{"Audit", testAudit},
		{"AppendAudit", testAppendAudit},
		{"Users", testUsers},
		{"LastAdmin", testLastAdmin},
		{"SearchAudit", testSearchAudit},
		{"AuditRetention", testAuditRetention},
		{"ContextCanceled", testContextCanceled},
		{"TimePrecision", testTimePrecision},
		{"TimeZones", testTimeZones},
		{"NullsAndEmpties", testNullsAndEmpties},
		{"FloatPrecision", testFloatPrecision},
		{"Ordering", testOrdering},
		{"FleetNulls", testFleetNulls},
		{"FleetNumbers", testFleetNumbers},
		{"FleetTimeZones", testFleetTimeZones},
		{"FleetOrdering", testFleetOrdering},
		{"HostCredentialGeneration", testHostCredentialGeneration},
		{"Rollups", testRollups},
		{"RawMetrics", testRawMetrics},
		{"RollupRetention", testRollupRetention},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, &fixture{t: t, s: newStore(t), ctx: t.Context()})
		})
	}
	runAlert(t, newStore)
	runRollout(t, newStore)
}

// t0 has nanoseconds on purpose: stores keep microseconds.
var t0 = time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)

// fixture bundles a store with helpers that create what tests need.
type fixture struct {
	t   *testing.T
	s   server.Store
	ctx context.Context
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func audit(action, target string) server.AuditEntry {
	return server.AuditEntry{Time: t0, Actor: "token:test", Action: action, Target: target}
}

// token creates an enrollment token for group and returns its hash.
func (f *fixture) token(group string, maxUses int, expires time.Time) server.EnrollmentToken {
	f.t.Helper()
	tok := server.EnrollmentToken{
		ID: randomID("et-"), Group: group, ExpiresAt: expires, MaxUses: maxUses,
		CreatedAt: t0, CreatedBy: "token:test", Hash: randomID("hash-"),
	}
	if err := f.s.CreateEnrollmentToken(f.ctx, tok, audit("enrollment-token.create", tok.ID)); err != nil {
		f.t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	return tok
}

// host enrolls a host named hostname into group and returns it with its credential hash.
func (f *fixture) host(hostname, group string) (server.Host, string) {
	f.t.Helper()
	tok := f.token(group, 1, t0.Add(time.Hour))
	cred := randomID("cred-")
	h, err := f.s.Enroll(f.ctx, tok.Hash, t0, server.Host{
		ID: randomID("h-"), Hostname: hostname, MachineID: randomID("m-"), OS: "linux", Arch: "amd64",
		EnrolledAt: t0, AgentVersion: "1.0.0",
	}, cred)
	if err != nil {
		f.t.Fatalf("Enroll %s: %v", hostname, err)
	}
	return h, cred
}

func (f *fixture) group(name string) server.Group {
	f.t.Helper()
	g := server.Group{Name: name, CreatedAt: t0}
	if err := f.s.CreateGroup(f.ctx, g, audit("group.create", name)); err != nil {
		f.t.Fatalf("CreateGroup %s: %v", name, err)
	}
	return g
}

func (f *fixture) getHost(id string) server.Host {
	f.t.Helper()
	h, err := f.s.GetHost(f.ctx, id)
	if err != nil {
		f.t.Fatalf("GetHost %s: %v", id, err)
	}
	return h
}

func (f *fixture) getGroup(name string) server.Group {
	f.t.Helper()
	g, err := f.s.GetGroup(f.ctx, name)
	if err != nil {
		f.t.Fatalf("GetGroup %s: %v", name, err)
	}
	return g
}

// commit runs CommitReports and fails the test on error.
func (f *fixture) commit(batches ...server.HostReports) []uint64 {
	f.t.Helper()
	acks, err := f.s.CommitReports(f.ctx, batches)
	if err != nil {
		f.t.Fatalf("CommitReports: %v", err)
	}
	if len(acks) != len(batches) {
		f.t.Fatalf("CommitReports returned %d acks for %d batches", len(acks), len(batches))
	}
	return acks
}

// batch builds a HostReports of reports with the given seqs, one minute apart from t0.
func batch(hostID string, received time.Time, seqs ...uint64) server.HostReports {
	b := server.HostReports{HostID: hostID, Received: received}
	for _, seq := range seqs {
		b.Reports = append(b.Reports, Report(seq, reportTime(seq)))
	}
	return b
}

func reportTime(seq uint64) time.Time { return t0.Add(time.Duration(seq) * time.Minute) }

// samples lists all samples of a host.
func (f *fixture) samples(hostID string) []server.Sample {
	f.t.Helper()
	ss, err := f.s.ListSamples(f.ctx, hostID, t0.Add(-24*time.Hour), t0.Add(365*24*time.Hour), 100000)
	if err != nil {
		f.t.Fatalf("ListSamples: %v", err)
	}
	return ss
}

func seqsOf(ss []server.Sample) []uint64 {
	out := []uint64{}
	for _, s := range ss {
		out = append(out, s.Seq)
	}
	return out
}

// lastAudit returns the newest audit entry.
func (f *fixture) lastAudit() server.AuditEntry {
	f.t.Helper()
	es, err := f.s.ListAudit(f.ctx, 1, 0)
	if err != nil {
		f.t.Fatalf("ListAudit: %v", err)
	}
	if len(es) == 0 {
		return server.AuditEntry{}
	}
	return es[0]
}

// wantAudit checks that the newest audit entry records action on target.
func (f *fixture) wantAudit(action, target string) {
	f.t.Helper()
	if a := f.lastAudit(); a.Action != action || a.Target != target {
		f.t.Errorf("newest audit entry = %q on %q, want %q on %q", a.Action, a.Target, action, target)
	}
}

// noNewAudit checks that the newest audit entry is still before.
func (f *fixture) noNewAudit(before server.AuditEntry, what string) {
	f.t.Helper()
	if a := f.lastAudit(); a.ID != before.ID {
		f.t.Errorf("%s wrote audit entry %+v though it failed", what, a)
	}
}

// us is how stores keep times: UTC, microseconds.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// checkTime checks a time read back from the store against the one written.
func checkTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s = %v, want zero", field, got)
		}
		return
	}
	if !got.Equal(us(want)) {
		t.Errorf("%s = %v, want %v", field, got, us(want))
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", field, got.Location())
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameReport compares two reports by their JSON encoding, which is what stores keep.
func sameReport(t *testing.T, what string, got, want *wire.Report) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
		return
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("%s differs:\n got %s\nwant %s", what, g, w)
	}
}

func testMigrated(t *testing.T, f *fixture) {
	if err := f.s.Ping(f.ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	g := f.getGroup(server.DefaultGroup)
	if g.Name != server.DefaultGroup || g.Hosts != 0 || g.Grace != 0 || g.Pin != (server.Pin{}) {
		t.Errorf("default group = %+v", g)
	}
	if g.CreatedAt.IsZero() {
		t.Errorf("default group has no CreatedAt")
	}
	gs, err := f.s.ListGroups(f.ctx)
	if err != nil || len(gs) != 1 || gs[0].Name != server.DefaultGroup {
		t.Errorf("ListGroups = %+v, %v; want only the default group", gs, err)
	}
	for _, list := range []func() (int, error){
		func() (int, error) { hs, err := f.s.ListHosts(f.ctx, ""); return len(hs), err },
		func() (int, error) { ts, err := f.s.ListEnrollmentTokens(f.ctx); return len(ts), err },
		func() (int, error) { ts, err := f.s.ListAPITokens(f.ctx); return len(ts), err },
		func() (int, error) { as, err := f.s.ListAudit(f.ctx, 10, 0); return len(as), err },
	} {
		if n, err := list(); err != nil || n != 0 {
			t.Errorf("fresh store lists %d items, err %v; want none", n, err)
		}
	}
}
