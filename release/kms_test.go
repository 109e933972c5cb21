package release

import (
	"context"
	"crypto"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/signing"
)

// memKMS is an in-process KMS provider under "testkms://": it implements
// sigstore's kms.SignerVerifier over keys it keeps to itself.
var memKMS = struct {
	sync.Mutex
	keys  map[string]*signing.Key
	signs int
}{keys: map[string]*signing.Key{}}

func init() {
	kms.AddProvider("testkms://", func(_ context.Context, uri string, _ crypto.Hash, _ ...signature.RPCOption) (kms.SignerVerifier, error) {
		memKMS.Lock()
		defer memKMS.Unlock()
		k, ok := memKMS.keys[uri]
		if !ok {
			return nil, errors.New("testkms: no key " + uri)
		}
		return memKMSKey{k}, nil
	})
}

type memKMSKey struct{ k *signing.Key }

func (m memKMSKey) SignMessage(r io.Reader, opts ...signature.SignOption) ([]byte, error) {
	memKMS.Lock()
	memKMS.signs++
	memKMS.Unlock()
	return m.k.SignMessage(r, opts...)
}
func (m memKMSKey) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return m.k.Public(), nil
}
func (m memKMSKey) VerifySignature(s, r io.Reader, opts ...signature.VerifyOption) error {
	return m.k.VerifySignature(s, r, opts...)
}
func (m memKMSKey) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return m.k.Public(), nil
}
func (m memKMSKey) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("testkms: no crypto.Signer")
}
func (m memKMSKey) SupportedAlgorithms() []string { return []string{"ecdsa-p256"} }
func (m memKMSKey) DefaultAlgorithm() string      { return "ecdsa-p256" }

// TestKMSTargetsKey: a release engineer whose targets key lives in a KMS
// signs a release through signing.Load, and the stock client accepts it.
func TestKMSTargetsKey(t *testing.T) {
	uri := "testkms://" + t.Name()
	memKMS.Lock()
	memKMS.keys[uri] = testKey(t, "ecdsa-kms")
	memKMS.Unlock()
	kmsKey, err := signing.Load(context.Background(), uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !kmsKey.IsKMS() {
		t.Fatal("not a KMS key")
	}
	f := newFixtureOpts(t, fixtureOpts{targets: []signing.Signer{kmsKey, testKey(t, "targets1"), testKey(t, "targets4")}})
	if _, err := f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{Channels: []string{"stable"}}); err != nil {
		t.Fatal(err)
	}
	memKMS.Lock()
	before := memKMS.signs
	memKMS.Unlock()
	f.signDraft("1.0.0", kmsKey, testKey(t, "targets1"))
	memKMS.Lock()
	if memKMS.signs == before {
		t.Error("the KMS provider did not sign")
	}
	memKMS.Unlock()
	if err := f.repo.Publish(f.ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	c := f.newClient()
	up, err := c.refresh(f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	trusted := up.GetTrustedMetadataSet()
	if v, ok := ChannelVersion(&trusted.Targets[metadata.TARGETS].Signed, BinaryAgent, "stable"); !ok || v != "1.0.0" {
		t.Errorf("stable = %q, %v", v, ok)
	}
	rep, err := VerifyMetadata(f.root1, mustTargets(t, f))
	if err != nil || !contains(rep.Valid, kmsKey.KeyID()) {
		t.Errorf("VerifyMetadata = %+v, %v", rep, err)
	}
}

func mustTargets(t *testing.T, f *fixture) []byte {
	b, err := f.repo.Targets(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
