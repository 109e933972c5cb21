package storesql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
)

// groupExists returns a wrapped ErrNotFound unless the group exists. On PostgreSQL it takes a KEY
// SHARE lock on the group row, so the group cannot be deleted before tx ends.
func (s *Store) groupExists(ctx context.Context, tx Conn, name string) error {
	return s.lockGroup(ctx, tx, name, s.d.ForKeyShare)
}

// lockGroup reads the group row with lock (a Dialect lock clause); a missing group is a wrapped
// server.ErrNotFound.
func (s *Store) lockGroup(ctx context.Context, tx Conn, name, lock string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM groups WHERE name = $1`+lock, name).Scan(&one)
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
	g, emails, err := NewGroup(g, time.Now())
	if err != nil {
		return err
	}
	return s.create(ctx, "create group "+g.Name, audit, `INSERT INTO groups (name, grace_ns, alert_emails, pin_version, pin_channel, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, g.Name, int64(g.Grace), string(emails), g.Pin.Version, g.Pin.Channel, s.d.TimeArg(g.CreatedAt))
}

// GetGroup returns one group with its host count.
func (s *Store) GetGroup(ctx context.Context, name string) (server.Group, error) {
	return one(ctx, s.db.Read(), "get group "+name, ScanGroup, GroupQuery+` WHERE g.name = $1`, name)
}

// ListGroups returns all groups ordered by name (by bytes), with host counts.
func (s *Store) ListGroups(ctx context.Context) ([]server.Group, error) {
	gs, err := QueryAll(ctx, s.db.Read(), ScanGroup, GroupQuery+` ORDER BY g.name`+s.d.ByBytes)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return gs, nil
}

// UpdateGroup sets a group's Grace and AlertEmails.
func (s *Store) UpdateGroup(ctx context.Context, g server.Group, audit server.AuditEntry) error {
	emails, err := EncodeEmails(g.AlertEmails)
	if err != nil {
		return fmt.Errorf("update group %s: %w", g.Name, err)
	}
	return s.change(ctx, "update group "+g.Name, audit,
		`UPDATE groups SET grace_ns = $1, alert_emails = $2 WHERE name = $3`, int64(g.Grace), string(emails), g.Name)
}

// SetPin sets a group's pin.
func (s *Store) SetPin(ctx context.Context, name string, p server.Pin, audit server.AuditEntry) error {
	return s.change(ctx, "pin group "+name, audit, setPinQuery, p.Version, p.Channel, name)
}

const setPinQuery = `UPDATE groups SET pin_version = $1, pin_channel = $2 WHERE name = $3`

// setPin sets a group's pin in tx.
func setPin(ctx context.Context, tx Conn, group string, p server.Pin) error {
	n, err := tx.Exec(ctx, setPinQuery, p.Version, p.Channel, group)
	if err != nil {
		return fmt.Errorf("pin group %s: %w", group, err)
	}
	return MustAffect(n, nil, "group "+group)
}

// DeleteGroup deletes an empty group other than the default one, and its enrollment tokens. The
// group row is locked first (on PostgreSQL; SQLite's single writer already serializes), so a
// concurrent enrollment or move into it either finishes before the count (and the delete is
// refused) or fails to find the group.
func (s *Store) DeleteGroup(ctx context.Context, name string, audit server.AuditEntry) error {
	if err := CheckDeleteGroup(name); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx Conn) error {
		if err := s.lockGroup(ctx, tx, name, s.d.ForUpdate); err != nil {
			return fmt.Errorf("delete group: %w", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM hosts WHERE group_name = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("delete group %s (%s): %w", name, server.Plural(n, "host", "hosts"), server.ErrGroupNotEmpty)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM groups WHERE name = $1`, name); err != nil {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		return InsertAudit(ctx, tx, s.d, audit)
	})
}

// SetGroupAgentSettings replaces a group's agent settings.
func (s *Store) SetGroupAgentSettings(ctx context.Context, group string, as server.AgentSettings, audit server.AuditEntry) error {
	return s.setAgentSettings(ctx, "group "+group, `UPDATE groups SET agent_settings = $1 WHERE name = $2`, group, as, audit)
}

// SetHostAgentSettings replaces a host's own agent settings; the zero value removes them.
func (s *Store) SetHostAgentSettings(ctx context.Context, hostID string, as server.AgentSettings, audit server.AuditEntry) error {
	return s.setAgentSettings(ctx, "host "+hostID, `UPDATE hosts SET agent_settings = $1 WHERE id = $2`, hostID, as, audit)
}

// setAgentSettings validates and encodes as and stores it with update, whose $2 is key; of names
// the row in errors.
func (s *Store) setAgentSettings(ctx context.Context, of, update, key string, as server.AgentSettings, audit server.AuditEntry) error {
	col, err := EncodeAgentSettings(as)
	if err != nil {
		return err
	}
	return s.change(ctx, "set agent settings of "+of, audit, update, col, key)
}

// AgentSettings returns the agent settings of a host's group and the host's own.
func (s *Store) AgentSettings(ctx context.Context, hostID string) (group, host server.AgentSettings, err error) {
	type pair struct{ g, h server.AgentSettings }
	p, err := one(ctx, s.db.Read(), "agent settings of host "+hostID, func(row Scanner) (pair, error) {
		g, h, err := ScanAgentSettings(row)
		return pair{g, h}, err
	}, AgentSettingsQuery+`$1`, hostID)
	return p.g, p.h, err
}
