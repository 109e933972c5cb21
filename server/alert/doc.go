// Package alert turns what hosts report into emails that mean something: a host went silent, a
// threshold was crossed for long enough, a watched process or systemd unit failed, and later that
// it recovered, how long it was gone and why.
//
// # Pieces
//
//   - Engine evaluates. It keeps every host's next deadline in an in-memory min-heap rebuilt from
//     the store when it becomes leader, so a cycle touches only the hosts whose deadline passed
//     (re-read from the store in one batched query) plus those already alerting. A periodic scan
//     of the narrow host columns keeps the heap honest (new hosts, changed intervals or grace) and
//     finds hosts with new reports. The other rules read the Figures of those reports, written at
//     ingest to narrow columns (never the reports themselves), and only for hosts whose figures,
//     group or rules changed or that have an open rule alert.
//   - Alerts move pending → firing → resolved. Every change is stored with a history row, and
//     the emails it causes are written to the notification outbox in the same transaction
//     (Store.SaveAlert), so a change is never recorded without its email or the reverse.
//   - Sender drains the outbox over SMTP (github.com/wneessen/go-mail). A row is claimed with a
//     conditional UPDATE (only when its claim lease expired), so two replicas can never both hold
//     it; it is marked sent after the server accepted it, retried with backoff otherwise, and its
//     Message-ID is derived from the row's idempotency key, so even the one unavoidable duplicate
//     (a crash between the SMTP server's 250 and the mark) carries the same Message-ID.
//   - Leader gates both: only the replica holding it evaluates and sends. pgstore implements it
//     with a session-level advisory lock on a dedicated connection; with SQLite there is one
//     process and Solo is always leader.
//   - Manager is the operator surface (rules, alerts, maintenance silences, notifications) that
//     server/httpapi serves.
//
// # Noise control
//
// One email per state change (firing, resolved); a reminder every RepeatInterval while firing;
// flap damping (a recovered host or cleared condition must stay so for FlapDamping before the
// recovery email; relapsing within it sends nothing); group collapse (when more than GroupShare
// of a group's hosts are late or silent at once, one email for the group, and hosts that go
// silent while it fires are folded into it); maintenance silences (host, group or rule, with a
// start and an end) suppress new emails, but never the recovery email of an alert whose firing
// email went out; and hosts get no silence alerts until one interval plus
// grace after the server itself started, because the server's own downtime is not theirs, nor
// until one interval plus grace after ingest last turned reports away for the server's own
// overload (Config.Overload), because reports the server refused are not the hosts' silence.
//
// Everything takes its time from Config.Now, so tests drive the Engine with a fake clock by
// calling Tick. Engine and Sender are safe for concurrent use by their own Run loops only; Manager
// is safe for concurrent use.
package alert
