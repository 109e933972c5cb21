package signing

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// signedRoot builds a root whose root role is k alone, signs it with k and
// checks that go-tuf verifies it.
func signedRoot(t *testing.T, s Signer) *metadata.Metadata[metadata.RootType] {
	t.Helper()
	root := metadata.Root(time.Now().Add(time.Hour))
	if err := root.Signed.AddKey(s.TUFKey(), metadata.ROOT); err != nil {
		t.Fatal(err)
	}
	sig, err := root.Sign(s)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if sig.KeyID != s.KeyID() {
		t.Fatalf("signature key id %s, want %s", sig.KeyID, s.KeyID())
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		t.Fatalf("VerifyDelegate: %v", err)
	}
	return root
}

func TestKeyTypes(t *testing.T) {
	tests := []struct {
		typ     KeyType
		tufType string
		scheme  string
	}{
		{"", metadata.KeyTypeEd25519, metadata.KeySchemeEd25519},
		{KeyTypeED25519, metadata.KeyTypeEd25519, metadata.KeySchemeEd25519},
		{KeyTypeECDSAP256, metadata.KeyTypeECDSA_SHA2_P256, metadata.KeySchemeECDSA_SHA2_P256},
		{KeyTypeRSAPSS, metadata.KeyTypeRSASSA_PSS_SHA256, metadata.KeySchemeRSASSA_PSS_SHA256},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			k, err := Generate(tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			tk := k.TUFKey()
			if tk.Type != tt.tufType || tk.Scheme != tt.scheme {
				t.Errorf("TUF key type/scheme = %s/%s, want %s/%s", tk.Type, tk.Scheme, tt.tufType, tt.scheme)
			}
			id, err := tk.ID()
			if err != nil || id != k.KeyID() || len(id) != 64 {
				t.Errorf("key id %q (%v), Key.KeyID %q", id, err, k.KeyID())
			}
			root := signedRoot(t, k)

			// The stand-alone verifier accepts the signature too, and rejects a changed payload.
			v, err := Verifier(tk)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("vigil")
			sig, err := k.SignMessage(bytes.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
			if err := v.VerifySignature(bytes.NewReader(sig), strings.NewReader("vigiL")); err == nil {
				t.Error("VerifySignature accepted a changed message")
			}
			root.Signed.Version++
			if err := root.VerifyDelegate(metadata.ROOT, root); err == nil {
				t.Error("VerifyDelegate accepted changed metadata")
			}
		})
	}
}

func TestGenerateUnsupported(t *testing.T) {
	if _, err := Generate("dsa"); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("err = %v, want ErrUnsupportedKey", err)
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	for _, typ := range KeyTypes() {
		t.Run(string(typ), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "release.key")
			k, err := Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			pass := StaticPassphrase([]byte("correct horse"))
			if err := SaveKeyFile(path, k, pass); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
			}
			b, _ := os.ReadFile(path)
			if !bytes.Contains(b, []byte("BEGIN "+EncryptedPEMType)) {
				t.Errorf("private key file is not an encrypted PEM:\n%s", b)
			}

			k2, err := LoadPrivateKeyFile(path, pass, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if k2.KeyID() != k.KeyID() || k2.Type() != typ || k2.Ref() != path {
				t.Errorf("loaded key %s/%s/%s, want %s/%s/%s", k2.KeyID(), k2.Type(), k2.Ref(), k.KeyID(), typ, path)
			}
			pub, err := LoadPublicKeyFile(path + PublicKeySuffix)
			if err != nil {
				t.Fatal(err)
			}
			if id, _ := pub.ID(); id != k.KeyID() {
				t.Errorf("public key file id %s, want %s", id, k.KeyID())
			}
			signedRoot(t, k2)

			k3, err := Load(context.Background(), path, pass)
			if err != nil || k3.KeyID() != k.KeyID() {
				t.Errorf("Load = %v, %v", k3, err)
			}
		})
	}
}

func TestKeyFileWrongPassphrase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	k, _ := Generate("")
	if err := SaveKeyFile(path, k, StaticPassphrase([]byte("right"))); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPrivateKeyFile(path, StaticPassphrase([]byte("wrong")), LoadOptions{})
	if !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("err = %v, want ErrBadPassphrase", err)
	}
}

func TestKeyFileRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	pass := StaticPassphrase([]byte("p"))
	k, _ := Generate("")
	tests := []struct {
		name     string
		existing string
	}{
		{"private", "k"},
		{"public", "k.pub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := filepath.Join(dir, tt.name)
			os.Mkdir(d, 0o700)
			if err := os.WriteFile(filepath.Join(d, tt.existing), []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := SaveKeyFile(filepath.Join(d, "k"), k, pass); !errors.Is(err, ErrKeyExists) {
				t.Fatalf("err = %v, want ErrKeyExists", err)
			}
			if b, _ := os.ReadFile(filepath.Join(d, tt.existing)); string(b) != "keep me" {
				t.Errorf("existing file changed to %q", b)
			}
		})
	}
}

func TestKeyFileEmptyPassphrase(t *testing.T) {
	k, _ := Generate("")
	if err := SaveKeyFile(filepath.Join(t.TempDir(), "k"), k, StaticPassphrase(nil)); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("err = %v, want ErrEmptyPassphrase", err)
	}
}

func TestUnencryptedKeyRefused(t *testing.T) {
	k, _ := Generate("")
	der, _ := x509MarshalPKCS8(k)
	if _, err := ParsePrivateKey(der, nil, LoadOptions{}); !errors.Is(err, ErrUnencryptedKey) {
		t.Fatalf("err = %v, want ErrUnencryptedKey", err)
	}
	k2, err := ParsePrivateKey(der, nil, LoadOptions{InsecureAllowUnencrypted: true})
	if err != nil || k2.KeyID() != k.KeyID() {
		t.Fatalf("InsecureAllowUnencrypted: %v, %v", k2, err)
	}
}

func TestPassphraseSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pass")
	os.WriteFile(file, []byte("from file\r\nignored\n"), 0o600)
	t.Setenv("VIGIL_TEST_PASS", "from env")

	tests := []struct {
		name    string
		f       PassphraseFunc
		want    string
		wantErr error
	}{
		{"file", PassphraseFromFile(file), "from file", nil},
		{"env", PassphraseFromEnv("VIGIL_TEST_PASS"), "from env", nil},
		{"env unset", PassphraseFromEnv("VIGIL_TEST_UNSET"), "", ErrNoPassphrase},
		{"first skips unset", FirstPassphrase(PassphraseFromEnv("VIGIL_TEST_UNSET"), PassphraseFromEnv("VIGIL_TEST_PASS")), "from env", nil},
		{"first none", FirstPassphrase(PassphraseFromEnv("VIGIL_TEST_UNSET")), "", ErrNoPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f(false)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// testKMS is an in-process KMS provider registered under testkms://. Its
// keys never leave it: callers get only a kms.SignerVerifier.
type testKMS struct {
	mu   sync.Mutex
	keys map[string]*Key // by URI
	ctxs []context.Context
}

var theTestKMS = &testKMS{keys: map[string]*Key{}}

const testKMSScheme = "testkms://"

func init() {
	kms.AddProvider(testKMSScheme, func(_ context.Context, uri string, _ crypto.Hash, _ ...signature.RPCOption) (kms.SignerVerifier, error) {
		theTestKMS.mu.Lock()
		defer theTestKMS.mu.Unlock()
		k, ok := theTestKMS.keys[uri]
		if !ok {
			return nil, errors.New("testkms: no such key " + uri)
		}
		return &testKMSKey{kms: theTestKMS, key: k}, nil
	})
}

func (m *testKMS) create(t *testing.T, typ KeyType) string {
	t.Helper()
	k, err := Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	uri := testKMSScheme + t.Name() + "/" + string(typ)
	m.mu.Lock()
	m.keys[uri] = k
	m.mu.Unlock()
	return uri
}

type testKMSKey struct {
	kms *testKMS
	key *Key
}

var _ kms.SignerVerifier = (*testKMSKey)(nil)

func (s *testKMSKey) SignMessage(m io.Reader, opts ...signature.SignOption) ([]byte, error) {
	ctx := context.Background()
	for _, o := range opts {
		o.ApplyContext(&ctx)
	}
	s.kms.mu.Lock()
	s.kms.ctxs = append(s.kms.ctxs, ctx)
	s.kms.mu.Unlock()
	return s.key.SignMessage(m)
}
func (s *testKMSKey) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return s.key.Public(), nil
}
func (s *testKMSKey) VerifySignature(sig, m io.Reader, opts ...signature.VerifyOption) error {
	return s.key.VerifySignature(sig, m, opts...)
}
func (s *testKMSKey) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return s.key.Public(), nil
}
func (s *testKMSKey) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("testkms: not implemented")
}
func (s *testKMSKey) SupportedAlgorithms() []string {
	return []string{"ed25519", "ecdsa-p256", "rsa-pss"}
}
func (s *testKMSKey) DefaultAlgorithm() string { return "ed25519" }

type ctxKey struct{}

func TestKMS(t *testing.T) {
	for _, typ := range KeyTypes() {
		t.Run(string(typ), func(t *testing.T) {
			uri := theTestKMS.create(t, typ)
			k, err := Load(context.Background(), uri, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !k.IsKMS() || k.Type() != typ || k.Ref() != uri {
				t.Errorf("key IsKMS=%v type=%s ref=%s", k.IsKMS(), k.Type(), k.Ref())
			}
			if _, err := k.EncryptPrivateKey(StaticPassphrase([]byte("x"))); !errors.Is(err, ErrNoPrivateKey) {
				t.Errorf("EncryptPrivateKey of a KMS key: %v, want ErrNoPrivateKey", err)
			}
			ctx := context.WithValue(context.Background(), ctxKey{}, uri)
			signedRoot(t, k.WithContext(ctx))
			theTestKMS.mu.Lock()
			last := theTestKMS.ctxs[len(theTestKMS.ctxs)-1]
			theTestKMS.mu.Unlock()
			if last.Value(ctxKey{}) != uri {
				t.Error("the signing context did not reach the KMS provider")
			}
		})
	}
}

func TestKMSUnknownProvider(t *testing.T) {
	var nf *kms.ProviderNotFoundError
	if _, err := LoadKMS(context.Background(), "vigilnosuchkms://k"); !errors.As(err, &nf) {
		t.Fatalf("err = %v, want ProviderNotFoundError", err)
	}
}
