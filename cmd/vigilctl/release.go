package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/signing"
)

// Drafts are named by the release version they stage or promote ("1.2.3"), or "renew" for
// `vigilctl repo renew`. `release sign`, `release publish`, `release status` and
// `release discard` take that name.

func (c *cli) releaseCommand() *cobra.Command {
	cmd := parentCommand("release", "Stage, sign, publish and promote releases")
	cmd.AddCommand(c.releaseStageCommand(), c.releaseSignCommand(), c.releasePublishCommand(),
		c.releasePromoteCommand(), c.releaseLsCommand(), c.releaseStatusCommand(), c.releaseDiscardCommand())
	return cmd
}

// artifactFile is a build to upload.
type artifactFile struct {
	path string
	info api.ArtifactInfo
}

func hashFile(path string) (artifactFile, error) {
	name := filepath.Base(path)
	if _, _, err := release.ParseArtifactName(name); err != nil {
		return artifactFile{}, usageError{fmt.Errorf("%s: artifact files are named <binary>-linux-<arch>, as `make release-artifacts` writes them to dist/ (%w)", path, err)}
	}
	f, err := os.Open(path)
	if err != nil {
		return artifactFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return artifactFile{}, fmt.Errorf("read %s: %w", path, err)
	}
	if n > api.MaxArtifactUpload {
		return artifactFile{}, fmt.Errorf("%s: %d bytes is more than the %d a build may have", path, n, api.MaxArtifactUpload)
	}
	return artifactFile{path: path, info: api.ArtifactInfo{Name: name, Length: n, SHA256: hex.EncodeToString(h.Sum(nil))}}, nil
}

// stderrTerminal reports whether stderr is a terminal (progress bars only go there).
func (c *cli) stderrTerminal() bool {
	f, ok := c.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (c *cli) upload(ctx context.Context, cl *apiclient.Client, version string, a artifactFile) error {
	f, err := os.Open(a.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var body io.Reader = f
	if c.stderrTerminal() {
		bar := progressbar.NewOptions64(a.info.Length,
			progressbar.OptionSetWriter(c.stderr),
			progressbar.OptionSetDescription(a.info.Name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100_000_000),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.stderr) }),
		)
		r := progressbar.NewReader(f, bar)
		body = &r
	}
	if err := cl.UploadArtifact(ctx, version, a.info, body); err != nil {
		return fmt.Errorf("upload %s: %w", a.info.Name, err)
	}
	if !c.stderrTerminal() {
		fmt.Fprintf(c.stderr, "Uploaded %s (%d bytes, sha256 %s).\n", a.info.Name, a.info.Length, a.info.SHA256)
	}
	return nil
}

func (c *cli) releaseStageCommand() *cobra.Command {
	var (
		channels       []string
		minVersion     string
		allowDowngrade bool
	)
	cmd := &cobra.Command{
		Use:   "stage VERSION FILE…",
		Short: "Upload builds and draft the targets metadata of a release",
		Long: "Upload builds (files named <binary>-linux-<arch>, as `make release-artifacts` writes them to dist/) and\n" +
			"draft the next targets metadata with them. The draft is named VERSION; release engineers then run\n" +
			"`vigilctl release sign VERSION --key KEY` until the targets threshold is met, and `vigilctl release publish VERSION`.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			version := args[0]
			if _, err := release.ParseVersion(version); err != nil {
				return usageError{err}
			}
			var files []artifactFile
			for _, p := range args[1:] {
				a, err := hashFile(p)
				if err != nil {
					return err
				}
				files = append(files, a)
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			up := cl.WithoutTimeout()
			infos := make([]api.ArtifactInfo, 0, len(files))
			for _, a := range files {
				if err := c.upload(ctx, up, version, a); err != nil {
					return err
				}
				infos = append(infos, a.info)
			}
			di, err := cl.Stage(ctx, version, api.StageRequest{Artifacts: infos, Channels: channels, MinVersion: minVersion, AllowDowngrade: allowDowngrade})
			if err != nil {
				return err
			}
			return c.printDraft(di, "adds release "+version)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&channels, "channel", nil, "put the release on this channel at once (e.g. beta); repeatable")
	f.StringVar(&minVersion, "min-version", "", "version floor: updaters refuse anything older (default: keep the current floor)")
	f.BoolVar(&allowDowngrade, "allow-downgrade", false, "let updaters install this release over a higher version")
	return cmd
}

// printDraft shows a draft and what to do next.
func (c *cli) printDraft(di api.DraftInfo, what string) error {
	if c.output == "json" {
		return c.print(di, nil, nil)
	}
	fmt.Fprintf(c.stdout, "Draft %s %s: targets version %d, expires %s.\n", di.Name, what, di.TargetsVersion, fmtExpiry(di.Expires))
	fmt.Fprint(c.stdout, releaseDiff(di.Diff).String())
	c.printSignatures(di)
	return nil
}

func (c *cli) printSignatures(di api.DraftInfo) {
	rep := di.Signatures
	fmt.Fprintf(c.stdout, "Signatures: %d of %d", len(rep.Valid), rep.Threshold)
	if len(rep.Missing) > 0 {
		fmt.Fprintf(c.stdout, " (missing: %s)", shortAll(rep.Missing))
	}
	fmt.Fprintln(c.stdout, ".")
	switch {
	case di.Stale:
		fmt.Fprintf(c.stdout, "The draft is stale (another change was published since): discard it with `vigilctl release discard %s` and draft it again.\n", di.Name)
	case len(rep.Valid) >= rep.Threshold:
		fmt.Fprintf(c.stdout, "Threshold met: publish with `vigilctl release publish %s`.\n", di.Name)
	default:
		fmt.Fprintf(c.stdout, "Next: each release engineer runs `vigilctl release sign %s --key KEY`.\n", di.Name)
	}
}

func (c *cli) releaseSignCommand() *cobra.Command {
	var (
		keys []string
		yes  bool
	)
	cmd := &cobra.Command{
		Use:   "sign NAME --key KEY",
		Short: "Review a draft and sign it offline with your targets key",
		Long: "Download the draft NAME (a release version, or \"renew\"), the published targets and the root; verify the root\n" +
			"against your trusted root (--trusted-root) and the targets against that root;\n" +
			"show what the draft changes; sign it locally with your key (a key file or KMS URI) after you confirm\n" +
			"(--yes skips the question); and upload the signature. The private key never leaves this machine.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if len(keys) == 0 {
				return usageError{errors.New("--key is required")}
			}
			ctx := cmd.Context()
			cl, err := c.client()
			if err != nil {
				return err
			}
			root, _, err := c.verifiedRoot(ctx, cl)
			if err != nil {
				return err
			}
			spec, err := release.RootSpecOf(root)
			if err != nil {
				return err
			}
			published, err := cl.Targets(ctx)
			if err != nil {
				return err
			}
			if published != nil {
				if err := checkThreshold(root, published, false); err != nil {
					return fmt.Errorf("the published targets do not verify against root version %d; refusing to sign on top of them: %w", spec.Version, err)
				}
			}
			draft, err := cl.Draft(ctx, name)
			if err != nil {
				return err
			}
			diff, err := release.DiffTargets(published, draft)
			if err != nil {
				if errors.Is(err, release.ErrStaleDraft) {
					return fmt.Errorf("draft %s is stale (%w): discard it with `vigilctl release discard %s` and draft it again", name, err, name)
				}
				return err
			}
			var ks []*signing.Key
			for _, ref := range keys {
				k, err := c.loadKey(ctx, ref)
				if err != nil {
					return err
				}
				if !hasKey(spec.Targets, k.KeyID()) {
					return fmt.Errorf("refused: key %s (%s) is not a targets key of root version %d (targets keys: %s): %w",
						ref, short(k.KeyID()), spec.Version, shortIDs(spec.Targets), release.ErrUnknownKey)
				}
				ks = append(ks, k)
			}
			fmt.Fprintf(c.stdout, "Draft %s:\n%s", name, diff.String())
			if !yes {
				ok, err := c.confirm(fmt.Sprintf("Sign targets version %d with %s? [y/N] ", diff.ToVersion, keyList(ks)))
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("not signed (answer y, or pass --yes)")
				}
			}
			signed, err := signAll(ctx, draft, ks)
			if err != nil {
				return err
			}
			di, err := cl.AddSignatures(ctx, name, signed)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(di, nil, nil)
			}
			fmt.Fprintf(c.stdout, "Signed draft %s with %s.\n", name, keyList(ks))
			c.printSignatures(di)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&keys, "key", nil, "your targets key: private key file or KMS URI; repeatable")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "sign without asking for confirmation")
	return cmd
}

func keyList(ks []*signing.Key) string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.KeyID()
	}
	return shortAll(ids)
}

func shortIDs(rk release.RoleKeys) string {
	ids := make([]string, len(rk.Keys))
	for i, k := range rk.Keys {
		ids[i] = keyID(k)
	}
	return shortAll(ids)
}

// confirm asks a yes/no question on stderr and reads the answer from stdin.
func (c *cli) confirm(q string) (bool, error) {
	fmt.Fprint(c.stderr, q)
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	if errors.Is(err, io.EOF) && line == "" {
		fmt.Fprintln(c.stderr)
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

func (c *cli) releasePublishCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "publish NAME",
		Short: "Publish a draft once the targets threshold of signatures is met",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			ctx := cmd.Context()
			cl, err := c.client()
			if err != nil {
				return err
			}
			st, err := cl.Publish(ctx, name)
			if err != nil {
				if apiclient.IsCode(err, api.CodeThresholdNotMet) {
					if di, derr := cl.DraftStatus(ctx, name); derr == nil {
						return fmt.Errorf("publish %s refused: %w", name, explain(releaseReport(di.Signatures)))
					}
				}
				return fmt.Errorf("publish %s refused: %w", name, err)
			}
			fmt.Fprintf(c.stderr, "Published %s.\n", name)
			return c.printStatus(st)
		},
	}
}

func (c *cli) releasePromoteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "promote VERSION CHANNEL",
		Short: "Draft moving CHANNEL to a published VERSION (then sign and publish the draft VERSION)",
		Long: "Draft the targets change that points CHANNEL at the published release VERSION. Channels are signed data, so\n" +
			"the draft needs the targets threshold like a release: it is named VERSION, and release engineers run\n" +
			"`vigilctl release sign VERSION --key KEY`, then `vigilctl release publish VERSION`.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			di, err := cl.Promote(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return c.printDraft(di, "moves channel "+args[1]+" to "+args[0])
		},
	}
}

func (c *cli) releaseStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use: "status NAME", Short: "Show a draft's changes and signatures", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			di, err := cl.DraftStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.printDraft(di, "is pending")
		},
	}
}

func (c *cli) releaseDiscardCommand() *cobra.Command {
	return &cobra.Command{
		Use: "discard NAME", Short: "Delete a pending draft and the uploaded builds only it named", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.Discard(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Draft %s discarded.\n", args[0])
			return nil
		},
	}
}

func (c *cli) releaseLsCommand() *cobra.Command {
	return &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List published and drafted releases", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			rs, err := cl.Releases(cmd.Context())
			if err != nil {
				return err
			}
			return c.print(rs, []string{"VERSION", "STATE", "CHANNELS", "MIN VERSION", "BUILDS", "PENDING DRAFT"}, func() [][]string {
				rows := make([][]string, 0, len(rs))
				for _, r := range rs {
					state := "published"
					if !r.Published {
						state = "staged"
					}
					builds := make([]string, len(r.Artifacts))
					for i, a := range r.Artifacts {
						builds[i] = a.Binary + "/" + a.Arch
					}
					draft := "-"
					if r.Draft != nil {
						draft = fmt.Sprintf("%d/%d signatures", len(r.Draft.Signatures.Valid), r.Draft.Signatures.Threshold)
						if r.Draft.Stale {
							draft += " (stale)"
						}
					}
					rows = append(rows, []string{r.Version, state, orDash(strings.Join(r.Channels, ",")), orDash(r.MinVersion), strings.Join(builds, " "), draft})
				}
				return rows
			})
		},
	}
}
