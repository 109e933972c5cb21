package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// CreateEnrollmentToken stores a token by hash. A zero ExpiresAt never expires; a MaxUses of zero
// or less is unlimited.
func (s *Store) CreateEnrollmentToken(ctx context.Context, t server.EnrollmentToken, audit server.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := groupExists(ctx, tx, t.Group); err != nil {
			return fmt.Errorf("create enrollment token: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO enrollment_tokens (`+storesql.EnrollmentTokenColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.ID, t.Hash, t.Group, nullTS(t.ExpiresAt), t.MaxUses, t.Uses, ts(t.CreatedAt), t.CreatedBy, t.Revoked)
		if err != nil {
			return writeErr("create enrollment token "+t.ID, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// ListEnrollmentTokens lists tokens, newest first; tokens created at the same time, last inserted
// first.
func (s *Store) ListEnrollmentTokens(ctx context.Context) ([]server.EnrollmentToken, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.EnrollmentTokenColumns+` FROM enrollment_tokens ORDER BY created_at DESC, seq DESC`)
	ts, err := collect(rows, storesql.ScanEnrollmentToken)
	if err != nil {
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
	return s.create(ctx, "create api token "+t.ID, audit, `INSERT INTO api_tokens (`+storesql.APITokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.ID, t.Name, t.Role, t.Hash, ts(t.CreatedAt), t.Revoked, t.Owner)
}

// APITokenByHash finds a token, revoked or not, by the hash of its secret.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (server.APIToken, error) {
	return storesql.One(s.pool.QueryRow(ctx, `SELECT `+storesql.APITokenColumns+` FROM api_tokens WHERE hash = $1`, hash),
		pgx.ErrNoRows, "api token by hash", storesql.ScanAPIToken)
}

// ListAPITokens lists tokens, oldest first; tokens created at the same time, first inserted first.
func (s *Store) ListAPITokens(ctx context.Context) ([]server.APIToken, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storesql.APITokenColumns+` FROM api_tokens ORDER BY created_at, seq`)
	ts, err := collect(rows, storesql.ScanAPIToken)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return ts, nil
}

// RevokeAPIToken revokes a token.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.revoke(ctx, "api_tokens", "api token", id, audit)
}
