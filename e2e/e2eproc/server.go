package e2eproc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
)

// ServerConfig configures StartServer; the zero value is ready to use.
type ServerConfig struct {
	Version string   // stamped into the binary; default "0.0.0-e2e"
	DataDir string   // default a new t.TempDir()
	Listen  string   // default a free 127.0.0.1 port
	Args    []string // more flags
}

// Server is a running vigil-server.
type Server struct {
	*Process
	DataDir    string
	URL        string // https://127.0.0.1:port
	CAFile     string // <data-dir>/tls/ca.pem, the CA agents pin
	AdminToken string // from <data-dir>/admin-token
	HTTP       *http.Client
}

// StartServer starts vigil-server and waits until /healthz answers over TLS verified with the CA
// it made.
func StartServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Version == "" {
		cfg.Version = "0.0.0-e2e"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = FreeAddr(t)
	}
	bin := Build(t, "vigil-server", cfg.Version)
	args := append([]string{"--data-dir", cfg.DataDir, "--listen", cfg.Listen}, cfg.Args...)
	s := &Server{
		DataDir: cfg.DataDir,
		URL:     "https://" + cfg.Listen,
		CAFile:  filepath.Join(cfg.DataDir, "tls", "ca.pem"),
	}
	s.Process = StartProcess(t, "vigil-server", bin, nil, args...)
	s.waitReady(t)
	return s
}

// Start restarts the server on the same data directory and address.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.Process.Start(t)
	s.waitReady(t)
}

func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if !s.Running() {
			t.Fatalf("vigil-server exited: %v\n%s", s.Err(), Tail(s.Log, 30))
		}
		if s.HTTP == nil {
			if pem, err := os.ReadFile(s.CAFile); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pem) {
					s.HTTP = &http.Client{Timeout: 10 * time.Second,
						Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				}
			}
		}
		if s.HTTP != nil {
			if resp, err := s.HTTP.Get(s.URL + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil-server not ready after 60s\n%s", Tail(s.Log, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(s.DataDir, "admin-token"))
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	s.AdminToken = strings.TrimSpace(string(tok))
}

// Client returns an API client authenticated with the admin token.
func (s *Server) Client() *apiclient.Client {
	return apiclient.New(s.URL, s.AdminToken, s.HTTP)
}

// EnrollToken creates a single-use enrollment token.
func (s *Server) EnrollToken(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	et, err := s.Client().CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{TTL: "1h", MaxUses: 1})
	if err != nil {
		t.Fatalf("create enrollment token: %v", err)
	}
	return et.Token
}
