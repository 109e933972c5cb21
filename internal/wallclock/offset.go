package wallclock

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// maxOffsetFile bounds the offset file read (a duration string).
const maxOffsetFile = 64

// readOffset reads a vigil_fakeclock offset file: a Go duration; a missing or empty file is 0.
// Normal builds link it nowhere (only fake.go calls it); it is here so that plain `go test`
// checks it.
func readOffset(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxOffsetFile+1))
	if err != nil {
		return 0, err
	}
	if len(b) > maxOffsetFile {
		return 0, fmt.Errorf("offset file %s: longer than %d bytes", path, maxOffsetFile)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("offset file %s: %w", path, err)
	}
	return d, nil
}
