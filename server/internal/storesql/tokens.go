package storesql

import (
	"context"
	"fmt"

	"github.com/vigilhq/vigil/server"
)

// CreateEnrollmentToken stores a token by hash. A zero ExpiresAt never expires (NULL); a MaxUses
// of zero or less is unlimited.
func (s *Store) CreateEnrollmentToken(ctx context.Context, t server.EnrollmentToken, audit server.AuditEntry) error {
	return s.db.Tx(ctx, func(tx Conn) error {
		if err := s.groupExists(ctx, tx, t.Group); err != nil {
			return fmt.Errorf("create enrollment token: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO enrollment_tokens (`+EnrollmentTokenColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.ID, t.Hash, t.Group, s.d.NullTimeArg(t.ExpiresAt), t.MaxUses, t.Uses, s.d.TimeArg(t.CreatedAt), t.CreatedBy, t.Revoked)
		if err != nil {
			return s.d.WriteErr("create enrollment token "+t.ID, err)
		}
		return InsertAudit(ctx, tx, s.d, audit)
	})
}

// ListEnrollmentTokens lists tokens, newest first; tokens created at the same time, last inserted
// first.
func (s *Store) ListEnrollmentTokens(ctx context.Context) ([]server.EnrollmentToken, error) {
	ts, err := QueryAll(ctx, s.db.Read(), ScanEnrollmentToken, `SELECT `+EnrollmentTokenColumns+` FROM enrollment_tokens
		ORDER BY created_at DESC, `+s.d.InsertOrder+` DESC`)
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
	return s.create(ctx, "create api token "+t.ID, audit, `INSERT INTO api_tokens (`+APITokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.ID, t.Name, t.Role, t.Hash, s.d.TimeArg(t.CreatedAt), t.Revoked, t.Owner)
}

// APITokenByHash finds a token, revoked or not, by the hash of its secret.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (server.APIToken, error) {
	return one(ctx, s.db.Read(), "api token by hash", ScanAPIToken, `SELECT `+APITokenColumns+` FROM api_tokens WHERE hash = $1`, hash)
}

// ListAPITokens lists tokens, oldest first; tokens created at the same time, first inserted first.
func (s *Store) ListAPITokens(ctx context.Context) ([]server.APIToken, error) {
	ts, err := QueryAll(ctx, s.db.Read(), ScanAPIToken, `SELECT `+APITokenColumns+` FROM api_tokens
		ORDER BY created_at, `+s.d.InsertOrder)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return ts, nil
}

// RevokeAPIToken revokes a token.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.revoke(ctx, "api_tokens", "api token", id, audit)
}
