//go:build vigil_fakeclock

package wallclock

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// A test build says so at start, on stderr, before anything else logs: it must never run on a host.
func init() {
	slog.Warn("This is a vigil_fakeclock TEST build: its wall clock can be shifted by the file named in " + FileEnv + ". Never run it on a host.")
}

// Faked is true only in builds with the vigil_fakeclock tag.
const Faked = true

// FileEnv names the environment variable holding the path of the offset file.
const FileEnv = "VIGIL_FAKECLOCK_FILE"

// Override is Now in vigil_fakeclock builds.
var Override = Now

// Now returns the system clock plus the offset in the file named by VIGIL_FAKECLOCK_FILE.
func Now() time.Time { return Stamp(time.Now()) }

// Stamp returns t plus the current offset. The result keeps t's monotonic reading shifted by the
// offset; callers use it as a wall-clock time only (UTC, JSON, comparisons with other Stamps).
func Stamp(t time.Time) time.Time { return t.Add(offset()) }

// offset reads the offset file at every call. A file that cannot be read or parsed is a broken
// test: it panics, saying so.
func offset() time.Duration {
	path := os.Getenv(FileEnv)
	if path == "" {
		return 0
	}
	d, err := readOffset(path)
	if err != nil {
		panic(fmt.Sprintf("wallclock (vigil_fakeclock build): %v", err))
	}
	return d
}
