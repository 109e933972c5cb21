package tlspin_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/tlspin/tlspintest"
)

func TestParseFingerprint(t *testing.T) {
	ok := strings.Repeat("ab", 32)
	for _, in := range []string{ok, strings.ToUpper(ok), "AB:" + strings.Repeat("ab:", 30) + "ab"} {
		if _, err := tlspin.ParseFingerprint(in); err != nil {
			t.Errorf("ParseFingerprint(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "abc", strings.Repeat("ab", 31), strings.Repeat("zz", 32), strings.Repeat("ab", 33)} {
		if _, err := tlspin.ParseFingerprint(in); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", in)
		}
	}
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })

// get makes one request to https://host:port/ with cfg, prepared by ForHost for that host.
func get(t *testing.T, srvURL, host string, cfg *tls.Config, forHost bool) error {
	t.Helper()
	u, err := url.Parse(srvURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort(host, u.Port())
	if forHost {
		cfg = tlspin.ForHost(cfg, u.Hostname())
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return nil
}

// pins returns both ways of pinning ca: by file and by fingerprint.
func pins(t *testing.T, ca *tlspintest.CA) map[string]*tls.Config {
	t.Helper()
	byFile, err := tlspin.PinnedCA(ca.PEM)
	if err != nil {
		t.Fatal(err)
	}
	byFP, err := tlspin.PinnedCAFingerprint(tlspin.Fingerprint(ca.Cert.Raw))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*tls.Config{"ca": byFile, "ca-fingerprint": byFP}
}

// TestForHostIPAndName: a server whose certificate names localhost and 127.0.0.1 is verified by
// both pinning modes whether the URL names it by IP address or by DNS name.
func TestForHostIPAndName(t *testing.T) {
	ca := tlspintest.NewCA(t)
	srv := tlspintest.Server(t, ca.Leaf(t, "localhost", "127.0.0.1"), okHandler)
	for mode, cfg := range pins(t, ca) {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			t.Run(mode+"/"+host, func(t *testing.T) {
				if err := get(t, srv.URL, host, cfg, true); err != nil {
					t.Fatalf("pinned %s, host %s: %v", mode, host, err)
				}
			})
		}
	}
}

// TestFingerprintIPWithoutForHost: without ForHost, a fingerprint pin cannot know the dialled IP
// address; it must refuse (ErrNoServerName), never skip the name check.
func TestFingerprintIPWithoutForHost(t *testing.T) {
	ca := tlspintest.NewCA(t)
	srv := tlspintest.Server(t, ca.Leaf(t, "127.0.0.1"), okHandler)
	err := get(t, srv.URL, "127.0.0.1", pins(t, ca)["ca-fingerprint"], false)
	var ve *tlspin.VerifyError
	if !errors.Is(err, tlspin.ErrNoServerName) || !errors.As(err, &ve) {
		t.Fatalf("err = %v, want ErrNoServerName in a *VerifyError", err)
	}
}

// TestNameMismatch: the certificate must name the host dialled, by IP address or DNS name, with
// either pinning mode; the right CA alone is not enough.
func TestNameMismatch(t *testing.T) {
	ca := tlspintest.NewCA(t)
	srv := tlspintest.Server(t, ca.Leaf(t, "vigil.example"), okHandler)
	for mode, cfg := range pins(t, ca) {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			t.Run(mode+"/"+host, func(t *testing.T) {
				err := get(t, srv.URL, host, cfg, true)
				var he x509.HostnameError
				if !errors.As(err, &he) {
					t.Fatalf("err = %v, want an x509.HostnameError", err)
				}
			})
		}
	}
}

// TestFingerprintMismatch: a server whose chain is from another CA is refused by a fingerprint
// pin, with an error that says so and shows what the server presented.
func TestFingerprintMismatch(t *testing.T) {
	pinned := tlspintest.NewCA(t)
	other := tlspintest.NewCA(t)
	srv := tlspintest.Server(t, other.Leaf(t, "localhost", "127.0.0.1"), okHandler)
	for mode, cfg := range pins(t, pinned) {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			t.Run(mode+"/"+host, func(t *testing.T) {
				err := get(t, srv.URL, host, cfg, true)
				if err == nil {
					t.Fatal("a server from another CA was accepted")
				}
				if mode == "ca" {
					var ce *tls.CertificateVerificationError
					if !errors.As(err, &ce) {
						t.Fatalf("err = %v, want a *tls.CertificateVerificationError", err)
					}
					return
				}
				var ve *tlspin.VerifyError
				if !errors.Is(err, tlspin.ErrFingerprintMismatch) || !errors.As(err, &ve) {
					t.Fatalf("err = %v, want ErrFingerprintMismatch in a *VerifyError", err)
				}
				if !strings.Contains(err.Error(), tlspin.Fingerprint(other.Cert.Raw)) {
					t.Errorf("error does not show the presented CA's fingerprint: %v", err)
				}
			})
		}
	}
}

// TestForHostKeepsServerName: an explicit ServerName wins over the URL's host, and ForHost does
// not modify its argument.
func TestForHostKeepsServerName(t *testing.T) {
	base := &tls.Config{ServerName: "vigil.example"}
	if got := tlspin.ForHost(base, "127.0.0.1").ServerName; got != "vigil.example" {
		t.Errorf("ServerName = %q", got)
	}
	plain := &tls.Config{}
	if got := tlspin.ForHost(plain, "[::1]").ServerName; got != "::1" {
		t.Errorf("ServerName = %q, want ::1", got)
	}
	if plain.ServerName != "" {
		t.Error("ForHost modified its argument")
	}
	if c := tlspin.ForHost(nil, "localhost"); c.MinVersion < tls.VersionTLS12 || c.ServerName != "localhost" {
		t.Errorf("ForHost(nil) = MinVersion %x ServerName %q", c.MinVersion, c.ServerName)
	}
}
