package wire

import "time"

// EnrollRequest is the body of POST /api/v1/enroll.
type EnrollRequest struct {
	EnrollmentToken string `json:"enrollment_token"`
	Hostname        string `json:"hostname"`
	MachineID       string `json:"machine_id"`
	OS              string `json:"os"`
	Arch            string `json:"arch"`
	AgentVersion    string `json:"agent_version"`
}

// EnrollResponse is the 201 answer to an enrollment. Credential is shown once; the server keeps
// only its hash.
type EnrollResponse struct {
	HostID                string `json:"host_id"`
	Credential            string `json:"credential"`
	ReportIntervalSeconds int    `json:"report_interval_seconds"`
}

// ReportBatch is the body of POST /api/v1/reports.
//
// Ordering contract: reports in a batch are in strictly increasing seq order, and an agent sends its
// oldest unacknowledged report first and one batch at a time. A gap between the host's acknowledged
// seq and a batch's first seq therefore means the agent dropped those reports (its spool was full),
// and the server acknowledges across it.
type ReportBatch struct {
	Reports []Report `json:"reports"`
}

// Report is one observation of a host. Seq strictly increases from report to report and is never
// reused by an agent; it skips values after an agent crash (the agent leases seqs in blocks, see
// agent.Spool), and the server acknowledges across such a gap as across dropped reports. The server
// dedupes on (host, seq): an agent resends reports whose ack it had not persisted before a crash.
type Report struct {
	Seq            uint64    `json:"seq"`
	Time           time.Time `json:"time"`
	AgentVersion   string    `json:"agent_version,omitempty"`
	UpdaterVersion string    `json:"updater_version,omitempty"`
	// IntervalSeconds is the interval the agent was using when it made this report.
	IntervalSeconds int `json:"interval_seconds,omitempty"`

	BootTime      time.Time `json:"boot_time,omitzero"`
	UptimeSeconds float64   `json:"uptime_seconds,omitempty"`

	CPU    *CPU    `json:"cpu,omitempty"`
	Load   *Load   `json:"load,omitempty"`
	Memory *Memory `json:"memory,omitempty"`

	Mounts     []Mount     `json:"mounts,omitempty"`
	Disks      []DiskIO    `json:"disks,omitempty"`
	Interfaces []NetIO     `json:"interfaces,omitempty"`
	Processes  []Process   `json:"processes,omitempty"`
	Events     []ProcEvent `json:"events,omitempty"`
	Units      []Unit      `json:"units,omitempty"`

	// Checks are the latest results of the health checks declared in the agent's local
	// configuration, one per check that has completed at least once (since protocol 1, 2026-12-02).
	Checks []CheckResult `json:"checks,omitempty"`
	// Hints are the metric values of this report unusual for the host at this hour of the day,
	// when the agent's anomaly hints are on (since protocol 1, 2026-12-02).
	Hints []AnomalyHint `json:"hints,omitempty"`

	// Outages are connectivity outages the agent recorded since its last acknowledged report.
	Outages []Outage `json:"outages,omitempty"`
	// Errors are collectors that failed in this cycle.
	Errors []CollectorError `json:"errors,omitempty"`
	// SpoolDropped counts reports the agent dropped from its full spool since the last report.
	SpoolDropped uint64 `json:"spool_dropped,omitempty"`
	// SpoolCorrupt counts corrupt spool records the agent skipped since the last report.
	SpoolCorrupt uint64 `json:"spool_corrupt,omitempty"`
}

// CPU holds CPU time shares over the last interval, in percent of all CPUs.
type CPU struct {
	Cores     int     `json:"cores"`
	BusyPct   float64 `json:"busy_pct"`
	IOWaitPct float64 `json:"iowait_pct"`
	StealPct  float64 `json:"steal_pct"`
}

// Load holds the load averages.
type Load struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

// Memory holds memory and swap figures in bytes.
type Memory struct {
	TotalBytes     uint64  `json:"total_bytes"`
	AvailableBytes uint64  `json:"available_bytes"`
	UsedPct        float64 `json:"used_pct"`
	SwapTotalBytes uint64  `json:"swap_total_bytes"`
	SwapFreeBytes  uint64  `json:"swap_free_bytes"`
}

// Mount is the usage of one mounted filesystem.
type Mount struct {
	Path        string  `json:"path"`
	Device      string  `json:"device,omitempty"`
	FSType      string  `json:"fstype,omitempty"`
	TotalBytes  uint64  `json:"total_bytes"`
	FreeBytes   uint64  `json:"free_bytes"`
	UsedPct     float64 `json:"used_pct"`
	InodesTotal uint64  `json:"inodes_total"`
	InodesFree  uint64  `json:"inodes_free"`
	InodesPct   float64 `json:"inodes_used_pct"`
}

// DiskIO is the IO rate of one whole block device over the last interval.
type DiskIO struct {
	Device         string  `json:"device"`
	ReadBytesPS    float64 `json:"read_bytes_per_s"`
	WriteBytesPS   float64 `json:"write_bytes_per_s"`
	ReadIOPS       float64 `json:"read_iops"`
	WriteIOPS      float64 `json:"write_iops"`
	UtilizationPct float64 `json:"util_pct"`
}

// NetIO is the traffic of one network interface over the last interval.
type NetIO struct {
	Interface string  `json:"interface"`
	RxBytesPS float64 `json:"rx_bytes_per_s"`
	TxBytesPS float64 `json:"tx_bytes_per_s"`
}

// Process is the state of one watched process entry.
type Process struct {
	Name      string     `json:"name"`
	Running   int        `json:"running"`
	Instances []ProcInst `json:"instances,omitempty"`
}

// ProcInst is one running instance of a watched process.
type ProcInst struct {
	PID       int       `json:"pid"`
	StartTime time.Time `json:"start_time"`
}

// Process event kinds.
const (
	ProcStarted   = "started"
	ProcRestarted = "restarted"
	ProcGone      = "gone"
)

// ProcEvent is a change in a watched process seen between two collections.
type ProcEvent struct {
	Name string    `json:"name"`
	Kind string    `json:"kind"`
	PID  int       `json:"pid,omitempty"`
	Time time.Time `json:"time"`
}

// Unit is the state of one critical systemd unit.
type Unit struct {
	Name        string `json:"name"`
	ActiveState string `json:"active_state"`
	SubState    string `json:"sub_state"`
	Result      string `json:"result,omitempty"`
	NRestarts   uint32 `json:"n_restarts"`
}

// Check kinds the agent runs. A server accepts any kind that is a short lowercase word (see
// CheckResult.Validate), so that a newer agent's new kind is stored, not refused.
const (
	CheckTCP  = "tcp"  // connect to host:port; value: connect time in ms
	CheckHTTP = "http" // GET a URL, expect a status (and a body match); value: time to the answer in ms
	CheckTLS  = "tls"  // a certificate's days to expiry, from host:port or a PEM file; value: days
	CheckFile = "file" // a file's age and size; value: age in seconds
	CheckUnix = "unix" // connect to a unix socket; value: connect time in ms
	CheckDNS  = "dns"  // resolve a name; value: resolution time in ms
)

// Units of CheckResult.Value.
const (
	UnitMillis  = "ms"
	UnitDays    = "days"
	UnitSeconds = "s"
)

// CheckResult is the latest result of one health check. The agent runs each check on its own
// schedule; CheckedAt says when this result was made, which may be before the report's Time.
type CheckResult struct {
	// Name is the check's name from the agent's configuration (ValidCheckName), unique in a report.
	Name string `json:"name"`
	Kind string `json:"kind"`
	OK   bool   `json:"ok"`
	// Value is the check's measurement in Unit: a latency, days to a certificate's expiry (negative
	// once expired), a file's age. Zero with an empty Unit when there is none (the target failed).
	Value float64 `json:"value,omitempty"`
	Unit  string  `json:"unit,omitempty"`
	// Message says what was seen, such as "status 503, want 200"; at most MaxCheckMessageLen bytes.
	Message   string    `json:"message,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
}

// AnomalyHint says a metric's value is unusual for this host at this hour of the day: Score
// standard deviations (StdDev) from the Mean the agent learnt for the hour.
type AnomalyHint struct {
	// Metric names the value, such as "cpu.busy_pct" (ValidMetricName).
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	// Score is (Value - Mean) / StdDev: positive above the baseline, negative below.
	Score  float64 `json:"score"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	// Hour is the hour of the day (agent's local time, 0..23) whose baseline was used.
	Hour int `json:"hour"`
}

// Outage error classes.
const (
	OutageDNS     = "dns"
	OutageConnect = "connect"
	OutageTLS     = "tls"
	OutageHTTP    = "http"
	OutageTimeout = "timeout"
	OutageOther   = "other"
)

// Outage is a period during which the agent could not deliver reports.
type Outage struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Class string    `json:"class"`
	// Detail is a short description such as an HTTP status; never a secret.
	Detail string `json:"detail,omitempty"`
}

// CollectorError reports a collector that failed in one cycle.
type CollectorError struct {
	Collector string `json:"collector"`
	Message   string `json:"message"`
}

// Ack is the 200 answer to a ReportBatch. AckedSeq is the highest seq such that every seq up to it
// from this host is committed (or was dropped by the agent, see ReportBatch); the agent may forget
// reports up to and including it. The server sends it only after the batch is committed.
type Ack struct {
	AckedSeq uint64       `json:"acked_seq"`
	Config   *AgentConfig `json:"config,omitempty"`
}

// AgentConfig is the data-only configuration a server may push to an agent: the effective agent
// settings of the host (its group's, overlaid by the host's own). A server sends its complete
// settings in every Ack; an Ack without Config leaves the agent's server settings as they were.
// The agent adds the watch lists to those of its local configuration (the server cannot remove a
// local entry) and uses IntervalSeconds unless the local configuration sets an interval; zero means
// "no server interval". The agent validates it (Validate) before use; it cannot make the agent run
// anything.
type AgentConfig struct {
	IntervalSeconds int            `json:"interval_seconds,omitempty"`
	WatchProcesses  []ProcessWatch `json:"watch_processes,omitempty"`
	WatchUnits      []string       `json:"watch_units,omitempty"`
}

// ProcessWatch names a process to watch, by name (comm) or by executable path. Exactly one is set.
type ProcessWatch struct {
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	Exe  string `json:"exe,omitempty" yaml:"exe,omitempty"`
}

// UpdateDesired is the answer to GET /api/v1/updates/desired. An empty Version and Channel mean
// "stay on the installed version".
type UpdateDesired struct {
	Version   string `json:"version"`
	Channel   string `json:"channel"`
	RolloutID string `json:"rollout_id"`
	// QuarantineGeneration is raised by the server each time an operator clears the host's
	// quarantine; an updater that sees a value other than the one it last applied forgets its
	// quarantined versions and interrupted trials. Zero (or absent, from an older server) means
	// "never cleared" and changes nothing.
	QuarantineGeneration uint64 `json:"quarantine_generation,omitempty"`
}

// Update phases.
const (
	PhaseCheck    = "check"
	PhaseDownload = "download"
	PhaseVerify   = "verify"
	PhaseInstall  = "install"
	PhaseTrial    = "trial"
	PhaseCommit   = "commit"
	PhaseRollback = "rollback"
	PhaseSelf     = "self-update"
)

// Update results.
const (
	ResultStarted = "started"
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultRefused = "refused"
)

// UpdateEvent is the body of POST /api/v1/updates/events.
type UpdateEvent struct {
	// ID, when set, names this event uniquely for its host (the updater sends 32 hex digits): an
	// event posted again (the updater was killed after the server took it, before it forgot it)
	// is recorded once. Optional: events without one are recorded every time they are posted.
	ID          string    `json:"id,omitempty"`
	Binary      string    `json:"binary,omitempty"` // "vigil-agent" (default) or "vigil-updater"
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Phase       string    `json:"phase"`
	Result      string    `json:"result"`
	Reason      string    `json:"reason,omitempty"`
	Time        time.Time `json:"time"`
}

// ErrorResponse is the body of every error answer: {"error": {"code": "...", "message": "..."}}.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody carries a stable machine-readable code and a human-readable message.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
