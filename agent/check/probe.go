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
	"syscall"
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
			cf := &certFile{path: s.Target}
			return func(ctx context.Context) outcome { return cf.probe(s.MinDays, now()) }, nil
		}
		roots, err := loadCA(s.CA)
		if err != nil {
			return nil, err
		}
		tp := &tlsProber{addr: s.Target, roots: roots, minDays: s.MinDays, now: now}
		return tp.probe, nil
	case wire.CheckFile:
		return func(ctx context.Context) outcome { return fileProbe(s.Target, s.MaxAge, s.MinSize, now()) }, nil
	case wire.CheckDNS:
		res := resolver(s.Server)
		return func(ctx context.Context) outcome { return dnsProbe(ctx, res, s.Target) }, nil
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
			// connection each run, and no idle connections kept between runs, so each run proves
			// the service accepts and answers now. An https target's TLS session is resumed
			// (clientTLS): still a new connection and handshake, without the certificate chain
			// being sent and verified again every run.
			Proxy:                  nil,
			DialContext:            (&net.Dialer{}).DialContext,
			TLSClientConfig:        clientTLS(roots),
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

// clientTLS is the TLS configuration of an https check's client: roots (nil: the system's), and a
// cache of one session so that each run resumes the last run's session (TLS 1.3 PSK with a fresh
// key exchange: a new connection and handshake, without the server's certificate chain being sent
// and verified again). Go's client still refuses to resume once the cached certificate has
// expired or does not match the host name. Key exchange is classical (X25519, P-256): a health
// check's request and answer carry nothing that needs post-quantum confidentiality, and the
// hybrid X25519MLKEM768 share was a large part of a run's CPU and garbage (BenchmarkTenChecks).
func clientTLS(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		RootCAs:            roots,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(1),
		CurvePreferences:   checkCurves,
	}
}

// checkCurves are the key exchanges checks offer, the first sent as the key share.
var checkCurves = []tls.CurveID{tls.X25519, tls.CurveP256}

// tlsProber is a tls check of host:port. Each run makes a full handshake (never resumed: the check
// reports the certificate the server sends now) and measures the certificate's days to expiry.
// The handshake does not verify (the check must see an expired or untrusted certificate to report
// on it); the chain is verified right after against roots (nil: the system's), and a check with an
// untrusted chain fails. A successful verification is remembered with the chain it was of and
// reused while the server sends the same certificates and the time is inside all of their validity
// periods, the only way a verification of the same chain against the same roots can change.
// Nothing is sent over the connection. Runs of one check do not overlap (Runner), so it needs no
// lock.
type tlsProber struct {
	addr    string
	roots   *x509.CertPool
	minDays float64
	now     func() time.Time

	verified   [][]byte // the raw certificates of the last chain verified, leaf first
	validFrom  time.Time
	validUntil time.Time
}

func (p *tlsProber) probe(ctx context.Context) outcome {
	host, _, _ := net.SplitHostPort(p.addr)
	d := tls.Dialer{Config: &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, // verified by hand below, so expiry is measured even on a bad chain
		MinVersion:         tls.VersionTLS12,
		CurvePreferences:   checkCurves,
	}}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return outcome{msg: errText(ctx, err)}
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return outcome{msg: "no certificate"}
	}
	leaf, t := certs[0], p.now()
	o := expiry(leaf, p.minDays, t)
	if p.stillVerified(certs, t) {
		return o
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, verr := leaf.Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter, DNSName: host, CurrentTime: t})
	if verr == nil {
		p.remember(certs, chains)
	}
	var inv x509.CertificateInvalidError
	if verr != nil && !(errors.As(verr, &inv) && inv.Reason == x509.Expired && inv.Cert == leaf) {
		o.ok = false
		o.msg = "not trusted: " + verr.Error() + "; " + o.msg
	}
	return o
}

// stillVerified reports whether certs are the chain last verified and t is inside the validity of
// every certificate that verification used.
func (p *tlsProber) stillVerified(certs []*x509.Certificate, t time.Time) bool {
	if len(certs) != len(p.verified) || t.Before(p.validFrom) || t.After(p.validUntil) {
		return false
	}
	for i, c := range certs {
		if !bytes.Equal(c.Raw, p.verified[i]) {
			return false
		}
	}
	return true
}

func (p *tlsProber) remember(certs []*x509.Certificate, chains [][]*x509.Certificate) {
	p.verified = p.verified[:0]
	for _, c := range certs {
		p.verified = append(p.verified, c.Raw)
	}
	p.validFrom, p.validUntil = certs[0].NotBefore, certs[0].NotAfter
	for _, chain := range chains {
		for _, c := range chain {
			if c.NotBefore.After(p.validFrom) {
				p.validFrom = c.NotBefore
			}
			if c.NotAfter.Before(p.validUntil) {
				p.validUntil = c.NotAfter
			}
		}
	}
}

// certFile is a tls check of a PEM file. The file is read and parsed again only when its size,
// modification time or inode changed since the last run.
type certFile struct {
	path string

	size  int64
	mtime time.Time
	ino   uint64
	cert  *x509.Certificate // nil: no certificate parsed yet, or the last read failed
}

func (f *certFile) probe(minDays float64, now time.Time) outcome {
	fi, err := os.Stat(f.path)
	if err != nil {
		f.cert = nil
		return outcome{msg: errText(context.Background(), err)}
	}
	ino := inode(fi)
	if f.cert != nil && fi.Size() == f.size && fi.ModTime().Equal(f.mtime) && ino == f.ino {
		return expiry(f.cert, minDays, now)
	}
	f.cert = nil
	cert, o := readCertFile(f.path)
	if cert == nil {
		return o
	}
	f.cert, f.size, f.mtime, f.ino = cert, fi.Size(), fi.ModTime(), ino
	return expiry(cert, minDays, now)
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// readCertFile returns the first certificate of a PEM file, or nil and the failed outcome.
func readCertFile(path string) (*x509.Certificate, outcome) {
	data, err := readBounded(path, MaxPEMBytes)
	if err != nil {
		return nil, outcome{msg: errText(context.Background(), err)}
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, outcome{msg: "no PEM certificate in the file"}
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, outcome{msg: "parse certificate: " + err.Error()}
		}
		return cert, outcome{}
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

// resolver returns the resolver of a dns check: the system's for an empty server, otherwise Go's
// own resolver asking server, made once per check.
func resolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	var d net.Dialer
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, server)
	}}
}

func dnsProbe(ctx context.Context, res *net.Resolver, name string) outcome {
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
