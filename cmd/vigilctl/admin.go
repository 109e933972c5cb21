package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/api"
)

func (c *cli) tokensCommand() *cobra.Command {
	cmd := parentCommand("tokens", "Manage API tokens (your own; an admin manages all)")
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List API tokens", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ts, err := cl.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			return c.print(ts, []string{"ID", "NAME", "ROLE", "OWNER", "CREATED", "REVOKED"}, func() [][]string {
				rows := make([][]string, 0, len(ts))
				for _, t := range ts {
					rows = append(rows, []string{t.ID, t.Name, t.Role, orDash(t.Owner), fmtTime(t.CreatedAt), strconv.FormatBool(t.Revoked)})
				}
				return rows
			})
		},
	}
	var role, owner string
	create := &cobra.Command{
		Use: "create NAME --role ROLE [--owner USER]", Short: "Create an API token (printed once), at most your own role", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.CreateToken(cmd.Context(), api.CreateTokenRequest{Name: args[0], Role: role, Owner: owner})
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(resp, nil, nil)
			}
			fmt.Fprintln(c.stdout, resp.Token)
			fmt.Fprintf(c.stderr, "API token %s (%s) for %q. It is shown only once.\n", resp.ID, resp.Role, resp.Name)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", api.RoleViewer, "admin, operator, release or viewer")
	create.Flags().StringVar(&owner, "owner", "", "make the token for this user (admin only; at most the user's role)")
	rm := &cobra.Command{
		Use: "rm ID", Aliases: []string{"revoke"}, Short: "Revoke an API token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintln(c.stderr, "API token "+args[0]+" revoked.")
			return nil
		},
	}
	cmd.AddCommand(ls, create, rm)
	return cmd
}

func (c *cli) auditCommand() *cobra.Command {
	var q api.AuditQuery
	var since, until string
	cmd := &cobra.Command{
		Use:   "audit [--actor WHO] [--action A] [--target T] [--since T] [--until T] [--limit N]",
		Short: "Show the audit log, newest first: who changed what, from where, before and after",
		Long: "Show the audit log, newest first. --actor matches a user name, an API token ID or the actor text;\n" +
			"--action is exact or a prefix ending in \".\" (user.); --target is exact or a prefix ending in \"/\"\n" +
			"(group/); --since and --until take RFC 3339 times or a duration ago (24h).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			now := time.Now()
			if q.Since, err = parseWhen("since", since, now); err != nil {
				return err
			}
			if q.Until, err = parseWhen("until", until, now); err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			es, err := cl.SearchAudit(cmd.Context(), q)
			if err != nil {
				return err
			}
			return c.print(es, []string{"TIME", "WHO", "FROM", "ACTION", "TARGET", "BEFORE", "AFTER", "DETAIL"}, func() [][]string {
				rows := make([][]string, 0, len(es))
				for _, e := range es {
					who := e.Actor
					if e.User != "" && e.User != e.Actor {
						who += " for " + e.User
					}
					rows = append(rows, []string{fmtTime(e.Time), who, orDash(e.Address), e.Action, e.Target,
						orDash(e.Before), orDash(e.After), orDash(e.Detail)})
				}
				return rows
			})
		},
	}
	cmd.Flags().StringVar(&q.Actor, "actor", "", "only changes by this user, token ID or actor")
	cmd.Flags().StringVar(&q.Action, "action", "", "only this action (group.pin), or a prefix ending in . (user.)")
	cmd.Flags().StringVar(&q.Target, "target", "", "only this target (group/web), or a prefix ending in / (group/)")
	cmd.Flags().StringVar(&since, "since", "", "only changes at or after this time (RFC 3339, or a duration ago: 24h)")
	cmd.Flags().StringVar(&until, "until", "", "only changes before this time (RFC 3339, or a duration ago)")
	cmd.Flags().IntVar(&q.Limit, "limit", 50, "entries to show (at most 1000)")
	return cmd
}
