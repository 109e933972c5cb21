// Package updater is vigil-updater: the supervisor that keeps vigil-agent running and updates it,
// and itself, only to builds that release engineers signed.
//
// # Trust model
//
//	root keys (offline) -(sign)-> root.json: who may sign targets, snapshot, timestamp
//	targets keys (offline, threshold) -(sign)-> targets.json: every build (length, sha256),
//	    its version, its channels, the version floor (min_version), allow_downgrade
//	snapshot, timestamp keys (online, on vigil-server) -(sign)-> freshness only
//
// The server decides when: GET /api/v1/updates/desired names a version or a channel (or nothing,
// "stay"). Signed metadata decides what: a channel is resolved to a version from the verified
// targets.json, never from the server's answer; the build must be listed there, its length and
// SHA-256 must match before anything is staged, and the floor, the downgrade rule and the local
// quarantine are enforced on the signed values, by package releasespec: the same code package
// release writes the metadata by. The trust anchor is the newest root cached in
// <state>/tuf (written only by go-tuf after verifying the chain of roots); the embedded or
// --trusted-root root is used only when no cached root exists and never replaces one.
//
// A compromised server, or anyone between us and it, can therefore: withhold updates; delay them
// until the timestamp expires (then refreshes fail and the installed version keeps running);
// choose among signed builds within the rules (pin any signed version above the floor, never a
// downgrade unless the release engineers signed allow_downgrade); and read our update events.
// It cannot: make us run a build that is not in targets.json, move a channel, lower the floor,
// replay older metadata (version numbers only go up), or serve endless or stalled data (every
// read is bounded by a named limit and every request by timeouts).
//
// Locally, a build must also be an ELF executable for this architecture, answer --version with
// the expected version, and pass the health gate (READY within a deadline, no exit during the
// grace window, ACK if the previous version was delivering reports); otherwise the updater
// switches back, quarantines the version here and reports why.
//
// # State directory
//
//	versions/<v>/vigil-agent   installed builds; versions/<v>/.complete is written last
//	current -> versions/<v>    switched atomically (symlink to a temporary name, then rename)
//	state.json                 the journal (trial/commit, interrupted trials, the outbox of update
//	                           events not yet delivered), written temp+fsync+rename+dir fsync
//	quarantine.json            versions that failed here
//	tuf/                       TUF metadata cache (must be ours and not group/world writable)
//	download/                  partial downloads (resumed with Range)
//	agent/                     the agent's --state-dir (credential, spool)
//
// A supervisor that starts and finds a trial in the journal rolls it back; it never commits
// silently. Killed at any step, it comes back to exactly one linked, complete version, with no
// temporary file of ours left. An interrupted trial is tried once more; a second interruption or a
// failed health gate quarantines the version, until the server's quarantine generation changes
// (an operator's clear-quarantine). An update event that tells of a state change is written in
// the same journal write as the change, with an ID the server dedupes on. An event the server
// refuses (a 4xx other than 401 and 429) is dropped and logged at WARN once per cause, but for one
// stamped more than wire.MaxClockAhead after the server's Date: that one is posted again with the
// server's time and the skew noted in its reason (see postEvent).
//
// # Test hook
//
// Config.Failpoint (VIGIL_UPDATER_FAILPOINT in vigil-updater) names a journal step at which the
// process kills itself with SIGKILL; see the Step* constants. It is inert unless set and exists
// only so fault tests can interrupt the updater at every step.
//
// Updater and Supervisor are safe for concurrent use by their own goroutines only as documented
// on each method; a TUFClient refresh creates a new go-tuf updater every time and is NOT safe for
// concurrent use on one metadata directory.
package updater
