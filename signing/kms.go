package signing

import (
	"context"
	"crypto"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// IsKMSRef reports whether ref names a KMS key (it contains "://") rather
// than a key file.
func IsKMSRef(ref string) bool { return strings.Contains(ref, "://") }

// LoadKMS resolves a KMS key URI (for example "awskms:///arn:…",
// "hashivault://name" or any "<plugin>://…" served by a sigstore-kms-<plugin>
// program) with sigstore's kms.Get. Signing happens inside the KMS.
func LoadKMS(ctx context.Context, uri string) (*Key, error) {
	sv, err := kms.Get(ctx, uri, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("open kms key %s: %w", uri, err)
	}
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read public key of %s: %w", uri, err)
	}
	typ, err := keyTypeOf(pub)
	if err != nil {
		return nil, fmt.Errorf("kms key %s: %w", uri, err)
	}
	k, err := newKey(sv, pub, typ)
	if err != nil {
		return nil, fmt.Errorf("kms key %s: %w", uri, err)
	}
	k.ref = uri
	return k, nil
}

// Load opens a signing key by reference: a KMS URI (see IsKMSRef) or the path
// of an encrypted private key file. pass is used only for files.
func Load(ctx context.Context, ref string, pass PassphraseFunc) (*Key, error) {
	if IsKMSRef(ref) {
		return LoadKMS(ctx, ref)
	}
	return LoadPrivateKeyFile(ref, pass, LoadOptions{})
}
