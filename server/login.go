package server

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ErrLockedOut means sign-in is refused for a while after too many failures for the account or
// from the address. Errors wrapping it are *LockedOutError, which says until when.
var ErrLockedOut = errors.New("too many failed sign-ins")

// LockedOutError says until when sign-in is refused, and whether for the account or the address.
type LockedOutError struct {
	Until   time.Time
	Account bool // true: the account is locked; false: the address is
}

func (e *LockedOutError) Error() string {
	what := "this address"
	if e.Account {
		what = "this account"
	}
	return fmt.Sprintf("%s for %s; try again after %s", ErrLockedOut, what, e.Until.UTC().Format("15:04 MST"))
}

// Is makes errors.Is(err, ErrLockedOut) true.
func (e *LockedOutError) Is(target error) bool { return target == ErrLockedOut }

// Default sign-in limits (Config.Login…).
const (
	DefaultLoginMaxFailuresUser    = 5
	DefaultLoginMaxFailuresAddress = 20
	DefaultLoginWindow             = 15 * time.Minute
	DefaultLoginLockout            = 15 * time.Minute

	// maxLoginTracked bounds the failure table; beyond it, entries past their window are dropped,
	// then entries that lock nothing; running lockouts are never dropped (memory stays bounded,
	// and flooding the table does not lift a lockout).
	maxLoginTracked = 100_000
)

// loginLimiter counts failed sign-ins per account name and per address within a window and locks
// either out for a while past its limit. It lives in the process: replicas count separately.
type loginLimiter struct {
	maxUser, maxAddr int
	window, lockout  time.Duration

	mu    sync.Mutex
	users map[string]*failures
	addrs map[string]*failures
}

type failures struct {
	count       int
	first       time.Time
	lockedUntil time.Time
}

func newLoginLimiter(maxUser, maxAddr int, window, lockout time.Duration) *loginLimiter {
	return &loginLimiter{maxUser: maxUser, maxAddr: maxAddr, window: window, lockout: lockout,
		users: map[string]*failures{}, addrs: map[string]*failures{}}
}

// addrKey is the key an address is counted under: an IPv6 address by its /64 (one host usually
// has a whole /64 to rotate through), an IPv4 address as itself.
func addrKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return addr
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// check returns a *LockedOutError if the account or address is locked out at now.
func (l *loginLimiter) check(user, addr string, now time.Time) error {
	addr = addrKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.users[user]; f != nil && now.Before(f.lockedUntil) {
		return &LockedOutError{Until: f.lockedUntil, Account: true}
	}
	if f := l.addrs[addr]; addr != "" && f != nil && now.Before(f.lockedUntil) {
		return &LockedOutError{Until: f.lockedUntil}
	}
	return nil
}

// fail records a failed sign-in and returns the lockout it started, if any.
func (l *loginLimiter) fail(user, addr string, now time.Time) error {
	addr = addrKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	var locked error
	if l.bump(l.users, user, l.maxUser, now) {
		locked = &LockedOutError{Until: now.Add(l.lockout), Account: true}
	}
	if addr != "" && l.bump(l.addrs, addr, l.maxAddr, now) && locked == nil {
		locked = &LockedOutError{Until: now.Add(l.lockout)}
	}
	return locked
}

func (l *loginLimiter) bump(m map[string]*failures, key string, limit int, now time.Time) bool {
	f := m[key]
	if f == nil {
		if len(m) >= maxLoginTracked {
			for k, v := range m {
				if now.Sub(v.first) > l.window && !now.Before(v.lockedUntil) {
					delete(m, k)
				}
			}
			if len(m) >= maxLoginTracked {
				// Still full: forget counts that have not locked anything, never a lockout.
				for k, v := range m {
					if !now.Before(v.lockedUntil) {
						delete(m, k)
					}
				}
			}
			if len(m) >= maxLoginTracked {
				return false // every entry is a running lockout: do not grow
			}
		}
		f = &failures{first: now}
		m[key] = f
	}
	if now.Sub(f.first) > l.window {
		f.count, f.first = 0, now
	}
	f.count++
	if f.count >= limit {
		f.count, f.first, f.lockedUntil = 0, now, now.Add(l.lockout)
		return true
	}
	return false
}

// succeed forgets the account's failures (the address's stay: one good account must not let an
// address keep guessing others).
func (l *loginLimiter) succeed(user string) {
	l.mu.Lock()
	delete(l.users, user)
	l.mu.Unlock()
}
