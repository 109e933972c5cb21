package main

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// appendReport appends the JSON encoding of r, byte for byte what encoding/json produces for a
// wire.Report (TestAppendReportMatchesEncodingJSON holds it to that), at a fraction of the cost:
// reflection-based encoding was a large share of the simulator's CPU per report. Fields the
// simulator never sets (events, errors, spool counters) fall back to encoding/json.
func appendReport(b []byte, r *wire.Report) []byte {
	if len(r.Events) > 0 || len(r.Errors) > 0 || r.SpoolDropped != 0 || r.SpoolCorrupt != 0 {
		j, _ := json.Marshal(r)
		return append(b, j...)
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"time":`...)
	b = appendTime(b, r.Time)
	if r.AgentVersion != "" {
		b = append(b, `,"agent_version":`...)
		b = appendString(b, r.AgentVersion)
	}
	if r.UpdaterVersion != "" {
		b = append(b, `,"updater_version":`...)
		b = appendString(b, r.UpdaterVersion)
	}
	if r.IntervalSeconds != 0 {
		b = append(b, `,"interval_seconds":`...)
		b = strconv.AppendInt(b, int64(r.IntervalSeconds), 10)
	}
	if !r.BootTime.IsZero() {
		b = append(b, `,"boot_time":`...)
		b = appendTime(b, r.BootTime)
	}
	if r.UptimeSeconds != 0 {
		b = append(b, `,"uptime_seconds":`...)
		b = appendFloat(b, r.UptimeSeconds)
	}
	if c := r.CPU; c != nil {
		b = append(b, `,"cpu":{"cores":`...)
		b = strconv.AppendInt(b, int64(c.Cores), 10)
		b = appendField(b, "busy_pct", c.BusyPct)
		b = appendField(b, "iowait_pct", c.IOWaitPct)
		b = appendField(b, "steal_pct", c.StealPct)
		b = append(b, '}')
	}
	if l := r.Load; l != nil {
		b = append(b, `,"load":{"load1":`...)
		b = appendFloat(b, l.Load1)
		b = appendField(b, "load5", l.Load5)
		b = appendField(b, "load15", l.Load15)
		b = append(b, '}')
	}
	if m := r.Memory; m != nil {
		b = append(b, `,"memory":{"total_bytes":`...)
		b = strconv.AppendUint(b, m.TotalBytes, 10)
		b = appendUintField(b, "available_bytes", m.AvailableBytes)
		b = appendField(b, "used_pct", m.UsedPct)
		b = appendUintField(b, "swap_total_bytes", m.SwapTotalBytes)
		b = appendUintField(b, "swap_free_bytes", m.SwapFreeBytes)
		b = append(b, '}')
	}
	if len(r.Mounts) > 0 {
		b = append(b, `,"mounts":[`...)
		for i, m := range r.Mounts {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"path":`...)
			b = appendString(b, m.Path)
			if m.Device != "" {
				b = append(b, `,"device":`...)
				b = appendString(b, m.Device)
			}
			if m.FSType != "" {
				b = append(b, `,"fstype":`...)
				b = appendString(b, m.FSType)
			}
			b = appendUintField(b, "total_bytes", m.TotalBytes)
			b = appendUintField(b, "free_bytes", m.FreeBytes)
			b = appendField(b, "used_pct", m.UsedPct)
			b = appendUintField(b, "inodes_total", m.InodesTotal)
			b = appendUintField(b, "inodes_free", m.InodesFree)
			b = appendField(b, "inodes_used_pct", m.InodesPct)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Disks) > 0 {
		b = append(b, `,"disks":[`...)
		for i, d := range r.Disks {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"device":`...)
			b = appendString(b, d.Device)
			b = appendField(b, "read_bytes_per_s", d.ReadBytesPS)
			b = appendField(b, "write_bytes_per_s", d.WriteBytesPS)
			b = appendField(b, "read_iops", d.ReadIOPS)
			b = appendField(b, "write_iops", d.WriteIOPS)
			b = appendField(b, "util_pct", d.UtilizationPct)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Interfaces) > 0 {
		b = append(b, `,"interfaces":[`...)
		for i, n := range r.Interfaces {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"interface":`...)
			b = appendString(b, n.Interface)
			b = appendField(b, "rx_bytes_per_s", n.RxBytesPS)
			b = appendField(b, "tx_bytes_per_s", n.TxBytesPS)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Processes) > 0 {
		b = append(b, `,"processes":[`...)
		for i, p := range r.Processes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, p.Name)
			b = append(b, `,"running":`...)
			b = strconv.AppendInt(b, int64(p.Running), 10)
			if len(p.Instances) > 0 {
				b = append(b, `,"instances":[`...)
				for j, in := range p.Instances {
					if j > 0 {
						b = append(b, ',')
					}
					b = append(b, `{"pid":`...)
					b = strconv.AppendInt(b, int64(in.PID), 10)
					b = append(b, `,"start_time":`...)
					b = appendTime(b, in.StartTime)
					b = append(b, '}')
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Units) > 0 {
		b = append(b, `,"units":[`...)
		for i, u := range r.Units {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, u.Name)
			b = append(b, `,"active_state":`...)
			b = appendString(b, u.ActiveState)
			b = append(b, `,"sub_state":`...)
			b = appendString(b, u.SubState)
			if u.Result != "" {
				b = append(b, `,"result":`...)
				b = appendString(b, u.Result)
			}
			b = append(b, `,"n_restarts":`...)
			b = strconv.AppendUint(b, uint64(u.NRestarts), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Outages) > 0 {
		b = append(b, `,"outages":[`...)
		for i, o := range r.Outages {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"start":`...)
			b = appendTime(b, o.Start)
			b = append(b, `,"end":`...)
			b = appendTime(b, o.End)
			b = append(b, `,"class":`...)
			b = appendString(b, o.Class)
			if o.Detail != "" {
				b = append(b, `,"detail":`...)
				b = appendString(b, o.Detail)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendField(b []byte, name string, v float64) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendFloat(b, v)
}

func appendUintField(b []byte, name string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

// appendFloat formats as encoding/json does for float64.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0') // never produced; encoding/json would refuse the report
	}
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	b = strconv.AppendFloat(b, f, fmtc, -1, 64)
	if fmtc == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString writes plain printable ASCII as is and leaves anything needing escapes (quotes,
// backslashes, control characters, HTML-sensitive <>&, non-ASCII) to encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
