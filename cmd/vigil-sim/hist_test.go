package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, v := range []uint64{0, 1, 31, 32, 33, 63, 64, 65, 1000, 999_999, 1 << 40, 1<<62 + 12345} {
		b := bucketOf(v)
		if up := bucketUpper(b); v > up {
			t.Errorf("bucketOf(%d) = %d with upper bound %d < value", v, b, up)
		}
		if b > 0 && v <= bucketUpper(b-1) {
			t.Errorf("value %d in bucket %d also fits bucket %d (upper %d)", v, b, b-1, bucketUpper(b-1))
		}
		if b >= histBuckets {
			t.Errorf("bucketOf(%d) = %d, beyond %d buckets", v, b, histBuckets)
		}
	}
	// Buckets are contiguous: each starts right after the previous one ends.
	for b := 1; b < 40*subBuckets; b++ {
		if bucketOf(bucketUpper(b-1)+1) != b {
			t.Fatalf("bucket %d does not start at %d", b, bucketUpper(b-1)+1)
		}
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
	}{
		{"uniform", func() []time.Duration {
			var v []time.Duration
			for i := 1; i <= 10000; i++ {
				v = append(v, time.Duration(i)*time.Microsecond)
			}
			return v
		}()},
		{"lognormal-ish", func() []time.Duration {
			r := rand.New(rand.NewPCG(1, 2))
			var v []time.Duration
			for range 50000 {
				v = append(v, time.Duration(r.ExpFloat64()*float64(3*time.Millisecond)))
			}
			return v
		}()},
		{"bimodal", func() []time.Duration {
			var v []time.Duration
			for i := range 1000 {
				d := 2 * time.Millisecond
				if i%100 == 0 {
					d = 3 * time.Second
				}
				v = append(v, d+time.Duration(i)*time.Microsecond)
			}
			return v
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hist
			for _, v := range tt.values {
				h.Record(v)
			}
			sorted := slices.Clone(tt.values)
			slices.Sort(sorted)
			if h.Count() != uint64(len(sorted)) {
				t.Fatalf("count %d, want %d", h.Count(), len(sorted))
			}
			if want := sorted[len(sorted)-1].Truncate(time.Microsecond); h.Max() != want {
				t.Errorf("max %v, want %v", h.Max(), want)
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(q*float64(len(sorted)) + 0.999999)
				exact := sorted[max(rank, 1)-1].Truncate(time.Microsecond)
				got := h.Quantile(q)
				if got < exact {
					t.Errorf("q%.3f = %v understates the exact %v", q, got, exact)
				}
				if float64(got-exact) > float64(exact)/subBuckets+float64(time.Microsecond) {
					t.Errorf("q%.3f = %v, more than 1/%d above the exact %v", q, got, subBuckets, exact)
				}
			}
		})
	}
}

func TestQuantileEmptyAndSingle(t *testing.T) {
	var h hist
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram reports a latency")
	}
	h.Record(1234567 * time.Microsecond)
	for _, q := range []float64{0.01, 0.5, 0.99} {
		if got := h.Quantile(q); got != 1234567*time.Microsecond {
			t.Errorf("single value: q%v = %v, want 1.234567s (capped at the max)", q, got)
		}
	}
	h.Record(-time.Second) // clock step: counted as 0, never a negative bucket
	if h.Quantile(0.5) != 0 {
		t.Errorf("q0.5 of {0, 1.23s} = %v, want 0", h.Quantile(0.5))
	}
}
