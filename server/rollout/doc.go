// Package rollout stages a group's pin changes: when an operator changes a group's pin, the new
// version reaches a few canary hosts first, then waves of a share of the group with a soak time
// between them, and the rollout halts itself when too many updates in a wave fail.
//
// The model and its state machine (Rollout, Step, Rank, Admits) are pure: they take what the
// store and the hosts' update events say and the time, and return the next state, so they are
// tested without a clock or a database. Manager applies them: it answers each updater's
// desired-version request by the host's wave, runs the driver that advances rollouts (only on
// the replica that leads alerting, so one driver acts at a time), and stores every change with an
// optimistic version, so a lost leadership or a restart never applies a step twice.
//
// Wave assignment: every host has a rank, the first 64 bits of SHA-256(rollout ID, host ID). A
// rollout admits the hosts whose rank is below its cutoff; each stage raises the cutoff just far
// enough to admit the next share of the group's hosts as they are at that moment. The cutoff is
// stored, so the assignment is stable across restarts and leader changes, only ever grows (no
// host is sent back mid-rollout), and a host that joins mid-rollout is admitted exactly when its
// rank is below the cutoff reached so far.
//
// Trust model: update events come from hosts, which are authenticated but not trusted to be
// honest about others; a host's events only decide that host's outcome. A host can make a wave
// fail (by reporting rollbacks), never make another host's update pass. Operators act through
// Manager with the operator role.
package rollout
