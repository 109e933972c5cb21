package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/wire"
)

type testPKI struct {
	caDER, leafDER []byte
	leafKey        *ecdsa.PrivateKey
}

// Certificates are valid from 1970 to 2100, so they verify inside synctest bubbles (whose clock
// starts in 2000) as well as outside.
var (
	certNotBefore = time.Unix(0, 0)
	certNotAfter  = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// sharedPKI is one PKI for the tests that need any (the pipe-served fake server).
var sharedPKI = sync.OnceValue(func() testPKI {
	p, err := makeTestPKI("shared")
	if err != nil {
		panic(err)
	}
	return p
})

func newTestPKI(t *testing.T, name string) testPKI {
	t.Helper()
	p, err := makeTestPKI(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func makeTestPKI(name string) (testPKI, error) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: certNotBefore, NotAfter: certNotAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return testPKI{}, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vigil-server"},
		NotBefore: certNotBefore, NotAfter: certNotAfter,
		DNSNames: []string{"localhost", "vigil.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return testPKI{}, err
	}
	return testPKI{caDER: caDER, leafDER: leafDER, leafKey: leafKey}, nil
}

// serverConfig presents the chain [leaf, CA], as vigil-server does.
func (p testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{p.leafDER, p.caDER}, PrivateKey: p.leafKey}}}
}

func (p testPKI) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.caDER})
}

func (p testPKI) fingerprint(colons bool) string {
	sum := sha256.Sum256(p.caDER)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	if !colons {
		return strings.ToLower(h)
	}
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// startTLS starts a fake server presenting the chain [leaf, CA], as vigil-server does.
func startTLS(t *testing.T, p testPKI) *httptest.Server {
	srv := httptest.NewUnstartedServer(newFakeServer())
	srv.TLS = p.serverConfig()
	srv.Config.ErrorLog = quietLog // failed handshakes are what some tests are about
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestTLSPinning(t *testing.T) {
	good := newTestPKI(t, "good")
	other := newTestPKI(t, "other")
	srv := startTLS(t, good)
	hostURL := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	mustCfg := func(c *tls.Config, err error) *tls.Config {
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		url     string
		tls     *tls.Config
		wantErr error // nil: enrollment succeeds
	}{
		{"ca file", srv.URL, mustCfg(tlspin.PinnedCA(good.caPEM())), nil},
		{"ca file by host name", hostURL, mustCfg(tlspin.PinnedCA(good.caPEM())), nil},
		{"wrong ca file", srv.URL, mustCfg(tlspin.PinnedCA(other.caPEM())), errTLS},
		{"fingerprint", srv.URL, mustCfg(tlspin.PinnedCAFingerprint(good.fingerprint(false))), nil},
		{"fingerprint with colons, upper case", hostURL, mustCfg(tlspin.PinnedCAFingerprint(good.fingerprint(true))), nil},
		{"wrong fingerprint", srv.URL, mustCfg(tlspin.PinnedCAFingerprint(other.fingerprint(false))), tlspin.ErrFingerprintMismatch},
		{"fingerprint, wrong host name", srv.URL, nil, errTLS},
		{"system roots", srv.URL, nil, errTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.tls
			if tt.name == "fingerprint, wrong host name" {
				// The right CA, but a name the certificate is not for.
				cfg = mustCfg(tlspin.PinnedCAFingerprint(good.fingerprint(false)))
				cfg.ServerName = "other.example"
			}
			c := newClient(tt.url, cfg, 5*time.Second, "test", nil)
			_, err := c.enroll(context.Background(), &wire.EnrollRequest{EnrollmentToken: "enroll-token-1", Hostname: "h"})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("enroll failed: %v", err)
			case tt.wantErr == errTLS:
				var se *sendError
				if !errors.As(err, &se) || se.class != wire.OutageTLS {
					t.Fatalf("want a TLS failure, got %v", err)
				}
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

var errTLS = errors.New("any TLS failure")

// quietLog discards the test servers' logs of the failures the tests provoke.
var quietLog = log.New(io.Discard, "", 0)
