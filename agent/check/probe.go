package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// outcome is what one run of a probe found.
type outcome struct {
	ok    bool
	value float64
	unit  string
	msg   string
}

// probe runs one check once; ctx carries its timeout.
type probe func(ctx context.Context) outcome

// newProbe prepares the probe of a validated spec with its defaults: it reads CA files and
// compiles the regexp once, so a run does only the check's own I/O.
func newProbe(s Spec, now func() time.Time) (probe, error) {
	switch s.Kind {
	case wire.CheckTCP, wire.CheckUnix:
		network := "tcp"
		if s.Kind == wire.CheckUnix {
			network = "unix"
		}
		return func(ctx context.Context) outcome { return dialProbe(ctx, network, s.Target) }, nil
	case wire.CheckHTTP:
		return newHTTPProbe(s)
	case wire.CheckTLS:
		if strings.HasPrefix(s.Target, "/") {
			return func(ctx context.Context) outcome { return certFileProbe(s.Target, s.MinDays, now()) }, nil
		}
		roots, err := loadCA(s.CA)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) outcome { return tlsProbe(ctx, s.Target, roots, s.MinDays, now) }, nil
	case wire.CheckFile:
		return func(ctx context.Context) outcome { return fileProbe(s.Target, s.MaxAge, s.MinSize, now()) }, nil
	case wire.CheckDNS:
		return func(ctx context.Context) outcome { return dnsProbe(ctx, s.Target, s.Server) }, nil
	}
	return nil, fmt.Errorf("%w %s: kind %q unknown", ErrInvalid, s.Name, s.Kind)
}

// loadCA reads a PEM file of CA certificates; an empty path means the system roots (nil).
func loadCA(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	data, err := readBounded(path, MaxPEMBytes)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrInvalid, path)
	}
	return pool, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

func millis(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func dialProbe(ctx context.Context, network, addr string) outcome {
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return outcome{msg: errText(ctx, err)}
	}
	took := time.Since(start)
	conn.Close()
	return outcome{ok: true, value: millis(took), unit: wire.UnitMillis, msg: "connected"}
}

func newHTTPProbe(s Spec) (probe, error) {
	roots, err := loadCA(s.CA)
	if err != nil {
		return nil, err
	}
	var re *regexp.Regexp
	if s.BodyRegexp != "" {
		re = regexp.MustCompile(s.BodyRegexp) // validated
	}
	client := &http.Client{
		Transport: &http.Transport{
			// A health check measures the target itself: no proxy from the environment, a fresh
			// connection each run, and no idle connections kept between runs.
			Proxy:                  nil,
			DialContext:            (&net.Dialer{}).DialContext,
			TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DisableKeepAlives:      true,
			MaxResponseHeaderBytes: MaxHeaderBytes,
		},
		// The check is of the URL given, not of wherever it redirects (expect_status: 301 checks
		// a redirect).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	match := s.BodyContains != "" || re != nil
	return func(ctx context.Context) outcome {
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Target, nil)
		if err != nil {
			return outcome{msg: err.Error()}
		}
		req.Header.Set("User-Agent", "vigil-agent-check")
		resp, err := client.Do(req)
		if err != nil {
			return outcome{msg: errText(ctx, err)}
		}
		defer resp.Body.Close()
		var body []byte
		if match {
			body, err = io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
			if err != nil {
				return outcome{msg: "read body: " + errText(ctx, err)}
			}
		}
		o := outcome{value: millis(time.Since(start)), unit: wire.UnitMillis}
		switch {
		case resp.StatusCode != s.ExpectStatus:
			o.msg = fmt.Sprintf("status %d, want %d", resp.StatusCode, s.ExpectStatus)
		case s.BodyContains != "" && !bytes.Contains(body, []byte(s.BodyContains)):
			o.msg = fmt.Sprintf("status %d, but the body's first %d bytes do not contain %q", resp.StatusCode, len(body), s.BodyContains)
		case re != nil && !re.Match(body):
			o.msg = fmt.Sprintf("status %d, but the body's first %d bytes do not match %q", resp.StatusCode, len(body), s.BodyRegexp)
		default:
			o.ok, o.msg = true, fmt.Sprintf("status %d", resp.StatusCode)
		}
		return o
	}, nil
}

// tlsProbe connects to addr and measures its certificate's days to expiry. The handshake does
// not verify (the check must see an expired or untrusted certificate to report on it); the chain
// is verified right after against roots (nil: the system's), and a check with an untrusted chain
// fails. Nothing is sent over the connection.
func tlsProbe(ctx context.Context, addr string, roots *x509.CertPool, minDays float64, now func() time.Time) outcome {
	host, _, _ := net.SplitHostPort(addr)
	d := tls.Dialer{Config: &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, // verified by hand below, so expiry is measured even on a bad chain
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return outcome{msg: errText(ctx, err)}
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return outcome{msg: "no certificate"}
	}
	leaf, t := certs[0], now()
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host, CurrentTime: t})
	o := expiry(leaf, minDays, t)
	var inv x509.CertificateInvalidError
	if verr != nil && !(errors.As(verr, &inv) && inv.Reason == x509.Expired && inv.Cert == leaf) {
		o.ok = false
		o.msg = "not trusted: " + verr.Error() + "; " + o.msg
	}
	return o
}

func certFileProbe(path string, minDays float64, now time.Time) outcome {
	data, err := readBounded(path, MaxPEMBytes)
	if err != nil {
		return outcome{msg: errText(context.Background(), err)}
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return outcome{msg: "no PEM certificate in the file"}
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return outcome{msg: "parse certificate: " + err.Error()}
		}
		return expiry(cert, minDays, now)
	}
}

// expiry judges a certificate's days to expiry against minDays.
func expiry(c *x509.Certificate, minDays float64, now time.Time) outcome {
	days := c.NotAfter.Sub(now).Hours() / 24
	o := outcome{value: math.Round(days*100) / 100, unit: wire.UnitDays}
	until := c.NotAfter.UTC().Format("2006-01-02 15:04 UTC")
	switch {
	case days < 0:
		o.msg = fmt.Sprintf("%q expired on %s", c.Subject.CommonName, until)
	case days < minDays:
		o.msg = fmt.Sprintf("%q expires in %.1f days (%s), under %g", c.Subject.CommonName, days, until, minDays)
	default:
		o.ok = true
		o.msg = fmt.Sprintf("%q expires in %.1f days (%s)", c.Subject.CommonName, days, until)
	}
	if now.Before(c.NotBefore) {
		o.ok = false
		o.msg = fmt.Sprintf("%q not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return o
}

func fileProbe(path string, maxAge time.Duration, minSize int64, now time.Time) outcome {
	fi, err := os.Stat(path)
	if err != nil {
		return outcome{msg: errText(context.Background(), err)}
	}
	age := max(now.Sub(fi.ModTime()), 0)
	o := outcome{value: round3(age.Seconds()), unit: wire.UnitSeconds}
	what := fmt.Sprintf("written %s ago, %d bytes", age.Round(time.Second), fi.Size())
	switch {
	case maxAge > 0 && age > maxAge:
		o.msg = what + fmt.Sprintf("; older than %s", maxAge)
	case fi.Size() < minSize:
		o.msg = what + fmt.Sprintf("; smaller than %d bytes", minSize)
	default:
		o.ok, o.msg = true, what
	}
	return o
}

func dnsProbe(ctx context.Context, name, server string) outcome {
	res := net.DefaultResolver
	if server != "" {
		var d net.Dialer
		res = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		}}
	}
	start := time.Now()
	addrs, err := res.LookupHost(ctx, name)
	if err != nil {
		return outcome{msg: errText(ctx, err)}
	}
	if len(addrs) == 0 {
		return outcome{msg: "no addresses"}
	}
	return outcome{ok: true, value: millis(time.Since(start)), unit: wire.UnitMillis, msg: strings.Join(addrs, " ")}
}

// errText describes a failed run; a run cut off by its timeout says so plainly.
func errText(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return "no answer within the timeout"
	}
	return err.Error()
}
