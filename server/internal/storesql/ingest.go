package storesql

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
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
	// latestReport is the report of Latest, nil with it.
	latestReport *wire.Report
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

// Apply makes r, a newly stored report newer than any before it, the host's latest, with its
// rule figures. Empty versions, a zero interval and a zero boot time keep the previous values.
func (st *HostIngest) Apply(r *wire.Report, encoded []byte) {
	st.AckedSeq = r.Seq
	st.Latest = encoded
	st.latestReport = r
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

// Figures derives the rule figures of the new latest report, once per commit and host (not per
// report of a batch); nil if no report was stored (keep the old figures).
func (st *HostIngest) Figures() (*FigureRow, error) {
	if st.latestReport == nil {
		return nil, nil
	}
	row, err := NewFigureRow(st.latestReport)
	if err != nil {
		return nil, fmt.Errorf("rule figures of report %d: %w", st.latestReport.Seq, err)
	}
	return row, nil
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

// FigureColumns are the columns of host_figures (beside host_id) that hold the rule figures of
// a host's latest report (alert.Figures), in the order of FigureRow's fields; CommitReports
// upserts them with the report (FigureUpsertSet) and ScanHostFigures reads them. Every one is
// NULL where the report lacks the figure. A host whose latest report predates them (migration
// 0010) has no row and a NULL hosts.fig_hash, which the engine leaves alone until its next report.
var FigureColumns = []string{"fig_cpu", "fig_mem_avail", "fig_load1", "fig_cores", "fig_disk_max",
	"fig_mounts", "fig_proc_start", "fig_proc_alarm", "fig_procs", "fig_states"}

// FigureUpsertSet is the DO UPDATE SET of the upsert of a host_figures row: every figure column
// from the new row.
var FigureUpsertSet = func() string {
	sets := make([]string, len(FigureColumns))
	for i, c := range FigureColumns {
		sets[i] = c + " = excluded." + c
	}
	return strings.Join(sets, ", ")
}()

// FigureRow is the rule figures of a report as the figure columns hold them: nil is NULL. The
// numbers are double precision in both stores (PostgreSQL double precision, SQLite REAL), so
// both hold exactly the report's values.
type FigureRow struct {
	// Hash identifies the figures (FNV-64a of all the others, never 0), stored in hosts.fig_hash:
	// a fleet scan reads only it to tell which hosts' figures changed.
	Hash                          int64
	CPU, MemAvail, Load1, DiskMax *float64
	Cores                         *int64
	Mounts                        *string
	ProcStart                     *int64
	ProcAlarm                     int64 // 0 or 1, never NULL
	Procs, States                 *string
}

// NewFigureRow derives the rule figures of r.
func NewFigureRow(r *wire.Report) (*FigureRow, error) {
	f, err := alert.FiguresOf(r)
	if err != nil {
		return nil, err
	}
	num := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	text := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		return &s
	}
	row := &FigureRow{CPU: num(f.CPUBusy), MemAvail: num(f.MemAvailPct), Load1: num(f.Load1), DiskMax: num(f.DiskMax),
		Mounts: text(f.Mounts), Procs: text(f.Procs), States: text(f.States)}
	if r.CPU != nil {
		c := int64(f.Cores)
		row.Cores = &c
	}
	if f.ProcStart != 0 {
		row.ProcStart = &f.ProcStart
	}
	if f.ProcAlarm {
		row.ProcAlarm = 1
	}
	row.Hash = row.hash()
	return row, nil
}

// hash is FNV-64a over every figure, NULLs included, mapped away from 0.
func (row *FigureRow) hash() int64 {
	h := fnv.New64a()
	var b [9]byte
	num := func(p *float64) {
		b[0] = 0
		if p != nil {
			b[0] = 1
			binary.LittleEndian.PutUint64(b[1:], math.Float64bits(*p))
		}
		h.Write(b[:])
	}
	integer := func(p *int64) {
		b[0] = 0
		if p != nil {
			b[0] = 1
			binary.LittleEndian.PutUint64(b[1:], uint64(*p))
		}
		h.Write(b[:])
	}
	text := func(p *string) {
		n := int64(-1)
		if p != nil {
			n = int64(len(*p))
		}
		integer(&n)
		if p != nil {
			h.Write([]byte(*p))
		}
	}
	num(row.CPU)
	num(row.MemAvail)
	num(row.Load1)
	num(row.DiskMax)
	integer(row.Cores)
	text(row.Mounts)
	integer(row.ProcStart)
	integer(&row.ProcAlarm)
	text(row.Procs)
	text(row.States)
	v := int64(h.Sum64())
	if v == 0 {
		v = 1
	}
	return v
}

// Values returns the figures in FigureColumns order as arguments: nil for NULL.
func (row *FigureRow) Values() []any {
	return []any{ptrArg(row.CPU), ptrArg(row.MemAvail), ptrArg(row.Load1), ptrArg(row.Cores), ptrArg(row.DiskMax),
		ptrArg(row.Mounts), ptrArg(row.ProcStart), row.ProcAlarm, ptrArg(row.Procs), ptrArg(row.States)}
}

// ptrArg is *p as an argument, or nil (NULL) for a nil p.
func ptrArg[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// HostFiguresColumns are the columns of host_figures EachHostFigures reads: host_id and
// FigureColumns.
var HostFiguresColumns = "host_id, " + strings.Join(FigureColumns, ", ")

// EachHostFigures reads every row of rows, a database/sql result of HostFiguresColumns, and calls
// fn with it. The JSON lists are the row's raw bytes (sql.RawBytes), valid only during fn, as
// alert.Store.HostFigures promises: a row costs no allocation but its ID.
func EachHostFigures(rows Rows, fn func(alert.HostFigures) error) error {
	var (
		cores, start          sql.NullInt64
		alarm                 int64
		cpu, mem, load1, disk sql.NullFloat64
		mounts, procs, states sql.RawBytes
	)
	val := func(n sql.NullFloat64) float64 {
		if !n.Valid {
			return math.NaN()
		}
		return n.Float64
	}
	for rows.Next() {
		var hf alert.HostFigures
		if err := rows.Scan(&hf.HostID, &cpu, &mem, &load1, &cores, &disk, &mounts, &start, &alarm, &procs, &states); err != nil {
			return err
		}
		hf.CPUBusy, hf.MemAvailPct, hf.Load1, hf.DiskMax = val(cpu), val(mem), val(load1), val(disk)
		hf.Cores, hf.ProcStart, hf.ProcAlarm = int(cores.Int64), start.Int64, alarm != 0
		hf.Mounts, hf.Procs, hf.States = nilIfNull(mounts), nilIfNull(procs), nilIfNull(states)
		if err := fn(hf); err != nil {
			return err
		}
	}
	return rows.Err()
}

// nilIfNull is a raw column value as Figures holds it: nil for NULL (sql.RawBytes keeps its
// buffer, emptied, when a NULL follows a value).
func nilIfNull(b sql.RawBytes) []byte {
	if b == nil {
		return nil
	}
	return b
}
