package storetest

import (
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

// testAppendAudit: entries appended on their own come back from ListAudit like any other, newest
// first, with their fields intact.
func testAppendAudit(t *testing.T, f *fixture) {
	first := server.AuditEntry{Time: t0, Actor: "rel (token abcdef12)", Action: "release.stage", Target: "release/1.2.3", Detail: "artifacts=2"}
	second := server.AuditEntry{Time: t0.Add(time.Second), Actor: "rel", Action: "draft.publish", Target: "draft/1.2.3"}
	for _, a := range []server.AuditEntry{first, second} {
		if err := f.s.AppendAudit(f.ctx, a); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	got, err := f.s.ListAudit(f.ctx, 0, 0)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("ListAudit returned %d entries, want 2", len(got))
	}
	for i, w := range []server.AuditEntry{second, first} {
		a := got[i]
		if a.Actor != w.Actor || a.Action != w.Action || a.Target != w.Target || a.Detail != w.Detail || a.ID == 0 {
			t.Errorf("entry %d = %+v, want %+v", i, a, w)
		}
		checkTime(t, "audit Time", a.Time, w.Time)
	}
}
