package updater

import (
	"errors"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/releasespec"
)

// Outcomes callers branch on. A refusal leaves the installed version running.
var (
	// ErrQuarantined: the version failed here before and is not tried again.
	ErrQuarantined = errors.New("version is quarantined on this host")
	// ErrDowngrade: the version is below the installed one and its signed metadata does not
	// allow a downgrade (releasespec.CheckInstall).
	ErrDowngrade = releasespec.ErrDowngrade
	// ErrBelowFloor: the version is below the signed floor (min_version; releasespec.CheckInstall).
	ErrBelowFloor = releasespec.ErrBelowFloor
	// ErrNotExecutable: the build is not an executable for this OS and architecture, or does not
	// report the expected version.
	ErrNotExecutable = errors.New("not an executable for this host")
	// ErrHealthGate: the new version did not pass the health gate and was rolled back.
	ErrHealthGate = errors.New("health gate failed")
	// ErrUnknownVersion: the desired version or channel is not in signed targets metadata.
	ErrUnknownVersion = errors.New("version not in signed targets metadata")
	// ErrNoSpace: not enough free disk space for the download.
	ErrNoSpace = errors.New("not enough free disk space")
	// ErrNotInstalled: no complete version is installed.
	ErrNotInstalled = errors.New("no version installed")
	// ErrReexec is returned by Updater.Run after a self-update: the caller must exec the new
	// binary (vigil-updater does syscall.Exec).
	ErrReexec = errors.New("updater binary replaced: re-exec required")
	// ErrInsecureCache: the TUF metadata directory or a file in it is not owned by us or is
	// group/world writable.
	ErrInsecureCache = errors.New("TUF metadata cache has unsafe ownership or permissions")
	// ErrUnavailable: the server or repository could not be reached (network, timeout, 5xx); try
	// again later. A *RequestError says what failed (ErrDNS, ErrConnect, …). A TLS verification
	// failure (ErrTLS) is not "unavailable".
	ErrUnavailable = errors.New("server unavailable")
)

// ErrSecurity is matched (errors.Is) by every failure that may be an attack: bad or missing
// signatures, replayed or expired metadata, a target whose length or hash does not match, data
// longer than allowed, a refused root. The original error stays reachable with errors.Is and
// errors.As, including go-tuf's typed errors (metadata.ErrExpiredMetadata and others).
var ErrSecurity = errors.New("security check failed")

// SecurityError wraps a security failure.
type SecurityError struct {
	Op  string // what was being verified
	Err error
}

func (e *SecurityError) Error() string {
	return "security check failed: " + e.Op + ": " + e.Err.Error()
}
func (e *SecurityError) Unwrap() error { return e.Err }

// Is reports whether target is ErrSecurity.
func (e *SecurityError) Is(target error) bool { return target == ErrSecurity }

// ErrTargetMismatch: a downloaded target does not have the signed length or hash.
var ErrTargetMismatch = errors.New("target length or hash does not match signed metadata")

// classifyTUF wraps a go-tuf error as a SecurityError when it is one.
func classifyTUF(op string, err error) error {
	if err == nil {
		return nil
	}
	var re *RequestError
	if errors.Is(err, ErrSecurity) || errors.Is(err, ErrUnavailable) || errors.As(err, &re) {
		return err
	}
	switch {
	case errors.Is(err, &metadata.ErrRepository{}),
		errors.Is(err, &metadata.ErrLengthOrHashMismatch{}),
		errors.Is(err, &metadata.ErrDownloadLengthMismatch{}),
		errors.Is(err, &metadata.ErrValue{}),
		errors.Is(err, &metadata.ErrType{}),
		errors.Is(err, ErrTargetMismatch):
		return &SecurityError{Op: op, Err: err}
	}
	var he *metadata.ErrDownloadHTTP
	if errors.As(err, &he) && he.StatusCode != 0 && he.StatusCode < 500 && he.StatusCode != 429 {
		// The repository refused a file the TUF workflow needs (e.g. 403 for the next root).
		return &SecurityError{Op: op, Err: err}
	}
	return err
}
