package release

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/signing"
)

// chainRoot builds root metadata version v with the given root keys and threshold, signed
// by signers.
func chainRoot(t testing.TB, v int64, expires time.Time, rootKeys []*signing.Key, thr int, signers ...*signing.Key) []byte {
	t.Helper()
	spec := RootSpec{
		Version:   v,
		Expires:   expires,
		Root:      RoleKeys{Keys: tufKeys(rootKeys...), Threshold: thr},
		Targets:   RoleKeys{Keys: tufKeys(testKey(t, "chain-targets")), Threshold: 1},
		Snapshot:  RoleKeys{Keys: tufKeys(testKey(t, "chain-online")), Threshold: 1},
		Timestamp: RoleKeys{Keys: tufKeys(testKey(t, "chain-online")), Threshold: 1},
	}
	data, err := BuildRoot(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range signers {
		if data, _, err = SignMetadata(context.Background(), data, s); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func TestVerifyRootChain(t *testing.T) {
	a, b, c := testKey(t, "chain-a"), testKey(t, "chain-b"), testKey(t, "chain-c")
	mallory, targetsKey := testKey(t, "chain-mallory"), testKey(t, "chain-targets")
	year := time.Now().Add(365 * 24 * time.Hour)
	past := time.Now().Add(-24 * time.Hour)
	ks := func(k ...*signing.Key) []*signing.Key { return k }

	root1 := chainRoot(t, 1, year, ks(a, b), 2, a, b)
	// 2: b replaced by c; signed by a+b (threshold of 1) and a+c (its own threshold).
	root2 := chainRoot(t, 2, year, ks(a, c), 2, a, b, c)
	// 3: threshold lowered to 1, only c left; signed by a+c (threshold of 2) and c (its own).
	root3 := chainRoot(t, 3, year, ks(c), 1, a, c)
	targets, err := EmptyTargets(year)
	if err != nil {
		t.Fatal(err)
	}
	targets, _, err = SignMetadata(context.Background(), targets, targetsKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		trusted []byte
		chain   [][]byte
		want    []byte // latest on success (default: the last of chain)
		fail    bool   // the error wraps ErrInvalidRoot
		as      any    // and, when set, errors.As(err, as)
	}{
		{name: "no newer root", trusted: root1, want: root1},
		{name: "valid 1 to 2 to 3", trusted: root1, chain: [][]byte{root2, root3}, want: root3},
		{name: "start from 2", trusted: root2, chain: [][]byte{root3}, want: root3},
		{
			name: "intermediate root expired", trusted: root1,
			chain: [][]byte{chainRoot(t, 2, past, ks(a, b), 2, a, b), chainRoot(t, 3, year, ks(a, b), 2, a, b)},
		},
		{
			name: "final root expired", trusted: root1,
			chain: [][]byte{chainRoot(t, 2, past, ks(a, b), 2, a, b)},
		},
		{
			name: "forged root signed by a non-root key", trusted: root1,
			chain: [][]byte{chainRoot(t, 2, year, ks(mallory), 1, mallory)},
			fail:  true, as: new(*metadata.ErrUnsignedMetadata),
		},
		{
			name: "forged root signed by a targets key", trusted: root1,
			chain: [][]byte{chainRoot(t, 2, year, ks(targetsKey), 1, targetsKey)},
			fail:  true, as: new(*metadata.ErrUnsignedMetadata),
		},
		{
			name: "forged root below the old threshold", trusted: root1,
			chain: [][]byte{chainRoot(t, 2, year, ks(a, mallory), 1, a, mallory)},
			fail:  true, as: new(*metadata.ErrUnsignedMetadata),
		},
		{
			name: "new root without its own threshold", trusted: root1,
			chain: [][]byte{chainRoot(t, 2, year, ks(a, c), 2, a, b)},
			fail:  true, as: new(*metadata.ErrUnsignedMetadata),
		},
		{
			name: "forged link after a valid one", trusted: root1,
			chain: [][]byte{root2, chainRoot(t, 3, year, ks(mallory), 1, mallory)},
			fail:  true, as: new(*metadata.ErrUnsignedMetadata),
		},
		{
			name: "skipped version", trusted: root1,
			chain: [][]byte{chainRoot(t, 3, year, ks(a, b), 2, a, b)},
			fail:  true, as: new(*metadata.ErrBadVersionNumber),
		},
		{
			name: "same version again", trusted: root1,
			chain: [][]byte{chainRoot(t, 1, year, ks(a, b), 2, a, b)},
			fail:  true, as: new(*metadata.ErrBadVersionNumber),
		},
		{name: "rollback", trusted: root2, chain: [][]byte{root1}, fail: true, as: new(*metadata.ErrUnsignedMetadata)},
		{name: "not a root", trusted: root1, chain: [][]byte{targets}, fail: true},
		{name: "garbage", trusted: root1, chain: [][]byte{[]byte(`{"signed":`)}, fail: true},
		{name: "trusted root not self-signed", trusted: chainRoot(t, 1, year, ks(a, b), 2, a), chain: [][]byte{root2}, fail: true},
		{name: "trusted root is targets", trusted: targets, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyRootChain(tt.trusted, tt.chain)
			if tt.fail {
				if err == nil {
					t.Fatal("accepted")
				}
				if !errors.Is(err, ErrInvalidRoot) {
					t.Errorf("error %v does not wrap ErrInvalidRoot", err)
				}
				if tt.as != nil && !errors.As(err, tt.as) {
					t.Errorf("error %v, want a %T", err, tt.as)
				}
				if got != nil {
					t.Error("returned a root with the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.chain[len(tt.chain)-1]
			}
			if string(got) != string(want) {
				t.Errorf("latest root is not the last of the chain")
			}
		})
	}
}

func TestVerifyRootChainTooLong(t *testing.T) {
	root1 := chainRoot(t, 1, time.Now().Add(time.Hour), []*signing.Key{testKey(t, "chain-a")}, 1, testKey(t, "chain-a"))
	if _, err := VerifyRootChain(root1, make([][]byte, MaxRootChain+1)); !errors.Is(err, ErrInvalidRoot) {
		t.Fatalf("chain of %d: %v", MaxRootChain+1, err)
	}
}

// FuzzVerifyRootChain feeds arbitrary bytes as the next root after a trusted root. Nothing the
// fuzzer makes can carry a valid signature of its own, so whatever is accepted must be the genuine
// root version 2: the same signed content, whatever was changed around it.
func FuzzVerifyRootChain(f *testing.F) {
	a := testKey(f, "chain-a")
	year := time.Now().Add(365 * 24 * time.Hour)
	ks := []*signing.Key{a}
	root1 := chainRoot(f, 1, year, ks, 1, a)
	root2 := chainRoot(f, 2, year, ks, 1, a)
	want, err := metadata.Root().FromBytes(root2)
	if err != nil {
		f.Fatal(err)
	}
	wantSigned, _ := json.Marshal(want.Signed)
	f.Add(root2)
	f.Add(root1)
	f.Add([]byte(`{"signed":{"_type":"root","version":2},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, next []byte) {
		latest, err := VerifyRootChain(root1, [][]byte{next})
		if err != nil {
			return
		}
		got, err := metadata.Root().FromBytes(latest)
		if err != nil {
			t.Fatalf("accepted root does not parse: %v", err)
		}
		gotSigned, _ := json.Marshal(got.Signed)
		if string(gotSigned) != string(wantSigned) {
			t.Fatalf("accepted a root whose signed content differs from the genuine version 2:\n%s", gotSigned)
		}
	})
}
