package signing

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// PEM block types.
const (
	// EncryptedPEMType is the PEM type of an encrypted private key file
	// (shared with sigstore and cosign).
	EncryptedPEMType = string(cryptoutils.EncryptedSigstorePrivateKeyPEMType)
	// PublicPEMType is the PEM type of a public key file.
	PublicPEMType = string(cryptoutils.PublicKeyPEMType)
)

// PublicKeySuffix is appended to a private key's file name for its public key.
const PublicKeySuffix = ".pub"

// kdfStrength is the scrypt cost of new key files: OWASP (N=2^17). Tests
// lower it; it is not configurable otherwise.
var kdfStrength = encrypted.OWASP

// maxKeyFileSize bounds what is read as a key file.
const maxKeyFileSize = 1 << 20

// EncryptPrivateKey returns the private key as an encrypted PEM block.
// pass is called with confirm=true; an empty passphrase is refused.
func (k *Key) EncryptPrivateKey(pass PassphraseFunc) ([]byte, error) {
	if k.priv == nil {
		return nil, ErrNoPrivateKey
	}
	if pass == nil {
		return nil, fmt.Errorf("encrypt private key: %w", ErrEmptyPassphrase)
	}
	p, err := pass(true)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("encrypt private key: %w", ErrEmptyPassphrase)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	ct, err := encrypted.EncryptWithCustomKDFParameters(der, p, kdfStrength)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: EncryptedPEMType, Bytes: ct}), nil
}

// LoadOptions adjust how private keys are parsed.
type LoadOptions struct {
	// InsecureAllowUnencrypted accepts an unencrypted PKCS#8 "PRIVATE KEY"
	// PEM block. Off by default: keys must be encrypted at rest.
	InsecureAllowUnencrypted bool
}

// ParsePrivateKey decrypts an encrypted PEM private key, calling pass with
// confirm=false. A wrong passphrase gives ErrBadPassphrase.
func ParsePrivateKey(pemBytes []byte, pass PassphraseFunc, opts LoadOptions) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parse private key: no PEM block")
	}
	var der []byte
	switch block.Type {
	case EncryptedPEMType, "ENCRYPTED COSIGN PRIVATE KEY":
		if pass == nil {
			return nil, fmt.Errorf("decrypt private key: %w", ErrEmptyPassphrase)
		}
		p, err := pass(false)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		der, err = encrypted.Decrypt(block.Bytes, p)
		if err != nil {
			// go-securesystemslib reports a failed secretbox open (the only
			// outcome of a wrong passphrase) with exactly this message.
			if err.Error() == "encrypted: decryption failed" {
				return nil, ErrBadPassphrase
			}
			return nil, fmt.Errorf("decrypt private key: %w", err)
		}
	case string(cryptoutils.PrivateKeyPEMType):
		if !opts.InsecureAllowUnencrypted {
			return nil, ErrUnencryptedKey
		}
		der = block.Bytes
	default:
		return nil, fmt.Errorf("parse private key: PEM type %q: %w", block.Type, ErrUnsupportedKey)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	return FromPrivateKey(priv)
}

// LoadPrivateKeyFile reads and decrypts a private key file written by SaveKeyFile.
func LoadPrivateKeyFile(path string, pass PassphraseFunc, opts LoadOptions) (*Key, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(b, pass, opts)
	if err != nil {
		if errors.Is(err, ErrBadPassphrase) {
			return nil, err
		}
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	k.ref = path
	return k, nil
}

// SaveKeyFile writes k's private key, encrypted with a passphrase from pass,
// to path with mode 0600, and its public key to path+".pub" with mode 0644.
// It refuses (ErrKeyExists) to replace either file. The private key file is
// complete on disk (synced) before the function returns.
func SaveKeyFile(path string, k *Key, pass PassphraseFunc) error {
	pubPath := path + PublicKeySuffix
	for _, p := range []string{path, pubPath} { // before asking for a passphrase
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("write %s: %w", p, ErrKeyExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	privPEM, err := k.EncryptPrivateKey(pass)
	if err != nil {
		return err
	}
	pubPEM, err := k.PublicKeyPEM()
	if err != nil {
		return err
	}
	if err := writeNew(path, privPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(path)
		return err
	}
	k.ref = path
	return nil
}

// writeNew creates path exclusively, writes data and syncs it and its directory.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write %s: %w", path, ErrKeyExists)
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil { // umask may have removed bits; never adds any
		f.Close()
		os.Remove(path)
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxKeyFileSize)
	}
	return b, nil
}

// ParsePublicKey parses a PKIX "PUBLIC KEY" PEM block (as written next to a
// private key) into its TUF form.
func ParsePublicKey(pemBytes []byte) (*metadata.Key, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	return TUFKey(pub)
}

// LoadPublicKeyFile reads a public key PEM file into its TUF form.
func LoadPublicKeyFile(path string) (*metadata.Key, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("load public key %s: %w", path, err)
	}
	return k, nil
}
