package pgstore

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// BenchmarkSharedFlow compares a host lookup through the shared storesql flow (pgConn over pgx)
// with the same statement on pgx directly, as pgstore ran it before the flow was shared: the
// cost of the adapter on the PostgreSQL path. Run it with -benchmem; compare the two side by
// side in one run.
func BenchmarkSharedFlow(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	now := time.Now()
	tok := server.EnrollmentToken{ID: "et-bench", Hash: "hash-bench", Group: server.DefaultGroup, CreatedAt: now}
	if err := s.CreateEnrollmentToken(ctx, tok, server.AuditEntry{Action: "bench"}); err != nil {
		b.Fatal(err)
	}
	h, err := s.Enroll(ctx, tok.Hash, now, server.Host{ID: "h-bench", Hostname: "bench"}, "cred-bench")
	if err != nil {
		b.Fatal(err)
	}
	direct := func() {
		if _, err := storesql.One(s.pool.QueryRow(ctx, `SELECT `+storesql.HostFullColumns+` FROM hosts WHERE id = $1`, h.ID),
			pgx.ErrNoRows, "get host", storesql.ScanHostFull); err != nil {
			b.Fatal(err)
		}
	}
	shared := func() {
		if _, err := s.GetHost(ctx, h.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("pgx", func(b *testing.B) {
		for b.Loop() {
			direct()
		}
	})
	b.Run("storesql", func(b *testing.B) {
		for b.Loop() {
			shared()
		}
	})
	// Both in one loop, alternating which goes first, so a loaded machine slows both alike;
	// the ratio is the figure to read.
	b.Run("interleaved", func(b *testing.B) {
		var tDirect, tShared time.Duration
		n := 0
		for b.Loop() {
			first, second, tFirst, tSecond := direct, shared, &tDirect, &tShared
			if n%2 == 1 {
				first, second, tFirst, tSecond = shared, direct, &tShared, &tDirect
			}
			start := time.Now()
			first()
			mid := time.Now()
			second()
			*tFirst += mid.Sub(start)
			*tSecond += time.Since(mid)
			n++
		}
		b.ReportMetric(float64(tDirect.Nanoseconds())/float64(n), "pgx-ns/op")
		b.ReportMetric(float64(tShared.Nanoseconds())/float64(n), "storesql-ns/op")
		b.ReportMetric(float64(tShared)/float64(tDirect), "storesql/pgx")
	})
}
