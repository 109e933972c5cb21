package release

import (
	"fmt"

	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// MaxRootChain bounds how many root versions VerifyRootChain (and vigilctl, which fetches
// them) walks in one go, like go-tuf's MaxRootRotations.
const MaxRootChain = 256

// VerifyRootChain walks from the root metadata trusted (obtained out of band: a root the
// caller signed or already verified) through chain, the next root versions in order
// (trusted's version + 1, + 2, …), following the TUF client's root update rules (TUF
// specification, 5.3): every new root must be of type root, exactly one version above
// the root before it, signed by the root threshold of the root before it AND by its own
// root threshold. It returns the last root of the chain (trusted when chain is empty),
// byte for byte.
//
// It never checks expiry: the specification ignores the expiry of intermediate roots, and
// the caller decides what an expired final root means (vigilctl warns, since signing the
// next root is how an expired one is fixed). Failures wrap ErrInvalidRoot and the go-tuf
// error (metadata.ErrUnsignedMetadata, metadata.ErrBadVersionNumber, …).
func VerifyRootChain(trusted []byte, chain [][]byte) ([]byte, error) {
	if len(trusted) > MaxRootSize {
		return nil, fmt.Errorf("trusted root larger than %d bytes: %w", MaxRootSize, ErrInvalidRoot)
	}
	if len(chain) > MaxRootChain {
		return nil, fmt.Errorf("root chain of %d versions is longer than %d: %w", len(chain), MaxRootChain, ErrInvalidRoot)
	}
	tm, err := trustedmetadata.New(trusted)
	if err != nil {
		return nil, fmt.Errorf("trusted root: %w: %w", ErrInvalidRoot, err)
	}
	latest := trusted
	for _, next := range chain {
		want := tm.Root.Signed.Version + 1
		if len(next) > MaxRootSize {
			return nil, fmt.Errorf("root version %d larger than %d bytes: %w", want, MaxRootSize, ErrInvalidRoot)
		}
		if _, err := tm.UpdateRoot(next); err != nil {
			return nil, fmt.Errorf("root version %d does not follow from root version %d: %w: %w", want, want-1, ErrInvalidRoot, err)
		}
		latest = next
	}
	return latest, nil
}
