package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// SearchAudit returns the audit entries f selects, newest first.
func (s *Store) SearchAudit(ctx context.Context, f server.AuditFilter) ([]server.AuditEntry, error) {
	where, args := storesql.AuditWhere(f, func(i int) string { return "$" + strconv.Itoa(i) }, func(t time.Time) any { return ts(t) })
	q := `SELECT ` + storesql.AuditColumns + ` FROM audit WHERE ` + where + ` ORDER BY id DESC`
	if !storesql.LimitAll(f.Limit) {
		q += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	as, err := collect(rows, storesql.ScanAudit)
	if err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
	}
	return as, nil
}

// CreateUser stores a user.
func (s *Store) CreateUser(ctx context.Context, u server.User, audit server.AuditEntry) error {
	return s.create(ctx, "create user "+u.Name, audit, `INSERT INTO users (`+storesql.UserColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.Name, u.Role, u.PasswordHash, ts(u.PasswordChangedAt), ts(u.CreatedAt))
}

// UserByName finds a user by name.
func (s *Store) UserByName(ctx context.Context, name string) (server.User, error) {
	return storesql.One(s.pool.QueryRow(ctx, `SELECT `+storesql.UserColumns+` FROM users WHERE name = $1`, name),
		pgx.ErrNoRows, "user "+name, storesql.ScanUser)
}

// UserByID finds a user by ID.
func (s *Store) UserByID(ctx context.Context, id string) (server.User, error) {
	return storesql.One(s.pool.QueryRow(ctx, `SELECT `+storesql.UserColumns+` FROM users WHERE id = $1`, id),
		pgx.ErrNoRows, "user "+id, storesql.ScanUser)
}

// ListUsers lists users ordered by name (bytes).
func (s *Store) ListUsers(ctx context.Context) ([]server.User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.UserColumns+` FROM users ORDER BY name COLLATE "C"`)
	us, err := collect(rows, storesql.ScanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// SetUserRole changes a user's role, never leaving no admin.
func (s *Store) SetUserRole(ctx context.Context, id, role string, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if role != server.RoleAdmin {
			if err := keepAnAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET role = $1 WHERE id = $2`, role, id)
		if err != nil {
			return fmt.Errorf("set role of user %s: %w", id, err)
		}
		if err := mustAffect(tag, "set role of user "+id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// keepAnAdmin fails with server.ErrLastAdmin if id is the only admin. It locks the admin rows, so
// two transactions demoting or deleting the last two admins at once run one after the other, and
// the second sees the first's change (READ COMMITTED re-reads locked rows).
func keepAnAdmin(ctx context.Context, tx pgx.Tx, id string) error {
	rows, _ := tx.Query(ctx, `SELECT id FROM users WHERE role = $1 FOR UPDATE`, server.RoleAdmin)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
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
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3`, hash, ts(changedAt), id)
		if err != nil {
			return fmt.Errorf("set password of user %s: %w", id, err)
		}
		if err := mustAffect(tag, "set password of user "+id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("end sessions of user %s: %w", id, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// DeleteUser deletes a user and its sessions and revokes its API tokens.
func (s *Store) DeleteUser(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := keepAnAdmin(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("end sessions of user %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked = true WHERE owner = $1`, id); err != nil {
			return fmt.Errorf("revoke tokens of user %s: %w", id, err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete user %s: %w", id, err)
		}
		if err := mustAffect(tag, "delete user "+id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// CreateSession stores a session.
func (s *Store) CreateSession(ctx context.Context, ss server.Session) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+storesql.SessionColumns+`)
		SELECT $1, id, $3, $4, $5 FROM users WHERE id = $2`,
		ss.IDHash, ss.UserID, ts(ss.CreatedAt), ts(ss.LastSeen), ss.Address)
	if err != nil {
		return writeErr("create session", err)
	}
	return mustAffect(tag, "create session for user "+ss.UserID)
}

// SessionByHash finds a session.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (server.Session, error) {
	return storesql.One(s.pool.QueryRow(ctx, `SELECT `+storesql.SessionColumns+` FROM sessions WHERE id_hash = $1`, idHash),
		pgx.ErrNoRows, "session", storesql.ScanSession)
}

// TouchSession sets a session's LastSeen.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen = $1 WHERE id_hash = $2`, ts(lastSeen), idHash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession deletes one session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteStaleSessions deletes idle or too old sessions.
func (s *Store) DeleteStaleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE last_seen < $1 OR created_at < $2`, ts(idleBefore), ts(createdBefore))
	if err != nil {
		return 0, fmt.Errorf("delete stale sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
