package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// UnmarshalReportBatch decodes a reports body exactly as Unmarshal(data, false, b) does (unknown
// fields ignored), without reflection for the bodies agents send.
//
// It has two paths. The fast path is a hand-written decoder over the wire v1 fields that handles
// only the plain cases: exact key names, each key at most once per object, strings without
// invalid UTF-8, numbers that fit their field, no null. On anything else — a syntax error, a
// duplicate key, a key that matches a field only ignoring case, a null, a number out of range —
// it gives up and the reflection decoder (Unmarshal) decodes the whole body, so errors, and the
// rare inputs where encoding/json has its own rules (case-insensitive keys, last duplicate
// wins, null leaves a field as it was), are exactly encoding/json's. FuzzUnmarshalReportBatch
// checks that both agree on every input: what the fast path accepts, encoding/json accepts with
// the same value.
func UnmarshalReportBatch(data []byte, b *ReportBatch) error {
	_, err := UnmarshalReportBatchRaw(data, b)
	return err
}

// UnmarshalReportBatchRaw is UnmarshalReportBatch that also returns, for each report, its JSON
// as received when that JSON holds exactly the decoded fields: raw[i] then decodes (with
// Unmarshal) to b.Reports[i], and a server can store it instead of encoding the report again.
// raw[i] is nil for a report with unknown fields (which must not be stored: they were not
// validated) or with a string holding escapes or invalid UTF-8 (stored JSON must be valid UTF-8),
// and raw is nil when the fast path did not decode the body. raw aliases data.
func UnmarshalReportBatchRaw(data []byte, b *ReportBatch) (raw [][]byte, err error) {
	var fast ReportBatch
	if raw, ok := decodeReportBatchFast(data, &fast); ok {
		*b = fast
		return raw, nil
	}
	*b = ReportBatch{}
	return nil, Unmarshal(data, false, b)
}

// UnmarshalReport decodes one report exactly as Unmarshal(data, false, r) does, without
// reflection on the plain path (see UnmarshalReportBatch). Alerting reads the hosts' latest
// reports with it.
func UnmarshalReport(data []byte, r *Report) error {
	var fast Report
	if decodeReportFast(data, &fast) {
		*r = fast
		return nil
	}
	*r = Report{}
	return Unmarshal(data, false, r)
}

// decodeReportFast is the fast path of UnmarshalReport; false means "not decoded here".
func decodeReportFast(data []byte, r *Report) bool {
	d := reportDecoder{data: data}
	d.report(r)
	d.ws()
	return !d.bad && d.pos == len(d.data)
}

// decodeReportBatchFast is the fast path of UnmarshalReportBatchRaw; false means "not decoded
// here", never "invalid".
func decodeReportBatchFast(data []byte, b *ReportBatch) (raw [][]byte, ok bool) {
	d := reportDecoder{data: data}
	d.ws()
	if !d.objStart() {
		return nil, false
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(batchFields, &seen) {
		case 0:
			b.Reports, raw = d.reports()
		}
	}
	d.ws()
	if d.bad || d.pos != len(d.data) {
		return nil, false
	}
	return raw, true
}

// reports decodes the reports array, with each report's raw JSON (nil if it had unknown fields).
func (d *reportDecoder) reports() ([]Report, [][]byte) {
	if d.bad || d.pos >= len(d.data) || d.data[d.pos] != '[' {
		d.fail()
		return nil, nil
	}
	d.pos++
	rs := make([]Report, 0, 1)
	raw := make([][]byte, 0, 1)
	for first := true; d.element(&first); {
		rs = append(rs, Report{})
		start := d.pos
		d.notRaw = false
		d.report(&rs[len(rs)-1])
		if d.notRaw {
			raw = append(raw, nil)
		} else {
			raw = append(raw, d.data[start:d.pos:d.pos])
		}
	}
	return rs, raw
}

// maxSkipDepth bounds the nesting of an unknown field's value the fast path skips; deeper values
// go to encoding/json (whose own limit is 10,000).
const maxSkipDepth = 64

// reportDecoder scans data; once bad is set every method returns zero values and the caller's
// result is discarded.
type reportDecoder struct {
	data []byte
	pos  int
	bad  bool
	key  []byte // the key of the member being decoded
	// notRaw is set when the report's JSON is not fit to be stored as it is: a member was
	// skipped as unknown, or a string was decoded by encoding/json (escapes, or invalid UTF-8
	// that it replaced: a database's json type would refuse the raw bytes).
	notRaw bool
}

func (d *reportDecoder) fail() { d.bad = true; d.pos = len(d.data) }

func (d *reportDecoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// consume skips whitespace and one expected byte.
func (d *reportDecoder) consume(c byte) bool {
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *reportDecoder) objStart() bool {
	if !d.consume('{') {
		d.fail()
		return false
	}
	return true
}

// member advances to the next member of an object opened with objStart and reads its key into
// d.key; false at the closing brace (or on failure).
func (d *reportDecoder) member(first *bool) bool {
	if d.bad {
		return false
	}
	d.ws()
	if d.pos >= len(d.data) {
		d.fail()
		return false
	}
	if d.data[d.pos] == '}' { // "{}", or the end after a value ("{...,}" fails below)
		d.pos++
		return false
	}
	if !*first {
		if d.data[d.pos] != ',' {
			d.fail()
			return false
		}
		d.pos++
		d.ws()
	}
	*first = false
	key, ok := d.rawString()
	if !ok || !d.consume(':') {
		d.fail()
		return false
	}
	// Keys with escapes or non-ASCII bytes are left to encoding/json (its case folding is
	// Unicode-aware).
	for _, c := range key {
		if c == '\\' || c >= utf8.RuneSelf {
			d.fail()
			return false
		}
	}
	d.key = key
	d.ws()
	return true
}

// field finds d.key among names: its index, or -1 for an unknown key whose value was skipped.
// A key seen before in this object, or one that matches a name only ignoring case, fails.
func (d *reportDecoder) field(names []string, seen *uint64) int {
	if d.bad {
		return -1
	}
	for i, n := range names {
		if string(d.key) == n {
			if *seen&(1<<i) != 0 {
				d.fail()
				return -1
			}
			*seen |= 1 << i
			return i
		}
	}
	for _, n := range names {
		if bytes.EqualFold(d.key, []byte(n)) {
			d.fail()
			return -1
		}
	}
	d.notRaw = true
	d.skip(0)
	return -1
}

// rawString reads a string token and returns its contents between the quotes, unprocessed.
// Control characters (invalid in JSON) fail.
func (d *reportDecoder) rawString() ([]byte, bool) {
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return nil, false
	}
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return d.data[start:i], true
		case c == '\\':
			i++ // the escaped byte; a bad escape is found by whoever decodes the string
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// str decodes a string value.
func (d *reportDecoder) str() string {
	if d.bad {
		return ""
	}
	start := d.pos
	raw, ok := d.rawString()
	if !ok {
		d.fail()
		return ""
	}
	plain := true
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(raw)
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw)
	}
	// Escapes, or invalid UTF-8 (which encoding/json replaces): its own unquoting decides, and
	// the report is encoded again rather than stored as it came.
	d.notRaw = true
	var s string
	if err := json.Unmarshal(d.data[start:d.pos], &s); err != nil {
		d.fail()
		return ""
	}
	return s
}

// number reads a number token as JSON's grammar defines it.
func (d *reportDecoder) number() []byte {
	if d.bad {
		return nil
	}
	b, i := d.data, d.pos
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.fail()
		return nil
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			d.fail()
			return nil
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			d.fail()
			return nil
		}
	}
	d.pos = i
	return b[start:i]
}

func (d *reportDecoder) float() float64 {
	n := d.number()
	if d.bad {
		return 0
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		d.fail()
		return 0
	}
	return f
}

func (d *reportDecoder) int() int {
	n := d.number()
	if d.bad {
		return 0
	}
	v, err := strconv.ParseInt(string(n), 10, strconv.IntSize)
	if err != nil {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *reportDecoder) uint(bits int) uint64 {
	n := d.number()
	if d.bad {
		return 0
	}
	v, err := strconv.ParseUint(string(n), 10, bits)
	if err != nil {
		d.fail()
		return 0
	}
	return v
}

func (d *reportDecoder) bool() bool {
	if d.bad {
		return false
	}
	switch {
	case bytes.HasPrefix(d.data[d.pos:], []byte("true")):
		d.pos += 4
		return true
	case bytes.HasPrefix(d.data[d.pos:], []byte("false")):
		d.pos += 5
		return false
	}
	d.fail()
	return false
}

// time decodes a time the way encoding/json does: the raw string token goes to
// time.Time.UnmarshalJSON.
func (d *reportDecoder) time() time.Time {
	if d.bad {
		return time.Time{}
	}
	start := d.pos
	if _, ok := d.rawString(); !ok {
		d.fail()
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalJSON(d.data[start:d.pos]); err != nil {
		d.fail()
		return time.Time{}
	}
	return t
}

// skip skips one value of any kind, checking its syntax.
func (d *reportDecoder) skip(depth int) {
	if d.bad {
		return
	}
	if depth > maxSkipDepth || d.pos >= len(d.data) {
		d.fail()
		return
	}
	switch c := d.data[d.pos]; {
	case c == '"':
		start := d.pos
		raw, ok := d.rawString()
		if !ok {
			d.fail()
			return
		}
		if bytes.IndexByte(raw, '\\') >= 0 && !json.Valid(d.data[start:d.pos]) {
			d.fail()
		}
	case c == '{':
		d.pos++
		for first := true; d.member(&first); {
			d.skip(depth + 1)
		}
	case c == '[':
		d.pos++
		for first := true; d.element(&first); {
			d.skip(depth + 1)
		}
	case c == 't' || c == 'f':
		d.bool()
	case c == 'n':
		if !bytes.HasPrefix(d.data[d.pos:], []byte("null")) {
			d.fail()
			return
		}
		d.pos += 4
	default:
		d.number()
	}
}

// element advances to the next element of an array whose '[' was consumed; false at ']'.
func (d *reportDecoder) element(first *bool) bool {
	if d.bad {
		return false
	}
	d.ws()
	if d.pos >= len(d.data) {
		d.fail()
		return false
	}
	if *first {
		*first = false
		if d.data[d.pos] == ']' {
			d.pos++
			return false
		}
		return true
	}
	switch d.data[d.pos] {
	case ']':
		d.pos++
		return false
	case ',':
		d.pos++
		d.ws()
		return true
	}
	d.fail()
	return false
}

// decodeSlice decodes an array into a new slice (non-nil even when empty, as encoding/json
// makes it), with elem decoding each element in place.
func decodeSlice[T any](d *reportDecoder, elem func(*reportDecoder, *T)) []T {
	if d.bad {
		return nil
	}
	if d.pos >= len(d.data) || d.data[d.pos] != '[' {
		d.fail()
		return nil
	}
	d.pos++
	s := make([]T, 0, 4)
	for first := true; d.element(&first); {
		s = append(s, *new(T))
		elem(d, &s[len(s)-1])
	}
	return s
}

var (
	batchFields  = []string{"reports"}
	reportFields = []string{"seq", "time", "agent_version", "updater_version", "interval_seconds",
		"boot_time", "uptime_seconds", "cpu", "load", "memory", "mounts", "disks", "interfaces",
		"processes", "events", "units", "checks", "hints", "outages", "errors", "spool_dropped",
		"spool_corrupt"}
	cpuFields     = []string{"cores", "busy_pct", "iowait_pct", "steal_pct"}
	loadFields    = []string{"load1", "load5", "load15"}
	memoryFields  = []string{"total_bytes", "available_bytes", "used_pct", "swap_total_bytes", "swap_free_bytes"}
	mountFields   = []string{"path", "device", "fstype", "total_bytes", "free_bytes", "used_pct", "inodes_total", "inodes_free", "inodes_used_pct"}
	diskFields    = []string{"device", "read_bytes_per_s", "write_bytes_per_s", "read_iops", "write_iops", "util_pct"}
	netFields     = []string{"interface", "rx_bytes_per_s", "tx_bytes_per_s"}
	processFields = []string{"name", "running", "instances"}
	instFields    = []string{"pid", "start_time"}
	eventFields   = []string{"name", "kind", "pid", "time"}
	unitFields    = []string{"name", "active_state", "sub_state", "result", "n_restarts"}
	checkFields   = []string{"name", "kind", "ok", "value", "unit", "message", "checked_at"}
	hintFields    = []string{"metric", "value", "score", "mean", "stddev", "hour"}
	outageFields  = []string{"start", "end", "class", "detail"}
	errorFields   = []string{"collector", "message"}
)

func (d *reportDecoder) report(r *Report) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(reportFields, &seen) {
		case 0:
			r.Seq = d.uint(64)
		case 1:
			r.Time = d.time()
		case 2:
			r.AgentVersion = d.str()
		case 3:
			r.UpdaterVersion = d.str()
		case 4:
			r.IntervalSeconds = d.int()
		case 5:
			r.BootTime = d.time()
		case 6:
			r.UptimeSeconds = d.float()
		case 7:
			r.CPU = new(CPU)
			d.cpu(r.CPU)
		case 8:
			r.Load = new(Load)
			d.load(r.Load)
		case 9:
			r.Memory = new(Memory)
			d.memory(r.Memory)
		case 10:
			r.Mounts = decodeSlice(d, (*reportDecoder).mount)
		case 11:
			r.Disks = decodeSlice(d, (*reportDecoder).disk)
		case 12:
			r.Interfaces = decodeSlice(d, (*reportDecoder).net)
		case 13:
			r.Processes = decodeSlice(d, (*reportDecoder).process)
		case 14:
			r.Events = decodeSlice(d, (*reportDecoder).event)
		case 15:
			r.Units = decodeSlice(d, (*reportDecoder).unit)
		case 16:
			r.Checks = decodeSlice(d, (*reportDecoder).check)
		case 17:
			r.Hints = decodeSlice(d, (*reportDecoder).hint)
		case 18:
			r.Outages = decodeSlice(d, (*reportDecoder).outage)
		case 19:
			r.Errors = decodeSlice(d, (*reportDecoder).collectorError)
		case 20:
			r.SpoolDropped = d.uint(64)
		case 21:
			r.SpoolCorrupt = d.uint(64)
		}
	}
}

func (d *reportDecoder) cpu(c *CPU) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(cpuFields, &seen) {
		case 0:
			c.Cores = d.int()
		case 1:
			c.BusyPct = d.float()
		case 2:
			c.IOWaitPct = d.float()
		case 3:
			c.StealPct = d.float()
		}
	}
}

func (d *reportDecoder) load(l *Load) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(loadFields, &seen) {
		case 0:
			l.Load1 = d.float()
		case 1:
			l.Load5 = d.float()
		case 2:
			l.Load15 = d.float()
		}
	}
}

func (d *reportDecoder) memory(m *Memory) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(memoryFields, &seen) {
		case 0:
			m.TotalBytes = d.uint(64)
		case 1:
			m.AvailableBytes = d.uint(64)
		case 2:
			m.UsedPct = d.float()
		case 3:
			m.SwapTotalBytes = d.uint(64)
		case 4:
			m.SwapFreeBytes = d.uint(64)
		}
	}
}

func (d *reportDecoder) mount(m *Mount) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(mountFields, &seen) {
		case 0:
			m.Path = d.str()
		case 1:
			m.Device = d.str()
		case 2:
			m.FSType = d.str()
		case 3:
			m.TotalBytes = d.uint(64)
		case 4:
			m.FreeBytes = d.uint(64)
		case 5:
			m.UsedPct = d.float()
		case 6:
			m.InodesTotal = d.uint(64)
		case 7:
			m.InodesFree = d.uint(64)
		case 8:
			m.InodesPct = d.float()
		}
	}
}

func (d *reportDecoder) disk(x *DiskIO) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(diskFields, &seen) {
		case 0:
			x.Device = d.str()
		case 1:
			x.ReadBytesPS = d.float()
		case 2:
			x.WriteBytesPS = d.float()
		case 3:
			x.ReadIOPS = d.float()
		case 4:
			x.WriteIOPS = d.float()
		case 5:
			x.UtilizationPct = d.float()
		}
	}
}

func (d *reportDecoder) net(x *NetIO) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(netFields, &seen) {
		case 0:
			x.Interface = d.str()
		case 1:
			x.RxBytesPS = d.float()
		case 2:
			x.TxBytesPS = d.float()
		}
	}
}

func (d *reportDecoder) process(p *Process) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(processFields, &seen) {
		case 0:
			p.Name = d.str()
		case 1:
			p.Running = d.int()
		case 2:
			p.Instances = decodeSlice(d, (*reportDecoder).instance)
		}
	}
}

func (d *reportDecoder) instance(p *ProcInst) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(instFields, &seen) {
		case 0:
			p.PID = d.int()
		case 1:
			p.StartTime = d.time()
		}
	}
}

func (d *reportDecoder) event(e *ProcEvent) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(eventFields, &seen) {
		case 0:
			e.Name = d.str()
		case 1:
			e.Kind = d.str()
		case 2:
			e.PID = d.int()
		case 3:
			e.Time = d.time()
		}
	}
}

func (d *reportDecoder) unit(u *Unit) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(unitFields, &seen) {
		case 0:
			u.Name = d.str()
		case 1:
			u.ActiveState = d.str()
		case 2:
			u.SubState = d.str()
		case 3:
			u.Result = d.str()
		case 4:
			u.NRestarts = uint32(d.uint(32))
		}
	}
}

func (d *reportDecoder) check(c *CheckResult) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(checkFields, &seen) {
		case 0:
			c.Name = d.str()
		case 1:
			c.Kind = d.str()
		case 2:
			c.OK = d.bool()
		case 3:
			c.Value = d.float()
		case 4:
			c.Unit = d.str()
		case 5:
			c.Message = d.str()
		case 6:
			c.CheckedAt = d.time()
		}
	}
}

func (d *reportDecoder) hint(h *AnomalyHint) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(hintFields, &seen) {
		case 0:
			h.Metric = d.str()
		case 1:
			h.Value = d.float()
		case 2:
			h.Score = d.float()
		case 3:
			h.Mean = d.float()
		case 4:
			h.StdDev = d.float()
		case 5:
			h.Hour = d.int()
		}
	}
}

func (d *reportDecoder) outage(o *Outage) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(outageFields, &seen) {
		case 0:
			o.Start = d.time()
		case 1:
			o.End = d.time()
		case 2:
			o.Class = d.str()
		case 3:
			o.Detail = d.str()
		}
	}
}

func (d *reportDecoder) collectorError(e *CollectorError) {
	if !d.objStart() {
		return
	}
	var seen uint64
	for first := true; d.member(&first); {
		switch d.field(errorFields, &seen) {
		case 0:
			e.Collector = d.str()
		case 1:
			e.Message = d.str()
		}
	}
}
