package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/app"
)

// startWebServer starts a real vigil-server (SQLite in a temporary data dir, its own CA,
// version 9.9.9) for the test and returns it with an HTTPS client trusting its CA and an API
// client holding the first admin's token.
func startWebServer(t *testing.T) (*app.Server, *http.Client, *apiclient.Client) {
	t.Helper()
	dir := t.TempDir()
	srv, err := app.Start(context.Background(), app.Config{DataDir: dir, Listen: "127.0.0.1:0", Version: "9.9.9",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tokBytes, err := os.ReadFile(filepath.Join(dir, app.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return srv, hc, apiclient.New(srv.URL, strings.TrimSpace(string(tokBytes)), hc)
}
