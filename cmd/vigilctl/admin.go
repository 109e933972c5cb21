package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/api"
)

func (c *cli) tokensCommand() *cobra.Command {
	cmd := parentCommand("tokens", "Manage API tokens (admin)")
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
			return c.print(ts, []string{"ID", "NAME", "ROLE", "CREATED", "REVOKED"}, func() [][]string {
				rows := make([][]string, 0, len(ts))
				for _, t := range ts {
					rows = append(rows, []string{t.ID, t.Name, t.Role, fmtTime(t.CreatedAt), strconv.FormatBool(t.Revoked)})
				}
				return rows
			})
		},
	}
	var role string
	create := &cobra.Command{
		Use: "create NAME --role ROLE", Short: "Create an API token (printed once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.CreateToken(cmd.Context(), api.CreateTokenRequest{Name: args[0], Role: role})
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
	var limit int
	cmd := &cobra.Command{
		Use: "audit", Short: "Show the audit log, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			es, err := cl.ListAudit(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return c.print(es, []string{"TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"}, func() [][]string {
				rows := make([][]string, 0, len(es))
				for _, e := range es {
					rows = append(rows, []string{fmtTime(e.Time), e.Actor, e.Action, e.Target, orDash(e.Detail)})
				}
				return rows
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "entries to show (at most 1000)")
	return cmd
}
