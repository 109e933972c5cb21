package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/signing"
)

func (c *cli) keysCommand() *cobra.Command {
	cmd := parentCommand("keys", "Generate and inspect release signing keys (offline)")
	var out, typ string
	gen := &cobra.Command{
		Use:   "gen --out FILE [--type ed25519|ecdsa-p256|rsa-pss]",
		Short: "Generate a signing key, encrypted with a passphrase",
		Long: "Generate a signing key for the release repository. The private key is written encrypted to FILE (mode 0600)\n" +
			"and the public key to FILE.pub. The passphrase comes from VIGIL_KEY_PASSPHRASE or, on a terminal, a prompt;\n" +
			"never from a flag. Keep FILE offline; hand FILE.pub to whoever runs `vigilctl repo init`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError{errors.New("--out FILE is required")}
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
				return err
			}
			k, err := signing.Generate(signing.KeyType(typ))
			if err != nil {
				if errors.Is(err, signing.ErrUnsupportedKey) {
					return usageError{fmt.Errorf("--type %q: use one of %v", typ, signing.KeyTypes())}
				}
				return err
			}
			if err := signing.SaveKeyFile(out, k, c.passphrase()); err != nil {
				return passphraseHint(err)
			}
			if c.output == "json" {
				return c.print(map[string]string{"keyid": k.KeyID(), "type": string(k.Type()), "private": out, "public": out + signing.PublicKeySuffix}, nil, nil)
			}
			fmt.Fprintln(c.stdout, k.KeyID())
			fmt.Fprintf(c.stderr, "Generated %s key %s: private key %s (encrypted), public key %s.\n", k.Type(), short(k.KeyID()), out, out+signing.PublicKeySuffix)
			return nil
		},
	}
	gen.Flags().StringVar(&out, "out", "", "file to write the encrypted private key to (public key: FILE.pub)")
	gen.Flags().StringVar(&typ, "type", string(signing.DefaultKeyType), "key type: ed25519, ecdsa-p256 or rsa-pss")
	show := &cobra.Command{
		Use:   "show KEY",
		Short: "Print the TUF key ID of a key (a .pub file, a private key file with its .pub beside it, or a KMS URI)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := c.publicKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(map[string]string{"keyid": keyID(k), "type": k.Type, "scheme": k.Scheme}, nil, nil)
			}
			fmt.Fprintf(c.stdout, "%s %s %s\n", keyID(k), k.Type, k.Scheme)
			return nil
		},
	}
	cmd.AddCommand(gen, show)
	return cmd
}

// passphrase is the passphrase source for key files: VIGIL_KEY_PASSPHRASE, else a prompt when
// stdin is a terminal.
func (c *cli) passphrase() signing.PassphraseFunc {
	sources := []signing.PassphraseFunc{signing.PassphraseFromEnv("")}
	if f, ok := c.stdin.(*os.File); ok {
		sources = append(sources, signing.PassphrasePrompt(f, c.stderr))
	}
	return signing.FirstPassphrase(sources...)
}

// passphraseHint replaces a missing-passphrase error, however deeply the signing package wrapped
// it (and whatever hint it already carries), by one message that says what to do. errors.Is
// still finds signing.ErrNoPassphrase.
func passphraseHint(err error) error {
	if errors.Is(err, signing.ErrNoPassphrase) {
		return &hintedError{msg: fmt.Sprintf("no passphrase for the key: set %s, or run vigilctl on a terminal to be asked for it", signing.PassphraseEnv), err: err}
	}
	return err
}

// loadKey opens a signing key: an encrypted key file or a KMS URI.
func (c *cli) loadKey(ctx context.Context, ref string) (*signing.Key, error) {
	if strings.HasSuffix(ref, signing.PublicKeySuffix) && !signing.IsKMSRef(ref) {
		return nil, usageError{fmt.Errorf("%s is a public key: signing needs the private key file (or a KMS URI)", ref)}
	}
	k, err := signing.Load(ctx, ref, c.passphrase())
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", ref, passphraseHint(err))
	}
	return k, nil
}

// publicKey returns the TUF public key of ref without decrypting anything when it can: a .pub
// file, a private key file with its .pub beside it, or a KMS URI.
func (c *cli) publicKey(ctx context.Context, ref string) (*metadata.Key, error) {
	switch {
	case signing.IsKMSRef(ref):
		k, err := signing.LoadKMS(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("load key %s: %w", ref, err)
		}
		return k.TUFKey(), nil
	case strings.HasSuffix(ref, signing.PublicKeySuffix):
		return signing.LoadPublicKeyFile(ref)
	}
	if _, err := os.Stat(ref + signing.PublicKeySuffix); err == nil {
		return signing.LoadPublicKeyFile(ref + signing.PublicKeySuffix)
	}
	k, err := c.loadKey(ctx, ref)
	if err != nil {
		return nil, err
	}
	return k.TUFKey(), nil
}

// short abbreviates a key ID for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

func shortAll(ids []string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = "key " + short(id)
	}
	return strings.Join(s, ", ")
}

// keyID is the TUF key ID of a public key ("" if it cannot be encoded, which no parsed key hits).
func keyID(k *metadata.Key) string {
	id, _ := k.ID()
	return id
}
