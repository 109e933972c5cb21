package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
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

// CreateGroup creates a group.
func (s *Store) CreateGroup(ctx context.Context, g server.Group, audit server.AuditEntry) error {
	g, emails, err := storesql.NewGroup(g, time.Now())
	if err != nil {
		return err
	}
	return s.create(ctx, "create group "+g.Name, audit, `INSERT INTO groups (name, grace_ns, alert_emails, pin_version, pin_channel, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, g.Name, int64(g.Grace), string(emails), g.Pin.Version, g.Pin.Channel, micros(g.CreatedAt))
}

// GetGroup returns one group with its host count.
func (s *Store) GetGroup(ctx context.Context, name string) (server.Group, error) {
	return storesql.One(s.r.QueryRowContext(ctx, storesql.GroupQuery+` WHERE g.name = ?`, name), sql.ErrNoRows,
		"get group "+name, storesql.ScanGroup)
}

// ListGroups returns all groups ordered by name (by bytes), with host counts.
func (s *Store) ListGroups(ctx context.Context) ([]server.Group, error) {
	rows, err := s.r.QueryContext(ctx, storesql.GroupQuery+` ORDER BY g.name`)
	gs, err := collect(rows, err, storesql.ScanGroup)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return gs, nil
}

// UpdateGroup sets a group's Grace and AlertEmails.
func (s *Store) UpdateGroup(ctx context.Context, g server.Group, audit server.AuditEntry) error {
	emails, err := storesql.EncodeEmails(g.AlertEmails)
	if err != nil {
		return fmt.Errorf("update group %s: %w", g.Name, err)
	}
	return s.change(ctx, "update group "+g.Name, audit,
		`UPDATE groups SET grace_ns = ?, alert_emails = ? WHERE name = ?`, int64(g.Grace), string(emails), g.Name)
}

// SetPin sets a group's pin.
func (s *Store) SetPin(ctx context.Context, name string, p server.Pin, audit server.AuditEntry) error {
	return s.change(ctx, "pin group "+name, audit,
		`UPDATE groups SET pin_version = ?, pin_channel = ? WHERE name = ?`, p.Version, p.Channel, name)
}

// DeleteGroup deletes an empty group other than the default one, and its enrollment tokens.
func (s *Store) DeleteGroup(ctx context.Context, name string, audit server.AuditEntry) error {
	if err := storesql.CheckDeleteGroup(name); err != nil {
		return err
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
			return fmt.Errorf("delete group %s (%s): %w", name, server.Plural(int(n), "host", "hosts"), server.ErrGroupNotEmpty)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM groups WHERE name = ?`, name); err != nil {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}
