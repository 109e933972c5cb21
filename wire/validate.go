package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every validation and decoding failure, so callers can map it to a
// 400 answer with errors.Is.
var ErrInvalid = errors.New("invalid message")

// ErrTooLarge is returned when a body exceeds its named limit.
var ErrTooLarge = errors.New("message too large")

// Times outside this window are rejected: a host clock in 1970 or far in the future is a bug
// we want to see, not a sample we want to store.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Decode reads one JSON value of at most limit bytes from r into v and rejects trailing data.
// Unknown fields are rejected when strict is true (configuration), and ignored otherwise so newer
// agents can talk to older servers.
func Decode(r io.Reader, limit int64, strict bool, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("%w: body exceeds %d bytes", ErrTooLarge, limit)
	}
	return Unmarshal(data, strict, v)
}

// Unmarshal decodes exactly one JSON value from data into v.
func Unmarshal(data []byte, strict bool, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		// A bad time would otherwise be explained with Go's reference layout ("2006-01-02…").
		if pe := (*time.ParseError)(nil); errors.As(err, &pe) {
			return invalid("malformed JSON: %q is not an RFC 3339 time such as 2026-11-21T22:00:00Z or 2026-11-21T23:00:00+01:00", pe.Value)
		}
		return invalid("malformed JSON: %v", err)
	}
	if dec.More() {
		return invalid("trailing data after JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("trailing data after JSON value")
	}
	return nil
}

// errList collects the errors of many checks, keeping only the failures: a report's checks
// are mostly nil, and appending every nil grew a slice per report on the server.
type errList []error

func (l *errList) add(errs ...error) {
	for _, err := range errs {
		if err != nil {
			*l = append(*l, err)
		}
	}
}

// fieldName names a checked field: a plain name, or an item of a list, which is formatted only
// when a check fails (formatting every item's name cost ~5 % of the server's CPU per report).
type fieldName interface{ string | item }

// item names field name of the list's element i; it prints as list[i].name.
type item struct {
	list string
	i    int
	name string
}

func (f item) String() string { return f.list + "[" + strconv.Itoa(f.i) + "]." + f.name }

func checkString[F fieldName](field F, s string, max int, required bool) error {
	if required && s == "" {
		return invalid("%s is required", field)
	}
	if len(s) > max {
		return invalid("%s longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid("%s contains control characters", field)
		}
	}
	return nil
}

func checkTime[F fieldName](field F, t time.Time, required bool) error {
	if t.IsZero() {
		if required {
			return invalid("%s is required", field)
		}
		return nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return invalid("%s %s out of range", field, t.Format(time.RFC3339))
	}
	return nil
}

func checkPct[F fieldName](field F, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 100 {
		return invalid("%s %v not within 0..100", field, v)
	}
	return nil
}

func checkNonNeg(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return invalid("%s %v is negative or not finite", field, v)
	}
	return nil
}

// checkMax checks a non-negative, finite value of at most max.
func checkMax(field string, v, max float64) error {
	if err := checkNonNeg(field, v); err != nil {
		return err
	}
	if v > max {
		return invalid("%s %g above the largest plausible value %g", field, v, max)
	}
	return nil
}

func checkCount(field string, n, max int) error {
	if n > max {
		return invalid("%d %s, at most %d allowed", n, field, max)
	}
	return nil
}

// Validate checks an enrollment request.
func (e *EnrollRequest) Validate() error {
	return errors.Join(
		checkString("enrollment_token", e.EnrollmentToken, MaxNameLen, true),
		checkString("hostname", e.Hostname, MaxNameLen, true),
		checkString("machine_id", e.MachineID, MaxNameLen, false),
		checkString("os", e.OS, 64, false),
		checkString("arch", e.Arch, 64, false),
		checkString("agent_version", e.AgentVersion, 64, false),
	)
}

// Validate checks a batch and every report in it.
func (b *ReportBatch) Validate() error {
	if len(b.Reports) == 0 {
		return invalid("reports is empty")
	}
	if err := checkCount("reports", len(b.Reports), MaxReportsPerBatch); err != nil {
		return err
	}
	for i := range b.Reports {
		if err := b.Reports[i].Validate(); err != nil {
			return fmt.Errorf("report %d: %w", i, err)
		}
		if i > 0 && b.Reports[i].Seq <= b.Reports[i-1].Seq {
			return invalid("report %d: seq %d not above the previous %d (reports go oldest first)", i, b.Reports[i].Seq, b.Reports[i-1].Seq)
		}
	}
	return nil
}

// Validate checks ranges, lengths and counts of one report.
func (r *Report) Validate() error {
	if r.Seq == 0 {
		return invalid("seq must be at least 1")
	}
	if r.Seq > math.MaxInt64 {
		return invalid("seq out of range")
	}
	var errs errList
	errs.add(
		checkTime("time", r.Time, true),
		checkTime("boot_time", r.BootTime, false),
		checkString("agent_version", r.AgentVersion, 64, false),
		checkString("updater_version", r.UpdaterVersion, 64, false),
		checkMax("uptime_seconds", r.UptimeSeconds, MaxUptimeSeconds),
		checkCount("mounts", len(r.Mounts), MaxMounts),
		checkCount("disks", len(r.Disks), MaxDevices),
		checkCount("interfaces", len(r.Interfaces), MaxInterfaces),
		checkCount("processes", len(r.Processes), MaxProcesses),
		checkCount("events", len(r.Events), MaxEvents),
		checkCount("units", len(r.Units), MaxUnits),
		checkCount("outages", len(r.Outages), MaxOutages),
		checkCount("errors", len(r.Errors), MaxErrors),
		checkCount("checks", len(r.Checks), MaxChecks),
		checkCount("hints", len(r.Hints), MaxHints),
	)
	if r.IntervalSeconds < 0 || r.IntervalSeconds > MaxIntervalSeconds {
		errs.add(invalid("interval_seconds %d out of range", r.IntervalSeconds))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if c := r.CPU; c != nil {
		if c.Cores < 0 || c.Cores > 1<<16 {
			errs.add(invalid("cpu.cores %d out of range", c.Cores))
		}
		errs.add(checkPct("cpu.busy_pct", c.BusyPct), checkPct("cpu.iowait_pct", c.IOWaitPct), checkPct("cpu.steal_pct", c.StealPct))
	}
	if l := r.Load; l != nil {
		errs.add(checkMax("load.load1", l.Load1, MaxLoadAverage), checkMax("load.load5", l.Load5, MaxLoadAverage),
			checkMax("load.load15", l.Load15, MaxLoadAverage))
	}
	if m := r.Memory; m != nil {
		errs.add(checkPct("memory.used_pct", m.UsedPct))
		if m.AvailableBytes > m.TotalBytes {
			errs.add(invalid("memory.available_bytes exceeds total_bytes"))
		}
		if m.SwapFreeBytes > m.SwapTotalBytes {
			errs.add(invalid("memory.swap_free_bytes exceeds swap_total_bytes"))
		}
	}
	for i, m := range r.Mounts {
		errs = append(errs,
			checkString(item{"mounts", i, "path"}, m.Path, MaxNameLen, true),
			checkString(item{"mounts", i, "device"}, m.Device, MaxNameLen, false),
			checkString(item{"mounts", i, "fstype"}, m.FSType, 64, false),
			checkPct(item{"mounts", i, "used_pct"}, m.UsedPct),
			checkPct(item{"mounts", i, "inodes_used_pct"}, m.InodesPct))
		if m.FreeBytes > m.TotalBytes || m.InodesFree > m.InodesTotal {
			errs.add(invalid("mounts[%d] free exceeds total", i))
		}
	}
	for i, d := range r.Disks {
		errs = append(errs,
			checkString(item{"disks", i, "device"}, d.Device, MaxNameLen, true),
			checkMax("disks.read_bytes_per_s", d.ReadBytesPS, MaxRate), checkMax("disks.write_bytes_per_s", d.WriteBytesPS, MaxRate),
			checkMax("disks.read_iops", d.ReadIOPS, MaxRate), checkMax("disks.write_iops", d.WriteIOPS, MaxRate),
			checkPct(item{"disks", i, "util_pct"}, d.UtilizationPct))
	}
	for i, n := range r.Interfaces {
		errs = append(errs,
			checkString(item{"interfaces", i, "interface"}, n.Interface, MaxNameLen, true),
			checkMax("interfaces.rx_bytes_per_s", n.RxBytesPS, MaxRate), checkMax("interfaces.tx_bytes_per_s", n.TxBytesPS, MaxRate))
	}
	for i, p := range r.Processes {
		errs.add(checkString(item{"processes", i, "name"}, p.Name, MaxNameLen, true),
			checkCount("processes.instances", len(p.Instances), MaxPIDs))
		if p.Running < 0 {
			errs.add(invalid("processes[%d].running is negative", i))
		}
		for _, in := range p.Instances {
			if in.PID <= 0 {
				errs.add(invalid("processes[%d] has a non-positive pid", i))
			}
			errs.add(checkTime("processes.start_time", in.StartTime, false))
		}
	}
	for i, e := range r.Events {
		errs.add(checkString(item{"events", i, "name"}, e.Name, MaxNameLen, true),
			checkTime(item{"events", i, "time"}, e.Time, true))
		switch e.Kind {
		case ProcStarted, ProcRestarted, ProcGone:
		default:
			errs.add(invalid("events[%d].kind %q unknown", i, e.Kind))
		}
	}
	for i, u := range r.Units {
		errs = append(errs,
			checkString(item{"units", i, "name"}, u.Name, MaxNameLen, true),
			checkString(item{"units", i, "active_state"}, u.ActiveState, 64, false),
			checkString(item{"units", i, "sub_state"}, u.SubState, 64, false),
			checkString(item{"units", i, "result"}, u.Result, 64, false))
	}
	for i, o := range r.Outages {
		errs.add(checkTime(item{"outages", i, "start"}, o.Start, true),
			checkTime(item{"outages", i, "end"}, o.End, true),
			checkString(item{"outages", i, "detail"}, o.Detail, MaxMessageLen, false))
		if o.End.Before(o.Start) {
			errs.add(invalid("outages[%d] ends before it starts", i))
		}
		switch o.Class {
		case OutageDNS, OutageConnect, OutageTLS, OutageHTTP, OutageTimeout, OutageOther:
		default:
			errs.add(invalid("outages[%d].class %q unknown", i, o.Class))
		}
	}
	for i, e := range r.Errors {
		errs.add(checkString(item{"errors", i, "collector"}, e.Collector, 64, true),
			checkString(item{"errors", i, "message"}, e.Message, MaxMessageLen, false))
	}
	for i := range r.Checks {
		c := &r.Checks[i]
		if err := c.Validate(); err != nil {
			errs.add(fmt.Errorf("checks[%d]: %w", i, err))
			continue
		}
		for j := range i {
			if r.Checks[j].Name == c.Name {
				errs.add(invalid("checks[%d]: name %q repeats checks[%d]", i, c.Name, j))
			}
		}
	}
	for i := range r.Hints {
		if err := r.Hints[i].Validate(); err != nil {
			errs.add(fmt.Errorf("hints[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks an anomaly hint: a metric name, finite numbers, a positive deviation and an
// hour of the day.
func (h *AnomalyHint) Validate() error {
	var errs []error
	if !ValidMetricName(h.Metric) {
		errs = append(errs, invalid("metric %q is not a metric name (1..%d of a-z 0-9 . _)", trimForError(h.Metric), MaxMetricNameLen))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"value", h.Value}, {"score", h.Score}, {"mean", h.Mean}, {"stddev", h.StdDev}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, invalid("%s %v is not finite", f.name, f.v))
		}
	}
	if !(h.StdDev > 0) {
		errs = append(errs, invalid("stddev %v is not positive", h.StdDev))
	}
	if h.Hour < 0 || h.Hour > 23 {
		errs = append(errs, invalid("hour %d not within 0..23", h.Hour))
	}
	return errors.Join(errs...)
}

// ValidMetricName reports whether s can name a metric in an anomaly hint: 1..MaxMetricNameLen of
// lowercase ASCII letters, digits, '.' and '_', starting with a letter ("cpu.busy_pct").
func ValidMetricName(s string) bool {
	if s == "" || len(s) > MaxMetricNameLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// Validate checks one check result: its name (ValidCheckName), kind and unit (short lowercase
// words, so that kinds added by newer agents are accepted), a finite value, a bounded message and
// its time.
func (c *CheckResult) Validate() error {
	var errs []error
	if !ValidCheckName(c.Name) {
		errs = append(errs, invalid("name %q is not a check name (1..%d of a-z A-Z 0-9 . _ -, starting with a letter or digit)", trimForError(c.Name), MaxCheckNameLen))
	}
	if !validWord(c.Kind) {
		errs = append(errs, invalid("kind %q is not a lowercase word of at most %d letters", trimForError(c.Kind), MaxCheckWordLen))
	}
	if c.Unit != "" && !validWord(c.Unit) {
		errs = append(errs, invalid("unit %q is not a lowercase word of at most %d letters", trimForError(c.Unit), MaxCheckWordLen))
	}
	if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
		errs = append(errs, invalid("value %v is not finite", c.Value))
	}
	return errors.Join(append(errs,
		checkString("message", c.Message, MaxCheckMessageLen, false),
		checkTime("checked_at", c.CheckedAt, true))...)
}

// ValidCheckName reports whether s can name a health check: 1..MaxCheckNameLen ASCII letters,
// digits, '.', '_' and '-', starting with a letter or digit ("site", "db-5432", "backup.daily").
func ValidCheckName(s string) bool {
	if s == "" || len(s) > MaxCheckNameLen {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// validWord reports whether s is 1..MaxCheckWordLen lowercase ASCII letters.
func validWord(s string) bool {
	if s == "" || len(s) > MaxCheckWordLen {
		return false
	}
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// trimForError shortens untrusted text quoted in an error message.
func trimForError(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Validate checks a configuration pushed by the server. Agents call it before applying anything.
func (c *AgentConfig) Validate() error {
	var errs []error
	if c.IntervalSeconds != 0 && (c.IntervalSeconds < MinIntervalSeconds || c.IntervalSeconds > MaxIntervalSeconds) {
		errs = append(errs, invalid("interval_seconds %d not within %d..%d", c.IntervalSeconds, MinIntervalSeconds, MaxIntervalSeconds))
	}
	errs = append(errs, checkCount("watch_processes", len(c.WatchProcesses), MaxWatchEntries),
		checkCount("watch_units", len(c.WatchUnits), MaxWatchEntries))
	for i, w := range c.WatchProcesses {
		if err := w.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("watch_processes[%d]: %w", i, err))
		}
	}
	for i, u := range c.WatchUnits {
		if !ValidUnitName(u) {
			errs = append(errs, invalid("watch_units[%d] %q is not a systemd unit name such as nginx.service", i, u))
		}
	}
	return errors.Join(errs...)
}

// Validate checks that exactly one of Name and Exe is set.
func (w *ProcessWatch) Validate() error {
	if (w.Name == "") == (w.Exe == "") {
		return invalid("exactly one of name and exe must be set")
	}
	if w.Exe != "" && w.Exe[0] != '/' {
		return invalid("exe %q is not an absolute path", w.Exe)
	}
	return errors.Join(checkString("name", w.Name, MaxNameLen, false), checkString("exe", w.Exe, MaxNameLen, false))
}

// checkAhead refuses a time more than MaxClockAhead after now.
func checkAhead[F fieldName](field F, t, now time.Time) error {
	if t.After(now.Add(MaxClockAhead)) {
		return invalid("%s %s is %s ahead of the server's clock (at most %s allowed): fix the host's clock (NTP)",
			field, t.UTC().Format(time.RFC3339), t.Sub(now).Round(time.Second), MaxClockAhead)
	}
	return nil
}

// CheckClock refuses a batch holding a time more than MaxClockAhead after now, the receiver's
// clock. Validate cannot check this: it has no clock, and runs on the agent too.
func (b *ReportBatch) CheckClock(now time.Time) error {
	for i := range b.Reports {
		if err := b.Reports[i].CheckClock(now); err != nil {
			return fmt.Errorf("report %d: %w", i, err)
		}
	}
	return nil
}

// CheckClock refuses a report holding a time more than MaxClockAhead after now.
func (r *Report) CheckClock(now time.Time) error {
	var errs errList
	errs.add(checkAhead("time", r.Time, now), checkAhead("boot_time", r.BootTime, now))
	for i, p := range r.Processes {
		for _, in := range p.Instances {
			errs.add(checkAhead(item{"processes", i, "start_time"}, in.StartTime, now))
		}
	}
	for i, e := range r.Events {
		errs.add(checkAhead(item{"events", i, "time"}, e.Time, now))
	}
	for i, o := range r.Outages {
		errs.add(checkAhead(item{"outages", i, "end"}, o.End, now))
	}
	return errors.Join(errs...)
}

// CheckClock refuses an update event more than MaxClockAhead after now.
func (e *UpdateEvent) CheckClock(now time.Time) error { return checkAhead("time", e.Time, now) }

// Validate checks an update event.
func (e *UpdateEvent) Validate() error {
	var errs []error
	switch e.Binary {
	case "", "vigil-agent", "vigil-updater":
	default:
		errs = append(errs, invalid("binary %q unknown", e.Binary))
	}
	switch e.Phase {
	case PhaseCheck, PhaseDownload, PhaseVerify, PhaseInstall, PhaseTrial, PhaseCommit, PhaseRollback, PhaseSelf:
	default:
		errs = append(errs, invalid("phase %q unknown", e.Phase))
	}
	switch e.Result {
	case ResultStarted, ResultOK, ResultFailed, ResultRefused:
	default:
		errs = append(errs, invalid("result %q unknown", e.Result))
	}
	if len(e.ID) > MaxEventIDLen || strings.IndexFunc(e.ID, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_')
	}) >= 0 {
		errs = append(errs, invalid("id must be at most %d letters, digits, '-' or '_'", MaxEventIDLen))
	}
	return errors.Join(append(errs,
		checkString("from_version", e.FromVersion, 64, false),
		checkString("to_version", e.ToVersion, 64, false),
		checkString("reason", e.Reason, MaxMessageLen, false),
		checkTime("time", e.Time, true))...)
}

// unitSuffixes are the systemd unit types (systemd.unit(5)).
var unitSuffixes = []string{".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target",
	".path", ".timer", ".slice", ".scope"}

// ValidUnitName reports whether s is a valid systemd unit name: at most 255 bytes of ASCII
// letters, digits and ":-_.\@", with a unit type suffix such as ".service", and a non-empty prefix
// ("getty@tty1.service" is valid; "nginx", "nginx.servce" and "../x.service" are not).
func ValidUnitName(s string) bool {
	if len(s) > 255 {
		return false
	}
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || !slices.Contains(unitSuffixes, s[i:]) {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(":-_.\\@", r):
		default:
			return false
		}
	}
	return s[0] != '.' && s[0] != '@'
}
