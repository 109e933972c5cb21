//go:build vigil_fakeclock

package wallclock

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Faked is true only in builds with the vigil_fakeclock tag.
const Faked = true

// FileEnv names the environment variable holding the path of the offset file.
const FileEnv = "VIGIL_FAKECLOCK_FILE"

// maxOffsetFile bounds the offset file read (a duration string).
const maxOffsetFile = 64

// Override is Now in vigil_fakeclock builds.
var Override = Now

// Now returns the system clock plus the offset in the file named by VIGIL_FAKECLOCK_FILE.
func Now() time.Time { return Stamp(time.Now()) }

// Stamp returns t plus the current offset. The result keeps t's monotonic reading shifted by the
// offset; callers use it as a wall-clock time only (UTC, JSON, comparisons with other Stamps).
func Stamp(t time.Time) time.Time { return t.Add(offset()) }

// offset reads the offset file. A malformed file is a broken test: it panics, saying so.
func offset() time.Duration {
	path := os.Getenv(FileEnv)
	if path == "" {
		return 0
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		panic(fmt.Sprintf("wallclock (vigil_fakeclock build): %v", err))
	}
	defer f.Close()
	buf := make([]byte, maxOffsetFile)
	n, _ := f.Read(buf)
	s := strings.TrimSpace(string(buf[:n]))
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(fmt.Sprintf("wallclock (vigil_fakeclock build): offset file %s: %v", path, err))
	}
	return d
}
