package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/signing"
)

func (c *cli) repoCommand() *cobra.Command {
	cmd := parentCommand("repo", "Create and maintain the release repository (TUF root)")
	cmd.AddCommand(c.repoInitCommand(), c.repoStatusCommand(), c.repoRotateRootCommand(), c.repoRenewCommand())
	return cmd
}

// roleKey is a key named on the command line: its public key, and its signer when the private
// key (a key file or a KMS URI) was given rather than a .pub file.
type roleKey struct {
	ref    string
	pub    *metadata.Key
	signer *signing.Key
}

// resolveKeys loads the public keys of refs, and the private keys of those that are not .pub
// files.
func (c *cli) resolveKeys(ctx context.Context, refs []string) ([]roleKey, error) {
	var out []roleKey
	seen := map[string]bool{}
	for _, ref := range refs {
		rk := roleKey{ref: ref}
		if strings.HasSuffix(ref, signing.PublicKeySuffix) && !signing.IsKMSRef(ref) {
			pub, err := signing.LoadPublicKeyFile(ref)
			if err != nil {
				return nil, err
			}
			rk.pub = pub
		} else {
			k, err := c.loadKey(ctx, ref)
			if err != nil {
				return nil, err
			}
			rk.pub, rk.signer = k.TUFKey(), k
		}
		if seen[keyID(rk.pub)] {
			return nil, usageError{fmt.Errorf("key %s is given twice", ref)}
		}
		seen[keyID(rk.pub)] = true
		out = append(out, rk)
	}
	return out, nil
}

func pubKeys(ks []roleKey) []*metadata.Key {
	out := make([]*metadata.Key, len(ks))
	for i, k := range ks {
		out[i] = k.pub
	}
	return out
}

func signers(ks []roleKey) []*signing.Key {
	var out []*signing.Key
	for _, k := range ks {
		if k.signer != nil {
			out = append(out, k.signer)
		}
	}
	return out
}

// signAll signs metadata with every key in ks.
func signAll(ctx context.Context, data []byte, ks []*signing.Key) ([]byte, error) {
	for _, k := range ks {
		var err error
		if data, _, err = release.SignMetadata(ctx, data, k); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// checkThreshold verifies data against root and explains a refusal with the key IDs involved.
// ignoreUnknown accepts signatures by keys this root does not list (a rotation carries
// signatures of both roots).
func checkThreshold(rootJSON, data []byte, ignoreUnknown bool) error {
	rep, err := release.VerifyMetadata(rootJSON, data)
	if rep.Role == "" && err != nil {
		return err
	}
	if ignoreUnknown {
		rep.Unknown = nil
	}
	return explain(rep)
}

// explain turns a signature report into an error a release engineer can act on.
func explain(rep release.SignatureReport) error {
	switch err := rep.Err(); {
	case err == nil:
		return nil
	case len(rep.Unknown) > 0:
		return fmt.Errorf("%s: signed by %s, which %s does not trust: %w", rep.Role, shortAll(rep.Unknown), rep.Role, release.ErrUnknownKey)
	case len(rep.Invalid) > 0:
		return fmt.Errorf("%s: signature by %s does not verify: %w", rep.Role, shortAll(rep.Invalid), release.ErrBadSignature)
	default:
		return fmt.Errorf("%s threshold not met: %d of %d signatures (missing: %s)", rep.Role, len(rep.Valid), rep.Threshold, shortAll(rep.Missing))
	}
}

func (c *cli) repoInitCommand() *cobra.Command {
	var (
		rootKeys, targetsKeys []string
		rootThr, targetsThr   int
		rootExpires           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "init --root-key KEY… --root-threshold N --targets-key KEY… --targets-threshold N",
		Short: "Create the release repository: sign root version 1 (admin)",
		Long: "Create the release repository. vigilctl fetches the server's online snapshot and timestamp keys, builds root\n" +
			"version 1 with the given root and targets keys and thresholds, and signs it with every root key given as a\n" +
			"private key file or KMS URI (KEY.pub adds a key without signing). When at least the targets threshold of\n" +
			"targets keys are given as private keys, an empty targets version 1 is signed and published with the root,\n" +
			"so clients can refresh at once; otherwise only the root is published and the first release creates targets.\n" +
			"Root version 1 is also written to the trusted root file (--trusted-root), the trust anchor of `release sign`\n" +
			"and `repo rotate-root` on this machine; give a copy to every release engineer.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(rootKeys) == 0 || len(targetsKeys) == 0 {
				return usageError{errors.New("--root-key and --targets-key are required")}
			}
			if rootThr < 1 || rootThr > len(rootKeys) || targetsThr < 1 || targetsThr > len(targetsKeys) {
				return usageError{fmt.Errorf("thresholds must be between 1 and the number of keys (root %d of %d, targets %d of %d)", rootThr, len(rootKeys), targetsThr, len(targetsKeys))}
			}
			ctx := cmd.Context()
			cl, err := c.client()
			if err != nil {
				return err
			}
			trustedPath, err := c.trustedRootPath()
			if err != nil {
				return err
			}
			online, err := cl.OnlineKeys(ctx)
			if err != nil {
				return fmt.Errorf("fetch the server's online keys: %w", err)
			}
			rks, err := c.resolveKeys(ctx, rootKeys)
			if err != nil {
				return err
			}
			tks, err := c.resolveKeys(ctx, targetsKeys)
			if err != nil {
				return err
			}
			if n := len(signers(rks)); n < rootThr {
				return usageError{fmt.Errorf("root needs %d signatures but only %d root keys were given as private keys", rootThr, n)}
			}
			spec := release.RootSpec{
				Root:      release.RoleKeys{Keys: pubKeys(rks), Threshold: rootThr},
				Targets:   release.RoleKeys{Keys: pubKeys(tks), Threshold: targetsThr},
				Snapshot:  release.RoleKeys{Keys: tufKeys(online.Snapshot), Threshold: 1},
				Timestamp: release.RoleKeys{Keys: tufKeys(online.Timestamp), Threshold: 1},
			}
			if rootExpires > 0 {
				spec.Expires = time.Now().Add(rootExpires)
			}
			root, err := release.BuildRoot(spec)
			if err != nil {
				return err
			}
			if root, err = signAll(ctx, root, signers(rks)); err != nil {
				return err
			}
			if err := checkThreshold(root, root, false); err != nil {
				return err
			}
			var targets []byte
			if ts := signers(tks); len(ts) >= targetsThr {
				empty, err := release.EmptyTargets(time.Now().Add(release.DefaultExpiryPolicy().Targets))
				if err != nil {
					return err
				}
				if targets, err = signAll(ctx, empty, ts); err != nil {
					return err
				}
				if err := checkThreshold(root, targets, false); err != nil {
					return err
				}
			}
			st, err := cl.InitRepo(ctx, root, targets)
			if err != nil {
				return err
			}
			if err := c.saveInitRoot(trustedPath, root); err != nil {
				return err
			}
			if targets == nil {
				fmt.Fprintln(c.stderr, "Published root version 1 only: clients can refresh once the first release is published.")
			} else {
				fmt.Fprintln(c.stderr, "Published root version 1 and an empty targets version 1: clients can refresh now.")
			}
			return c.printStatus(st)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&rootKeys, "root-key", nil, "root key: private key file or KMS URI (signs), or KEY.pub (listed only); repeatable")
	f.IntVar(&rootThr, "root-threshold", 0, "signatures root metadata needs")
	f.StringSliceVar(&targetsKeys, "targets-key", nil, "targets (release engineer) key: private key file, KMS URI or KEY.pub; repeatable")
	f.IntVar(&targetsThr, "targets-threshold", 0, "signatures every release needs")
	f.DurationVar(&rootExpires, "root-expires", 0, "root lifetime (default 8760h, one year)")
	return cmd
}

// saveInitRoot writes the root that `repo init` just published to the trusted root file.
func (c *cli) saveInitRoot(path string, root []byte) error {
	old, err := readTrustedRoot(path)
	if err == nil && !bytes.Equal(old, root) {
		fmt.Fprintf(c.stderr, "Replacing the trusted root in %s (it was another repository's, or an older init's).\n", path)
	}
	if err := writeTrustedRoot(path, root); err != nil {
		return fmt.Errorf("root version 1 is published, but writing it to your trusted root file failed; save /tuf/metadata/1.root.json as %s after checking its key IDs: %w", path, err)
	}
	fmt.Fprintf(c.stderr, "Wrote root version 1 to %s: your trusted root. Give a copy to every release engineer.\n", path)
	return nil
}

func (c *cli) printStatus(st api.RepoStatus) error {
	if c.output == "json" {
		return c.print(st, nil, nil)
	}
	if !st.Initialized {
		fmt.Fprintln(c.stdout, "Repository not initialized: run `vigilctl repo init`.")
		return nil
	}
	err := c.print(st, []string{"ROLE", "VERSION", "EXPIRES", "THRESHOLD", "KEYS", "SIGNED BY"}, func() [][]string {
		rows := make([][]string, 0, len(st.Roles))
		for _, r := range st.Roles {
			ver, exp := "-", "-"
			if r.Version > 0 {
				ver, exp = strconv.FormatInt(r.Version, 10), fmtExpiry(r.Expires)
			}
			by := "offline keys"
			if r.Online {
				by = "server (online)"
			}
			ids := make([]string, len(r.KeyIDs))
			for i, id := range r.KeyIDs {
				ids[i] = short(id)
			}
			rows = append(rows, []string{r.Role, ver, exp, fmt.Sprintf("%d of %d", r.Threshold, len(r.KeyIDs)), strings.Join(ids, " "), by})
		}
		return rows
	})
	if err != nil {
		return err
	}
	if len(st.Drafts) > 0 {
		fmt.Fprintf(c.stdout, "\nPending drafts: %s\n", strings.Join(st.Drafts, ", "))
	}
	return nil
}

// fmtExpiry shows an expiry with how far away it is.
func fmtExpiry(t time.Time) string {
	d := time.Until(t)
	switch {
	case d < 0:
		return t.UTC().Format(time.RFC3339) + " (EXPIRED)"
	case d < 48*time.Hour:
		return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), d.Round(time.Minute))
	default:
		return fmt.Sprintf("%s (in %d days)", t.UTC().Format(time.RFC3339), int((d+12*time.Hour).Hours()/24))
	}
}

func (c *cli) repoStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use: "status", Short: "Show versions, expiries and keys of every role, and pending drafts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			st, err := cl.RepoStatus(cmd.Context())
			if err != nil {
				return err
			}
			return c.printStatus(st)
		},
	}
}

func (c *cli) repoRenewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "renew",
		Short: "Draft targets metadata with a fresh expiry (draft \"renew\"; sign and publish it like a release)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			di, err := cl.Renew(cmd.Context())
			if err != nil {
				return err
			}
			return c.printDraft(di, "renews targets until "+di.Expires.UTC().Format(time.RFC3339))
		},
	}
}

func (c *cli) repoRotateRootCommand() *cobra.Command {
	var (
		addRoot, rmRoot, addTargets, rmTargets, keys []string
		rootThr, targetsThr                          int
		rootExpires                                  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rotate-root [--add-root-key KEY…] [--remove-root-key KEY|ID…] [--root-threshold N] [--add-targets-key KEY…] [--remove-targets-key KEY|ID…] [--targets-threshold N] --key KEY…",
		Short: "Publish the next root version: add or revoke keys, change thresholds (admin)",
		Long: "Build root version N+1 from the current root with the given changes and the server's current online keys,\n" +
			"sign it with every --key (it needs the threshold of the current root's keys AND of the new root's keys),\n" +
			"and publish it. When the change leaves the published targets without their threshold (a targets key\n" +
			"revoked, or the threshold raised), the targets are re-signed in the same step with the --key entries that\n" +
			"are targets keys of the new root. Keys to remove are given by key ID (see `vigilctl repo status`) or file.\n" +
			"The current root is the server's, verified from your trusted root (--trusted-root), which then moves to the new root.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(keys) == 0 {
				return usageError{errors.New("--key is required: the root keys that sign the new root")}
			}
			ctx := cmd.Context()
			cl, err := c.client()
			if err != nil {
				return err
			}
			oldRoot, trustedPath, err := c.verifiedRoot(ctx, cl)
			if err != nil {
				return err
			}
			online, err := cl.OnlineKeys(ctx)
			if err != nil {
				return fmt.Errorf("fetch the server's online keys: %w", err)
			}
			spec, err := release.RootSpecOf(oldRoot)
			if err != nil {
				return err
			}
			spec.Version++
			spec.Expires = time.Time{}
			if rootExpires > 0 {
				spec.Expires = time.Now().Add(rootExpires)
			}
			if err := c.editRole(ctx, &spec.Root, addRoot, rmRoot, rootThr, "root"); err != nil {
				return err
			}
			if err := c.editRole(ctx, &spec.Targets, addTargets, rmTargets, targetsThr, "targets"); err != nil {
				return err
			}
			spec.Snapshot = release.RoleKeys{Keys: tufKeys(online.Snapshot), Threshold: 1}
			spec.Timestamp = release.RoleKeys{Keys: tufKeys(online.Timestamp), Threshold: 1}
			newRoot, err := release.BuildRoot(spec)
			if err != nil {
				return err
			}
			sks, err := c.resolveKeys(ctx, keys)
			if err != nil {
				return err
			}
			oldSpec, _ := release.RootSpecOf(oldRoot)
			var rootSigners, targetsSigners []*signing.Key
			for _, k := range signers(sks) {
				id := k.KeyID()
				if hasKey(oldSpec.Root, id) || hasKey(spec.Root, id) {
					rootSigners = append(rootSigners, k)
				}
				if hasKey(spec.Targets, id) {
					targetsSigners = append(targetsSigners, k)
				}
				if !hasKey(oldSpec.Root, id) && !hasKey(spec.Root, id) && !hasKey(spec.Targets, id) {
					return usageError{fmt.Errorf("--key %s (%s) is neither a root key of either root nor a targets key of the new root", k.Ref(), short(id))}
				}
			}
			if newRoot, err = signAll(ctx, newRoot, rootSigners); err != nil {
				return err
			}
			if err := checkThreshold(oldRoot, newRoot, true); err != nil {
				return fmt.Errorf("new root against the current root version %d: %w", oldSpec.Version, err)
			}
			if err := checkThreshold(newRoot, newRoot, true); err != nil {
				return fmt.Errorf("new root against itself: %w", err)
			}
			// The same rule clients apply (and the invariant of the trusted root file).
			if _, err := release.VerifyRootChain(oldRoot, [][]byte{newRoot}); err != nil {
				return err
			}
			targets, err := c.resignTargets(ctx, newRoot, targetsSigners)
			if err != nil {
				return err
			}
			st, err := cl.RotateRoot(ctx, newRoot, targets)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Published root version %d.", spec.Version)
			if targets != nil {
				fmt.Fprint(c.stderr, " Targets were re-signed under the new root.")
			}
			fmt.Fprintln(c.stderr, " Pending drafts are now stale or carry revoked signatures: discard and redo them.")
			if trustedPath != "" {
				if err := writeTrustedRoot(trustedPath, newRoot); err != nil {
					return fmt.Errorf("root version %d is published, but updating your trusted root failed (it will catch up on the next sign or rotate-root): %w", spec.Version, err)
				}
				fmt.Fprintf(c.stderr, "Your trusted root %s now holds version %d.\n", trustedPath, spec.Version)
			}
			return c.printStatus(st)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&addRoot, "add-root-key", nil, "root key to add (KEY.pub, key file or KMS URI); repeatable")
	f.StringSliceVar(&rmRoot, "remove-root-key", nil, "root key to revoke (key ID, KEY.pub or key file); repeatable")
	f.IntVar(&rootThr, "root-threshold", 0, "new root threshold (default: unchanged)")
	f.StringSliceVar(&addTargets, "add-targets-key", nil, "targets key to add; repeatable")
	f.StringSliceVar(&rmTargets, "remove-targets-key", nil, "targets key to revoke (key ID or file); repeatable")
	f.IntVar(&targetsThr, "targets-threshold", 0, "new targets threshold (default: unchanged)")
	f.StringSliceVar(&keys, "key", nil, "private key file or KMS URI to sign with (old and new root keys; targets keys if targets must be re-signed); repeatable")
	f.DurationVar(&rootExpires, "root-expires", 0, "lifetime of the new root (default 8760h, one year)")
	return cmd
}

func hasKey(rk release.RoleKeys, id string) bool {
	return slices.ContainsFunc(rk.Keys, func(k *metadata.Key) bool { return keyID(k) == id })
}

// editRole applies additions, removals and a new threshold to one role.
func (c *cli) editRole(ctx context.Context, rk *release.RoleKeys, add, rm []string, thr int, role string) error {
	for _, ref := range rm {
		id := ref
		if !isKeyID(ref) {
			k, err := c.publicKey(ctx, ref)
			if err != nil {
				return err
			}
			id = keyID(k)
		}
		if !hasKey(*rk, id) {
			return usageError{fmt.Errorf("--remove-%s-key %s: not a %s key of the current root", role, ref, role)}
		}
		rk.Keys = slices.DeleteFunc(rk.Keys, func(k *metadata.Key) bool { return keyID(k) == id })
	}
	for _, ref := range add {
		k, err := c.publicKey(ctx, ref)
		if err != nil {
			return err
		}
		if hasKey(*rk, keyID(k)) {
			return usageError{fmt.Errorf("--add-%s-key %s: already a %s key", role, ref, role)}
		}
		rk.Keys = append(rk.Keys, k)
	}
	if thr > 0 {
		rk.Threshold = thr
	}
	if rk.Threshold > len(rk.Keys) {
		return usageError{fmt.Errorf("%s threshold %d is more than its %d keys: lower it with --%s-threshold", role, rk.Threshold, len(rk.Keys), role)}
	}
	return nil
}

func isKeyID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// resignTargets returns the next targets version (same targets, fresh expiry) signed by ks
// when the published targets would not meet the new root's targets threshold; nil when they
// still do.
func (c *cli) resignTargets(ctx context.Context, newRoot []byte, ks []*signing.Key) ([]byte, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	published, err := cl.Targets(ctx)
	if err != nil || published == nil {
		return nil, err
	}
	if checkThreshold(newRoot, published, false) == nil {
		return nil, nil
	}
	md, err := metadata.Targets().FromBytes(published)
	if err != nil {
		return nil, fmt.Errorf("parse published targets: %w", err)
	}
	md.Signed.Version++
	md.Signed.Expires = time.Now().UTC().Truncate(time.Second).Add(release.DefaultExpiryPolicy().Targets)
	md.Signatures = nil
	next, err := md.ToBytes(true)
	if err != nil {
		return nil, err
	}
	if next, err = signAll(ctx, next, ks); err != nil {
		return nil, err
	}
	if err := checkThreshold(newRoot, next, false); err != nil {
		return nil, fmt.Errorf("the published targets must be re-signed under the new root (pass its targets keys with --key): %w", err)
	}
	fmt.Fprintf(c.stderr, "Re-signing targets as version %d under the new root.\n", md.Signed.Version)
	return next, nil
}
