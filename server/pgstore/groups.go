package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// groupExists returns a wrapped ErrNotFound unless the group exists. It takes a KEY SHARE lock on
// the group row, so the group cannot be deleted before the caller's transaction ends.
func groupExists(ctx context.Context, tx pgx.Tx, name string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM groups WHERE name = $1 FOR KEY SHARE`, name).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
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
		VALUES ($1, $2, $3, $4, $5, $6)`, g.Name, int64(g.Grace), emails, g.Pin.Version, g.Pin.Channel, g.CreatedAt)
}

// GetGroup returns one group with its host count.
func (s *Store) GetGroup(ctx context.Context, name string) (server.Group, error) {
	return storesql.One(s.pool.QueryRow(ctx, storesql.GroupQuery+` WHERE g.name = $1`, name), pgx.ErrNoRows,
		"get group "+name, storesql.ScanGroup)
}

// ListGroups returns all groups ordered by name (by bytes), with host counts.
func (s *Store) ListGroups(ctx context.Context) ([]server.Group, error) {
	rows, _ := s.pool.Query(ctx, storesql.GroupQuery+` ORDER BY g.name COLLATE "C"`)
	gs, err := collect(rows, storesql.ScanGroup)
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
		`UPDATE groups SET grace_ns = $1, alert_emails = $2 WHERE name = $3`, int64(g.Grace), emails, g.Name)
}

// SetPin sets a group's pin.
func (s *Store) SetPin(ctx context.Context, name string, p server.Pin, audit server.AuditEntry) error {
	return s.change(ctx, "pin group "+name, audit,
		`UPDATE groups SET pin_version = $1, pin_channel = $2 WHERE name = $3`, p.Version, p.Channel, name)
}

// DeleteGroup deletes an empty group other than the default one, and its enrollment tokens. The
// group row is locked first, so a concurrent enrollment or move into it either finishes before
// the count (and the delete is refused) or fails to find the group.
func (s *Store) DeleteGroup(ctx context.Context, name string, audit server.AuditEntry) error {
	if err := storesql.CheckDeleteGroup(name); err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM groups WHERE name = $1 FOR UPDATE`, name).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("delete group %s: %w", name, server.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM hosts WHERE group_name = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("delete group %s (%s): %w", name, server.Plural(int(n), "host", "hosts"), server.ErrGroupNotEmpty)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM groups WHERE name = $1`, name); err != nil {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}
