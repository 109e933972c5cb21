package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// KeyType names a kind of signing key.
type KeyType string

// Supported key types.
const (
	KeyTypeED25519   KeyType = "ed25519"    // the default
	KeyTypeECDSAP256 KeyType = "ecdsa-p256" // ECDSA on NIST P-256 with SHA-256
	KeyTypeRSAPSS    KeyType = "rsa-pss"    // RSA 3072 with PSS and SHA-256
)

// DefaultKeyType is the key type Generate uses when given "".
const DefaultKeyType = KeyTypeED25519

// RSABits is the size of generated RSA keys.
const RSABits = 3072

// KeyTypes lists the supported key types, default first.
func KeyTypes() []KeyType { return []KeyType{KeyTypeED25519, KeyTypeECDSAP256, KeyTypeRSAPSS} }

// Errors callers branch on.
var (
	// ErrBadPassphrase: the passphrase does not decrypt the key.
	ErrBadPassphrase = errors.New("signing: wrong passphrase")
	// ErrEmptyPassphrase: a key would be encrypted with an empty passphrase.
	ErrEmptyPassphrase = errors.New("signing: empty passphrase")
	// ErrUnencryptedKey: a private key file is not encrypted.
	ErrUnencryptedKey = errors.New("signing: private key is not encrypted")
	// ErrKeyExists: a key file would be overwritten.
	ErrKeyExists = errors.New("signing: key file already exists")
	// ErrUnsupportedKey: the key type is not one of KeyTypes.
	ErrUnsupportedKey = errors.New("signing: unsupported key type")
	// ErrNoPrivateKey: the operation needs a private key that this Key does not hold.
	ErrNoPrivateKey = errors.New("signing: no private key material (KMS or public key)")
)

// Signer is what the release package signs TUF metadata with: a sigstore
// signer whose public key is a TUF key. *Key implements it. go-tuf's
// metadata.Metadata[T].Sign accepts any Signer directly.
type Signer interface {
	signature.Signer
	// KeyID is the TUF key ID of the public key.
	KeyID() string
	// TUFKey returns a copy of the TUF form of the public key.
	TUFKey() *metadata.Key
}

var _ Signer = (*Key)(nil)

// Key is a signing key: a generated or loaded private key, or a key in a KMS.
type Key struct {
	typ    KeyType
	sv     signature.SignerVerifier
	priv   crypto.PrivateKey // nil for KMS keys
	pub    crypto.PublicKey
	tufKey *metadata.Key
	id     string
	ref    string // file path or KMS URI, for messages

	mu sync.Mutex // sigstore's RSA-PSS signer writes to its options while signing
}

// Generate makes a new private key of type t ("" means DefaultKeyType).
func Generate(t KeyType) (*Key, error) {
	if t == "" {
		t = DefaultKeyType
	}
	var priv crypto.PrivateKey
	var err error
	switch t {
	case KeyTypeED25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case KeyTypeECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyTypeRSAPSS:
		priv, err = rsa.GenerateKey(rand.Reader, RSABits)
	default:
		return nil, fmt.Errorf("generate %q key: %w", t, ErrUnsupportedKey)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", t, err)
	}
	return FromPrivateKey(priv)
}

// FromPrivateKey wraps an ed25519, ECDSA P-256 or RSA (used with PSS) private key.
func FromPrivateKey(priv crypto.PrivateKey) (*Key, error) {
	var sv signature.SignerVerifier
	var typ KeyType
	var err error
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		typ = KeyTypeED25519
		sv, err = signature.LoadED25519SignerVerifier(p)
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ecdsa curve %s: %w", p.Curve.Params().Name, ErrUnsupportedKey)
		}
		typ = KeyTypeECDSAP256
		sv, err = signature.LoadECDSASignerVerifier(p, crypto.SHA256)
	case *rsa.PrivateKey:
		if p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("rsa key of %d bits: %w", p.N.BitLen(), ErrUnsupportedKey)
		}
		typ = KeyTypeRSAPSS
		sv, err = signature.LoadRSAPSSSignerVerifier(p, crypto.SHA256, pssOptions())
	default:
		return nil, fmt.Errorf("private key %T: %w", priv, ErrUnsupportedKey)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s signer: %w", typ, err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	k, err := newKey(sv, pub, typ)
	if err != nil {
		return nil, err
	}
	k.priv = priv
	return k, nil
}

// pssOptions are the RSA-PSS parameters of TUF's rsassa-pss-sha256 scheme as
// python-tuf and go-tuf use them: SHA-256, MGF1-SHA-256, salt as long as the hash.
func pssOptions() *rsa.PSSOptions {
	return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
}

func newKey(sv signature.SignerVerifier, pub crypto.PublicKey, typ KeyType) (*Key, error) {
	tk, err := TUFKey(pub)
	if err != nil {
		return nil, err
	}
	id, err := tk.ID()
	if err != nil {
		return nil, fmt.Errorf("compute key id: %w", err)
	}
	return &Key{typ: typ, sv: sv, pub: pub, tufKey: tk, id: id}, nil
}

func keyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return KeyTypeED25519, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return "", fmt.Errorf("ecdsa curve %s: %w", p.Curve.Params().Name, ErrUnsupportedKey)
		}
		return KeyTypeECDSAP256, nil
	case *rsa.PublicKey:
		return KeyTypeRSAPSS, nil
	}
	return "", fmt.Errorf("public key %T: %w", pub, ErrUnsupportedKey)
}

// TUFKey converts a public key into its TUF form: ed25519 keys get type and
// scheme "ed25519"; ECDSA P-256 keys scheme "ecdsa-sha2-nistp256" (key type
// "ecdsa", as go-tuf and python-tuf write it); RSA keys type "rsa" and scheme
// "rsassa-pss-sha256". Its ID() is the TUF key ID.
func TUFKey(pub crypto.PublicKey) (*metadata.Key, error) {
	if _, err := keyTypeOf(pub); err != nil {
		return nil, err
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("convert public key to TUF key: %w", err)
	}
	return k, nil
}

// KeyID returns the TUF key ID of a public key.
func KeyID(pub crypto.PublicKey) (string, error) {
	k, err := TUFKey(pub)
	if err != nil {
		return "", err
	}
	return k.ID()
}

// Type is the key type.
func (k *Key) Type() KeyType { return k.typ }

// KeyID is the TUF key ID.
func (k *Key) KeyID() string { return k.id }

// Ref is where the key came from: a file path or a KMS URI ("" if generated).
func (k *Key) Ref() string { return k.ref }

// IsKMS reports whether the private key lives in a KMS.
func (k *Key) IsKMS() bool { return k.priv == nil }

// TUFKey returns a copy of the TUF form of the public key.
func (k *Key) TUFKey() *metadata.Key {
	c := *k.tufKey
	return &c
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// PublicKey implements signature.PublicKeyProvider.
func (k *Key) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) { return k.pub, nil }

// PublicKeyPEM returns the public key as a PKIX "PUBLIC KEY" PEM block.
func (k *Key) PublicKeyPEM() ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(k.pub)
}

// SignMessage implements signature.Signer. For KMS keys, pass
// options.WithContext to bound the call, or use WithContext.
func (k *Key) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	if k.typ == KeyTypeRSAPSS && k.priv != nil {
		k.mu.Lock()
		defer k.mu.Unlock()
	}
	return k.sv.SignMessage(message, opts...)
}

// VerifySignature implements signature.Verifier.
func (k *Key) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	return k.sv.VerifySignature(sig, message, opts...)
}

// WithContext returns a Signer that passes ctx to every signing call, for
// APIs such as go-tuf's Metadata.Sign that take no context.
func (k *Key) WithContext(ctx context.Context) Signer {
	return ctxSigner{Key: k, ctx: ctx}
}

type ctxSigner struct {
	*Key
	ctx context.Context
}

func (s ctxSigner) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	return s.Key.SignMessage(message, append([]signature.SignOption{options.WithContext(s.ctx)}, opts...)...)
}

// Verifier returns a verifier for a TUF key, with the parameters the key's
// scheme calls for (RSA-PSS for "rsassa-pss-sha256").
func Verifier(k *metadata.Key) (signature.Verifier, error) {
	pub, err := k.ToPublicKey()
	if err != nil {
		return nil, fmt.Errorf("parse TUF key: %w", err)
	}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return signature.LoadED25519Verifier(p)
	case *ecdsa.PublicKey:
		return signature.LoadECDSAVerifier(p, crypto.SHA256)
	case *rsa.PublicKey:
		return signature.LoadRSAPSSVerifier(p, crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256})
	}
	return nil, fmt.Errorf("TUF key of type %q: %w", k.Type, ErrUnsupportedKey)
}
