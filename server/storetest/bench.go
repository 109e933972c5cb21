package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// Shape of one benchmarked CommitReports call: a group commit of BenchReportsPerCall reports
// from BenchHostsPerCall hosts, a few consecutive reports each.
const (
	BenchReportsPerCall = 200
	BenchHostsPerCall   = 50
)

// BenchCommitReports measures CommitReports on s, which must be fresh, and reports reports/s.
// writers goroutines commit concurrently, each for its own BenchHostsPerCall hosts, as server
// replicas (or several committers) sharing one store would.
func BenchCommitReports(b *testing.B, s server.Store, writers int) {
	BenchCommitReportsShape(b, s, writers, BenchReportsPerCall, BenchHostsPerCall)
}

// BenchCommitReportsShape is BenchCommitReports with reportsPerCall reports from hostsPerCall
// hosts per call (reportsPerCall a multiple of hostsPerCall): 8 and 8 is a group commit of
// one-report requests.
func BenchCommitReportsShape(b *testing.B, s server.Store, writers, reportsPerCall, hostsPerCall int) {
	ctx := b.Context()
	tok := server.EnrollmentToken{ID: randomID("et-"), Group: server.DefaultGroup, CreatedAt: t0, Hash: randomID("hash-")}
	if err := s.CreateEnrollmentToken(ctx, tok, audit("enrollment-token.create", tok.ID)); err != nil {
		b.Fatal(err)
	}
	hosts := make([][]string, writers)
	for w := range hosts {
		for i := range hostsPerCall {
			h, err := s.Enroll(ctx, tok.Hash, t0, server.Host{ID: randomID("h-"), Hostname: fmt.Sprintf("bench-%d-%02d", w, i), EnrolledAt: t0}, randomID("cred-"))
			if err != nil {
				b.Fatal(err)
			}
			hosts[w] = append(hosts[w], h.ID)
		}
	}
	perHost := reportsPerCall / hostsPerCall
	tmpl := Report(1, t0)
	var (
		calls atomic.Int64
		wg    sync.WaitGroup
		next  = make(chan struct{})
		errs  = make(chan error, writers)
	)
	b.SetBytes(int64(len(mustJSON(b, tmpl)) * reportsPerCall))
	for w := range writers {
		wg.Go(func() {
			seq := uint64(0)
			for range next {
				batches := make([]server.HostReports, 0, hostsPerCall)
				now := t0.Add(time.Duration(seq) * 10 * time.Second)
				for _, id := range hosts[w] {
					hr := server.HostReports{HostID: id, Received: now, Reports: make([]wire.Report, perHost)}
					for k := range perHost {
						r := tmpl
						r.Seq = seq + uint64(k) + 1
						r.Time = now.Add(time.Duration(k) * time.Second)
						hr.Reports[k] = r
					}
					batches = append(batches, hr)
				}
				seq += uint64(perHost)
				if _, err := s.CommitReports(ctx, batches); err != nil {
					errs <- err
					return
				}
				calls.Add(1)
			}
		})
	}
	b.ResetTimer()
	for b.Loop() {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(calls.Load()*int64(reportsPerCall))/b.Elapsed().Seconds(), "reports/s")
}
