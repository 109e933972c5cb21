package faults

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/pem"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
				tap.mu.Unlock()
			}
		}
		rp.ServeHTTP(w, r)
	}))
	ts.StartTLS()
	t.Cleanup(ts.Close)
	tap.URL = ts.URL
	tap.CAFile = filepath.Join(t.TempDir(), "tap-ca.pem")
	if err := os.WriteFile(tap.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
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
