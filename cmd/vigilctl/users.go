package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigilhq/vigil/api"
)

// maxPasswordInput bounds a password read from a file or stdin (the server takes at most 1024
// bytes).
const maxPasswordInput = 4 << 10

func (c *cli) usersCommand() *cobra.Command {
	cmd := parentCommand("users", "Manage the people who sign in to the dashboard (admin)")
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			us, err := cl.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			return c.print(us, []string{"NAME", "ROLE", "CREATED", "PASSWORD CHANGED"}, func() [][]string {
				rows := make([][]string, 0, len(us))
				for _, u := range us {
					rows = append(rows, []string{u.Name, u.Role, fmtTime(u.CreatedAt), fmtTime(u.PasswordChangedAt)})
				}
				return rows
			})
		},
	}
	var role, pwFile string
	var pwStdin bool
	add := &cobra.Command{
		Use:     "add NAME --role ROLE [--password-file FILE | --password-stdin]",
		Aliases: []string{"create"},
		Short:   "Add a user",
		Long: "Add a user with a role (admin, operator, release, viewer). The password (at least 12 characters)\n" +
			"is asked for twice on a terminal, or read from --password-file (\"-\": the first line of stdin);\n" +
			"it is never taken from the command line.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pwStdin {
				if pwFile != "" {
					return usageError{errors.New("give --password-file or --password-stdin, not both")}
				}
				pwFile = "-"
			}
			pw, err := c.readPassword(pwFile, "Password for "+args[0])
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			u, err := cl.CreateUser(cmd.Context(), api.CreateUserRequest{Name: args[0], Role: role, Password: pw})
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(u, nil, nil)
			}
			fmt.Fprintf(c.stderr, "User %s added with role %s.\n", u.Name, u.Role)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "", "admin, operator, release or viewer (required)")
	add.Flags().StringVar(&pwFile, "password-file", "", "read the password from FILE (\"-\": stdin) instead of a terminal prompt")
	add.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin (same as --password-file -)")
	_ = add.MarkFlagRequired("role")
	rm := &cobra.Command{
		Use: "rm NAME", Aliases: []string{"remove"}, Short: "Remove a user: ends their sessions and revokes their API tokens", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.DeleteUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "User %s removed; their sessions ended and their API tokens were revoked.\n", args[0])
			return nil
		},
	}
	setRole := &cobra.Command{
		Use: "set-role NAME ROLE", Short: "Change a user's role (their tokens above it stop working)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			u, err := cl.SetUserRole(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(u, nil, nil)
			}
			fmt.Fprintf(c.stderr, "User %s now has role %s.\n", u.Name, u.Role)
			return nil
		},
	}
	var newFile, curFile string
	var current bool
	passwd := &cobra.Command{
		Use:   "passwd NAME [--password-file FILE] [--current [--current-password-file FILE]]",
		Short: "Set a user's password (ends all of their dashboard sessions)",
		Long: "Set a user's password. An admin may set anyone's; others set their own with --current, which asks\n" +
			"for (or reads from --current-password-file) the current password. Passwords are asked for on a\n" +
			"terminal or read from files (\"-\": stdin), never taken from the command line.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.SetPasswordRequest
			var err error
			if current || curFile != "" {
				if req.CurrentPassword, err = c.readSecret(curFile, "Current password"); err != nil {
					return err
				}
			}
			if req.Password, err = c.readPassword(newFile, "New password for "+args[0]); err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.SetPassword(cmd.Context(), args[0], req); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Password of %s changed; all of their dashboard sessions ended.\n", args[0])
			return nil
		},
	}
	passwd.Flags().StringVar(&newFile, "password-file", "", "read the new password from FILE (\"-\": stdin) instead of a terminal prompt")
	passwd.Flags().BoolVar(&current, "current", false, "give the current password (needed to change your own as a non-admin)")
	passwd.Flags().StringVar(&curFile, "current-password-file", "", "read the current password from FILE (\"-\": stdin)")
	cmd.AddCommand(ls, add, rm, setRole, passwd)
	return cmd
}

// readPassword reads a new password: from file ("-": stdin), or asked twice on a terminal.
func (c *cli) readPassword(file, prompt string) (string, error) {
	if file != "" {
		return c.readSecret(file, prompt)
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{errors.New("no terminal to ask for the password: pass --password-file FILE (or - for stdin)")}
	}
	pw, err := c.prompt(f, prompt+": ")
	if err != nil {
		return "", err
	}
	again, err := c.prompt(f, "Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the two passwords differ; nothing was changed")
	}
	return pw, nil
}

// readSecret reads one secret: the first line of file ("-": stdin), or asked once on a terminal.
func (c *cli) readSecret(file, prompt string) (string, error) {
	switch file {
	case "":
		f, ok := c.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", usageError{fmt.Errorf("no terminal to ask for %s: pass it in a file", strings.ToLower(prompt))}
		}
		return c.prompt(f, prompt+": ")
	case "-":
		return firstLine(c.stdin)
	}
	fh, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	return firstLine(fh)
}

func (c *cli) prompt(f *os.File, text string) (string, error) {
	fmt.Fprint(c.stderr, text)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(b), nil
}

// firstLine returns the first line of r without its line ending, reading at most maxPasswordInput.
func firstLine(r io.Reader) (string, error) {
	s := bufio.NewScanner(io.LimitReader(r, maxPasswordInput))
	s.Buffer(make([]byte, 0, 1024), maxPasswordInput)
	if !s.Scan() {
		if err := s.Err(); err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return "", errors.New("read password: the input is empty")
	}
	return strings.TrimRight(s.Text(), "\r"), nil
}

// parseWhen reads an audit time bound: RFC 3339, or a duration meaning that long ago ("24h").
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s %q: give a time like 2026-12-01T09:00:00Z or a duration ago like 24h", flag, v)}
	}
	return t, nil
}
