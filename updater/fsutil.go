package updater

import (
	"fmt"
	"os"
	"path/filepath"
)

// Log attribute keys.
const (
	keyError    = "error"
	keyVersion  = "version"
	keyPrevious = "previous"
	keyTarget   = "target"
	keyReason   = "reason"
	keyStep     = "step"
	keyPID      = "pid"
	keyBinary   = "binary"
	keyDelay    = "delay"
)

// writeFileAtomic writes data to a temporary file beside p, fsyncs it, renames it over p and
// fsyncs the directory.
func writeFileAtomic(p string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), p); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so renames and creations in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// syncFile fsyncs a file by name.
func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
