package storesql

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// HostStateColumns are the columns of hosts ScanHostState reads.
const HostStateColumns = `id, hostname, group_name, revoked, interval_seconds, last_seen, boot_time, acked_seq, fig_hash`

// ScanHostState reads HostStateColumns; a NULL fig_hash (no figures yet) is 0.
func ScanHostState(row Scanner) (alert.HostState, error) {
	var (
		h    alert.HostState
		hash sql.NullInt64
	)
	err := row.Scan(&h.ID, &h.Hostname, &h.Group, &h.Revoked, &h.IntervalSeconds, TimeInto(&h.LastSeen),
		TimeInto(&h.BootTime), uint64Into(&h.AckedSeq), &hash)
	h.FiguresHash = hash.Int64
	return h, err
}

// NewRule validates a rule about to be created, defaults CreatedAt to now, and returns it as stored
// with its JSON.
func NewRule(r alert.Rule, now time.Time) (alert.Rule, []byte, error) {
	if r.ID == "" {
		return alert.Rule{}, nil, fmt.Errorf("create rule: %w: id is required", server.ErrInvalid)
	}
	r.CreatedAt = NormalOr(r.CreatedAt, now)
	data, err := json.Marshal(r)
	if err != nil {
		return alert.Rule{}, nil, fmt.Errorf("create rule %s: %w", r.ID, err)
	}
	return r, data, nil
}

// RuleColumns are the columns of alert_rules ScanRule reads.
const RuleColumns = `created_at, data`

// ScanRule reads RuleColumns; the created_at column wins over the JSON's.
func ScanRule(row Scanner) (alert.Rule, error) {
	var (
		r       alert.Rule
		created time.Time
		data    []byte
	)
	if err := row.Scan(TimeInto(&created), &data); err != nil {
		return alert.Rule{}, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return alert.Rule{}, fmt.Errorf("decode rule: %w", err)
	}
	r.CreatedAt = created
	return r, nil
}

// NewSilence validates a silence about to be created and returns it as stored, times normalised,
// with its JSON.
func NewSilence(sl alert.Silence) (alert.Silence, []byte, error) {
	if sl.ID == "" {
		return alert.Silence{}, nil, fmt.Errorf("create silence: %w: id is required", server.ErrInvalid)
	}
	sl.StartsAt, sl.EndsAt, sl.CreatedAt = Normal(sl.StartsAt), Normal(sl.EndsAt), Normal(sl.CreatedAt)
	data, err := json.Marshal(sl)
	if err != nil {
		return alert.Silence{}, nil, fmt.Errorf("create silence %s: %w", sl.ID, err)
	}
	return sl, data, nil
}

// SilenceColumns are the columns of silences ScanSilence reads.
const SilenceColumns = `starts_at, ends_at, data`

// ScanSilence reads SilenceColumns; the time columns win over the JSON's.
func ScanSilence(row Scanner) (alert.Silence, error) {
	var (
		sl         alert.Silence
		start, end time.Time
		data       []byte
	)
	if err := row.Scan(TimeInto(&start), TimeInto(&end), &data); err != nil {
		return alert.Silence{}, err
	}
	if err := json.Unmarshal(data, &sl); err != nil {
		return alert.Silence{}, fmt.Errorf("decode silence: %w", err)
	}
	sl.StartsAt, sl.EndsAt, sl.CreatedAt = start, end, Normal(sl.CreatedAt)
	return sl, nil
}

// AlertSave is what SaveAlert writes, derived before its transaction.
type AlertSave struct {
	// Saved is the alert row as stored: Version one past the caller's, UpdatedAt the event's time,
	// no History. Data is its JSON.
	Saved alert.Alert
	Data  []byte
	// Event is the history entry, its time defaulted to now and normalised.
	Event alert.AlertEvent
	// Notes are the notifications to queue.
	Notes []NoteRow
}

// NoteRow is a notification to queue: its idempotency key, schedule and JSON.
type NoteRow struct {
	Key         string
	CreatedAt   time.Time // defaults to the event's time
	NextAttempt time.Time // defaults to CreatedAt
	Data        []byte
}

// NewAlertSave validates a SaveAlert call and derives what it writes. It normalises a's times, so
// memory and store agree. a.Version is the version the store must find (0 for a new alert).
func NewAlertSave(a *alert.Alert, ev alert.AlertEvent, notes []alert.Notification, now time.Time) (AlertSave, error) {
	if a.Key == "" || a.State == "" {
		return AlertSave{}, fmt.Errorf("save alert: %w: key and state are required", server.ErrInvalid)
	}
	a.NormalizeTimes()
	ev.Time = NormalOr(ev.Time, now)
	ev.State = a.State
	s := AlertSave{Saved: *a, Event: ev, Notes: make([]NoteRow, len(notes))}
	s.Saved.History = nil
	s.Saved.Version = a.Version + 1
	s.Saved.UpdatedAt = ev.Time
	data, err := json.Marshal(&s.Saved)
	if err != nil {
		return AlertSave{}, fmt.Errorf("save alert %s: %w", a.Key, err)
	}
	s.Data = data
	for i := range notes {
		n := &notes[i]
		if n.Key == "" {
			return AlertSave{}, fmt.Errorf("save alert %s: %w: notification without key", a.Key, server.ErrInvalid)
		}
		b, err := json.Marshal(n)
		if err != nil {
			return AlertSave{}, fmt.Errorf("save alert %s: encode notification %s: %w", a.Key, n.Key, err)
		}
		created := NormalOr(n.CreatedAt, ev.Time)
		s.Notes[i] = NoteRow{Key: n.Key, CreatedAt: created, NextAttempt: NormalOr(n.NextAttempt, created), Data: b}
	}
	return s, nil
}

// SavedAs reports to the caller of SaveAlert what the store assigned: the row's id, the new version
// and the update time.
func (s AlertSave) SavedAs(a *alert.Alert, id int64) {
	a.ID, a.Version, a.UpdatedAt = id, s.Saved.Version, s.Saved.UpdatedAt
}

// AlertColumns are the columns of alerts ScanAlert reads.
const AlertColumns = `id, state, version, updated_at, data, acked_at, acked_by`

// ScanAlert reads AlertColumns; the columns win over the JSON's copies.
func ScanAlert(row Scanner) (alert.Alert, error) {
	var (
		a       alert.Alert
		id, ver int64
		state   string
		updated time.Time
		data    []byte
		ackedAt time.Time
		ackedBy string
	)
	if err := row.Scan(&id, &state, &ver, TimeInto(&updated), &data, TimeInto(&ackedAt), &ackedBy); err != nil {
		return alert.Alert{}, err
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return alert.Alert{}, fmt.Errorf("decode alert %d: %w", id, err)
	}
	a.ID, a.State, a.Version, a.UpdatedAt = id, state, ver, updated
	a.AckedAt, a.AckedBy = ackedAt, ackedBy
	return a, nil
}

// AlertEventColumns are the columns of alert_events ScanAlertEvent reads.
const AlertEventColumns = `time, state, message`

// ScanAlertEvent returns a scanner of AlertEventColumns for the history of alert id.
func ScanAlertEvent(id int64) func(Scanner) (alert.AlertEvent, error) {
	return func(row Scanner) (alert.AlertEvent, error) {
		e := alert.AlertEvent{AlertID: id}
		err := row.Scan(TimeInto(&e.Time), &e.State, &e.Message)
		return e, err
	}
}

// NotificationColumns are the columns of notifications ScanNotification reads.
const NotificationColumns = `id, key, created_at, next_attempt, attempts, sent_at, outcome, last_error, data`

// ScanNotification reads NotificationColumns and derives Status; the columns win over the JSON's
// copies.
func ScanNotification(row Scanner) (alert.Notification, error) {
	var (
		n, c alert.Notification
		data []byte
	)
	if err := row.Scan(&c.ID, &c.Key, TimeInto(&c.CreatedAt), TimeInto(&c.NextAttempt), &c.Attempts, TimeInto(&c.SentAt),
		&c.Outcome, &c.LastError, &data); err != nil {
		return alert.Notification{}, err
	}
	if err := json.Unmarshal(data, &n); err != nil {
		return alert.Notification{}, fmt.Errorf("decode notification %d: %w", c.ID, err)
	}
	n.ID, n.Key, n.CreatedAt, n.NextAttempt, n.Attempts = c.ID, c.Key, c.CreatedAt, c.NextAttempt, c.Attempts
	n.SentAt, n.Outcome, n.LastError = c.SentAt, c.Outcome, c.LastError
	n.SetStatus()
	return n, nil
}

// SortNotifications orders claimed notifications by id, oldest first: an UPDATE … RETURNING
// returns rows in no defined order.
func SortNotifications(ns []alert.Notification) {
	slices.SortFunc(ns, func(a, b alert.Notification) int { return cmp.Compare(a.ID, b.ID) })
}

// CheckOutcome validates the outcome FinishNotification records.
func CheckOutcome(id int64, outcome string) error {
	if outcome != alert.NotifySent && outcome != alert.NotifySkipped {
		return fmt.Errorf("finish notification %d: %w: outcome %q", id, server.ErrInvalid, outcome)
	}
	return nil
}

// PruneCutoff validates PruneAlerts' cutoff and returns it as stored: a zero time (which would
// keep nothing of a mistyped setting's worth, or everything) is refused.
func PruneCutoff(before time.Time) (time.Time, error) {
	if before.IsZero() {
		return time.Time{}, fmt.Errorf("prune alerts: no cutoff time: %w", server.ErrInvalid)
	}
	return Normal(before), nil
}

// AckColumns are the columns of alerts ScanAck reads.
const AckColumns = `id, acked_at, acked_by`

// AlertAck is an alert's acknowledgement as ScanAck reads it.
type AlertAck struct {
	AlertID int64
	alert.Ack
}

// ScanAck reads AckColumns.
func ScanAck(row Scanner) (AlertAck, error) {
	var a AlertAck
	err := row.Scan(&a.AlertID, TimeInto(&a.At), &a.By)
	return a, err
}

// AcksByAlert indexes acknowledgements by alert ID (never nil).
func AcksByAlert(acks []AlertAck) map[int64]alert.Ack {
	out := make(map[int64]alert.Ack, len(acks))
	for _, a := range acks {
		out[a.AlertID] = a.Ack
	}
	return out
}
