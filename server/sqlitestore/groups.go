package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
)

// groupExists returns a wrapped ErrNotFound unless the group exists.
func groupExists(ctx context.Context, tx *sql.Tx, name string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM groups WHERE name = ?`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("group %s: %w", name, server.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("group %s: %w", name, err)
	}
	return nil
}

func encodeEmails(emails []string) (string, error) {
	if len(emails) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(emails)
	return string(b), err
}

// CreateGroup creates a group.
func (s *Store) CreateGroup(ctx context.Context, g server.Group, audit server.AuditEntry) error {
	if g.Name == "" {
		return fmt.Errorf("create group: %w: name is required", server.ErrInvalid)
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = time.Now()
	}
	emails, err := encodeEmails(g.AlertEmails)
	if err != nil {
		return fmt.Errorf("create group %s: %w", g.Name, err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO groups (name, grace_ns, alert_emails, pin_version, pin_channel, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, g.Name, int64(g.Grace), emails, g.Pin.Version, g.Pin.Channel, micros(g.CreatedAt))
		if isUnique(err) {
			return fmt.Errorf("create group %s: %w", g.Name, server.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create group %s: %w", g.Name, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

const groupQuery = `SELECT g.name, g.grace_ns, g.alert_emails, g.pin_version, g.pin_channel, g.created_at,
	(SELECT count(*) FROM hosts h WHERE h.group_name = g.name) FROM groups g`

func scanGroup(row rowScanner) (server.Group, error) {
	var (
		g       server.Group
		grace   int64
		emails  string
		created int64
	)
	if err := row.Scan(&g.Name, &grace, &emails, &g.Pin.Version, &g.Pin.Channel, &created, &g.Hosts); err != nil {
		return server.Group{}, err
	}
	g.Grace, g.CreatedAt = time.Duration(grace), fromMicros(created)
	if err := json.Unmarshal([]byte(emails), &g.AlertEmails); err != nil {
		return server.Group{}, fmt.Errorf("decode alert emails of group %s: %w", g.Name, err)
	}
	if len(g.AlertEmails) == 0 {
		g.AlertEmails = nil
	}
	return g, nil
}

// GetGroup returns one group with its host count.
func (s *Store) GetGroup(ctx context.Context, name string) (server.Group, error) {
	g, err := scanGroup(s.r.QueryRowContext(ctx, groupQuery+` WHERE g.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return server.Group{}, fmt.Errorf("get group %s: %w", name, server.ErrNotFound)
	}
	if err != nil {
		return server.Group{}, fmt.Errorf("get group %s: %w", name, err)
	}
	return g, nil
}

// ListGroups returns all groups ordered by name, with host counts.
func (s *Store) ListGroups(ctx context.Context) ([]server.Group, error) {
	rows, err := s.r.QueryContext(ctx, groupQuery+` ORDER BY g.name`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	var gs []server.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return gs, nil
}

// UpdateGroup sets a group's Grace and AlertEmails.
func (s *Store) UpdateGroup(ctx context.Context, g server.Group, audit server.AuditEntry) error {
	emails, err := encodeEmails(g.AlertEmails)
	if err != nil {
		return fmt.Errorf("update group %s: %w", g.Name, err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE groups SET grace_ns = ?, alert_emails = ? WHERE name = ?`, int64(g.Grace), emails, g.Name)
		if err != nil {
			return fmt.Errorf("update group %s: %w", g.Name, err)
		}
		if err := mustAffect(res, "update group "+g.Name); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// SetPin sets a group's pin.
func (s *Store) SetPin(ctx context.Context, name string, p server.Pin, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE groups SET pin_version = ?, pin_channel = ? WHERE name = ?`, p.Version, p.Channel, name)
		if err != nil {
			return fmt.Errorf("pin group %s: %w", name, err)
		}
		if err := mustAffect(res, "pin group "+name); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// DeleteGroup deletes an empty group other than the default one, and its enrollment tokens.
func (s *Store) DeleteGroup(ctx context.Context, name string, audit server.AuditEntry) error {
	if name == server.DefaultGroup {
		return fmt.Errorf("delete group %s: %w: the default group cannot be deleted", name, server.ErrInvalid)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := groupExists(ctx, tx, name); err != nil {
			return fmt.Errorf("delete group: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM hosts WHERE group_name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("delete group %s (%d hosts): %w", name, n, server.ErrGroupNotEmpty)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM groups WHERE name = ?`, name); err != nil {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}
