package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/internal/wallclock"
	"github.com/vigilhq/vigil/tlspin"

	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/wire"
)

// outageLog records connectivity outages: the open one, from the first failed delivery, and the
// ended ones waiting to ride along with the next report. Both are persisted (temp+fsync+rename) on
// every change, which happens only when connectivity changes, so a restart during an outage keeps
// its true start.
type outageLog struct {
	path string
	Open *wire.Outage  // open since the first failed delivery
	done []wire.Outage // ended, not yet in a spooled report
}

type outageFile struct {
	Open *wire.Outage  `json:"open,omitempty"`
	Done []wire.Outage `json:"done,omitempty"`
}

func (o *outageLog) load(log *slog.Logger) {
	data, err := os.ReadFile(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var f outageFile
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err != nil {
		log.Warn("Ignoring unreadable pending outages.", keyError, err)
		return
	}
	o.Open, o.done = f.Open, f.Done
	if len(o.done) > wire.MaxOutages {
		o.done = o.done[len(o.done)-wire.MaxOutages:]
	}
}

func (o *outageLog) save(log *slog.Logger) {
	if o.Open == nil && len(o.done) == 0 {
		if err := os.Remove(o.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("Could not clear pending outages.", keyError, err)
		}
		return
	}
	data, _ := json.Marshal(outageFile{Open: o.Open, Done: o.done})
	if err := atomicfile.Write(o.path, data, 0o600); err != nil {
		log.Warn("Could not persist pending outages.", keyError, err)
	}
}

// fail notes a failed delivery; the first one opens an outage.
func (o *outageLog) fail(now time.Time, se *sendError, log *slog.Logger) {
	if o.Open != nil {
		return
	}
	o.Open = &wire.Outage{Start: wallclock.Stamp(now).UTC().Truncate(time.Millisecond), Class: se.class, Detail: se.detail}
	o.save(log)
}

// end closes the open outage, if any, and reports whether there was one.
func (o *outageLog) end(now time.Time, log *slog.Logger) bool {
	if o.Open == nil {
		return false
	}
	out := *o.Open
	out.End = wallclock.Stamp(now).UTC().Truncate(time.Millisecond)
	if out.End.Before(out.Start) {
		out.End = out.Start // the clock stepped back
	}
	o.Open = nil
	if len(o.done) >= wire.MaxOutages {
		o.done = o.done[1:]
	}
	o.done = append(o.done, out)
	o.save(log)
	return true
}

// attached forgets the ended outages once a spooled report carries them.
func (o *outageLog) attached(log *slog.Logger) {
	o.done = nil
	o.save(log)
}

// sendError is a failed delivery: the outage class and detail to record, and how long the
// server asked us to wait, if it did.
type sendError struct {
	class      string
	detail     string
	status     int
	retryAfter time.Duration
	err        error
}

func (e *sendError) Error() string {
	if e.err != nil {
		return e.class + ": " + e.err.Error()
	}
	return e.class + ": " + e.detail
}

func (e *sendError) Unwrap() error { return e.err }

// maxOutageDetail bounds the detail recorded with an outage.
const maxOutageDetail = 200

// classify maps a transport error to an outage class by the types the standard library returns,
// never by error text. The order matters: a TLS handshake that timed out is a timeout, and one the
// server hung up on is a connect failure, although both are handshake errors.
func classify(err error) *sendError {
	se := &sendError{class: wire.OutageOther, err: err}
	switch {
	case isDNSError(err):
		se.class = wire.OutageDNS
	case isTimeout(err):
		se.class = wire.OutageTimeout
	case isTLSError(err):
		se.class = wire.OutageTLS
	case isConnectError(err):
		se.class = wire.OutageConnect
	case errors.As(err, new(*tlsHandshakeError)):
		se.class = wire.OutageTLS // any other handshake failure (no common version or cipher suite…)
	}
	se.detail = err.Error()
	if len(se.detail) > maxOutageDetail {
		se.detail = se.detail[:maxOutageDetail]
	}
	return se
}

func isDNSError(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &netErr) && netErr.Timeout()
}

// isTLSError reports a failed verification of the server or a peer that does not speak TLS.
func isTLSError(err error) bool {
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recErr     tls.RecordHeaderError
		alertErr   tls.AlertError
		pinErr     *tlspin.VerifyError
	)
	return errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidErr) || errors.As(err, &recErr) || errors.As(err, &alertErr) ||
		errors.As(err, &pinErr) || errors.Is(err, tlspin.ErrFingerprintMismatch) ||
		errors.Is(err, http.ErrSchemeMismatch) // an https URL, a plain HTTP server
}

// isConnectError reports a connection that could not be made or was dropped: refused,
// unreachable, reset, closed before an answer, or a proxy that refused the tunnel.
func isConnectError(err error) bool {
	var opErr *net.OpError
	var proxyErr *proxyError
	return errors.As(err, &opErr) && (opErr.Op == "dial" || opErr.Op == "proxyconnect") ||
		errors.As(err, &proxyErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
