package tufrepo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/signing"
)

// Files under Config.DataDir holding the online keys.
const (
	KeysDir            = "tuf-keys"
	snapshotKeyFile    = "snapshot.key"
	timestampKeyFile   = "timestamp.key"
	passphraseFileName = "passphrase"
)

// OnlineKeys are the public keys the server signs snapshot and timestamp with, in their TUF
// form: what release engineers put into root.json for those roles.
type OnlineKeys struct {
	Snapshot  []*metadata.Key `json:"snapshot"`
	Timestamp []*metadata.Key `json:"timestamp"`
}

// haveKeys reports whether dir holds online keys already.
func haveKeys(dir string) bool {
	for _, f := range []string{snapshotKeyFile, timestampKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// onlineKeys loads the snapshot and timestamp keys from dir, generating them (and, without
// passFile or passphrase, the passphrase) on first use.
func onlineKeys(dir, passFile string, passphrase []byte) (snapshot, timestamp *signing.Key, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, false, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, nil, false, fmt.Errorf("restrict %s: %w", dir, err)
	}
	pass, err := passphraseSource(dir, passFile, passphrase)
	if err != nil {
		return nil, nil, false, err
	}
	var c1, c2 bool
	if snapshot, c1, err = loadOrCreateKey(filepath.Join(dir, snapshotKeyFile), pass); err != nil {
		return nil, nil, false, err
	}
	if timestamp, c2, err = loadOrCreateKey(filepath.Join(dir, timestampKeyFile), pass); err != nil {
		return nil, nil, false, err
	}
	return snapshot, timestamp, c1 || c2, nil
}

// passphraseSource returns the source of the online keys' passphrase: the passphrase itself or
// passFile when given, else dir/passphrase, created with a random passphrase if there are no
// keys yet.
func passphraseSource(dir, passFile string, passphrase []byte) (signing.PassphraseFunc, error) {
	if passphrase != nil {
		return signing.StaticPassphrase(passphrase), nil
	}
	if passFile != "" {
		if _, err := os.Stat(passFile); err != nil {
			return nil, fmt.Errorf("online key passphrase file: %w", err)
		}
		return signing.PassphraseFromFile(passFile), nil
	}
	p := filepath.Join(dir, passphraseFileName)
	if _, err := os.Stat(p); err == nil {
		return signing.PassphraseFromFile(p), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, k := range []string{snapshotKeyFile, timestampKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, k)); err == nil {
			return nil, fmt.Errorf("online keys exist in %s but their passphrase file %s is missing (was the server started with --online-key-passphrase-file before?)", dir, p)
		}
	}
	var rnd [32]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	if err := createFile(p, []byte(hex.EncodeToString(rnd[:])+"\n")); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("write online key passphrase: %w", err)
	}
	return signing.PassphraseFromFile(p), nil
}

// loadOrCreateKey decrypts the key at path, or generates an ed25519 key there if there is none.
// Two processes starting at once on one directory end up with the same key: the file is
// created exclusively, and the loser loads the winner's.
func loadOrCreateKey(path string, pass signing.PassphraseFunc) (*signing.Key, bool, error) {
	if _, err := os.Stat(path); err == nil {
		k, err := signing.LoadPrivateKeyFile(path, pass, signing.LoadOptions{})
		if err != nil {
			return nil, false, fmt.Errorf("load online key %s: %w", path, err)
		}
		return k, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err := signing.Generate(signing.KeyTypeED25519)
	if err != nil {
		return nil, false, err
	}
	pemBytes, err := k.EncryptPrivateKey(pass)
	if err != nil {
		return nil, false, fmt.Errorf("encrypt online key: %w", err)
	}
	if err := createFile(path, pemBytes); errors.Is(err, fs.ErrExist) {
		return loadOrCreateKey(path, pass)
	} else if err != nil {
		return nil, false, fmt.Errorf("write online key: %w", err)
	}
	return k, true, nil
}

// createFile writes data to path (mode 0600) completely or not at all, and never over an
// existing file (fs.ErrExist).
func createFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
