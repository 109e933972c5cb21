// Package check runs the health checks declared in vigil-agent's local configuration: a TCP or
// unix socket connect, an HTTP(S) GET with an expected status and an optional body match, a TLS
// certificate's days to expiry (from host:port or a PEM file), a file's age and size, and a DNS
// resolution. The agent puts the latest result of each in its reports (wire.CheckResult).
//
// Trust model: checks come only from the local configuration file (/etc/vigil/agent.yaml), written
// by the host's administrator. The server cannot add, change or trigger one — wire.AgentConfig has
// no checks — so a compromised server cannot make a host probe anything. The targets are untrusted:
// every read from them is bounded (MaxBodyBytes, MaxPEMBytes, MaxHeaderBytes), nothing they send
// is echoed beyond a short sanitized message (wire.MaxCheckMessageLen), and HTTP redirects are not
// followed.
//
// Each check runs every Interval, bounded by its Timeout. Checks due at the same time run as one
// batch: one wake-up of one scheduler goroutine, one worker running them in turn; a run that
// blocks hands the rest of its batch to another worker after a quarter of a second (runner.go),
// so a hang never holds up another check by more than that, nor the report. Results never
// waits for a check: it returns the latest result of each, and reports a check whose run overran
// its timeout (a stat on a hung NFS mount ignores its context) as failed until the run returns.
// A Runner is safe for concurrent use.
package check

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// Defaults and bounds of a Spec.
const (
	DefaultInterval = 30 * time.Second
	MinInterval     = time.Second
	MaxInterval     = 24 * time.Hour
	DefaultTimeout  = 5 * time.Second
	MinTimeout      = 10 * time.Millisecond
	// DefaultMinDays is how many days a certificate must have left for a tls check to pass.
	DefaultMinDays = 14
	// MaxRegexpLen bounds a body_regexp.
	MaxRegexpLen = 1024
	// MaxBodyBytes bounds the part of an HTTP answer's body that is read and matched.
	MaxBodyBytes = 64 << 10
	// MaxHeaderBytes bounds an HTTP answer's headers.
	MaxHeaderBytes = 64 << 10
	// MaxPEMBytes bounds a certificate or CA file read.
	MaxPEMBytes = 1 << 20
)

// ErrInvalid is wrapped by every error of Spec.Validate and Validate.
var ErrInvalid = errors.New("invalid check")

// Spec is one health check. Name, Kind and Target are required; the other fields have defaults
// (WithDefaults) and each applies to the kinds it names: a field set for another kind is refused.
// The yaml names are those of the agent's configuration file.
type Spec struct {
	// Name identifies the check in reports and alert rules (wire.ValidCheckName).
	Name string `yaml:"name"`
	// Kind is wire.CheckTCP, CheckHTTP, CheckTLS, CheckFile, CheckUnix or CheckDNS.
	Kind string `yaml:"kind"`
	// Target is what is checked: host:port (tcp, tls), an http:// or https:// URL (http), an
	// absolute path (file, unix, and tls for a PEM certificate file) or a host name (dns).
	Target string `yaml:"target"`
	// Interval between runs. Defaults to DefaultInterval; MinInterval..MaxInterval.
	Interval time.Duration `yaml:"interval,omitempty"`
	// Timeout bounds one run. Defaults to DefaultTimeout (or Interval if shorter); at most Interval.
	Timeout time.Duration `yaml:"timeout,omitempty"`

	// ExpectStatus is the HTTP status that passes (http). Defaults to 200.
	ExpectStatus int `yaml:"expect_status,omitempty"`
	// BodyContains, if set, must be in the first MaxBodyBytes of the body (http).
	BodyContains string `yaml:"body_contains,omitempty"`
	// BodyRegexp, if set, must match the first MaxBodyBytes of the body (http; RE2 syntax).
	BodyRegexp string `yaml:"body_regexp,omitempty"`
	// CA is a PEM file of the CA certificates to trust instead of the system roots (http with an
	// https URL, tls with host:port).
	CA string `yaml:"ca,omitempty"`
	// MinDays is how many days the certificate must still be valid for (tls). Defaults to
	// DefaultMinDays.
	MinDays float64 `yaml:"min_days,omitempty"`
	// MaxAge is the oldest the file's last write may be (file); zero means no limit.
	MaxAge time.Duration `yaml:"max_age,omitempty"`
	// MinSize is the smallest the file may be, in bytes (file).
	MinSize int64 `yaml:"min_size,omitempty"`
	// Server is the resolver to ask, host:port (dns); empty uses the system's (/etc/hosts and
	// /etc/resolv.conf).
	Server string `yaml:"server,omitempty"`
}

// Kinds lists the check kinds the agent runs.
var Kinds = []string{wire.CheckTCP, wire.CheckHTTP, wire.CheckTLS, wire.CheckFile, wire.CheckUnix, wire.CheckDNS}

// WithDefaults returns s with its defaults filled in: the effective check.
func (s Spec) WithDefaults() Spec {
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout == 0 {
		s.Timeout = min(DefaultTimeout, s.Interval)
	}
	switch s.Kind {
	case wire.CheckHTTP:
		if s.ExpectStatus == 0 {
			s.ExpectStatus = 200
		}
	case wire.CheckTLS:
		if s.MinDays == 0 {
			s.MinDays = DefaultMinDays
		}
	}
	return s
}

// Validate checks one spec (before or after WithDefaults).
func (s *Spec) Validate() error {
	bad := func(format string, args ...any) error {
		name := s.Name
		if name == "" {
			name = "(no name)"
		}
		return fmt.Errorf("%w %s: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
	}
	if !wire.ValidCheckName(s.Name) {
		return bad("name %q: 1..%d letters, digits, '.', '_' or '-', starting with a letter or digit", s.Name, wire.MaxCheckNameLen)
	}
	if s.Interval != 0 && (s.Interval < MinInterval || s.Interval > MaxInterval) {
		return bad("interval %s not within %s..%s", s.Interval, MinInterval, MaxInterval)
	}
	iv := s.WithDefaults().Interval
	if s.Timeout != 0 && (s.Timeout < MinTimeout || s.Timeout > iv) {
		return bad("timeout %s not within %s..%s (the interval)", s.Timeout, MinTimeout, iv)
	}
	if s.Target == "" {
		return bad("target is required")
	}
	// Options of other kinds are refused: a misplaced option would silently check nothing.
	only := func(field string, set bool, kinds ...string) error {
		if set && !slices.Contains(kinds, s.Kind) {
			return bad("%s applies to %s checks only", field, strings.Join(kinds, " and "))
		}
		return nil
	}
	if err := errors.Join(
		only("expect_status", s.ExpectStatus != 0, wire.CheckHTTP),
		only("body_contains", s.BodyContains != "", wire.CheckHTTP),
		only("body_regexp", s.BodyRegexp != "", wire.CheckHTTP),
		only("ca", s.CA != "", wire.CheckHTTP, wire.CheckTLS),
		only("min_days", s.MinDays != 0, wire.CheckTLS),
		only("max_age", s.MaxAge != 0, wire.CheckFile),
		only("min_size", s.MinSize != 0, wire.CheckFile),
		only("server", s.Server != "", wire.CheckDNS),
	); err != nil {
		return err
	}
	if s.CA != "" && !strings.HasPrefix(s.CA, "/") {
		return bad("ca %q is not an absolute path", s.CA)
	}
	switch s.Kind {
	case wire.CheckTCP:
		if err := hostPort(s.Target); err != nil {
			return bad("target: %v", err)
		}
	case wire.CheckHTTP:
		u, err := url.Parse(s.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("target %q is not an http:// or https:// URL", s.Target)
		}
		if u.User != nil {
			return bad("target: no credentials in the URL (the report and the logs would carry them)")
		}
		if s.CA != "" && u.Scheme != "https" {
			return bad("ca needs an https:// target")
		}
		if s.ExpectStatus != 0 && (s.ExpectStatus < 100 || s.ExpectStatus > 599) {
			return bad("expect_status %d not within 100..599", s.ExpectStatus)
		}
		if s.BodyContains != "" && s.BodyRegexp != "" {
			return bad("give one of body_contains and body_regexp, not both")
		}
		if len(s.BodyRegexp) > MaxRegexpLen {
			return bad("body_regexp longer than %d bytes", MaxRegexpLen)
		}
		if s.BodyRegexp != "" {
			if _, err := regexp.Compile(s.BodyRegexp); err != nil {
				return bad("body_regexp: %v", err)
			}
		}
	case wire.CheckTLS:
		if strings.HasPrefix(s.Target, "/") {
			if s.CA != "" {
				return bad("ca applies to a host:port target, not a certificate file")
			}
		} else if err := hostPort(s.Target); err != nil {
			return bad("target: %v (or an absolute path to a PEM certificate file)", err)
		}
		if s.MinDays < 0 || s.MinDays > 3650 {
			return bad("min_days %g not within 0..3650", s.MinDays)
		}
	case wire.CheckFile, wire.CheckUnix:
		if !strings.HasPrefix(s.Target, "/") {
			return bad("target %q is not an absolute path", s.Target)
		}
		if s.MaxAge < 0 || s.MinSize < 0 {
			return bad("max_age and min_size cannot be negative")
		}
	case wire.CheckDNS:
		if !validHostname(s.Target) {
			return bad("target %q is not a host name", s.Target)
		}
		if s.Server != "" {
			if err := hostPort(s.Server); err != nil {
				return bad("server: %v", err)
			}
		}
	default:
		return bad("kind %q unknown (known: %s)", s.Kind, strings.Join(Kinds, ", "))
	}
	return nil
}

// Validate checks a list of specs: each one, their count and that names are unique.
func Validate(specs []Spec) error {
	if len(specs) > wire.MaxChecks {
		return fmt.Errorf("%w: %d checks, at most %d", ErrInvalid, len(specs), wire.MaxChecks)
	}
	seen := make(map[string]bool, len(specs))
	for i := range specs {
		if err := specs[i].Validate(); err != nil {
			return err
		}
		if seen[specs[i].Name] {
			return fmt.Errorf("%w: two checks named %q", ErrInvalid, specs[i].Name)
		}
		seen[specs[i].Name] = true
	}
	return nil
}

func hostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q not within 1..65535", s, port)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// validHostname reports whether s is a DNS name of letters, digits, '-', '_' and dots.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
