package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// SetGroupAgentSettings replaces a group's agent settings.
func (s *Store) SetGroupAgentSettings(ctx context.Context, group string, as server.AgentSettings, audit server.AuditEntry) error {
	col, err := storesql.EncodeAgentSettings(as)
	if err != nil {
		return err
	}
	return s.change(ctx, "set agent settings of group "+group, audit,
		`UPDATE groups SET agent_settings = ? WHERE name = ?`, col, group)
}

// SetHostAgentSettings replaces a host's own agent settings; the zero value removes them.
func (s *Store) SetHostAgentSettings(ctx context.Context, hostID string, as server.AgentSettings, audit server.AuditEntry) error {
	col, err := storesql.EncodeAgentSettings(as)
	if err != nil {
		return err
	}
	return s.change(ctx, "set agent settings of host "+hostID, audit,
		`UPDATE hosts SET agent_settings = ? WHERE id = ?`, col, hostID)
}

// AgentSettings returns the agent settings of a host's group and the host's own.
func (s *Store) AgentSettings(ctx context.Context, hostID string) (group, host server.AgentSettings, err error) {
	type pair struct{ g, h server.AgentSettings }
	p, err := storesql.One(s.r.QueryRowContext(ctx, storesql.AgentSettingsQuery+`?`, hostID), sql.ErrNoRows,
		"agent settings of host "+hostID, func(row storesql.Scanner) (pair, error) {
			g, h, err := storesql.ScanAgentSettings(row)
			return pair{g, h}, err
		})
	return p.g, p.h, err
}
