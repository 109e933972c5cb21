package updater

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/wire"
)

// reasonBundled is the reason of the download event when the first install used the build shipped
// beside the updater (Config.BundledAgent) instead of downloading it.
const reasonBundled = "bundled build matches the signed target"

// fetchFirst gets the first agent build: Config.BundledAgent when it is exactly the signed target
// (same length, every signed hash equal), else a download. The bundled file is only ever a cache
// of the signed build: a bundle of another version or with other bytes is ignored and logged.
func (u *Updater) fetchFirst(ctx context.Context, repo *Repository, tf *metadata.TargetFiles, want string) (string, error) {
	if u.cfg.BundledAgent == "" {
		return u.fetch(ctx, repo, tf, BinaryAgent, "", want)
	}
	path := u.state.path(downloadDir, BinaryAgent+"-"+want)
	err := copyVerified(tf, u.cfg.BundledAgent, path)
	if err != nil {
		u.log.Info("Not using the bundled agent (missing, or not the signed build of this version); downloading it.",
			keyVersion, want, "bundled", u.cfg.BundledAgent, keyError, err)
		return u.fetch(ctx, repo, tf, BinaryAgent, "", want)
	}
	u.log.Info("Using the bundled agent: it is the signed build.", keyVersion, want, "bundled", u.cfg.BundledAgent)
	u.report(ctx, BinaryAgent, "", want, wire.PhaseDownload, wire.ResultOK, reasonBundled)
	return path, nil
}

// copyVerified copies src to dst (through dst.part, fsynced) if src is exactly the signed target
// tf; otherwise it returns an error wrapping ErrTargetMismatch and leaves nothing behind.
func copyVerified(tf *metadata.TargetFiles, src, dst string) error {
	if tf.Length <= 0 || tf.Length > MaxTargetSize {
		return &SecurityError{Op: "copy " + tf.Path, Err: fmt.Errorf("signed length %d outside 1..%d", tf.Length, MaxTargetSize)}
	}
	hashes, err := newHashes(tf)
	if err != nil {
		return &SecurityError{Op: "copy " + tf.Path, Err: err}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	part := dst + ".part"
	out, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	n, err := io.Copy(io.MultiWriter(out, hashes.w), io.LimitReader(in, tf.Length+1))
	if err == nil && n != tf.Length {
		err = &SecurityError{Op: "copy " + tf.Path, Err: fmt.Errorf("%d bytes, signed length %d: %w", n, tf.Length, ErrTargetMismatch)}
	}
	if err == nil {
		if verr := hashes.verify(); verr != nil {
			err = &SecurityError{Op: "copy " + tf.Path, Err: verr}
		}
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(part, dst)
	}
	if err != nil {
		os.Remove(part)
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}
