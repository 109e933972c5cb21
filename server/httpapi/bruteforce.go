package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/vigilhq/vigil/server"
)

// Brute-force limits. Failed authentications (an unknown or revoked API token, host credential
// or enrollment token) are counted per source address and per presented secret in token
// buckets: each failure takes a token, tokens come back at FailureRate per second up to
// FailureBurst. While either bucket of a request is empty, the request is answered 429 with
// Retry-After before its secret is looked up, so a flood of guesses costs no store access.
// Successful authentications take nothing, so a working client is never slowed by its own
// traffic; it is blocked only while its address keeps failing (several hosts behind one NAT or
// proxy share an address: docs/operating.md says so).
const (
	// DefaultFailureRate is how many failed attempts per second one address (or one secret)
	// earns back.
	DefaultFailureRate = 1.0
	// DefaultFailureBurst is how many failed attempts one address (or one secret) may make at
	// once before it is answered 429.
	DefaultFailureBurst = 30
	// maxFailureKeys bounds the addresses and secrets tracked at once (two buckets of ~64 bytes
	// each per failing client, so about 1 MB). When full, buckets that have refilled are dropped;
	// if none has, all are, and that is logged.
	maxFailureKeys = 8192
	// failureKeyPrefixLen is how many hex digits of a secret's SHA-256 identify it in buckets and
	// logs: enough to tell attempts apart, far too few to help anyone guess the secret.
	failureKeyPrefixLen = 12
)

// Kinds of secret, as logged.
const (
	kindAPIToken   = "api_token"
	kindHostCred   = "host_credential"
	kindEnrollment = "enrollment_token"
)

// Log keys.
const (
	logKeyAddr       = "remote_addr"
	logKeyKind       = "kind"
	logKeySecretHash = "secret_sha256_prefix"
	logKeyReason     = "reason"
)

// failureLimiter counts failed authentications per source address and per secret.
type failureLimiter struct {
	rate, burst float64
	now         func() time.Time
	log         *slog.Logger

	mu      sync.Mutex
	buckets map[string]*bucket
	// warned holds keys whose 429 was logged since they last had tokens, so a flood logs one
	// line per key, not one per attempt.
	warned map[string]bool
}

func newFailureLimiter(rate, burst float64, now func() time.Time, log *slog.Logger) *failureLimiter {
	return &failureLimiter{rate: rate, burst: burst, now: now, log: log,
		buckets: make(map[string]*bucket), warned: make(map[string]bool)}
}

// sourceKey is the bucket key of a request's source: its IP address, or for IPv6 its /64, since
// one client commonly holds a whole /64.
func sourceKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "addr:" + host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + ip.String()
}

// secretID is what identifies a presented secret in buckets and logs: a short prefix of its
// SHA-256, never the secret.
func secretID(secret string) string {
	if secret == "" {
		return "none"
	}
	return server.HashSecret(secret)[:failureKeyPrefixLen]
}

// failureKeys are the buckets a request counts against: its source, and the secret it presented
// (none when it presented none: every such request would share one bucket, and fail anyway).
func failureKeys(r *http.Request, kind, secret string) []string {
	if secret == "" {
		return []string{sourceKey(r)}
	}
	return []string{sourceKey(r), kind + ":" + secretID(secret)}
}

// refill brings b up to date. l.mu must be held.
func (l *failureLimiter) refill(b *bucket, now time.Time) {
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
}

// blocked reports whether the request's address or secret has no failures left, and logs the
// first refusal of each.
func (l *failureLimiter) blocked(r *http.Request, kind, secret string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) == 0 {
		return false // no failure tracked: skip the keys (an address parse and a hash per request)
	}
	for _, k := range failureKeys(r, kind, secret) {
		b, ok := l.buckets[k]
		if !ok {
			continue
		}
		l.refill(b, now)
		if b.tokens >= 1 {
			delete(l.warned, k)
			continue
		}
		if !l.warned[k] {
			l.warned[k] = true
			l.log.WarnContext(r.Context(), "Too many failed authentications; answering 429 until they slow down.",
				logKeyAddr, r.RemoteAddr, logKeyKind, kind, logKeySecretHash, secretID(secret), "limited_by", k)
		}
		return true
	}
	return false
}

// failed records a failed authentication and logs it, without the secret.
func (l *failureLimiter) failed(r *http.Request, kind, secret string, err error) {
	now := l.now()
	l.log.WarnContext(r.Context(), "Authentication failed.", logKeyAddr, r.RemoteAddr, logKeyKind, kind,
		logKeySecretHash, secretID(secret), logKeyReason, failureReason(err), "method", r.Method, "path", r.URL.Path)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range failureKeys(r, kind, secret) {
		b, ok := l.buckets[k]
		if !ok {
			if len(l.buckets) >= maxFailureKeys {
				l.evict(now)
			}
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[k] = b
		}
		l.refill(b, now)
		b.tokens = max(0, b.tokens-1)
	}
}

// evict drops the buckets that have refilled completely, or all of them if none has. l.mu must
// be held.
func (l *failureLimiter) evict(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
			delete(l.warned, k)
		}
	}
	if len(l.buckets) >= maxFailureKeys {
		l.log.Warn("Failed-authentication tracking is full; forgetting every address and secret.", "limit", maxFailureKeys)
		clear(l.buckets)
		clear(l.warned)
	}
}

// tracked returns how many keys are tracked (for tests).
func (l *failureLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// failureReason says in the log why an authentication failed; callers all get the same answer.
func failureReason(err error) string {
	switch {
	case errors.Is(err, server.ErrHostRevoked):
		return "revoked"
	case errors.Is(err, server.ErrTokenInvalid):
		return "invalid, expired, revoked or used up"
	default:
		return "unknown or revoked"
	}
}

// errRateLimitedAuth is the 429 of a client with too many failed authentications.
var errRateLimitedAuth = fmt.Errorf("%w: too many failed authentications from this address or with this secret", errRateLimited)

// isAuthFailure reports whether err is a failed authentication (as opposed to, say, a store
// outage, which must not count against the client).
func isAuthFailure(err error) bool {
	return errors.Is(err, server.ErrUnauthorized) || errors.Is(err, server.ErrTokenInvalid)
}
