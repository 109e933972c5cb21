package updater

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

// The pinning rules are the agent's (agent/tls.go), repeated here because importing package agent
// would link its collectors into the supervisor. Both must verify the server the same way.

// ErrFingerprintMismatch: no certificate the server presented has the pinned fingerprint.
var ErrFingerprintMismatch = errors.New("no server certificate matches the pinned CA fingerprint")

// PinnedCA returns a TLS configuration that trusts only the CA certificates in pemData.
func PinnedCA(pemData []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errors.New("no PEM certificate in CA file")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// PinnedCAFingerprint returns a TLS configuration that trusts only the CA certificate whose DER
// encoding has this SHA-256 fingerprint (hex, colons optional): the server's chain must contain
// it and the leaf must verify against it, host name included.
func PinnedCAFingerprint(fp string) (*tls.Config, error) {
	h := strings.ReplaceAll(strings.TrimSpace(fp), ":", "")
	h = strings.TrimPrefix(strings.TrimPrefix(h, "sha256/"), "SHA256/")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("CA fingerprint must be 64 hex digits (SHA-256 of the CA certificate), got %q", fp)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// InsecureSkipVerify only turns off verification against the system roots, which cannot
		// know our CA; VerifyConnection does the complete verification on every handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs, b)
		},
	}, nil
}

func verifyPinned(cs tls.ConnectionState, want []byte) error {
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
		if bytes.Equal(sum[:], want) {
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
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: cs.ServerName, Roots: roots, Intermediates: inter}); err != nil {
		return fmt.Errorf("verify server certificate against the pinned CA: %w", err)
	}
	return nil
}
