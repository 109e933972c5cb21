package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

func TestReportsAreValidAndRealistic(t *testing.T) {
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	var r wire.Report
	for idx := range 20 {
		sh := newShape(idx)
		for seq := uint64(1); seq <= 5; seq++ {
			outages := []wire.Outage{{Start: now.Add(-time.Minute), End: now, Class: wire.OutageConnect, Detail: "simulated"}}
			sh.fill(&r, seq, now, now.Add(-48*time.Hour), 10*time.Second, "1.0.0", outages[:seq%2])
			if err := r.Validate(); err != nil {
				t.Fatalf("host %d seq %d: invalid report: %v", idx, seq, err)
			}
			b, _ := json.Marshal(&r)
			if len(b) < 1200 || len(b) > 3000 {
				t.Errorf("host %d seq %d: report of %d bytes, want a real agent's 1.2–3 KB", idx, seq, len(b))
			}
			if r.Seq != seq || len(r.Mounts) < 3 || len(r.Disks) != 2 || len(r.Units) != 3 || len(r.Processes) != 2 {
				t.Fatalf("host %d seq %d: unexpected shape %+v", idx, seq, r)
			}
		}
	}
	// The same (host, seq, time) gives the same report: a replay sends what was collected.
	sh := newShape(7)
	var a, b wire.Report
	sh.fill(&a, 3, now, now.Add(-time.Hour), 10*time.Second, "1.0.0", nil)
	ja, _ := json.Marshal(&a)
	sh.fill(&b, 4, now, now.Add(-time.Hour), 10*time.Second, "1.0.0", nil)
	sh.fill(&b, 3, now, now.Add(-time.Hour), 10*time.Second, "1.0.0", nil)
	jb, _ := json.Marshal(&b)
	if string(ja) != string(jb) {
		t.Errorf("rebuilding a report changed it:\n%s\n%s", ja, jb)
	}
}

func TestParseOutage(t *testing.T) {
	tests := []struct {
		in         string
		pct        float64
		dur, start time.Duration
		bad        bool
	}{
		{in: "20:1m", pct: 20, dur: time.Minute},
		{in: "20%:90s@30s", pct: 20, dur: 90 * time.Second, start: 30 * time.Second},
		{in: "20", bad: true},
		{in: "0:1m", bad: true},
		{in: "101:1m", bad: true},
		{in: "10:-1m", bad: true},
		{in: "10:1m@x", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var c Config
			err := parseOutage(tt.in, &c)
			if (err != nil) != tt.bad {
				t.Fatalf("parseOutage(%q) error %v, want error %v", tt.in, err, tt.bad)
			}
			if !tt.bad && (c.OutagePct != tt.pct || c.OutageFor != tt.dur || c.OutageStart != tt.start) {
				t.Errorf("parseOutage(%q) = %v %v %v", tt.in, c.OutagePct, c.OutageFor, c.OutageStart)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	// comm with a space and a parenthesis; utime 1234, stime 66 ticks.
	line := "4242 (post gres) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 66 0 0 20 0 1 0 100 1000000 500 18446744073709551615\n"
	d, err := parseStatCPU([]byte(line))
	if err != nil || d != 1300*clockTick {
		t.Fatalf("parseStatCPU = %v, %v; want 13s", d, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat line accepted")
	}
	if self, err := procCPU(os.Getpid()); err != nil || self < 0 {
		t.Errorf("procCPU(self) = %v, %v", self, err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st := &stateFile{Server: "https://127.0.0.1:1", Hosts: []hostState{
		{Hostname: "a", HostID: "h1", Credential: "c1", Seq: 9}, {Hostname: "failed"}, {Hostname: "b", HostID: "h2", Credential: "c2"}}}
	if err := st.save(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600: it holds credentials", fi.Mode().Perm())
	}
	got, err := loadState(path, "https://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Hosts) != 2 || got.Hosts[0].Seq != 9 || got.Hosts[1].Credential != "c2" {
		t.Errorf("loaded %+v, want the two enrolled hosts", got.Hosts)
	}
	if _, err := loadState(path, "https://other:1"); err == nil {
		t.Error("a state file for another server was accepted")
	}
	if st, err := loadState(filepath.Join(t.TempDir(), "missing"), "x"); err != nil || len(st.Hosts) != 0 {
		t.Errorf("missing state: %v, %v", st, err)
	}
}

func TestBackoffAndRetryAfter(t *testing.T) {
	for attempt := range 40 {
		d := backoff(attempt, 5*time.Minute)
		if d < 100*time.Millisecond || d > 5*time.Minute {
			t.Fatalf("backoff(%d) = %v outside [100ms, 5m]", attempt, d)
		}
	}
	if d := parseRetryAfter("7"); d != 7*time.Second {
		t.Errorf("Retry-After 7 = %v", d)
	}
	if d := parseRetryAfter("999999"); d != maxRetryAfter {
		t.Errorf("huge Retry-After = %v, want capped at %v", d, maxRetryAfter)
	}
	if d := parseRetryAfter(time.Now().Add(20 * time.Second).UTC().Format(http1123)); d < 18*time.Second || d > 21*time.Second {
		t.Errorf("Retry-After date 20s ahead = %v", d)
	}
	if d := parseRetryAfter("soon"); d != 0 {
		t.Errorf("garbage Retry-After = %v", d)
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestAppendReportMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 12, 2, 1, 0, 0, 123456789, time.UTC)
	var r wire.Report
	for idx := range 50 {
		sh := newShape(idx)
		for seq := uint64(1); seq <= 4; seq++ {
			outages := []wire.Outage{{Start: now.Add(-time.Minute), End: now, Class: wire.OutageConnect, Detail: "simulated"},
				{Start: now.Add(-time.Hour), End: now.Add(-30 * time.Minute), Class: wire.OutageHTTP}}
			version := []string{"1.0.0", `we<ird"ver&`, "0.0.0-sim", ""}[seq%4]
			sh.fill(&r, seq*1000003, now.Add(time.Duration(seq)*time.Millisecond), now.Add(-48*time.Hour), 10*time.Second, version, outages[:seq%3])
			r.UpdaterVersion = version
			if seq == 3 {
				r.CPU.StealPct, r.Load.Load1, r.UptimeSeconds = 1e-7, 1e22, 0
				r.Units[0].Result = ""
			}
			want, err := json.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendReport(nil, &r); string(got) != string(want) {
				t.Fatalf("host %d seq %d:\n got %s\nwant %s", idx, seq, got, want)
			}
		}
	}
	// Fields the simulator never sets go through encoding/json.
	r.Errors = []wire.CollectorError{{Collector: "units", Message: "no D-Bus"}}
	r.SpoolDropped = 3
	want, _ := json.Marshal(&r)
	if got := appendReport(nil, &r); string(got) != string(want) {
		t.Fatalf("fallback:\n got %s\nwant %s", got, want)
	}
}

// TestEncodeGzipFromThreshold: like the agent, one report goes as it is and a backlog of many
// gzip-compressed, and both decode to the reports pending.
func TestEncodeGzipFromThreshold(t *testing.T) {
	s, err := newSim(Config{Server: "https://127.0.0.1:1", Hosts: 1, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := s.newHost(1, hostState{Credential: "x"})
	now := time.Now()
	for _, pending := range []int{1, 50} {
		h.pending = h.pending[:0]
		for i := range pending {
			h.pending = append(h.pending, pendingReport{seq: uint64(i + 1), t: now})
		}
		n, buf, size, gzipped := s.encode(h)
		if n != pending || gzipped != (size >= gzipMinBytes) || gzipped != (pending > 1) {
			t.Fatalf("%d pending: %d encoded, %d bytes of JSON, gzipped %v", pending, n, size, gzipped)
		}
		var body io.Reader = bytes.NewReader(buf.Bytes())
		if gzipped {
			if body, err = gzip.NewReader(body); err != nil {
				t.Fatal(err)
			}
		}
		var b wire.ReportBatch
		if err := wire.Decode(body, wire.MaxReportDecodedBytes, false, &b); err != nil || len(b.Reports) != pending || b.Validate() != nil {
			t.Fatalf("%d pending: decoded %d reports, %v, %v", pending, len(b.Reports), err, b.Validate())
		}
	}
}
