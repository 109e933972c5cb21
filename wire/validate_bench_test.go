package wire

import (
	"testing"
	"time"
)

// BenchmarkValidateReport: Validate and CheckClock of one realistic report, as the server runs
// them for every report it receives.
func BenchmarkValidateReport(b *testing.B) {
	r := goodReport(1)
	now := r.Time.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Validate(); err != nil {
			b.Fatal(err)
		}
		if err := r.CheckClock(now); err != nil {
			b.Fatal(err)
		}
	}
}
