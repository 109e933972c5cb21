package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func goodReport(seq uint64) Report {
	t := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	return Report{
		Seq: seq, Time: t, AgentVersion: "1.0.0", IntervalSeconds: 10,
		BootTime: t.Add(-time.Hour), UptimeSeconds: 3600,
		CPU:        &CPU{Cores: 2, BusyPct: 12.5, IOWaitPct: 1, StealPct: 0},
		Load:       &Load{Load1: 0.5, Load5: 0.4, Load15: 0.3},
		Memory:     &Memory{TotalBytes: 8 << 30, AvailableBytes: 4 << 30, UsedPct: 50, SwapTotalBytes: 1 << 30, SwapFreeBytes: 1 << 30},
		Mounts:     []Mount{{Path: "/", Device: "/dev/vda1", FSType: "ext4", TotalBytes: 100, FreeBytes: 40, UsedPct: 60, InodesTotal: 10, InodesFree: 5, InodesPct: 50}},
		Disks:      []DiskIO{{Device: "vda", ReadBytesPS: 10, WriteBytesPS: 20, ReadIOPS: 1, WriteIOPS: 2, UtilizationPct: 3}},
		Interfaces: []NetIO{{Interface: "eth0", RxBytesPS: 100, TxBytesPS: 200}},
		Processes:  []Process{{Name: "sshd", Running: 1, Instances: []ProcInst{{PID: 42, StartTime: t.Add(-time.Minute)}}}},
		Events:     []ProcEvent{{Name: "sshd", Kind: ProcRestarted, PID: 42, Time: t}},
		Units:      []Unit{{Name: "sshd.service", ActiveState: "active", SubState: "running", Result: "success", NRestarts: 0}},
		Outages:    []Outage{{Start: t.Add(-10 * time.Minute), End: t.Add(-5 * time.Minute), Class: OutageConnect, Detail: "connection refused"}},
		Errors:     []CollectorError{{Collector: "units", Message: "no system bus"}},
		Checks: []CheckResult{
			{Name: "site", Kind: CheckHTTP, OK: false, Message: "status 503, want 200", CheckedAt: t.Add(-time.Second)},
			{Name: "cert.main", Kind: CheckTLS, OK: true, Value: -0.5, Unit: UnitDays, CheckedAt: t},
			{Name: "next-gen", Kind: "quic", OK: true, CheckedAt: t}, // a kind from a newer agent
		},
		Hints: []AnomalyHint{{Metric: "cpu.busy_pct", Value: 93, Score: 12.5, Mean: 30, StdDev: 5.04, Hour: 14}},
	}
}

func TestReportValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Report)
		want   string // substring of the error; "" means valid
	}{
		{"good", func(r *Report) {}, ""},
		{"zero seq", func(r *Report) { r.Seq = 0 }, "seq must be at least 1"},
		{"huge seq", func(r *Report) { r.Seq = 1 << 63 }, "seq out of range"},
		{"no time", func(r *Report) { r.Time = time.Time{} }, "time is required"},
		{"time in 1970", func(r *Report) { r.Time = time.Unix(0, 0) }, "out of range"},
		{"cpu over 100", func(r *Report) { r.CPU.BusyPct = 100.5 }, "cpu.busy_pct"},
		{"negative load", func(r *Report) { r.Load.Load1 = -1 }, "load.load1"},
		{"available over total", func(r *Report) { r.Memory.AvailableBytes = r.Memory.TotalBytes + 1 }, "available_bytes"},
		{"mount without path", func(r *Report) { r.Mounts[0].Path = "" }, "mounts[0].path is required"},
		{"control chars", func(r *Report) { r.Mounts[0].Path = "/a\nb" }, "control characters"},
		{"invalid utf8", func(r *Report) { r.Units[0].Name = "\xff" }, "UTF-8"},
		// Each list item's field is named by its index (formatted only when a check fails).
		{"unit state utf8", func(r *Report) { r.Units[0].SubState = "\xff" }, "units[0].sub_state is not valid UTF-8"},
		{"disk util", func(r *Report) { r.Disks = append(r.Disks, r.Disks...); r.Disks[1].UtilizationPct = 101 }, "disks[1].util_pct 101 not within 0..100"},
		{"event without time", func(r *Report) { r.Events[0].Time = time.Time{} }, "events[0].time is required"},
		{"long name", func(r *Report) { r.Interfaces[0].Interface = strings.Repeat("x", MaxNameLen+1) }, "longer than"},
		{"too many mounts", func(r *Report) { r.Mounts = make([]Mount, MaxMounts+1) }, "mounts, at most"},
		{"unknown event", func(r *Report) { r.Events[0].Kind = "exploded" }, "unknown"},
		{"outage backwards", func(r *Report) { r.Outages[0].End = r.Outages[0].Start.Add(-time.Second) }, "ends before"},
		{"outage class", func(r *Report) { r.Outages[0].Class = "aliens" }, "unknown"},
		{"bad pid", func(r *Report) { r.Processes[0].Instances[0].PID = 0 }, "non-positive pid"},
		{"interval", func(r *Report) { r.IntervalSeconds = MaxIntervalSeconds + 1 }, "interval_seconds"},
		{"no checks (an older agent)", func(r *Report) { r.Checks = nil }, ""},
		{"too many checks", func(r *Report) {
			r.Checks = make([]CheckResult, MaxChecks+1)
			for i := range r.Checks {
				r.Checks[i] = CheckResult{Name: fmt.Sprintf("c%d", i), Kind: CheckTCP, CheckedAt: r.Time}
			}
		}, "checks, at most"},
		{"check name empty", func(r *Report) { r.Checks[0].Name = "" }, "not a check name"},
		{"check name with a space", func(r *Report) { r.Checks[0].Name = "my site" }, "not a check name"},
		{"check name starting with a dot", func(r *Report) { r.Checks[0].Name = ".site" }, "not a check name"},
		{"check name with a slash", func(r *Report) { r.Checks[0].Name = "a/b" }, "not a check name"},
		{"check name too long", func(r *Report) { r.Checks[0].Name = strings.Repeat("a", MaxCheckNameLen+1) }, "not a check name"},
		{"check name repeated", func(r *Report) { r.Checks[1].Name = "site" }, "repeats checks[0]"},
		{"check kind empty", func(r *Report) { r.Checks[0].Kind = "" }, "kind"},
		{"check kind not a word", func(r *Report) { r.Checks[0].Kind = "HTTP" }, "kind"},
		{"check kind too long", func(r *Report) { r.Checks[0].Kind = strings.Repeat("k", MaxCheckWordLen+1) }, "kind"},
		{"check unit not a word", func(r *Report) { r.Checks[1].Unit = "d/s" }, "unit"},
		{"check value NaN", func(r *Report) { r.Checks[1].Value = math.NaN() }, "not finite"},
		{"check value infinite", func(r *Report) { r.Checks[1].Value = math.Inf(-1) }, "not finite"},
		{"check message too long", func(r *Report) { r.Checks[0].Message = strings.Repeat("m", MaxCheckMessageLen+1) }, "message longer than"},
		{"check message control chars", func(r *Report) { r.Checks[0].Message = "a\x1b[31mb" }, "control characters"},
		{"check without time", func(r *Report) { r.Checks[0].CheckedAt = time.Time{} }, "checked_at is required"},
		{"no hints (an older agent)", func(r *Report) { r.Hints = nil }, ""},
		{"too many hints", func(r *Report) { r.Hints = make([]AnomalyHint, MaxHints+1) }, "hints, at most"},
		{"hint metric", func(r *Report) { r.Hints[0].Metric = "CPU busy" }, "not a metric name"},
		{"hint score NaN", func(r *Report) { r.Hints[0].Score = math.NaN() }, "score NaN is not finite"},
		{"hint stddev zero", func(r *Report) { r.Hints[0].StdDev = 0 }, "stddev 0 is not positive"},
		{"hint hour", func(r *Report) { r.Hints[0].Hour = 24 }, "hour 24"},
		{"load 1e308", func(r *Report) { r.Load.Load1 = 1e308 }, "load.load1 1e+308 above the largest plausible value"},
		{"load at the limit", func(r *Report) { r.Load.Load15 = MaxLoadAverage }, ""},
		{"load just over", func(r *Report) { r.Load.Load5 = MaxLoadAverage + 1 }, "load.load5"},
		{"uptime 1e308", func(r *Report) { r.UptimeSeconds = 1e308 }, "uptime_seconds"},
		{"disk rate 1e308", func(r *Report) { r.Disks[0].WriteBytesPS = 1e308 }, "disks.write_bytes_per_s"},
		{"iops 1e308", func(r *Report) { r.Disks[0].ReadIOPS = 1e308 }, "disks.read_iops"},
		{"net rate 1e308", func(r *Report) { r.Interfaces[0].RxBytesPS = 1e308 }, "interfaces.rx_bytes_per_s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodReport(1)
			tt.mutate(&r)
			err := r.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestBatchValidate(t *testing.T) {
	tests := []struct {
		name string
		seqs []uint64
		want string
	}{
		{"ordered", []uint64{1, 2, 5}, ""},
		{"empty", nil, "empty"},
		{"duplicate", []uint64{1, 1}, "not above"},
		{"backwards", []uint64{3, 2}, "not above"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b ReportBatch
			for _, s := range tt.seqs {
				b.Reports = append(b.Reports, goodReport(s))
			}
			err := b.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	big := ReportBatch{Reports: make([]Report, MaxReportsPerBatch+1)}
	if err := big.Validate(); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("oversized batch: %v", err)
	}
}

func TestDecode(t *testing.T) {
	var v EnrollRequest
	if err := Decode(strings.NewReader(`{"hostname":"a"} {"x":1}`), 100, false, &v); !errors.Is(err, ErrInvalid) {
		t.Errorf("trailing data: %v", err)
	}
	if err := Decode(strings.NewReader(`{"hostname":"a","bogus":1}`), 100, true, &v); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown field in strict mode: %v", err)
	}
	if err := Decode(strings.NewReader(`{"hostname":"a","bogus":1}`), 100, false, &v); err != nil {
		t.Errorf("unknown field in lenient mode: %v", err)
	}
	if err := Decode(strings.NewReader(`{"hostname":"`+strings.Repeat("a", 200)+`"}`), 100, false, &v); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over limit: %v", err)
	}
	if err := Decode(strings.NewReader(`{"hostname":`), 100, false, &v); !errors.Is(err, ErrInvalid) {
		t.Errorf("truncated: %v", err)
	}
}

func TestAgentConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		c    AgentConfig
		ok   bool
	}{
		{"empty", AgentConfig{}, true},
		{"interval", AgentConfig{IntervalSeconds: 30}, true},
		{"interval too small", AgentConfig{IntervalSeconds: -1}, false},
		{"interval too big", AgentConfig{IntervalSeconds: MaxIntervalSeconds + 1}, false},
		{"watch by name", AgentConfig{WatchProcesses: []ProcessWatch{{Name: "nginx"}}}, true},
		{"watch by exe", AgentConfig{WatchProcesses: []ProcessWatch{{Exe: "/usr/sbin/nginx"}}}, true},
		{"watch relative exe", AgentConfig{WatchProcesses: []ProcessWatch{{Exe: "nginx"}}}, false},
		{"watch both", AgentConfig{WatchProcesses: []ProcessWatch{{Name: "a", Exe: "/a"}}}, false},
		{"watch neither", AgentConfig{WatchProcesses: []ProcessWatch{{}}}, false},
		{"empty unit", AgentConfig{WatchUnits: []string{""}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.c.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestUpdateEventValidate(t *testing.T) {
	e := UpdateEvent{FromVersion: "1.0.0", ToVersion: "1.1.0", Phase: PhaseTrial, Result: ResultOK, Time: time.Now()}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	e.Phase = "teleport"
	if err := e.Validate(); err == nil {
		t.Fatal("unknown phase accepted")
	}
}

// FuzzDecodeReportBatch feeds arbitrary bytes to the server's report decoder. Whatever it accepts
// and validates must re-encode and decode to the same value (no malleable fields lost on the way).
func FuzzDecodeReportBatch(f *testing.F) {
	seed, _ := json.Marshal(ReportBatch{Reports: []Report{goodReport(1), goodReport(2)}})
	f.Add(seed)
	f.Add([]byte(`{"reports":[{"seq":1,"time":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"reports":[{"seq":1,"time":"2026-01-01T00:00:00Z","cpu":{"busy_pct":1e999}}]}`))
	f.Add([]byte(`{"reports":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b ReportBatch
		if err := Decode(bytes.NewReader(data), MaxReportDecodedBytes, false, &b); err != nil {
			return
		}
		if err := b.Validate(); err != nil {
			return
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("re-encode accepted batch: %v", err)
		}
		var b2 ReportBatch
		if err := Unmarshal(again, false, &b2); err != nil {
			t.Fatalf("decode re-encoded batch: %v", err)
		}
		if err := b2.Validate(); err != nil {
			t.Fatalf("re-encoded batch no longer valid: %v", err)
		}
		if !reflect.DeepEqual(normalize(b), normalize(b2)) {
			t.Fatalf("round trip changed the batch:\n%+v\n%+v", b, b2)
		}
	})
}

// normalize drops monotonic clock readings and locations so DeepEqual compares instants.
func normalize(b ReportBatch) string {
	out, _ := json.Marshal(b)
	return string(out)
}

// FuzzDecodeEnroll and FuzzDecodeAgentConfig cover the other attacker-facing decoders.
func FuzzDecodeEnroll(f *testing.F) {
	f.Add([]byte(`{"enrollment_token":"vge_x","hostname":"h","machine_id":"m","os":"linux","arch":"amd64","agent_version":"1.0.0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e EnrollRequest
		if err := Decode(bytes.NewReader(data), MaxSmallBodyBytes, true, &e); err != nil {
			return
		}
		_ = e.Validate() // must not panic
	})
}

func FuzzDecodeAgentConfig(f *testing.F) {
	f.Add([]byte(`{"acked_seq":5,"config":{"interval_seconds":10,"watch_processes":[{"name":"sshd"}],"watch_units":["ssh.service"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Ack
		if err := Decode(bytes.NewReader(data), MaxSmallBodyBytes, true, &a); err != nil || a.Config == nil {
			return
		}
		if a.Config.Validate() != nil {
			return
		}
		if a.Config.IntervalSeconds != 0 && (a.Config.IntervalSeconds < MinIntervalSeconds || a.Config.IntervalSeconds > MaxIntervalSeconds) {
			t.Fatalf("validated config has interval %d out of bounds", a.Config.IntervalSeconds)
		}
	})
}

func TestValidUnitName(t *testing.T) {
	for name, ok := range map[string]bool{
		"nginx.service": true, "getty@tty1.service": true, "backup.timer": true, "dev-sda1.device": true,
		"system-getty.slice": true, `sys-devices-x\x2d1.device`: true,
		"": false, "nginx": false, "nginx.servce": false, ".service": false, "@x.service": false,
		"../x.service": false, "a/b.service": false, "my unit.service": false, "x.service\n": false,
		strings.Repeat("a", 248) + ".service": false,
	} {
		if got := ValidUnitName(name); got != ok {
			t.Errorf("ValidUnitName(%q) = %v, want %v", name, got, ok)
		}
	}
}

// TestCheckClock: times up to MaxClockAhead ahead of the receiver's clock pass; further ahead
// (year 2199, or just past the bound) is refused with a message that says to fix the clock.
func TestCheckClock(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	y2199 := time.Date(2199, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		mutate func(r *Report)
		want   string
	}{
		{"good", func(r *Report) {}, ""},
		{"at the bound", func(r *Report) { r.Time = now.Add(MaxClockAhead) }, ""},
		{"just past", func(r *Report) { r.Time = now.Add(MaxClockAhead + time.Second) }, "time 2026-11-22T12:00:01Z is 24h0m1s ahead of the server's clock"},
		{"year 2199", func(r *Report) { r.Time = y2199 }, "fix the host's clock"},
		{"boot time", func(r *Report) { r.BootTime = y2199 }, "boot_time"},
		{"process start", func(r *Report) { r.Processes[0].Instances[0].StartTime = y2199 }, "processes[0].start_time"},
		{"event", func(r *Report) { r.Events[0].Time = y2199 }, "events[0].time"},
		{"outage end", func(r *Report) { r.Outages[0].End = y2199 }, "outages[0].end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodReport(1)
			tt.mutate(&r)
			if err := r.Validate(); err != nil {
				t.Fatalf("Validate: %v (the clock check is separate)", err)
			}
			b := ReportBatch{Reports: []Report{r}}
			err := b.CheckClock(now)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckClock = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckClock = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
	e := UpdateEvent{Phase: PhaseCheck, Result: ResultOK, Time: y2199}
	if err := e.CheckClock(now); err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("update event in 2199: %v, want ErrInvalid", err)
	}
}

// TestUnmarshalBadTime: a time that does not parse is explained with an example, never with Go's
// reference layout ("2006-01-02T15:04:05Z07:00").
func TestUnmarshalBadTime(t *testing.T) {
	var v struct {
		At time.Time `json:"at"`
	}
	err := Unmarshal([]byte(`{"at": "tomorrow 10pm"}`), true, &v)
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "2006") ||
		!strings.Contains(err.Error(), `"tomorrow 10pm" is not an RFC 3339 time such as 2026-11-21T22:00:00Z`) {
		t.Fatalf("Unmarshal of a bad time: %v", err)
	}
}
