package storesql

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/rollout"
)

// RolloutRow is what StartRollout and SaveRollout write: the rollout with its times normalised
// and its version one past the caller's, as JSON.
type RolloutRow struct {
	Saved rollout.Rollout
	Data  []byte
	Notes []NoteRow
}

// NewRolloutRow validates a rollout to store and derives its row. r.Version is the version the
// store must find (0 for a new rollout).
func NewRolloutRow(r rollout.Rollout, notes []alert.Notification, now time.Time) (RolloutRow, error) {
	if r.ID == "" || r.Group == "" || r.State == "" {
		return RolloutRow{}, fmt.Errorf("save rollout: %w: id, group and state are required", server.ErrInvalid)
	}
	r.CreatedAt = NormalOr(r.CreatedAt, now)
	r.UpdatedAt = NormalOr(r.UpdatedAt, now)
	r.StageStarted = Normal(r.StageStarted)
	r.Settled = Normal(r.Settled)
	r.FinishedAt = Normal(r.FinishedAt)
	r.Version++
	data, err := json.Marshal(&r)
	if err != nil {
		return RolloutRow{}, fmt.Errorf("save rollout %s: %w", r.ID, err)
	}
	row := RolloutRow{Saved: r, Data: data, Notes: make([]NoteRow, len(notes))}
	for i := range notes {
		n := &notes[i]
		if n.Key == "" {
			return RolloutRow{}, fmt.Errorf("save rollout %s: %w: notification without key", r.ID, server.ErrInvalid)
		}
		b, err := json.Marshal(n)
		if err != nil {
			return RolloutRow{}, fmt.Errorf("save rollout %s: encode notification %s: %w", r.ID, n.Key, err)
		}
		created := NormalOr(n.CreatedAt, r.UpdatedAt)
		row.Notes[i] = NoteRow{Key: n.Key, CreatedAt: created, NextAttempt: NormalOr(n.NextAttempt, created), Data: b}
	}
	return row, nil
}

// RolloutColumns are the columns of rollouts ScanRollout reads.
const RolloutColumns = `id, group_name, state, version, data`

// ScanRollout reads RolloutColumns; the columns win over the JSON's copies.
func ScanRollout(row Scanner) (rollout.Rollout, error) {
	var (
		r, c rollout.Rollout
		data []byte
	)
	if err := row.Scan(&c.ID, &c.Group, &c.State, &c.Version, &data); err != nil {
		return rollout.Rollout{}, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return rollout.Rollout{}, fmt.Errorf("decode rollout %s: %w", c.ID, err)
	}
	r.ID, r.Group, r.State, r.Version = c.ID, c.Group, c.State, c.Version
	return r, nil
}

// EncodePolicy encodes a group's rollout policy; the zero policy is "".
func EncodePolicy(p rollout.Policy) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	if p == (rollout.Policy{}) {
		return "", nil
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// DecodePolicy decodes a column EncodePolicy wrote.
func DecodePolicy(col string) (rollout.Policy, error) {
	var p rollout.Policy
	if col == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(col), &p); err != nil {
		return p, fmt.Errorf("decode rollout policy: %w", err)
	}
	return p, nil
}
