package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that is a string such as "5m0s" in JSON. Decoding also accepts a
// number of nanoseconds and "" (zero).
type Duration time.Duration

// MarshalJSON renders d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON parses a duration string (or a number of nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(n)
		return nil
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// String renders d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }
