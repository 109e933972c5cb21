package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Latency histogram: log-linear buckets over microseconds, 2^subBits buckets per power of two, so a
// quantile is within 1/2^subBits (3.1 %) of the true value; the maximum is exact. Record is
// lock-free (one atomic add per bucket and count) so thousands of host goroutines share one.
const (
	subBits    = 5
	subBuckets = 1 << subBits
	// histBuckets covers 0 .. 2^63 µs.
	histBuckets = (64 - subBits + 1) * subBuckets
)

// hist is a concurrent latency histogram. The zero value is ready to use.
type hist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // µs
	max    atomic.Uint64 // µs
}

// bucketOf returns the bucket of v (µs).
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v in [2^e, 2^(e+1))
	mant := (v >> (e - subBits)) & (subBuckets - 1)
	return (e-subBits+1)*subBuckets + int(mant)
}

// bucketUpper returns the largest value that falls into bucket b.
func bucketUpper(b int) uint64 {
	if b < subBuckets {
		return uint64(b)
	}
	e := b/subBuckets + subBits - 1
	mant := uint64(b % subBuckets)
	lo := (1 << e) | mant<<(e-subBits)
	return lo + (1 << (e - subBits)) - 1
}

// Record adds one observation.
func (h *hist) Record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of observations.
func (h *hist) Count() uint64 { return h.n.Load() }

// Max returns the largest observation.
func (h *hist) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Mean returns the mean observation (0 when empty).
func (h *hist) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}

// Quantile returns the q-quantile (0 < q <= 1): the upper bound of the bucket holding the
// observation of rank ceil(q·n), capped at the maximum, so it never understates a latency.
// It is 0 when empty.
func (h *hist) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	if float64(rank) < q*float64(n) {
		rank++
	}
	rank = min(max(rank, 1), n)
	var cum uint64
	for b := range h.counts {
		cum += h.counts[b].Load()
		if cum >= rank {
			return time.Duration(min(bucketUpper(b), h.max.Load())) * time.Microsecond
		}
	}
	return h.Max()
}
