package signing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// PassphraseEnv is the environment variable PassphraseFromEnv reads by default.
const PassphraseEnv = "VIGIL_KEY_PASSPHRASE"

// PassphraseFunc returns the passphrase for a private key. confirm is true
// when a key is being encrypted (a prompt should ask twice). It has the shape
// of sigstore's cryptoutils.PassFunc.
type PassphraseFunc func(confirm bool) ([]byte, error)

// ErrNoPassphrase: no passphrase source is available (no variable set and no terminal).
var ErrNoPassphrase = errors.New("signing: no passphrase available")

// maxPassphraseFile bounds a passphrase file.
const maxPassphraseFile = 4096

// StaticPassphrase always returns p. Meant for tests and for callers that
// obtained the passphrase themselves.
func StaticPassphrase(p []byte) PassphraseFunc {
	return func(bool) ([]byte, error) { return bytes.Clone(p), nil }
}

// PassphraseFromEnv reads the passphrase from the environment variable name
// (PassphraseEnv if name is "") at call time. An unset variable gives ErrNoPassphrase.
func PassphraseFromEnv(name string) PassphraseFunc {
	if name == "" {
		name = PassphraseEnv
	}
	return func(bool) ([]byte, error) {
		v, ok := os.LookupEnv(name)
		if !ok {
			return nil, fmt.Errorf("%s is not set: %w", name, ErrNoPassphrase)
		}
		return []byte(v), nil
	}
}

// PassphraseFromFile reads the passphrase from the first line of a file
// (a trailing newline, and a carriage return before it, are removed).
func PassphraseFromFile(path string) PassphraseFunc {
	return func(bool) ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxPassphraseFile+1))
		if err != nil {
			return nil, fmt.Errorf("read passphrase file: %w", err)
		}
		if len(b) > maxPassphraseFile {
			return nil, fmt.Errorf("passphrase file %s: larger than %d bytes", path, maxPassphraseFile)
		}
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[:i]
		}
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
}

// PassphrasePrompt asks for the passphrase on the terminal tty (usually
// os.Stdin), writing prompts to w (usually os.Stderr), without echo. When
// confirm is true it asks twice and fails if the answers differ. If tty is
// not a terminal it returns ErrNoPassphrase.
func PassphrasePrompt(tty *os.File, w io.Writer) PassphraseFunc {
	return func(confirm bool) ([]byte, error) {
		fd := int(tty.Fd())
		if !term.IsTerminal(fd) {
			return nil, fmt.Errorf("%s is not a terminal: %w", tty.Name(), ErrNoPassphrase)
		}
		fmt.Fprint(w, "Passphrase: ")
		p, err := term.ReadPassword(fd)
		fmt.Fprintln(w)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !confirm {
			return p, nil
		}
		fmt.Fprint(w, "Passphrase again: ")
		p2, err := term.ReadPassword(fd)
		fmt.Fprintln(w)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(p, p2) {
			return nil, errors.New("passphrases do not match")
		}
		return p, nil
	}
}

// FirstPassphrase tries each source in order and returns the first passphrase
// one yields; sources failing with ErrNoPassphrase are skipped. The usual CLI
// chain is FirstPassphrase(PassphraseFromEnv(""), PassphrasePrompt(os.Stdin, os.Stderr)),
// with PassphraseFromFile first when the user names a file.
func FirstPassphrase(sources ...PassphraseFunc) PassphraseFunc {
	return func(confirm bool) ([]byte, error) {
		for _, s := range sources {
			p, err := s(confirm)
			if errors.Is(err, ErrNoPassphrase) {
				continue
			}
			return p, err
		}
		return nil, fmt.Errorf("set %s or run on a terminal: %w", PassphraseEnv, ErrNoPassphrase)
	}
}
