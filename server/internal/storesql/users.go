package storesql

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
)

// CreateUser stores a user.
func (s *Store) CreateUser(ctx context.Context, u server.User, audit server.AuditEntry) error {
	return s.create(ctx, "create user "+u.Name, audit, `INSERT INTO users (`+UserColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.Name, u.Role, u.PasswordHash, s.d.TimeArg(u.PasswordChangedAt), s.d.TimeArg(u.CreatedAt))
}

// UserByName finds a user by name.
func (s *Store) UserByName(ctx context.Context, name string) (server.User, error) {
	return one(ctx, s.db.Read(), "user "+name, ScanUser, `SELECT `+UserColumns+` FROM users WHERE name = $1`, name)
}

// UserByID finds a user by ID.
func (s *Store) UserByID(ctx context.Context, id string) (server.User, error) {
	return one(ctx, s.db.Read(), "user "+id, ScanUser, `SELECT `+UserColumns+` FROM users WHERE id = $1`, id)
}

// ListUsers lists users ordered by name (bytes).
func (s *Store) ListUsers(ctx context.Context) ([]server.User, error) {
	us, err := QueryAll(ctx, s.db.Read(), ScanUser, `SELECT `+UserColumns+` FROM users ORDER BY name`+s.d.ByBytes)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// SetUserRole changes a user's role, never leaving no admin.
func (s *Store) SetUserRole(ctx context.Context, id, role string, audit server.AuditEntry) error {
	return s.db.Tx(ctx, func(tx Conn) error {
		if role != server.RoleAdmin {
			if err := s.keepAnAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		n, err := tx.Exec(ctx, `UPDATE users SET role = $1 WHERE id = $2`, role, id)
		if err := MustAffect(n, err, "set role of user "+id); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, s.d, audit)
	})
}

// keepAnAdmin fails with server.ErrLastAdmin if id is the only admin. On PostgreSQL it locks the
// admin rows, so two transactions demoting or deleting the last two admins at once run one after
// the other, and the second sees the first's change (READ COMMITTED re-reads locked rows); on
// SQLite the single writer makes the check and the change one step.
func (s *Store) keepAnAdmin(ctx context.Context, tx Conn, id string) error {
	ids, err := QueryAll(ctx, tx, func(row Scanner) (string, error) {
		var id string
		err := row.Scan(&id)
		return id, err
	}, `SELECT id FROM users WHERE role = $1`+s.d.ForUpdate, server.RoleAdmin)
	if err != nil {
		return fmt.Errorf("lock admins: %w", err)
	}
	self, others := false, 0
	for _, a := range ids {
		if a == id {
			self = true
		} else {
			others++
		}
	}
	if self && others == 0 {
		return fmt.Errorf("change user %s: %w", id, server.ErrLastAdmin)
	}
	return nil
}

// SetUserPassword replaces a user's password hash and ends all of the user's sessions.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string, changedAt time.Time, audit server.AuditEntry) error {
	return s.db.Tx(ctx, func(tx Conn) error {
		n, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3`, hash, s.d.TimeArg(changedAt), id)
		if err := MustAffect(n, err, "set password of user "+id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("end sessions of user %s: %w", id, err)
		}
		return InsertAudit(ctx, tx, s.d, audit)
	})
}

// DeleteUser deletes a user and its sessions and revokes its API tokens.
func (s *Store) DeleteUser(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.db.Tx(ctx, func(tx Conn) error {
		if err := s.keepAnAdmin(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("end sessions of user %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked = true WHERE owner = $1`, id); err != nil {
			return fmt.Errorf("revoke tokens of user %s: %w", id, err)
		}
		n, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err := MustAffect(n, err, "delete user "+id); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, s.d, audit)
	})
}

// CreateSession stores a session of an existing user (else a wrapped server.ErrNotFound), in one
// statement.
func (s *Store) CreateSession(ctx context.Context, ss server.Session) error {
	n, err := s.db.Exec(ctx, `INSERT INTO sessions (`+SessionColumns+`)
		SELECT $1, id, $3, $4, $5 FROM users WHERE id = $2`,
		ss.IDHash, ss.UserID, s.d.TimeArg(ss.CreatedAt), s.d.TimeArg(ss.LastSeen), ss.Address)
	if err != nil {
		return s.d.WriteErr("create session", err)
	}
	return MustAffect(n, nil, "create session for user "+ss.UserID)
}

// SessionByHash finds a session.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (server.Session, error) {
	return one(ctx, s.db.Read(), "session", ScanSession, `SELECT `+SessionColumns+` FROM sessions WHERE id_hash = $1`, idHash)
}

// TouchSession sets a session's LastSeen.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen time.Time) error {
	if _, err := s.db.Exec(ctx, `UPDATE sessions SET last_seen = $1 WHERE id_hash = $2`, s.d.TimeArg(lastSeen), idHash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession deletes one session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteStaleSessions deletes idle or too old sessions.
func (s *Store) DeleteStaleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE last_seen < $1 OR created_at < $2`, s.d.TimeArg(idleBefore), s.d.TimeArg(createdBefore))
	if err != nil {
		return 0, fmt.Errorf("delete stale sessions: %w", err)
	}
	return n, nil
}
