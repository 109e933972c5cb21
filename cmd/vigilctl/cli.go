package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vigilhq/vigil/apiclient"
)

// maxCAFileBytes bounds the --ca file.
const maxCAFileBytes = 1 << 20

// cli holds global options and the streams of one invocation.
type cli struct {
	server, token, ca, output string
	// trustedRoot is the local root file that server roots are verified against (see
	// trustedroot.go); insecureTrustServerRoot accepts the server's root when it is missing.
	trustedRoot             string
	insecureTrustServerRoot bool
	stdin                   io.Reader
	stdout, stderr          io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	root := c.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "vigilctl: %v\n", err)
		if hint := tlsHint(err, c.ca); hint != "" {
			fmt.Fprintf(stderr, "vigilctl: %s\n", hint)
		}
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// hintedError replaces the message of err, which stays available to errors.Is and errors.As.
type hintedError struct {
	msg string
	err error
}

func (e *hintedError) Error() string { return e.msg }
func (e *hintedError) Unwrap() error { return e.err }

// tlsHint says what to do when the server's certificate is not signed by a CA vigilctl trusts
// ("" for any other error). ca is the --ca file given, if any.
func tlsHint(err error, ca string) string {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &unknown) && !(errors.As(err, &verify) && errors.As(verify.Err, &unknown)) {
		return ""
	}
	if ca != "" {
		return "the server's certificate is not signed by the CA in --ca/VIGIL_CA " + ca + ": give the server's CA (<data-dir>/tls/ca.pem on the server, or the CA that issued its --tls-cert)"
	}
	return "the server's certificate is not signed by a CA this machine trusts: pass --ca FILE or set VIGIL_CA to the server's CA (<data-dir>/tls/ca.pem on the server, or the CA that issued its --tls-cert)"
}

// usageError marks errors in how vigilctl was called (exit status 2).
type usageError struct{ error }

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "vigilctl",
		Short:         "Operate a Vigil fleet and its release repository",
		Long:          "vigilctl operates a Vigil fleet and its release repository.\nEvery global flag also reads VIGIL_<NAME> (VIGIL_SERVER, VIGIL_TOKEN, VIGIL_CA, VIGIL_OUTPUT, VIGIL_TRUSTED_ROOT).",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd.Root().PersistentFlags()); err != nil {
				return usageError{err}
			}
			if c.output != "table" && c.output != "json" {
				return usageError{fmt.Errorf("--output must be table or json, not %q", c.output)}
			}
			return nil
		},
	}
	root.SetVersionTemplate("vigilctl {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&c.server, "server", "https://127.0.0.1:8443", "server URL")
	pf.StringVar(&c.token, "token", "", "API token (prefer VIGIL_TOKEN: flags show up in process lists)")
	pf.StringVar(&c.ca, "ca", "", "CA certificate (PEM) to trust for the server")
	pf.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&c.trustedRoot, "trusted-root", "", "root metadata you trust, which release sign and repo rotate-root verify the server's root against; repo init writes it (default $XDG_CONFIG_HOME/vigil/trusted-root.json or ~/.config/vigil/trusted-root.json)")
	pf.BoolVar(&c.insecureTrustServerRoot, "insecure-trust-server-root", false, "when there is no --trusted-root file, trust whatever root the server serves (a compromised server could forge it)")
	root.AddCommand(c.enrollCommand(), c.hostsCommand(), c.groupsCommand(), c.tokensCommand(), c.auditCommand(), c.usersCommand())
	root.AddCommand(c.keysCommand(), c.repoCommand(), c.releaseCommand())
	root.AddCommand(c.alertCommands()...)
	root.AddCommand(c.rolloutsCommand())
	return root
}

// parentCommand returns a command that only groups subcommands: called alone it prints its help,
// and an unknown subcommand is a usage error (cobra would otherwise print help and succeed).
func parentCommand(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for \"%s\"", args[0], cmd.CommandPath())}
			}
			return cmd.Help()
		},
	}
}

// applyEnv fills flags not given on the command line from VIGIL_<NAME>.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		// Insecure… switches must be typed on the command line, never inherited from the environment.
		if f.Changed || err != nil || f.Name == "help" || f.Name == "version" || strings.HasPrefix(f.Name, "insecure") {
			return
		}
		name := "VIGIL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

// client returns an API client for the configured server.
func (c *cli) client() (*apiclient.Client, error) {
	if c.token == "" {
		return nil, usageError{errors.New("no API token: set VIGIL_TOKEN or --token (the first admin token is in <data-dir>/admin-token)")}
	}
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	return apiclient.New(c.server, c.token, hc), nil
}

// httpClient returns an HTTP client that trusts --ca, for the API and the /tuf/ repository.
func (c *cli) httpClient() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.ca != "" {
		f, err := os.Open(c.ca)
		if err != nil {
			return nil, fmt.Errorf("read --ca: %w", err)
		}
		defer f.Close()
		pemData, err := io.ReadAll(io.LimitReader(f, maxCAFileBytes))
		if err != nil {
			return nil, fmt.Errorf("read --ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("--ca %s holds no PEM certificate", c.ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}, nil
}

// print writes v as JSON, or as a table built by rows when --output table.
func (c *cli) print(v any, header []string, rows func() [][]string) error {
	if c.output == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows() {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fmtTime renders a time in the local time zone, with the zone's abbreviation (or its offset when
// it has no abbreviation) so that a time pasted into a ticket still says when it was.
func fmtTime(t time.Time) string { return fmtTimeIn(t, time.Local) }

// fmtTimeIn is fmtTime in the time zone loc.
func fmtTimeIn(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	t = t.In(loc)
	if name, _ := t.Zone(); name != "" && (name[0] < '0' || name[0] > '9') && name[0] != '+' && name[0] != '-' {
		return t.Format("2006-01-02 15:04:05 MST")
	}
	return t.Format("2006-01-02 15:04:05 -07:00")
}

// shortIDLen is how many characters of a host ID tell hosts apart in listings.
const shortIDLen = 8

// shortID returns the first shortIDLen characters of an ID.
func shortID(id string) string {
	if len(id) > shortIDLen {
		return id[:shortIDLen]
	}
	return id
}

// hostLabel is a host's name with its short ID beside it, so two hosts with one hostname can be
// told apart ("web-1 [3f2a9c01]"); "-" without either.
func hostLabel(hostname, id string) string {
	switch {
	case id == "":
		return orDash(hostname)
	case hostname == "":
		return shortID(id)
	}
	return hostname + " [" + shortID(id) + "]"
}

// plural returns "1 host" or "2 hosts": n with the singular or plural noun.
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return "1 " + singular
	}
	return fmt.Sprintf("%d %s", n, pluralForm)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
