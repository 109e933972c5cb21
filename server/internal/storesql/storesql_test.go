package storesql

import (
	"database/sql"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/wire"
)

func TestNormal(t *testing.T) {
	east := time.FixedZone("UTC+05:30", 5*3600+1800)
	in := time.Date(2026, 11, 21, 15, 30, 0, 123456999, east)
	got := Normal(in)
	want := time.Date(2026, 11, 21, 10, 0, 0, 123456000, time.UTC)
	if got != want {
		t.Errorf("Normal(%v) = %v, want %v (UTC, truncated, not rounded)", in, got, want)
	}
	if !Normal(time.Time{}).IsZero() {
		t.Error("Normal(zero) is not zero")
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 999, east)
	if got := NormalOr(time.Time{}, now); got != Normal(now) {
		t.Errorf("NormalOr(zero, now) = %v, want %v", got, Normal(now))
	}
	if got := NormalOr(in, now); got != want {
		t.Errorf("NormalOr(t, now) = %v, want %v", got, want)
	}
}

func TestTimeInto(t *testing.T) {
	east := time.FixedZone("UTC+05:30", 5*3600+1800)
	at := time.Date(2026, 11, 21, 10, 0, 0, 123456000, time.UTC)
	for _, tt := range []struct {
		name string
		src  any
		want time.Time
	}{
		{"NULL", nil, time.Time{}},
		{"timestamptz in another zone", at.In(east), at},
		{"timestamptz with nanoseconds", at.Add(999), at},
		{"integer microseconds", at.UnixMicro(), at},
		{"integer microseconds before 1970", int64(-1), time.Unix(0, -1000).UTC()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := time.Date(1999, 1, 1, 0, 0, 0, 0, east) // overwritten, even by NULL
			if err := TimeInto(&got).Scan(tt.src); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("scanned %v, want %v", got, tt.want)
			}
			if !got.IsZero() && got.Location() != time.UTC {
				t.Errorf("location %v, want UTC", got.Location())
			}
		})
	}
	var got time.Time
	if err := TimeInto(&got).Scan("2026-11-21"); err == nil {
		t.Error("scanning a string into a time succeeded; want an error")
	}
}

func TestUint64Into(t *testing.T) {
	var u uint64
	if err := uint64Into(&u).Scan(int64(42)); err != nil || u != 42 {
		t.Errorf("scan 42 = %d, %v", u, err)
	}
	if err := uint64Into(&u).Scan(int64(-1)); err == nil {
		t.Error("scanning -1 into a seq succeeded; want an error")
	}
	if err := uint64Into(&u).Scan(nil); err == nil {
		t.Error("scanning NULL into a seq succeeded; want an error")
	}
}

func TestKeyFigures(t *testing.T) {
	r := &wire.Report{
		CPU:    &wire.CPU{BusyPct: 0.1},
		Memory: &wire.Memory{UsedPct: 99.99},
		Load:   &wire.Load{Load1: 1e300},
		Mounts: []wire.Mount{{UsedPct: 3.5}, {UsedPct: 97.3}, {UsedPct: 50}},
	}
	cpu, mem, load1, disk := KeyFigures(r)
	for _, tt := range []struct {
		name string
		got  any
		want any
	}{
		{"cpu", cpu, float32(0.1)},
		{"memory", mem, float32(99.99)},
		{"load beyond float32", load1, nil},
		{"disk: largest mount", disk, float32(97.3)},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
	cpu, mem, load1, disk = KeyFigures(&wire.Report{})
	if cpu != nil || mem != nil || load1 != nil || disk != nil {
		t.Errorf("figures of a report without them = %v %v %v %v, want all nil", cpu, mem, load1, disk)
	}
	if got := figure(math.NaN()); got != nil {
		t.Errorf("figure(NaN) = %v, want nil", got)
	}
}

func TestHostIngest(t *testing.T) {
	boot := time.Date(2026, 11, 1, 8, 0, 0, 1999, time.UTC)
	seen := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	st := &HostIngest{AckedSeq: 5, LastSeen: seen, AgentVersion: "1.0.0", UpdaterVersion: "0.9.0", IntervalSeconds: 10, BootTime: boot}
	if !st.Duplicate(&wire.Report{Seq: 5}) || st.Duplicate(&wire.Report{Seq: 6}) {
		t.Error("Duplicate: want seqs at or below the acknowledged one only")
	}
	st.Apply(&wire.Report{Seq: 6}, []byte(`{"seq":6}`))
	if st.AckedSeq != 6 || string(st.Latest) != `{"seq":6}` || st.AgentVersion != "1.0.0" || st.UpdaterVersion != "0.9.0" ||
		st.IntervalSeconds != 10 || st.BootTime != boot {
		t.Errorf("after a report without versions, interval or boot time: %+v; want those kept", st)
	}
	st.Apply(&wire.Report{Seq: 7, AgentVersion: "1.1.0", UpdaterVersion: "1.0.0", IntervalSeconds: 30, BootTime: boot.Add(time.Hour)}, nil)
	if st.AgentVersion != "1.1.0" || st.UpdaterVersion != "1.0.0" || st.IntervalSeconds != 30 || st.BootTime != Normal(boot.Add(time.Hour)) {
		t.Errorf("after a full report: %+v", st)
	}
	st.Seen(seen.Add(-time.Minute))
	st.Seen(time.Time{})
	if st.LastSeen != seen {
		t.Errorf("LastSeen moved back to %v", st.LastSeen)
	}
	st.Seen(seen.Add(time.Minute + 999))
	if st.LastSeen != seen.Add(time.Minute) {
		t.Errorf("LastSeen = %v, want %v", st.LastSeen, seen.Add(time.Minute))
	}
}

func TestNewAlertSave(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)
	if _, err := NewAlertSave(&alert.Alert{State: alert.StateFiring}, alert.AlertEvent{}, nil, now); !errors.Is(err, server.ErrInvalid) {
		t.Errorf("alert without key: err = %v, want ErrInvalid", err)
	}
	a := &alert.Alert{Key: "k", State: alert.StateFiring, Version: 3, History: []alert.AlertEvent{{Message: "old"}}}
	if _, err := NewAlertSave(a, alert.AlertEvent{}, []alert.Notification{{}}, now); !errors.Is(err, server.ErrInvalid) {
		t.Errorf("notification without key: err = %v, want ErrInvalid", err)
	}
	created := now.Add(-time.Minute)
	s, err := NewAlertSave(a, alert.AlertEvent{State: "ignored", Message: "m"},
		[]alert.Notification{{Key: "n1"}, {Key: "n2", CreatedAt: created}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Saved.Version != 4 || s.Saved.History != nil || s.Saved.UpdatedAt != Normal(now) {
		t.Errorf("saved alert = %+v; want version 4, no history, updated at the event", s.Saved)
	}
	if s.Event.Time != Normal(now) || s.Event.State != alert.StateFiring {
		t.Errorf("event = %+v; want time defaulted to now and the alert's state", s.Event)
	}
	if n := s.Notes[0]; n.CreatedAt != Normal(now) || n.NextAttempt != Normal(now) {
		t.Errorf("note without times = %+v; want both at the event's time", n)
	}
	if n := s.Notes[1]; n.CreatedAt != Normal(created) || n.NextAttempt != Normal(created) {
		t.Errorf("note created earlier = %+v; want next attempt at its creation", n)
	}
	if len(a.History) != 1 || a.Version != 3 {
		t.Errorf("NewAlertSave changed the caller's alert: %+v", a)
	}
	s.SavedAs(a, 9)
	if a.ID != 9 || a.Version != 4 || a.UpdatedAt != Normal(now) {
		t.Errorf("SavedAs: %+v", a)
	}
}

func TestValidation(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for name, err := range map[string]error{
		"host without id":           second(EnrollingHost(server.Host{}, now, "cred")),
		"host without credential":   second(EnrollingHost(server.Host{ID: "h"}, now, "")),
		"group without name":        third(NewGroup(server.Group{}, now)),
		"rule without id":           third(NewRule(alert.Rule{}, now)),
		"silence without id":        third(NewSilence(alert.Silence{})),
		"delete the default group":  CheckDeleteGroup(server.DefaultGroup),
		"finish with a bad outcome": CheckOutcome(1, "maybe"),
	} {
		if !errors.Is(err, server.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	h, err := EnrollingHost(server.Host{ID: "h", Group: "ignored", AckedSeq: 9}, now, "cred")
	if err != nil || h.Group != "" || h.AckedSeq != 0 || h.EnrolledAt != now {
		t.Errorf("EnrollingHost = %+v, %v; want only enrollment fields, EnrolledAt now", h, err)
	}
	g, emails, err := NewGroup(server.Group{Name: "g"}, now)
	if err != nil || string(emails) != "[]" || g.CreatedAt != now {
		t.Errorf("NewGroup = %+v, %s, %v", g, emails, err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

// row is a Scanner returning a fixed error, as a driver does for a missing row.
type row struct{ err error }

func (r row) Scan(...any) error { return r.err }

func TestOne(t *testing.T) {
	if _, err := One(row{sql.ErrNoRows}, sql.ErrNoRows, "get thing", ScanAPIToken); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("no row: err = %v, want ErrNotFound", err)
	}
	boom := errors.New("boom")
	if _, err := One(row{boom}, sql.ErrNoRows, "get thing", ScanAPIToken); !errors.Is(err, boom) || errors.Is(err, server.ErrNotFound) {
		t.Errorf("driver error: err = %v, want it wrapped, not ErrNotFound", err)
	}
}
