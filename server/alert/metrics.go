package alert

import "github.com/prometheus/client_golang/prometheus"

// Metrics are alerting's Prometheus series. Engine and Sender record into the one they are given;
// a nil *Metrics records nothing. The leader records evaluation, outbox depth and pruning; every
// replica that sends records its deliveries.
type Metrics struct {
	evalSeconds   prometheus.Histogram
	outboxDepth   prometheus.Gauge
	sent          prometheus.Counter
	sendFailures  prometheus.Counter
	skipped       prometheus.Counter
	pruned        *prometheus.CounterVec
	auditPruned   prometheus.Counter
	housekeepErrs prometheus.Counter
}

// NewMetrics makes the series and registers them with reg (nil: not registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		evalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_alert_evaluation_seconds", Help: "Wall time of one alert evaluation cycle on the leader.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)}),
		outboxDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_alert_outbox_depth", Help: "Alert emails waiting in the outbox (queued or retrying), as the leader last counted them."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alert_emails_sent_total", Help: "Alert emails the SMTP server accepted."}),
		sendFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alert_send_failures_total", Help: "Failed attempts to send an alert email (each is retried)."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alert_emails_skipped_total", Help: "Alert emails dropped unsent: no recipients, or too old."}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alert_pruned_total", Help: "Rows deleted by alert retention, by kind (alerts, notifications)."}, []string{"kind"}),
		auditPruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_audit_pruned_total", Help: "Audit entries deleted by audit retention (--audit-retention)."}),
		housekeepErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alert_housekeeping_errors_total", Help: "Failed outbox counts and retention runs (alert and audit)."}),
	}
	if reg != nil {
		reg.MustRegister(m.evalSeconds, m.outboxDepth, m.sent, m.sendFailures, m.skipped, m.pruned, m.auditPruned, m.housekeepErrs)
	}
	return m
}

func (m *Metrics) observeEval(seconds float64) {
	if m != nil {
		m.evalSeconds.Observe(seconds)
	}
}

func (m *Metrics) setOutboxDepth(n int64) {
	if m != nil {
		m.outboxDepth.Set(float64(n))
	}
}

func (m *Metrics) delivery(o deliveryOutcome) {
	if m == nil {
		return
	}
	switch o {
	case delivered:
		m.sent.Inc()
	case skipped:
		m.skipped.Inc()
	case deferred:
		m.sendFailures.Inc()
	}
}

func (m *Metrics) prunedRows(alerts, notifications int64) {
	if m != nil {
		m.pruned.WithLabelValues("alerts").Add(float64(alerts))
		m.pruned.WithLabelValues("notifications").Add(float64(notifications))
	}
}

func (m *Metrics) prunedAudit(n int64) {
	if m != nil {
		m.auditPruned.Add(float64(n))
	}
}

func (m *Metrics) housekeepingError() {
	if m != nil {
		m.housekeepErrs.Inc()
	}
}
