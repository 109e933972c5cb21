package faults

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// maxTapBody bounds the report batch bodies the tap reads.
const maxTapBody = 16 << 20

// reportTap is an HTTPS reverse proxy in front of a vigil-server that decodes every report batch
// passing through: what the agent put on the wire, including fields the server does not keep
// (spool_dropped). Agents pin its CA (CAFile) and use its URL.
type reportTap struct {
	URL    string
	CAFile string

	mu      sync.Mutex
	reports []wire.Report
	seen    []time.Time // when each of reports passed, by the test's (the host's) clock
}

func startTap(t *testing.T, srv *e2eproc.Server) *reportTap {
	t.Helper()
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tap := &reportTap{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = srv.HTTP.Transport
	rp.ErrorLog = log.New(io.Discard, "", 0) // a stopped server is part of the tests
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/reports" {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxTapBody))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var rd io.Reader = bytes.NewReader(body)
			if r.Header.Get("Content-Encoding") == "gzip" {
				if rd, err = gzip.NewReader(rd); err != nil {
					t.Errorf("tap: report batch is not gzip: %v", err)
				}
			}
			var b wire.ReportBatch
			if err == nil && json.NewDecoder(io.LimitReader(rd, maxTapBody)).Decode(&b) == nil {
				tap.mu.Lock()
				tap.reports = append(tap.reports, b.Reports...)
				for range b.Reports {
					tap.seen = append(tap.seen, time.Now())
				}
				tap.mu.Unlock()
			}
		}
		rp.ServeHTTP(w, r)
	}))
	// A certificate valid from an hour ago, as vigil-server makes its own (server/app/tls.go),
	// not httptest's (valid since 1970), so that a client clock set back behaves as with the server.
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{tapCert(t)}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	tap.URL = ts.URL
	tap.CAFile = filepath.Join(t.TempDir(), "tap-ca.pem")
	if err := os.WriteFile(tap.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.TLS.Certificates[0].Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tap
}

// Reports returns every report sent so far (retries included), in order.
func (tap *reportTap) Reports() []wire.Report {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return append([]wire.Report(nil), tap.reports...)
}

// tapCert makes a self-signed certificate for 127.0.0.1, valid from an hour ago for 397 days.
func tapCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "vigil fault-suite tap"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(397 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Skews returns, for each seq sent so far, how far the report's time was from the host's clock
// when it passed the tap, rounded to the hour: the offset of the sending agent's clock (a report
// spooled and sent minutes later still rounds to its offset).
func (tap *reportTap) Skews() map[uint64]time.Duration {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	m := map[uint64]time.Duration{}
	for i, r := range tap.reports {
		m[r.Seq] = r.Time.Sub(tap.seen[i]).Round(time.Hour)
	}
	return m
}
