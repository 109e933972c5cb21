//go:build !vigil_fakeclock

package wallclock

import "time"

// Faked is true only in builds with the vigil_fakeclock tag.
const Faked = false

// Override is the clock to hand to a configuration whose nil clock means the system clock
// (crypto/tls Config.Time, updater TUFConfig.Now): nil in normal builds.
var Override func() time.Time

// Now returns the wall-clock time: time.Now in normal builds.
func Now() time.Time { return time.Now() }

// Stamp returns the wall-clock time of the instant t (a time.Now reading): t itself in normal
// builds.
func Stamp(t time.Time) time.Time { return t }
