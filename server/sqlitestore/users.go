package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// SearchAudit returns the audit entries f selects, newest first.
func (s *Store) SearchAudit(ctx context.Context, f server.AuditFilter) ([]server.AuditEntry, error) {
	where, args := storesql.AuditWhere(f, func(int) string { return "?" }, func(t time.Time) any { return micros(t) })
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.AuditColumns+` FROM audit WHERE `+where+
		` ORDER BY id DESC LIMIT `+strconv.Itoa(limitOrAll(f.Limit)), args...)
	as, err := collect(rows, err, storesql.ScanAudit)
	if err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
	}
	return as, nil
}

// CreateUser stores a user.
func (s *Store) CreateUser(ctx context.Context, u server.User, audit server.AuditEntry) error {
	return s.create(ctx, "create user "+u.Name, audit, `INSERT INTO users (`+storesql.UserColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.Role, u.PasswordHash, micros(u.PasswordChangedAt), micros(u.CreatedAt))
}

// UserByName finds a user by name.
func (s *Store) UserByName(ctx context.Context, name string) (server.User, error) {
	return storesql.One(s.r.QueryRowContext(ctx, `SELECT `+storesql.UserColumns+` FROM users WHERE name = ?`, name),
		sql.ErrNoRows, "user "+name, storesql.ScanUser)
}

// UserByID finds a user by ID.
func (s *Store) UserByID(ctx context.Context, id string) (server.User, error) {
	return storesql.One(s.r.QueryRowContext(ctx, `SELECT `+storesql.UserColumns+` FROM users WHERE id = ?`, id),
		sql.ErrNoRows, "user "+id, storesql.ScanUser)
}

// ListUsers lists users ordered by name (bytes).
func (s *Store) ListUsers(ctx context.Context) ([]server.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.UserColumns+` FROM users ORDER BY name`)
	us, err := collect(rows, err, storesql.ScanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// SetUserRole changes a user's role, never leaving no admin.
func (s *Store) SetUserRole(ctx context.Context, id, role string, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if role != server.RoleAdmin {
			if err := keepAnAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, id)
		if err := affected(res, err, "set role of user "+id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// keepAnAdmin fails with server.ErrLastAdmin if id is the only admin. The store's single writer
// makes the check and the change one step.
func keepAnAdmin(ctx context.Context, tx *sql.Tx, id string) error {
	var self, others int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE id = ?), count(*) FILTER (WHERE id != ?) FROM users WHERE role = ?`,
		id, id, server.RoleAdmin).Scan(&self, &others)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if self > 0 && others == 0 {
		return fmt.Errorf("change user %s: %w", id, server.ErrLastAdmin)
	}
	return nil
}

// SetUserPassword replaces a user's password hash and ends all of the user's sessions.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string, changedAt time.Time, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?`, hash, micros(changedAt), id)
		if err := affected(res, err, "set password of user "+id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("end sessions of user %s: %w", id, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// DeleteUser deletes a user and its sessions and revokes its API tokens.
func (s *Store) DeleteUser(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := keepAnAdmin(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("end sessions of user %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked = 1 WHERE owner = ?`, id); err != nil {
			return fmt.Errorf("revoke tokens of user %s: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err := affected(res, err, "delete user "+id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// affected turns a result that changed no row into a wrapped server.ErrNotFound.
func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", what, server.ErrNotFound)
	}
	return nil
}

// CreateSession stores a session.
func (s *Store) CreateSession(ctx context.Context, ss server.Session) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, ss.UserID).Scan(&n); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("create session: user %s: %w", ss.UserID, server.ErrNotFound)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+storesql.SessionColumns+`) VALUES (?, ?, ?, ?, ?)`,
			ss.IDHash, ss.UserID, micros(ss.CreatedAt), micros(ss.LastSeen), ss.Address)
		if err != nil {
			return writeErr("create session", err)
		}
		return nil
	})
}

// SessionByHash finds a session.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (server.Session, error) {
	return storesql.One(s.r.QueryRowContext(ctx, `SELECT `+storesql.SessionColumns+` FROM sessions WHERE id_hash = ?`, idHash),
		sql.ErrNoRows, "session", storesql.ScanSession)
}

// TouchSession sets a session's LastSeen.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen = ? WHERE id_hash = ?`, micros(lastSeen), idHash)
		if err != nil {
			return fmt.Errorf("touch session: %w", err)
		}
		return nil
	})
}

// DeleteSession deletes one session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return nil
	})
}

// DeleteStaleSessions deletes idle or too old sessions.
func (s *Store) DeleteStaleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE last_seen < ? OR created_at < ?`, micros(idleBefore), micros(createdBefore))
		if err != nil {
			return fmt.Errorf("delete stale sessions: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
