// Package wire defines the v1 messages exchanged between vigil-agent, vigil-updater and vigil-server,
// their JSON encoding and their validation.
//
// wire is a leaf package: it imports only the standard library, so the agent can share it with the
// server without linking any server code.
//
// Trust model: every message the server receives from a host is untrusted input. Decoders bound what
// they read (see the Max* limits) and Validate checks ranges, lengths and counts before anything is
// stored. Messages the agent receives from the server (Ack, AgentConfig) are data only: they can change
// how often the agent reports and what it watches, never make it run anything.
package wire

import "time"

// ProtocolVersion is the version of the wire contract spoken by this build. It is sent by agents in
// the X-Vigil-Protocol header and by the server in its responses.
//
// History:
//   - 1 (2026-11-21): enroll, reports with sequence numbers and acks, data-only agent config,
//     update desired/events.
//   - 1 (2026-12-02, compatible, no bump): servers send the host's complete agent settings as the
//     ack's config in every answer ({} for none); agents add its watch entries to their local ones
//     and let a local interval win. Unit names must be systemd unit names.
//   - 1 (2026-12-02, compatible, no bump): reports may carry checks, the latest result of each
//     health check declared in the agent's local configuration (CheckResult). Old servers ignore
//     the field; old agents never send it. Servers accept any kind and unit that is a short
//     lowercase word, so a newer agent's new check kind does not get its reports refused.
//   - 1 (2026-12-02, compatible, no bump): reports may carry hints, metric values unusual for the
//     host at that hour of the day (AnomalyHint), when the agent's anomaly hints are switched on.
//   - 1 (2026-12-02, compatible, no bump): update events may carry an id, which the server
//     dedupes on per host; the desired-version answer may carry quarantine_generation, raised
//     when an operator clears the host's quarantine. Both optional.
//   - 1 (2026-12-02, compatible, no bump): agents send report bodies under 4 KiB (a single
//     report) without Content-Encoding and gzip larger ones; servers always accepted both.
const ProtocolVersion = 1

// ProtocolHeader is the HTTP header that carries ProtocolVersion.
const ProtocolHeader = "X-Vigil-Protocol"

// Limits on untrusted input. The server enforces them on every decode; the agent keeps its own
// reports within them.
const (
	// MaxReportsPerBatch is the largest number of reports in one POST /api/v1/reports.
	MaxReportsPerBatch = 500
	// MaxReportBodyBytes bounds a reports body on the wire (before decompression).
	MaxReportBodyBytes = 4 << 20
	// MaxReportDecodedBytes bounds a reports body after gzip decompression.
	MaxReportDecodedBytes = 8 << 20
	// MaxSmallBodyBytes bounds every other request body (enroll, events, operator requests).
	MaxSmallBodyBytes = 1 << 20

	MaxNameLen      = 256  // host names, mount points, device and unit names
	MaxMessageLen   = 2048 // error messages and reasons
	MaxEventIDLen   = 64   // UpdateEvent.ID
	MaxMounts       = 256
	MaxDevices      = 256
	MaxInterfaces   = 256
	MaxProcesses    = 256 // watched process entries per report
	MaxPIDs         = 64  // PIDs listed per watched process
	MaxEvents       = 1024
	MaxUnits        = 256
	MaxOutages      = 256
	MaxErrors       = 64
	MaxWatchEntries = 256 // process or unit watch entries in an AgentConfig

	MaxChecks          = 64  // check results per report
	MaxCheckNameLen    = 64  // check names: see ValidCheckName
	MaxCheckMessageLen = 256 // a check result's message
	MaxCheckWordLen    = 16  // a check result's kind and unit
	MaxHints           = 32  // anomaly hints per report
	MaxMetricNameLen   = 64  // an anomaly hint's metric name

	// MinIntervalSeconds and MaxIntervalSeconds bound the report interval a server may set.
	MinIntervalSeconds = 1
	MaxIntervalSeconds = 3600
)

// Bounds on reported figures and times, beyond which a value is a bug or an attack, not a
// measurement (checked by Validate and CheckClock).
const (
	// MaxLoadAverage bounds load averages: the kernel's PID_MAX_LIMIT (4,194,304), the most tasks
	// that can be runnable at once.
	MaxLoadAverage = 1 << 22
	// MaxRate bounds bytes per second and I/O operations per second: 2^50 (about 10^15), far above
	// any disk or interface.
	MaxRate = 1 << 50
	// MaxUptimeSeconds bounds uptime_seconds: a hundred years.
	MaxUptimeSeconds = 100 * 365 * 24 * 3600
	// MaxClockAhead is how far a time in a report or update event may be ahead of the server's
	// clock. A host further ahead has a broken clock: its reports are refused (400, saying so)
	// rather than stored with times that would confuse silence detection, retention and graphs.
	MaxClockAhead = 24 * time.Hour
)
