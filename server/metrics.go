package server

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	enrollments      prometheus.Counter
	reportsIngested  prometheus.Counter
	ingestRejected   prometheus.Counter
	ingestOverloaded prometheus.Counter
	commits          prometheus.Counter
	commitSize       prometheus.Histogram
	storeErrors      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		enrollments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_enrollments_total", Help: "Hosts enrolled."}),
		reportsIngested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ingest_reports_total", Help: "Reports received in committed batches (duplicates included)."}),
		ingestRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ingest_rejected_total", Help: "Report batches refused as invalid."}),
		ingestOverloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ingest_overloaded_total", Help: "Report batches refused because the commit queue was full."}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_ingest_commits_total", Help: "Group-commit transactions."}),
		commitSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_ingest_commit_reports", Help: "Reports per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_store_errors_total", Help: "Unexpected store errors by operation."}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.enrollments, m.reportsIngested, m.ingestRejected, m.ingestOverloaded, m.commits, m.commitSize, m.storeErrors)
	}
	return m
}
