package server

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	enrollments      prometheus.Counter
	reportsIngested  prometheus.Counter
	reportsDropped   prometheus.Counter
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
		reportsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_agent_reports_dropped_total",
			Help: "Reports hosts' agents dropped from a full spool, as the spool_dropped of reports in committed batches say (a report sent again after a lost acknowledgement counts again)."}),
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
		reg.MustRegister(m.enrollments, m.reportsIngested, m.reportsDropped, m.ingestRejected, m.ingestOverloaded, m.commits, m.commitSize, m.storeErrors)
	}
	return m
}

// ingested counts the reports of committed batches, and what they say their agents dropped.
func (m *metrics) ingested(batches ...HostReports) {
	var n int
	var dropped float64 // a float: counts a host made up cannot overflow it
	for _, b := range batches {
		n += len(b.Reports)
		for i := range b.Reports {
			dropped += float64(b.Reports[i].SpoolDropped)
		}
	}
	m.reportsIngested.Add(float64(n))
	m.reportsDropped.Add(dropped)
}
