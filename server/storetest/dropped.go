package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// testReportsDropped: ReportsDropped sums the spool_dropped counts of a host's stored reports
// from a time on, stored raw or encoded, counts a resent report once, reads no other host, and
// is not fooled by the field's name elsewhere in a report.
func testReportsDropped(t *testing.T, f *fixture) {
	h, _ := f.host("lossy", server.DefaultGroup)
	other, _ := f.host("other", server.DefaultGroup)

	b := batch(h.ID, t0, 1, 2, 3, 4, 5)
	b.Reports[1].SpoolDropped = 3
	b.Reports[2].Checks = []wire.CheckResult{{Name: "spool_dropped", Kind: "tcp", OK: true}}
	b.Reports[3].SpoolDropped = 4
	raw, err := json.Marshal(b.Reports[3])
	if err != nil {
		t.Fatal(err)
	}
	// As a host may send it: spaces around the colon, kept as sent.
	b.Raw = [][]byte{nil, nil, nil, []byte(strings.Replace(string(raw), `"spool_dropped":`, `"spool_dropped" : `, 1)), nil}
	f.commit(b)
	resent := batch(h.ID, t0, 2, 6)
	resent.Reports[0].SpoolDropped = 3 // a duplicate: not stored again
	f.commit(resent)
	ob := batch(other.ID, t0, 1)
	ob.Reports[0].SpoolDropped = 100
	f.commit(ob)

	for _, tt := range []struct {
		name     string
		host     string
		since    time.Time
		want     uint64
		wantLast time.Time
	}{
		{"all", h.ID, t0, 7, reportTime(4)},
		{"since a report counts it", h.ID, reportTime(4), 4, reportTime(4)},
		{"after the last count", h.ID, reportTime(4).Add(time.Microsecond), 0, time.Time{}},
		{"other host", other.ID, t0, 100, reportTime(1)},
		{"unknown host", "h-unknown", t0, 0, time.Time{}},
	} {
		got, err := f.s.ReportsDropped(f.ctx, tt.host, tt.since)
		if err != nil {
			t.Fatalf("ReportsDropped %s: %v", tt.name, err)
		}
		if got.Count != tt.want || !got.Last.Equal(tt.wantLast.Truncate(time.Microsecond)) {
			t.Errorf("ReportsDropped %s = %d at %s, want %d at %s", tt.name, got.Count, got.Last, tt.want, tt.wantLast)
		}
	}
}
