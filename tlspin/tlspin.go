// Package tlspin verifies a vigil-server by a pinned CA: a CA certificate file, or the SHA-256
// fingerprint of the CA certificate that vigil-server prints when it makes its own CA. The agent and
// the updater both use it, so both verify the server the same way.
//
// Trust model: only the pinned CA is trusted (never the system roots alongside it), and the server's
// leaf certificate must chain to it and match the host name — or the IP address, when the server URL
// names one — exactly as with a CA file. This package imports only the standard library.
//
// A configuration from PinnedCAFingerprint needs to know which host was dialled. crypto/tls sends no
// SNI for an IP address and then leaves ConnectionState.ServerName empty, so hand every connection a
// configuration from ForHost (or set ServerName yourself): the handshake then verifies against the
// URL's host, name or IP, and fails with ErrNoServerName rather than skip the check.
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

// ErrNoServerName is returned (wrapped in a *VerifyError) by a handshake with a PinnedCAFingerprint
// configuration that does not know the dialled host: the server is an IP address and the
// configuration did not come from ForHost nor have ServerName set.
var ErrNoServerName = errors.New("no server name to verify the certificate against (configure the connection with tlspin.ForHost)")

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

// Fingerprint returns the SHA-256 fingerprint of a DER certificate in lowercase hex, the form
// ParseFingerprint reads and vigil-server prints.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
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

// ForHost returns a copy of cfg for connections to host, the host part of the server URL (a DNS
// name or an IP address, without port or brackets). The copy's ServerName is host unless cfg
// already names one, and a VerifyConnection hook (such as PinnedCAFingerprint's) sees that name
// even when crypto/tls sent no SNI because it is an IP address, so the certificate is checked
// against the IP address the client dialled. A nil cfg gives a TLS 1.2+ configuration that uses
// the system roots. Configurations from PinnedCA need no ForHost (crypto/tls verifies IP
// addresses itself) but are not harmed by it.
//
// A configuration from ForHost must only be used for connections to that host: net/http, for one,
// takes a set ServerName as is, whatever host a request goes to.
func ForHost(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if inner := cfg.VerifyConnection; inner != nil {
		name := cfg.ServerName
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.ServerName == "" {
				// No SNI was sent, which crypto/tls does exactly when the name is an IP address.
				cs.ServerName = name
			}
			return inner(cs)
		}
	}
	return cfg
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
		return ErrNoServerName
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
		presented := make([]string, len(certs))
		for i, c := range certs {
			presented[i] = Fingerprint(c.Raw)
		}
		return fmt.Errorf("%w: pinned %s, the server presented %s", ErrFingerprintMismatch,
			hex.EncodeToString(want[:]), strings.Join(presented, ", "))
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
