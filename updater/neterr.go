package updater

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"syscall"

	"github.com/vigilhq/vigil/tlspin"
)

// What failed when a request to the server did not get an answer. A *RequestError carries one of
// these as its Class; test them with errors.Is.
var (
	// ErrTLS: the TLS handshake failed or the server's certificate does not verify: it does not
	// chain to the pinned CA (--ca), no certificate has the pinned fingerprint
	// (--ca-fingerprint; tlspin.ErrFingerprintMismatch is in the chain), the certificate does not
	// name the host or IP address in --server, it has expired, or the port does not speak TLS.
	// The server may be up: this is a configuration error or someone in the middle, and it is
	// NOT matched by ErrUnavailable.
	ErrTLS = errors.New("TLS verification of the server failed")
	// ErrDNS: the server's host name does not resolve.
	ErrDNS = errors.New("cannot resolve the server's host name")
	// ErrConnect: no connection (refused, host or network unreachable, reset, proxy refused).
	ErrConnect = errors.New("cannot connect to the server")
	// ErrTimeout: a connect, handshake, response or whole-request timeout passed.
	ErrTimeout = errors.New("request to the server timed out")
	// ErrHTTPStatus: the server answered with an error status. A 5xx or 429 comes as a
	// *RequestError (and matches ErrUnavailable); other statuses are refusals of this request.
	ErrHTTPStatus = errors.New("server answered with an error status")
)

// RequestError is a request to the server that got no usable answer. Class says what failed
// (ErrTLS, ErrDNS, ErrConnect, ErrTimeout, ErrHTTPStatus, or ErrUnavailable when nothing more
// specific is known). Every class but ErrTLS also matches ErrUnavailable: try again later. The
// cause stays reachable with errors.As (*net.DNSError, *tls.CertificateVerificationError,
// *tlspin.VerifyError, …).
type RequestError struct {
	Class error
	Err   error
}

func (e *RequestError) Error() string { return e.Class.Error() + ": " + e.Err.Error() }

// Unwrap returns the class, the cause and, for the transient classes, ErrUnavailable.
func (e *RequestError) Unwrap() []error {
	if e.Class == ErrTLS || e.Class == ErrUnavailable {
		return []error{e.Class, e.Err}
	}
	return []error{e.Class, ErrUnavailable, e.Err}
}

// requestError classifies the error of an HTTP round trip (client.Do or reading the body).
func requestError(err error) error {
	if err == nil {
		return nil
	}
	var re *RequestError
	if errors.As(err, &re) {
		return err
	}
	return &RequestError{Class: requestClass(err), Err: err}
}

func requestClass(err error) error {
	var (
		dnsErr    *net.DNSError
		certErr   *tls.CertificateVerificationError
		pinErr    *tlspin.VerifyError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recErr    tls.RecordHeaderError
		alertErr  tls.AlertError
		echErr    *tls.ECHRejectionError
		opErr     *net.OpError
		netErr    net.Error
	)
	switch {
	case errors.As(err, &dnsErr):
		return ErrDNS
	case errors.As(err, &pinErr), errors.As(err, &certErr), errors.As(err, &unknownCA),
		errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &recErr),
		errors.As(err, &alertErr), errors.As(err, &echErr):
		return ErrTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ErrTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &opErr) && opErr.Op == "dial", errors.As(err, &opErr) && opErr.Op == "proxyconnect":
		return ErrConnect
	}
	return ErrUnavailable
}

// statusError is an error status that means "try again later" (5xx, 429).
func statusError(err error) error {
	return &RequestError{Class: ErrHTTPStatus, Err: err}
}

// tlsForServer binds tc to the one host the updater talks to (the server in urls, which must all
// name the same host), so a CA pinned by fingerprint verifies the certificate against that host
// even when it is an IP address (see tlspin.ForHost). Redirects are not followed, so no request
// goes to another host. tc nil (system roots) or urls naming different hosts leave tc as it is; a
// fingerprint pin then refuses IP addresses (tlspin.ErrNoServerName) rather than skip the check.
func tlsForServer(tc *tls.Config, urls ...string) *tls.Config {
	if tc == nil {
		return nil
	}
	host := ""
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" || (host != "" && u.Hostname() != host) {
			return tc
		}
		host = u.Hostname()
	}
	if host == "" {
		return tc
	}
	return tlspin.ForHost(tc, host)
}
