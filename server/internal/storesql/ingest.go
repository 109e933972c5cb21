package storesql

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// EncodeReports returns every report of batches as the JSON stored in samples and as a host's
// latest report, indexed like batches[i].Reports[j]: the JSON the host sent when the batch
// carries it (HostReports.Raw), else the report encoded. Stores call it before their transaction
// starts, so locks are held only for the SQL.
func EncodeReports(batches []server.HostReports) ([][][]byte, error) {
	encoded := make([][][]byte, len(batches))
	for i, b := range batches {
		if len(b.Raw) == len(b.Reports) && !slices.ContainsFunc(b.Raw, func(r []byte) bool { return r == nil }) {
			encoded[i] = b.Raw
			continue
		}
		encoded[i] = make([][]byte, len(b.Reports))
		for j := range b.Reports {
			if j < len(b.Raw) && b.Raw[j] != nil {
				encoded[i][j] = b.Raw[j]
				continue
			}
			data, err := json.Marshal(&b.Reports[j])
			if err != nil {
				return nil, fmt.Errorf("encode report %d of host %s: %w", b.Reports[j].Seq, b.HostID, err)
			}
			encoded[i][j] = data
		}
	}
	return encoded, nil
}

// HostIngestColumns are the columns of hosts ScanHostIngest reads and CommitReports writes back.
const HostIngestColumns = `acked_seq, last_seen, agent_version, updater_version, interval_seconds, boot_time`

// HostIngest is what CommitReports reads and writes of a host row. Times are normalised; a zero
// time is NULL.
type HostIngest struct {
	AckedSeq        uint64
	LastSeen        time.Time
	AgentVersion    string
	UpdaterVersion  string
	IntervalSeconds int
	BootTime        time.Time
	// Latest is the new latest report's JSON, nil if no report was stored (keep the old one).
	Latest []byte
}

// ScanHostIngest reads lead (destinations for columns selected before) and then
// HostIngestColumns.
func ScanHostIngest(row Scanner, lead ...any) (*HostIngest, error) {
	st := &HostIngest{}
	dest := append(lead, uint64Into(&st.AckedSeq), TimeInto(&st.LastSeen), &st.AgentVersion, &st.UpdaterVersion,
		&st.IntervalSeconds, TimeInto(&st.BootTime))
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return st, nil
}

// Duplicate reports whether r is at or below the acknowledged seq: stored before, or dropped by
// the agent and acknowledged across. Duplicates are skipped.
func (st *HostIngest) Duplicate(r *wire.Report) bool { return r.Seq <= st.AckedSeq }

// Apply makes r, a newly stored report newer than any before it, the host's latest. Empty
// versions, a zero interval and a zero boot time keep the previous values.
func (st *HostIngest) Apply(r *wire.Report, encoded []byte) {
	st.AckedSeq = r.Seq
	st.Latest = encoded
	if r.AgentVersion != "" {
		st.AgentVersion = r.AgentVersion
	}
	if r.UpdaterVersion != "" {
		st.UpdaterVersion = r.UpdaterVersion
	}
	if r.IntervalSeconds > 0 {
		st.IntervalSeconds = r.IntervalSeconds
	}
	if !r.BootTime.IsZero() {
		st.BootTime = Normal(r.BootTime)
	}
}

// Seen moves LastSeen to received, the server time a batch arrived, unless it is zero or not
// after the current LastSeen (a batch committed late never moves it back).
func (st *HostIngest) Seen(received time.Time) {
	received = Normal(received)
	if received.After(st.LastSeen) {
		st.LastSeen = received
	}
}

// NewOutage returns o as stored: times normalised.
func NewOutage(o wire.Outage) wire.Outage {
	o.Start, o.End = Normal(o.Start), Normal(o.End)
	return o
}

// KeyFigures returns the sample columns charts and alert rules read, in the order cpu_busy_pct,
// mem_used_pct, load1, disk_max_used_pct: nil (NULL) where the report lacks them, the largest
// used percentage over mounts for the disk. They are float32 values: PostgreSQL keeps them as real,
// and SQLite, whose REAL is double precision, gets the same float32 value widened exactly, so both
// stores hold identical figures. Seven significant digits are plenty for percentages and loads;
// the stored report keeps full precision. A value float32 cannot hold (a load beyond 3.4e38) is
// NULL rather than infinity.
func KeyFigures(r *wire.Report) (cpuBusy, memUsed, load1, diskMax any) {
	if r.CPU != nil {
		cpuBusy = figure(r.CPU.BusyPct)
	}
	if r.Memory != nil {
		memUsed = figure(r.Memory.UsedPct)
	}
	if r.Load != nil {
		load1 = figure(r.Load.Load1)
	}
	if len(r.Mounts) > 0 {
		m := r.Mounts[0].UsedPct
		for _, mt := range r.Mounts[1:] {
			m = max(m, mt.UsedPct)
		}
		diskMax = figure(m)
	}
	return
}

// figure is v as a key figure: float32, or nil if it is not a finite float32.
func figure(v float64) any {
	f := float32(v)
	if math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
		return nil
	}
	return f
}
