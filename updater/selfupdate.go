package updater

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/minio/selfupdate"

	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/internal/wallclock"
	"github.com/vigilhq/vigil/releasespec"
	"github.com/vigilhq/vigil/wire"
)

// Self-update with minio/selfupdate. Its CommitBinary renames the target to the old path, then
// the new file to the target; its own rollback only covers a failed second rename. Two known
// hazards are guarded here:
//   - a crash between the two renames leaves no binary at the target path: RecoverSelfSwap puts
//     the old one back (at startup, and before every swap);
//   - CommitBinary starts by deleting the old path, so retrying a commit after such a crash would
//     delete the only good binary: ApplySelfUpdate refuses to commit unless the target exists.
// The target path is always given explicitly: selfupdate otherwise derives it from /proc/self/exe,
// which names the .old file after a swap in the same process.

// selfPaths returns selfupdate's side files for target: ".<name>.new" and our kept ".<name>.old".
func selfPaths(target string) (newPath, oldPath string) {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, "."+base+".new"), filepath.Join(dir, "."+base+".old")
}

// RecoverSelfSwap repairs an interrupted swap of target: when target is missing and the saved old
// binary exists, the old one is renamed back. It reports whether it restored anything. A stale
// ".new" file is removed only when target exists (it was never committed).
func RecoverSelfSwap(target string) (restored bool, err error) {
	newPath, oldPath := selfPaths(target)
	if _, err := os.Lstat(target); err == nil {
		if err := os.Remove(newPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if _, err := os.Lstat(oldPath); err != nil {
		return false, fmt.Errorf("%s is missing and there is no saved binary at %s: %w", target, oldPath, err)
	}
	if err := os.Rename(oldPath, target); err != nil {
		return false, fmt.Errorf("restore %s: %w", target, err)
	}
	return true, atomicfile.SyncDir(filepath.Dir(target))
}

// ApplySelfUpdate replaces target with the verified file at newFile (sha256 from signed
// metadata), keeping the previous binary as ".<name>.old". failpoint is called after the new file
// is prepared (StepSelfPrepared).
func ApplySelfUpdate(target, newFile string, sha256sum []byte, failpoint func(string)) error {
	if _, err := RecoverSelfSwap(target); err != nil {
		return err
	}
	if _, err := os.Stat(target); err != nil {
		return fmt.Errorf("refusing to swap: %w", err)
	}
	newPath, oldPath := selfPaths(target)
	f, err := os.Open(newFile)
	if err != nil {
		return err
	}
	defer f.Close()
	opts := selfupdate.Options{TargetPath: target, TargetMode: 0o755, Checksum: sha256sum, OldSavePath: oldPath}
	if err := selfupdate.PrepareAndCheckBinary(f, opts); err != nil {
		os.Remove(newPath)
		return fmt.Errorf("prepare new updater binary: %w", err)
	}
	if err := syncFile(newPath); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(filepath.Dir(target)); err != nil {
		return err
	}
	if failpoint != nil {
		failpoint(StepSelfPrepared)
	}
	// The guard: never let CommitBinary delete oldPath while target is missing.
	if _, err := os.Stat(target); err != nil {
		return fmt.Errorf("refusing to commit: %w", err)
	}
	if err := selfupdate.CommitBinary(opts); err != nil {
		if rerr := selfupdate.RollbackError(err); rerr != nil {
			_, _ = RecoverSelfSwap(target)
			return fmt.Errorf("swap updater binary: %w (rollback: %v)", err, rerr)
		}
		return fmt.Errorf("swap updater binary: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(target))
}

// updateSelf updates vigil-updater to the build of the desired version (or channel) when the
// repository has one for this architecture. It returns ErrReexec after the swap.
func (u *Updater) updateSelf(ctx context.Context, repo *Repository, d wire.UpdateDesired) error {
	if u.cfg.Executable == "" {
		return nil
	}
	if _, err := releasespec.ParseVersion(u.cfg.Version); err != nil {
		return nil // a development build does not update itself
	}
	want, err := u.resolve(repo, BinaryUpdater, d)
	if err != nil || want == u.cfg.Version {
		return nil // no updater build for this pin: the updater stays
	}
	if _, err := repo.Target(TargetPath(BinaryUpdater, want, u.cfg.Arch)); err != nil {
		return nil
	}
	cur := u.cfg.Version
	tf, err := u.policy(repo, BinaryUpdater, want, cur)
	if err != nil {
		u.refuse(ctx, BinaryUpdater, cur, want, wire.PhaseSelf, wire.ResultRefused, err)
		return err
	}
	path, err := u.fetch(ctx, repo, tf, BinaryUpdater, cur, want)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	check := func() error {
		if err := CheckELF(path, u.cfg.Arch); err != nil {
			return err
		}
		if err := os.Chmod(path, 0o755); err != nil {
			return err
		}
		out, err := runCheck(ctx, path, u.cfg.VersionTimeout, nil, os.Environ(), "--version")
		if err != nil {
			return err
		}
		if err := checkVersionOutput(out, want); err != nil {
			return err
		}
		_, err = runCheck(ctx, path, u.cfg.VersionTimeout, nil, os.Environ(), "self-check")
		return err
	}
	if err := check(); err != nil {
		_ = u.state.quarantine(BinaryUpdater, want, err.Error())
		u.report(ctx, BinaryUpdater, cur, want, wire.PhaseSelf, wire.ResultFailed, err.Error())
		return err
	}
	started := u.event(ctx, BinaryUpdater, cur, want, wire.PhaseSelf, wire.ResultStarted, "")
	if _, err := u.state.updateJournal(func(j *Journal) {
		j.SelfTrial = &Trial{Version: want, Previous: cur, Started: wallclock.Now().UTC()}
		j.enqueue(started)
	}); err != nil {
		return err
	}
	u.flushEvents(ctx)
	sum, _ := hex.DecodeString(sha256Hex(tf))
	if err := ApplySelfUpdate(u.cfg.Executable, path, sum, u.failpoint); err != nil {
		failed := u.event(ctx, BinaryUpdater, cur, want, wire.PhaseSelf, wire.ResultFailed, err.Error())
		if _, jerr := u.state.updateJournal(func(j *Journal) { j.SelfTrial = nil; j.enqueue(failed) }); jerr != nil {
			u.log.Error("Cannot journal the failed self-update.", keyError, jerr)
		}
		u.flushEvents(ctx)
		return err
	}
	u.failpoint(StepSelfSwapped)
	return ErrReexec
}
