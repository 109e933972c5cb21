package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/httpapi"
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
			var ts []server.APIToken
			if err := cl.Do(cmd.Context(), http.MethodGet, "/api/v1/tokens", nil, &ts); err != nil {
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
			var resp httpapi.CreateTokenResponse
			if err := cl.Do(cmd.Context(), http.MethodPost, "/api/v1/tokens", httpapi.CreateTokenRequest{Name: args[0], Role: role}, &resp); err != nil {
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
	create.Flags().StringVar(&role, "role", server.RoleViewer, "admin, operator, release or viewer")
	rm := &cobra.Command{
		Use: "rm ID", Aliases: []string{"revoke"}, Short: "Revoke an API token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.simpleDelete(cmd.Context(), "/api/v1/tokens/"+url.PathEscape(args[0]), "API token "+args[0]+" revoked.")
		},
	}
	cmd.AddCommand(ls, create, rm)
	return cmd
}

func (c *cli) simpleDelete(ctx context.Context, path, done string) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if err := cl.Do(ctx, http.MethodDelete, path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintln(c.stderr, done)
	return nil
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
