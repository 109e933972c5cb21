// Package tlspin verifies a vigil-server by a pinned CA: a CA certificate file, or the SHA-256
// fingerprint of the CA certificate that vigil-server prints when it makes its own CA. The agent and
// the updater both use it, so both verify the server the same way.
//
// Trust model: only the pinned CA is trusted (never the system roots alongside it), and the server's
// leaf certificate must chain to it and match the host name, exactly as with a CA file. This package
// imports only the standard library.
package tlspin

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrFingerprintMismatch is returned (wrapped) by a TLS handshake when no certificate the server
// presented has the pinned SHA-256 fingerprint.
var ErrFingerprintMismatch = errors.New("no server certificate matches the pinned CA fingerprint")

// PinnedCA returns a TLS configuration that trusts only the CA certificates in pemData.
func PinnedCA(pemData []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errors.New("no PEM certificate in CA file")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// ParseFingerprint parses a SHA-256 fingerprint written in hex, with or without colons, in either case.
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	h = strings.TrimPrefix(strings.TrimPrefix(h, "sha256/"), "SHA256/")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return fp, fmt.Errorf("CA fingerprint must be 64 hex digits (SHA-256 of the CA certificate), got %q", s)
	}
	copy(fp[:], b)
	return fp, nil
}

// PinnedCAFingerprint returns a TLS configuration that trusts only the CA certificate whose DER
// encoding has the SHA-256 fingerprint fp. The server sends its chain [leaf, CA]; the certificate
// with the fingerprint becomes the only root and the leaf is verified against it, host name
// included, exactly as with a CA file.
func PinnedCAFingerprint(fp string) (*tls.Config, error) {
	want, err := ParseFingerprint(fp)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// InsecureSkipVerify only turns off the default verification against the system roots,
		// which cannot know our CA. VerifyConnection below then does the complete verification —
		// chain to the pinned CA, validity, key usage and host name — on every handshake, resumed
		// ones included. Never set InsecureSkipVerify without it.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs, want)
		},
	}, nil
}

// VerifyError is a failed verification against a pinned CA fingerprint, so callers can tell it
// from other handshake failures with errors.As.
type VerifyError struct{ Err error }

func (e *VerifyError) Error() string { return e.Err.Error() }
func (e *VerifyError) Unwrap() error { return e.Err }

func verifyPinned(cs tls.ConnectionState, want [sha256.Size]byte) error {
	if err := verifyPinnedChain(cs, want); err != nil {
		return &VerifyError{err}
	}
	return nil
}

func verifyPinnedChain(cs tls.ConnectionState, want [sha256.Size]byte) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("server presented no certificate")
	}
	if cs.ServerName == "" {
		return errors.New("no server name to verify the certificate against")
	}
	var ca *x509.Certificate
	for _, c := range certs {
		sum := sha256.Sum256(c.Raw)
		if bytes.Equal(sum[:], want[:]) {
			ca = c
			break
		}
	}
	if ca == nil {
		return ErrFingerprintMismatch
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		if c != ca {
			inter.AddCert(c)
		}
	}
	_, err := certs[0].Verify(x509.VerifyOptions{DNSName: cs.ServerName, Roots: roots, Intermediates: inter})
	if err != nil {
		return fmt.Errorf("verify server certificate against the pinned CA: %w", err)
	}
	return nil
}
