package storesql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
)

// tokenUsable is the WHERE clause of an enrollment token ($1 its hash) that can enroll one more
// host at $2.
const tokenUsable = `hash = $1 AND NOT revoked AND (expires_at IS NULL OR expires_at > $2) AND (max_uses <= 0 OR uses < max_uses)`

// Enroll consumes one use of the token and inserts the host in one transaction. On PostgreSQL the
// UPDATE takes the token's row lock, and a concurrent enrollment waits for it and then
// re-evaluates the WHERE clause on the updated row; on SQLite the single writer serializes
// enrollments. Either way a token with N uses admits exactly N hosts.
func (s *Store) Enroll(ctx context.Context, tokenHash string, now time.Time, h server.Host, credentialHash string) (server.Host, error) {
	h, err := EnrollingHost(h, now, credentialHash)
	if err != nil {
		return server.Host{}, err
	}
	// Refuse a bad token with a read: no write transaction (and, on SQLite, no wait for the one
	// writer) for guesses. The UPDATE below checks again, atomically, for races with other uses.
	var one int
	err = s.db.Read().QueryRow(ctx, `SELECT 1 FROM enrollment_tokens WHERE `+tokenUsable, tokenHash, s.d.TimeArg(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return server.Host{}, fmt.Errorf("enroll: %w", server.ErrTokenInvalid)
	}
	if err != nil {
		return server.Host{}, fmt.Errorf("enroll: check token: %w", err)
	}
	err = s.db.Tx(ctx, func(tx Conn) error {
		err := tx.QueryRow(ctx, `UPDATE enrollment_tokens SET uses = uses + 1 WHERE `+tokenUsable+` RETURNING group_name`,
			tokenHash, s.d.TimeArg(now)).Scan(&h.Group)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("enroll: %w", server.ErrTokenInvalid)
		}
		if err != nil {
			return fmt.Errorf("enroll: use token: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO hosts (id, hostname, machine_id, os, arch, group_name, enrolled_at,
			credential_hash, agent_version, updater_version, interval_seconds)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			h.ID, h.Hostname, h.MachineID, h.OS, h.Arch, h.Group, s.d.TimeArg(h.EnrolledAt),
			credentialHash, h.AgentVersion, h.UpdaterVersion, h.IntervalSeconds)
		if err != nil {
			return s.d.WriteErr("enroll host "+h.ID, err)
		}
		return nil
	})
	if err != nil {
		return server.Host{}, err
	}
	return h, nil
}

// HostByCredential finds a host by the hash of its credential, without Latest or LastUpdate.
func (s *Store) HostByCredential(ctx context.Context, credentialHash string) (server.Host, error) {
	return one(ctx, s.db.Read(), "host by credential", ScanHost,
		`SELECT `+HostColumns+` FROM hosts WHERE credential_hash = $1`, credentialHash)
}

// GetHost returns one host with Latest and LastUpdate.
func (s *Store) GetHost(ctx context.Context, id string) (server.Host, error) {
	return one(ctx, s.db.Read(), "get host "+id, ScanHostFull, `SELECT `+HostFullColumns+` FROM hosts WHERE id = $1`, id)
}

// ListHosts returns the hosts of group (all when empty) ordered by hostname, then id, by bytes.
func (s *Store) ListHosts(ctx context.Context, group string) ([]server.Host, error) {
	hs, err := QueryAll(ctx, s.db.Read(), ScanHostFull, `SELECT `+HostFullColumns+` FROM hosts
		WHERE $1 = '' OR group_name = $1 ORDER BY hostname`+s.d.ByBytes+`, id`+s.d.ByBytes, group)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	return hs, nil
}

// RevokeHost marks a host's credential revoked and raises the credential generation, in one
// transaction.
func (s *Store) RevokeHost(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.db.Tx(ctx, func(tx Conn) error {
		n, err := tx.Exec(ctx, `UPDATE hosts SET revoked = true WHERE id = $1`, id)
		if err := MustAffect(n, err, "revoke host "+id); err != nil {
			return err
		}
		if err := InsertAudit(ctx, tx, s.d, audit); err != nil {
			return err
		}
		return bumpCredentialGeneration(ctx, tx, "revoke host "+id)
	})
}

// bumpCredentialGeneration raises the host credential generation in tx. Callers run it last in
// their transaction: on PostgreSQL it takes the lock of the counter's one row, and holding it
// only until the commit keeps concurrent revocations and deletions from queueing behind each
// other's work. Ingest never takes it.
func bumpCredentialGeneration(ctx context.Context, tx Conn, what string) error {
	n, err := tx.Exec(ctx, `UPDATE host_credential_generation SET generation = generation + 1 WHERE id = 1`)
	if err := MustAffect(n, err, what+": credential generation"); err != nil {
		return err
	}
	return nil
}

// HostCredentialGeneration returns a number that only goes up and rises with every revocation or
// deletion of a host, in the same transaction. Every replica's Service polls it (every
// server.DefaultRevocationPoll) and drops its cached credentials when it moves, so a host revoked
// or deleted through one replica is refused by all within one poll. It reads the one row of
// host_credential_generation, one page whatever the number of hosts (PostgreSQL scans that page
// rather than the index: 1 shared buffer by EXPLAIN ANALYZE).
func (s *Store) HostCredentialGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.Read().QueryRow(ctx, `SELECT generation FROM host_credential_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read host credential generation: %w", err)
	}
	return n, nil
}

// MoveHost puts a host into another existing group.
func (s *Store) MoveHost(ctx context.Context, id, group string, audit server.AuditEntry) error {
	return s.db.Tx(ctx, func(tx Conn) error {
		if err := s.groupExists(ctx, tx, group); err != nil {
			return fmt.Errorf("move host %s: %w", id, err)
		}
		n, err := tx.Exec(ctx, `UPDATE hosts SET group_name = $1 WHERE id = $2`, group, id)
		if err := MustAffect(n, err, "move host "+id); err != nil {
			return err
		}
		return InsertAudit(ctx, tx, s.d, audit)
	})
}

// DeleteHost deletes a host with its samples, rollups, outages and update events and raises the
// credential generation, in one transaction.
func (s *Store) DeleteHost(ctx context.Context, id string, audit server.AuditEntry) error {
	return s.db.Tx(ctx, func(tx Conn) error {
		for _, table := range []string{"samples", "metric_rollups", "outages", "update_events"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE host_id = $1`, id); err != nil {
				return fmt.Errorf("delete host %s: %s: %w", id, table, err)
			}
		}
		n, err := tx.Exec(ctx, `DELETE FROM hosts WHERE id = $1`, id)
		if err != nil {
			return s.d.WriteErr("delete host "+id, err)
		}
		if err := MustAffect(n, nil, "delete host "+id); err != nil {
			return err
		}
		if err := InsertAudit(ctx, tx, s.d, audit); err != nil {
			return err
		}
		return bumpCredentialGeneration(ctx, tx, "delete host "+id)
	})
}
