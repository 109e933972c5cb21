// Package httpapi serves Vigil's JSON API under /api/v1 and maps domain errors to statuses and the
// JSON error shape. Operator routes speak the contract of package api, converting between it and
// the server's domain types at this edge (convert.go); host routes speak package wire. The Go
// client is package apiclient.
//
// Trust model: host endpoints (reports, enroll, updates) take untrusted input from the network;
// every body is bounded before and after decompression (wire's named limits) and validated before
// the Service sees it. A report body is read under its own deadline before a decode slot is taken,
// and each host credential may have only a few report requests in flight, so one host cannot hold
// ingestion for the others (ingest.go). Operator endpoints require a Bearer API token whose role
// permits the action, checked before the body is read (authz.go). Failed authentications are
// limited per source address and per presented secret and answered 429 beyond that
// (bruteforce.go); revoked and unknown secrets get the same answer. Secrets are never logged: a
// failure is logged with a short prefix of the secret's SHA-256.
package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/server/tufrepo"
	"github.com/vigilhq/vigil/wire"
)

// Config configures an API.
type Config struct {
	// Service implements the behaviour. Required.
	Service *server.Service
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives request metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// HostRate and HostBurst bound requests per second from one host credential (429 beyond).
	// Default 5 and 30.
	HostRate  float64
	HostBurst float64
	// MaxConcurrentIngest bounds report bodies being decoded at once, so decoding memory stays
	// bounded at MaxConcurrentIngest × wire.MaxReportDecodedBytes. A report waits up to
	// IngestQueueWait for a slot (503 beyond). No slot is held while a body is being received.
	// Default DefaultMaxConcurrentIngest (32).
	MaxConcurrentIngest int
	// IngestQueueWait bounds the wait for memory budget and a decode slot. Default
	// DefaultIngestQueueWait (5s).
	IngestQueueWait time.Duration
	// ReportBodyTimeout bounds receiving one report body (408 beyond). Default
	// DefaultReportBodyTimeout (10s).
	ReportBodyTimeout time.Duration
	// MaxReportsInFlightPerHost caps one host credential's report requests in the server at
	// once (429 beyond). Default DefaultMaxReportsInFlightPerHost (4).
	MaxReportsInFlightPerHost int
	// MaxBufferedReportBytes bounds raw report bodies held in memory at once; each reserves its
	// Content-Length (a chunked one wire.MaxReportBodyBytes). Default
	// DefaultMaxBufferedReportBytes (256 MiB).
	MaxBufferedReportBytes int64
	// FailureRate and FailureBurst bound failed authentications per source address and per
	// presented secret (429 beyond; see bruteforce.go). Default DefaultFailureRate and
	// DefaultFailureBurst.
	FailureRate  float64
	FailureBurst float64
	// Now defaults to time.Now.
	Now func() time.Time
	// Releases is the release repository behind /api/v1/repo, /releases and /drafts. Nil: those
	// endpoints answer 404.
	Releases *tufrepo.Repository
	// Rollouts is behind /api/v1/rollouts and /groups/{name}/rollout-policy. Nil: those
	// endpoints answer 404.
	Rollouts *rollout.Manager
}

// API is the HTTP handler for /api/v1. It is safe for concurrent use.
type API struct {
	cfg           Config
	hostsInFlight *inflight
	budget        *byteBudget
	// onQueueWait, when set (tests), is called when a report starts waiting for a decode slot.
	onQueueWait func()
	// shedLogged is when (Unix nanoseconds) a 503 was last logged.
	shedLogged atomic.Int64
	svc        *server.Service
	log        *slog.Logger
	router     *mux.Router
	limiter    *hostLimiter
	// failures limits failed authentications (bruteforce.go).
	failures *failureLimiter
	ingest   chan struct{}
	now      func() time.Time

	releases *tufrepo.Repository
	rollouts *rollout.Manager

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New builds the API's routes.
func New(cfg Config) (*API, error) {
	if cfg.Service == nil {
		return nil, errors.New("httpapi: Config.Service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HostRate == 0 {
		cfg.HostRate = 5
	}
	if cfg.HostBurst == 0 {
		cfg.HostBurst = 30
	}
	if cfg.MaxConcurrentIngest <= 0 {
		cfg.MaxConcurrentIngest = DefaultMaxConcurrentIngest
	}
	if cfg.IngestQueueWait <= 0 {
		cfg.IngestQueueWait = DefaultIngestQueueWait
	}
	if cfg.ReportBodyTimeout <= 0 {
		cfg.ReportBodyTimeout = DefaultReportBodyTimeout
	}
	if cfg.MaxReportsInFlightPerHost <= 0 {
		cfg.MaxReportsInFlightPerHost = DefaultMaxReportsInFlightPerHost
	}
	if cfg.MaxBufferedReportBytes <= 0 {
		cfg.MaxBufferedReportBytes = DefaultMaxBufferedReportBytes
	}
	if cfg.MaxBufferedReportBytes < wire.MaxReportBodyBytes {
		return nil, fmt.Errorf("httpapi: MaxBufferedReportBytes %d is below one maximal report body (%d)", cfg.MaxBufferedReportBytes, wire.MaxReportBodyBytes)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FailureRate == 0 {
		cfg.FailureRate = DefaultFailureRate
	}
	if cfg.FailureBurst == 0 {
		cfg.FailureBurst = DefaultFailureBurst
	}
	a := &API{
		cfg:           cfg,
		hostsInFlight: newInflight(cfg.MaxReportsInFlightPerHost),
		budget:        newByteBudget(cfg.MaxBufferedReportBytes),
		svc:           cfg.Service,
		log:           cfg.Logger,
		router:        mux.NewRouter(),
		limiter:       newHostLimiter(cfg.HostRate, cfg.HostBurst, cfg.Now),
		failures:      newFailureLimiter(cfg.FailureRate, cfg.FailureBurst, cfg.Now, cfg.Logger),
		ingest:        make(chan struct{}, cfg.MaxConcurrentIngest),
		now:           cfg.Now,

		releases: cfg.Releases,
		rollouts: cfg.Rollouts,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets}, []string{"route", "method"}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(a.requests, a.latency)
	}
	a.routes()
	return a, nil
}

// Router returns the router so the server can mount other handlers (TUF, dashboard, metrics).
func (a *API) Router() *mux.Router { return a.router }

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

func (a *API) routes() {
	r := a.router
	r.Use(a.instrument)
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, wire.ErrorResponse{Error: wire.ErrorBody{Code: api.CodeMethod, Message: "method not allowed"}})
	})
	v1 := r.PathPrefix("/api/v1").Subrouter()
	v1.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, wire.ErrorResponse{Error: wire.ErrorBody{Code: api.CodeNotFound, Message: "no such endpoint"}})
	})
	v1.MethodNotAllowedHandler = r.MethodNotAllowedHandler
	v1.Use(a.checkBody) // bodies.go: host routes' body shape; operator routes check it after the role

	// Host endpoints.
	v1.HandleFunc("/enroll", a.enroll).Methods(http.MethodPost)
	v1.HandleFunc("/reports", a.hostAuth(a.reports)).Methods(http.MethodPost)
	v1.HandleFunc("/updates/desired", a.desiredAuth).Methods(http.MethodGet)
	v1.HandleFunc("/updates/events", a.hostAuth(a.updateEvent)).Methods(http.MethodPost)

	// Operator endpoints.
	v1.HandleFunc("/hosts", a.opAuth(a.listHosts)).Methods(http.MethodGet)
	v1.HandleFunc("/hosts/{id}", a.opAuth(a.getHost)).Methods(http.MethodGet)
	v1.HandleFunc("/hosts/{id}/revoke", a.opAuth(a.revokeHost)).Methods(http.MethodPost)
	v1.HandleFunc("/hosts/{id}/clear-quarantine", a.opAuth(a.clearQuarantine)).Methods(http.MethodPost)
	v1.HandleFunc("/hosts/{id}", a.opAuth(a.deleteHost)).Methods(http.MethodDelete)
	v1.HandleFunc("/hosts/{id}/group", a.opAuth(a.moveHost)).Methods(http.MethodPut)
	v1.HandleFunc("/hosts/{id}/updates", a.opAuth(a.hostUpdates)).Methods(http.MethodGet)
	v1.HandleFunc("/hosts/{id}/agent-settings", a.opAuth(a.getHostAgentSettings)).Methods(http.MethodGet)
	v1.HandleFunc("/hosts/{id}/agent-settings", a.opAuth(a.setHostAgentSettings)).Methods(http.MethodPut)
	v1.HandleFunc("/hosts/{id}/agent-settings", a.opAuth(a.deleteHostAgentSettings)).Methods(http.MethodDelete)
	v1.HandleFunc("/groups", a.opAuth(a.listGroups)).Methods(http.MethodGet)
	v1.HandleFunc("/groups", a.opAuth(a.createGroup)).Methods(http.MethodPost)
	v1.HandleFunc("/groups/{name}", a.opAuth(a.getGroup)).Methods(http.MethodGet)
	v1.HandleFunc("/groups/{name}", a.opAuth(a.updateGroup)).Methods(http.MethodPatch, http.MethodPut)
	v1.HandleFunc("/groups/{name}", a.opAuth(a.deleteGroup)).Methods(http.MethodDelete)
	v1.HandleFunc("/groups/{name}/pin", a.opAuth(a.getPin)).Methods(http.MethodGet)
	v1.HandleFunc("/groups/{name}/pin", a.opAuth(a.setPin)).Methods(http.MethodPut)
	v1.HandleFunc("/groups/{name}/pin", a.opAuth(a.deletePin)).Methods(http.MethodDelete)
	v1.HandleFunc("/groups/{name}/agent-settings", a.opAuth(a.getGroupAgentSettings)).Methods(http.MethodGet)
	v1.HandleFunc("/groups/{name}/agent-settings", a.opAuth(a.setGroupAgentSettings)).Methods(http.MethodPut)
	v1.HandleFunc("/enrollment-tokens", a.opAuth(a.listEnrollmentTokens)).Methods(http.MethodGet)
	v1.HandleFunc("/enrollment-tokens", a.opAuth(a.createEnrollmentToken)).Methods(http.MethodPost)
	v1.HandleFunc("/enrollment-tokens/{id}", a.opAuth(a.revokeEnrollmentToken)).Methods(http.MethodDelete)
	v1.HandleFunc("/tokens", a.opAuth(a.listTokens)).Methods(http.MethodGet)
	v1.HandleFunc("/tokens", a.opAuth(a.createToken)).Methods(http.MethodPost)
	v1.HandleFunc("/tokens/{id}", a.opAuth(a.revokeToken)).Methods(http.MethodDelete)
	v1.HandleFunc("/audit", a.opAuth(a.listAudit)).Methods(http.MethodGet)
	a.userRoutes(v1)    // users.go
	a.releaseRoutes(v1) // releases.go
	a.alertRoutes(v1)
	a.rolloutRoutes(v1)
}

// statusRecorder captures the status for metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *API) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "unmatched"
		if cur := mux.CurrentRoute(r); cur != nil {
			if tpl, err := cur.GetPathTemplate(); err == nil {
				route = tpl
			}
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = abortReader{r.Body}
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		a.latency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
		a.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
	})
}

// bearer extracts a Bearer token.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):])
	}
	return ""
}

type hostHandler func(w http.ResponseWriter, r *http.Request, h server.Host)

func (a *API) hostAuth(next hostHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cred := bearer(r)
		if a.failures.blocked(r, kindHostCred, cred) {
			a.writeError(w, r, errRateLimitedAuth)
			return
		}
		h, err := a.svc.AuthenticateHost(r.Context(), cred)
		if err != nil {
			if isAuthFailure(err) {
				a.failures.failed(r, kindHostCred, cred, err)
			}
			closeUnread(w)
			a.writeError(w, r, err)
			return
		}
		if !a.limiter.allow(h.ID) {
			closeUnread(w)
			a.writeError(w, r, fmt.Errorf("%w: host %s", errRateLimited, h.ID))
			return
		}
		next(w, r, h)
	}
}

type opHandler func(w http.ResponseWriter, r *http.Request, p server.Principal)

func (a *API) opAuth(next opHandler) http.HandlerFunc { return a.opAuthRole("", next) }

// opAuthRole authenticates the API token, checks the role (role, or the route's in routeRoles
// when role is ""), and only then the body's shape (bodies.go), so a caller without the role gets
// 403 whatever it sent.
func (a *API) opAuthRole(role string, next opHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		p.Address = ClientAddress(r)
		need := role
		if need == "" {
			need = routeRole(r)
		}
		if need != "" {
			if err := a.svc.Authorize(p, need); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if err := checkBodyShape(r); err != nil {
			a.writeError(w, r, err)
			return
		}
		next(w, r, p)
	}
}

// authenticate resolves the request's API token, counting a failure against its address and
// token (bruteforce.go).
func (a *API) authenticate(r *http.Request) (server.Principal, error) {
	tok := bearer(r)
	if a.failures.blocked(r, kindAPIToken, tok) {
		return server.Principal{}, errRateLimitedAuth
	}
	p, err := a.svc.Authenticate(r.Context(), tok)
	if err != nil && isAuthFailure(err) {
		a.failures.failed(r, kindAPIToken, tok, err)
	}
	return p, err
}

// RequireToken serves next only to callers with an API token of at least role (viewer: any
// valid token), with the same brute-force limits as the API. vigil-server guards /metrics with it.
func (a *API) RequireToken(role string, next http.Handler) http.Handler {
	return a.opAuth(func(w http.ResponseWriter, r *http.Request, p server.Principal) {
		if err := a.svc.Authorize(p, role); err != nil {
			a.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// decodeSmall decodes a bounded, strict JSON operator or host body.
func decodeSmall(r *http.Request, v any) error {
	if r.ContentLength > wire.MaxSmallBodyBytes {
		return fmt.Errorf("%w: body of %d bytes exceeds %d", wire.ErrTooLarge, r.ContentLength, wire.MaxSmallBodyBytes)
	}
	return wire.Decode(r.Body, wire.MaxSmallBodyBytes, true, v)
}

func (a *API) enroll(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrollRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if a.failures.blocked(r, kindEnrollment, req.EnrollmentToken) {
		a.writeError(w, r, errRateLimitedAuth)
		return
	}
	resp, err := a.svc.Enroll(r.Context(), req)
	if err != nil {
		if isAuthFailure(err) {
			a.failures.failed(r, kindEnrollment, req.EnrollmentToken, err)
		}
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

// readReportBody decodes a report batch body of contentLength bytes: at most
// wire.MaxReportBodyBytes on the wire and wire.MaxReportDecodedBytes after gzip, so a
// compression bomb is cut off, never allocated.
func readReportBody(r io.Reader, contentLength int64, contentEncoding string) (wire.ReportBatch, error) {
	batch, _, err := readReportBodyRaw(r, contentLength, contentEncoding)
	return batch, err
}

// readReportBodyRaw is readReportBody that also returns each report's JSON as received
// (wire.UnmarshalReportBatchRaw), in memory of its own.
func readReportBodyRaw(r io.Reader, contentLength int64, contentEncoding string) (batch wire.ReportBatch, raw [][]byte, err error) {
	if contentLength > wire.MaxReportBodyBytes {
		return batch, nil, fmt.Errorf("%w: body of %d bytes exceeds %d", wire.ErrTooLarge, contentLength, wire.MaxReportBodyBytes)
	}
	body := io.Reader(&limitedReader{r: r, n: wire.MaxReportBodyBytes})
	switch enc := strings.ToLower(strings.TrimSpace(contentEncoding)); enc {
	case "", "identity":
	case "gzip":
		// Readers are pooled: each holds ~40 KB of inflate state, and one per request was a
		// visible share of ingest allocations.
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(body)
		} else {
			err = zr.Reset(body)
		}
		if err != nil {
			if errors.Is(err, wire.ErrTooLarge) {
				return batch, nil, err
			}
			return batch, nil, fmt.Errorf("%w: bad gzip stream: %v", wire.ErrInvalid, err)
		}
		defer gzipReaders.Put(zr)
		body = zr
	default:
		return batch, nil, fmt.Errorf("%w %q", errUnsupportedEncoding, enc)
	}
	// io.ReadAll, not a growing bytes.Buffer: it allocates about twice what it reads, where a
	// doubling buffer allocates four times (TestGzipBomb).
	data, err := io.ReadAll(io.LimitReader(body, wire.MaxReportDecodedBytes+1))
	if err != nil {
		return batch, nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > wire.MaxReportDecodedBytes {
		return batch, nil, fmt.Errorf("%w: body exceeds %d bytes", wire.ErrTooLarge, wire.MaxReportDecodedBytes)
	}
	raw, err = wire.UnmarshalReportBatchRaw(data, &batch) // data is ours: raw may alias it
	return batch, raw, err
}

// decodeReports decodes a report batch without reflection for what agents send (exactly
// encoding/json's result otherwise), with each report's JSON as received. data may be a pooled
// buffer: the raw JSON is in a copy of its own. (Gzipped bodies are decompressed into memory of
// their own and decoded directly.)
func decodeReports(data []byte) (wire.ReportBatch, [][]byte, error) {
	var batch wire.ReportBatch
	own := bytes.Clone(data)
	raw, err := wire.UnmarshalReportBatchRaw(own, &batch)
	return batch, raw, err
}

// gzipReaders pools gzip readers for report bodies.
var gzipReaders sync.Pool

// limitedReader fails with wire.ErrTooLarge once more than n bytes were read.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, fmt.Errorf("%w: compressed body exceeds %d bytes", wire.ErrTooLarge, wire.MaxReportBodyBytes)
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, fmt.Errorf("%w: compressed body exceeds %d bytes", wire.ErrTooLarge, wire.MaxReportBodyBytes)
	}
	return n, err
}

// desiredAuth serves GET /api/v1/updates/desired to an enrolled host (its credential) and to an
// updater whose agent has not enrolled yet (the enrollment token it will enroll with, which is
// read, not consumed): the first install then follows the group's pin.
func (a *API) desiredAuth(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if !strings.HasPrefix(tok, enrollmentTokenPrefix) {
		a.hostAuth(a.desired)(w, r)
		return
	}
	if a.failures.blocked(r, kindEnrollment, tok) {
		a.writeError(w, r, errRateLimitedAuth)
		return
	}
	d, err := a.svc.DesiredForEnrollment(r.Context(), tok)
	if err != nil {
		if isAuthFailure(err) {
			a.failures.failed(r, kindEnrollment, tok, err)
		}
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// enrollmentTokenPrefix starts every enrollment token (server.CreateEnrollmentToken).
const enrollmentTokenPrefix = "vge_"

func (a *API) desired(w http.ResponseWriter, r *http.Request, h server.Host) {
	d, err := a.svc.Desired(r.Context(), h)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) updateEvent(w http.ResponseWriter, r *http.Request, h server.Host) {
	var e wire.UpdateEvent
	if err := decodeSmall(r, &e); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.svc.RecordUpdateEvent(r.Context(), h, e); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// hostLimiter is a token bucket per host, bounded in size.
type hostLimiter struct {
	rate, burst float64
	now         func() time.Time
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxLimiterHosts = 200_000

func newHostLimiter(rate, burst float64, now func() time.Time) *hostLimiter {
	return &hostLimiter{rate: rate, burst: burst, now: now, buckets: make(map[string]*bucket)}
}

func (l *hostLimiter) allow(host string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[host]
	if !ok {
		if len(l.buckets) >= maxLimiterHosts {
			clear(l.buckets)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[host] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Ready reports whether the store answers, for /readyz.
func (a *API) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return a.svc.Store().Ping(ctx)
}
