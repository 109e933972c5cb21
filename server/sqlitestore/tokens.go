package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vigilhq/vigil/server"
)

// CreateEnrollmentToken stores a token by hash. A zero ExpiresAt never expires; a MaxUses of zero
// or less is unlimited.
func (s *Store) CreateEnrollmentToken(ctx context.Context, t server.EnrollmentToken, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := groupExists(ctx, tx, t.Group); err != nil {
			return fmt.Errorf("create enrollment token: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO enrollment_tokens (id, hash, group_name, expires_at, max_uses, uses, created_at, created_by, revoked)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Hash, t.Group, nullMicros(t.ExpiresAt), t.MaxUses, t.Uses, micros(t.CreatedAt), t.CreatedBy, t.Revoked)
		if isUnique(err) {
			return fmt.Errorf("create enrollment token %s: %w", t.ID, server.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create enrollment token %s: %w", t.ID, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// ListEnrollmentTokens lists tokens, newest first.
func (s *Store) ListEnrollmentTokens(ctx context.Context) ([]server.EnrollmentToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, hash, group_name, expires_at, max_uses, uses, created_at, created_by, revoked
		FROM enrollment_tokens ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	defer rows.Close()
	var ts []server.EnrollmentToken
	for rows.Next() {
		var (
			t       server.EnrollmentToken
			expires sql.NullInt64
			created int64
		)
		if err := rows.Scan(&t.ID, &t.Hash, &t.Group, &expires, &t.MaxUses, &t.Uses, &created, &t.CreatedBy, &t.Revoked); err != nil {
			return nil, fmt.Errorf("list enrollment tokens: %w", err)
		}
		t.ExpiresAt, t.CreatedAt = fromNullMicros(expires), fromMicros(created)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	return ts, nil
}

// RevokeEnrollmentToken marks a token revoked.
func (s *Store) RevokeEnrollmentToken(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.revoke(ctx, "enrollment_tokens", "enrollment token", id, audit)
}

// CreateAPIToken stores an API token by hash.
func (s *Store) CreateAPIToken(ctx context.Context, t server.APIToken, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, name, role, hash, created_at, revoked) VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Role, t.Hash, micros(t.CreatedAt), t.Revoked)
		if isUnique(err) {
			return fmt.Errorf("create api token %s: %w", t.ID, server.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create api token %s: %w", t.ID, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

const apiTokenColumns = `id, name, role, hash, created_at, revoked`

func scanAPIToken(row rowScanner) (server.APIToken, error) {
	var (
		t       server.APIToken
		created int64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &t.Revoked); err != nil {
		return server.APIToken{}, err
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// APITokenByHash finds a token, revoked or not, by the hash of its secret.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (server.APIToken, error) {
	t, err := scanAPIToken(s.r.QueryRowContext(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return server.APIToken{}, fmt.Errorf("api token by hash: %w", server.ErrNotFound)
	}
	if err != nil {
		return server.APIToken{}, fmt.Errorf("api token by hash: %w", err)
	}
	return t, nil
}

// ListAPITokens lists tokens, oldest first.
func (s *Store) ListAPITokens(ctx context.Context) ([]server.APIToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	defer rows.Close()
	var ts []server.APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list api tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return ts, nil
}

// RevokeAPIToken revokes a token.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.revoke(ctx, "api_tokens", "api token", id, audit)
}
