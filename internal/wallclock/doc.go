// Package wallclock is the agent's and the updater's source of wall-clock time for timestamps
// and expiry decisions, and a test seam for clock jumps.
//
// In every normal build (`make build`, release artifacts) Now is time.Now, Stamp returns its
// argument unchanged, Override is nil (so a crypto/tls or TUF clock left to it stays the system
// clock) and Faked is false: no behaviour change, nothing read from the environment or the disk.
//
// Built with the test-only tag vigil_fakeclock (the end-to-end fault suite builds the agent and
// the updater so; `make build` and the release artifacts never are, which
// TestReleaseBuildHasNoFakeClock checks), the wall clock is the system clock plus an offset read, at every call, from
// the file named by the environment variable VIGIL_FAKECLOCK_FILE (a Go duration such as
// "25h" or "-12h"; missing or empty is 0). A test rewrites that file (atomically, by rename) to
// jump one process's clock forwards or backwards without touching the host's. Only the wall
// clock moves: timers, tickers and durations keep Go's monotonic clock, as they do when a real
// host's clock is stepped.
//
// What goes through it: the agent's report, outage and Retry-After times and its TLS
// verification time; the updater's TUF reference time (metadata expiry), TLS verification time
// and the times it writes into its journal, quarantine and update events. Scheduling (collection
// interval, backoff, polls, health gate, watchdog) stays on the monotonic clock and is not routed
// here. Not routed yet: the agent's check probes (certificate days to expiry) and the process
// event times of its collectors, which read time.Now themselves, and the boot time, which the
// kernel reports as a wall-clock time.
package wallclock
