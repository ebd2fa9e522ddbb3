package metrics

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label names. Every value of every label comes from the configuration or
// from a fixed set in this package, never from a client, so the number of
// series stays bounded whatever traffic arrives.
const (
	labelListener     = "listener"
	labelStatus       = "status"
	labelCode         = "code"
	labelTrustStore   = "trust_store"
	labelRevocationID = "revocation_id"
	labelResult       = "result"
	labelReason       = "reason"
	labelDirection    = "direction"
	labelTargetGroup  = "target_group"
	labelState        = "state"
)

// handshakeBuckets cover a loopback ECDSA handshake (well under a
// millisecond) up to the handshake deadline, so both a slow CRL look-up and a
// client that stalls show up in distinct buckets.
func handshakeBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// Option configures New.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock makes the metrics read the time from now instead of time.Now.
// Only the CRL age and time-to-nextUpdate gauges read the clock, at scrape
// time; tests inject a clock to move them without waiting.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Metrics holds every metric mtlslb exposes, on a registry of its own. It is
// safe for concurrent use. A nil *Metrics records nothing, so code paths that
// run without metrics (tests, tools) need no special casing.
type Metrics struct {
	registry *prometheus.Registry
	handler  http.Handler

	newConns      *prometheus.CounterVec
	activeConns   *prometheus.GaugeVec
	rejectedConns *prometheus.CounterVec
	tlsErrors     *prometheus.CounterVec
	handshake     *prometheus.HistogramVec
	requests      *prometheus.CounterVec
	generated     *prometheus.CounterVec
	refusedConns  *prometheus.CounterVec
	targetErrors  *prometheus.CounterVec
	forwarded     *prometheus.CounterVec

	configRevision       prometheus.Gauge
	reloadSuccessful     prometheus.Gauge
	reloadSuccessSeconds prometheus.Gauge
	reloadsOK            prometheus.Counter
	reloadsFailed        prometheus.Counter

	blobPasses     *prometheus.CounterVec // created on the first pass: file mode has no store
	blobs          *prometheus.GaugeVec
	reclaimedBlobs *prometheus.CounterVec
	reclaimedBytes *prometheus.CounterVec

	trustStores  *trustStoreCollector
	targetGroups *targetGroupCollector

	mu        sync.Mutex
	listeners map[string]*ListenerMetrics
}

// New creates every metric on a new registry, together with the Go runtime
// and process collectors.
func New(opts ...Option) *Metrics {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}

	m := &Metrics{
		registry:  prometheus.NewRegistry(),
		listeners: make(map[string]*ListenerMetrics),

		newConns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_new_connections_total",
			Help: "Client connections accepted by a listener, counted before any TLS handshake. ALB CloudWatch: NewConnectionCount (NLB: NewFlowCount on TCP and TLS listeners).",
		}, []string{labelListener}),
		activeConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtlslb_active_connections",
			Help: "Client connections a listener holds open now. ALB CloudWatch: ActiveConnectionCount (which sums per period instead; NLB: ActiveFlowCount on TCP and TLS listeners).",
		}, []string{labelListener}),
		rejectedConns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_rejected_connections_total",
			Help: "Client connections refused because the listener had reached its connection limit (HTTPS and HTTP listeners; TCP and TLS listeners have no limit). ALB CloudWatch: RejectedConnectionCount.",
		}, []string{labelListener}),
		tlsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_client_tls_negotiation_errors_total",
			Help: "Client TLS handshakes that failed, by the connection log's tls_verify_status failure code. ALB CloudWatch: ClientTLSNegotiationErrorCount (NLB: the same, on TLS listeners).",
		}, []string{labelListener, labelStatus}),
		handshake: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mtlslb_tls_handshake_duration_seconds",
			Help:    "Latency of successful client TLS handshakes, as the connection log's tls_handshake_latency. No ALB CloudWatch equivalent.",
			Buckets: handshakeBuckets(),
		}, []string{labelListener}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_requests_total",
			Help: "HTTP requests received, by the status code sent to the client, whoever produced it. ALB CloudWatch: RequestCount.",
		}, []string{labelListener, labelCode}),
		generated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_generated_responses_total",
			Help: "HTTP responses mtlslb produced itself rather than a target, by status code. ALB CloudWatch: HTTPCode_ELB_3XX_Count, HTTPCode_ELB_4XX_Count, HTTPCode_ELB_5XX_Count and HTTPCode_ELB_502/503/504_Count.",
		}, []string{labelListener, labelCode}),
		refusedConns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_refused_connections_total",
			Help: "Connections a TCP or TLS listener accepted and closed before forwarding them, by reason: proxy_protocol (a PROXY header missing or invalid from a trusted network, or, on a TCP listener, one sent from an untrusted network) or no_registered_targets (the target group has no target). No ALB CloudWatch equivalent (NLB counts the resets in TCP_ELB_Reset_Count).",
		}, []string{labelListener, labelReason}),
		targetErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_target_connection_errors_total",
			Help: "Connections from a TCP or TLS listener to a target that could not be established (refused, timed out, name not resolved); the client's connection is reset. ALB CloudWatch: TargetConnectionErrorCount (NLB: part of TCP_ELB_Reset_Count).",
		}, []string{labelListener}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_forwarded_bytes_total",
			Help: "Bytes a TCP or TLS listener forwarded, by direction (client_to_target, target_to_client); payload only, plaintext on TLS listeners, PROXY headers not included. ALB CloudWatch: ProcessedBytes (NLB's also counts TCP/IP and TLS overhead).",
		}, []string{labelListener, labelDirection}),

		configRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlslb_config_revision",
			Help: "Revision of the configuration being served (the last one applied successfully). No ALB CloudWatch equivalent.",
		}),
		reloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlslb_config_last_reload_successful",
			Help: "1 if the last configuration reload was applied, 0 if it was rejected and the previous configuration still serves. No ALB CloudWatch equivalent.",
		}),
		reloadSuccessSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtlslb_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration reload. No ALB CloudWatch equivalent.",
		}),

		blobPasses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_store_blob_collections_total",
			Help: "Passes of the store's blob collection (serve --data-dir only), by result (success or failure; a failed pass deletes nothing). No ALB CloudWatch equivalent.",
		}, []string{labelResult}),
		blobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtlslb_store_blobs",
			Help: "CA bundles and CRLs stored, at the last successful collection, by state: referenced (named by the configuration) or waiting (unreferenced, kept until their grace period has passed). No ALB CloudWatch equivalent.",
		}, []string{labelState}),
		reclaimedBlobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_store_reclaimed_blobs_total",
			Help: "Unreferenced CA bundles and CRLs the store's blob collection deleted. No ALB CloudWatch equivalent.",
		}, nil),
		reclaimedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtlslb_store_reclaimed_bytes_total",
			Help: "Bytes of the unreferenced CA bundles and CRLs the store's blob collection deleted. No ALB CloudWatch equivalent.",
		}, nil),

		trustStores:  newTrustStoreCollector(o.now),
		targetGroups: newTargetGroupCollector(),
	}

	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mtlslb_config_reloads_total",
		Help: "Configuration reloads attempted, by result (success or failure). No ALB CloudWatch equivalent.",
	}, []string{labelResult})
	// Both results exist from the start so that increase() sees the first
	// failure instead of a series appearing out of nothing.
	m.reloadsOK = reloads.WithLabelValues("success")
	m.reloadsFailed = reloads.WithLabelValues("failure")

	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.newConns, m.activeConns, m.rejectedConns, m.tlsErrors, m.handshake,
		m.requests, m.generated, m.refusedConns, m.targetErrors, m.forwarded,
		m.configRevision, m.reloadSuccessful, m.reloadSuccessSeconds, reloads,
		m.blobPasses, m.blobs, m.reclaimedBlobs, m.reclaimedBytes,
		m.trustStores, m.targetGroups,
	)
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.HTTPErrorOnError,
	})
	return m
}

// Handler serves the metrics of this registry in the Prometheus exposition
// formats, for the admin listener. A nil *Metrics serves 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Gatherer returns the registry for reading only, for tests and for tools
// that want the metric families without going through HTTP.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	if m == nil {
		return prometheus.Gatherers{}
	}
	return m.registry
}

// Listener returns the metrics of the listener at addr, with every series it
// will update already resolved. Call it once per listener generation, not per
// connection. A listener kept across a reload (same address) gets the same
// *ListenerMetrics back, so its active-connection gauge stays continuous.
// A nil *Metrics returns nil, which records nothing.
func (m *Metrics) Listener(addr string) *ListenerMetrics {
	if m == nil {
		return nil
	}
	// Label values must be valid UTF-8 or client_golang panics; an address
	// from a decoded configuration always is, but a panic in the metrics
	// must never take a listener down.
	addr = strings.ToValidUTF8(addr, "\uFFFD")

	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.listeners[addr]; ok {
		return l
	}
	l := newListenerMetrics(m, addr)
	m.listeners[addr] = l
	return l
}

// DeleteListener removes every series of the listener at addr, for a
// listener that the configuration no longer has, whatever its protocol.
// Connections still finishing on the old generation keep calling their
// *ListenerMetrics or *Layer4Metrics safely; what they record is no longer
// exported. A later Listener(addr) or Layer4Listener(addr, …) starts from
// zero.
func (m *Metrics) DeleteListener(addr string) {
	if m == nil {
		return
	}
	addr = strings.ToValidUTF8(addr, "\uFFFD")

	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleteListenerSeriesLocked(addr, allListenerSeries)
}

// ListenerFamily is a kind of listener as far as its metric series go: the
// listeners of one family record the same per-listener series. A reload can
// give an address to a listener of another family; see
// [Metrics.DeleteReplacedSeries].
type ListenerFamily uint8

// The listener families. The zero ListenerFamily is none of them.
const (
	// FamilyHTTP is an HTTPS or HTTP listener ([Metrics.Listener]): the
	// connection, rejected-connection, handshake, TLS-error, request and
	// generated-response series (the handshake and TLS-error ones at zero on
	// an HTTP listener). HTTPS and HTTP are one family because a switch
	// between them keeps the listener, and so its series.
	FamilyHTTP ListenerFamily = iota + 1
	// FamilyTLS is a TLS listener ([Metrics.Layer4Listener] with tls): the
	// connection, refusal, target-error, forwarded-byte, handshake and
	// TLS-error series.
	FamilyTLS
	// FamilyTCP is a TCP listener: the series of FamilyTLS except the
	// handshake and TLS-error ones.
	FamilyTCP
)

// listenerSeries is a set of per-listener metric vectors, so that some of a
// listener's series can be deleted and not others.
type listenerSeries uint8

const (
	seriesConnections listenerSeries = 1 << iota // new and active connections
	seriesRejected                               // connections over the connection limit
	seriesHandshake                              // handshake latency and TLS errors
	seriesRequests                               // requests and generated responses
	seriesLayer4                                 // refusals, target connection errors, forwarded bytes

	allListenerSeries = seriesConnections | seriesRejected | seriesHandshake | seriesRequests | seriesLayer4
)

// series returns what a listener of family f records; nothing for a value
// that is not a family.
func (f ListenerFamily) series() listenerSeries {
	switch f {
	case FamilyHTTP:
		return seriesConnections | seriesRejected | seriesHandshake | seriesRequests
	case FamilyTLS:
		return seriesConnections | seriesHandshake | seriesLayer4
	case FamilyTCP:
		return seriesConnections | seriesLayer4
	}
	return 0
}

// DeleteReplacedSeries removes the series of the listener at addr that a
// listener of family replaced records and one of family current does not,
// for an address that a reload gave to a listener of another family (HTTPS
// replaced by TCP, TLS by TCP, or the reverse), once the replaced listener
// is done with it. Without this the new listener's page would keep the old
// one's series frozen at their last values, a TCP listener showing request
// counts for ever.
//
// Series both families record are kept and go on counting, so the address
// keeps one continuous counter of them: the connection series always, and
// the handshake and TLS-error series between an HTTPS (or HTTP) listener and
// a TLS listener, which count the same handshakes the same way.
//
// current must be the family of the listener that holds addr at the time of
// the call, not at the time of the switch: nothing it records is deleted, so
// a replaced listener that finishes after the address changed family again
// (TCP, then HTTPS, then TCP, the first TCP listener draining last) takes
// nothing from the listener serving now. The same family twice, or a value
// that is not a family, deletes nothing.
//
// Deleting a series that a *ListenerMetrics holds (when replaced is
// FamilyHTTP, or TLS gives way to TCP) retires the address's
// *ListenerMetrics, as DeleteListener does: a later Listener(addr) resolves
// those series afresh, from zero, and the connection series where they are.
func (m *Metrics) DeleteReplacedSeries(addr string, replaced, current ListenerFamily) {
	if m == nil || current.series() == 0 {
		return
	}
	addr = strings.ToValidUTF8(addr, "\uFFFD")

	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleteListenerSeriesLocked(addr, replaced.series()&^current.series())
}

// deleteListenerSeriesLocked deletes the series of addr in the vectors of
// which. If that includes one a *ListenerMetrics holds, the cached one is
// retired and forgotten: handing it out again would make a later HTTPS
// listener record into series no longer registered. Callers hold m.mu.
func (m *Metrics) deleteListenerSeriesLocked(addr string, which listenerSeries) {
	if which&FamilyHTTP.series() != 0 {
		if l, ok := m.listeners[addr]; ok {
			l.retired.Store(true)
			delete(m.listeners, addr)
		}
	}
	match := prometheus.Labels{labelListener: addr}
	if which&seriesConnections != 0 {
		m.newConns.DeletePartialMatch(match)
		m.activeConns.DeletePartialMatch(match)
	}
	if which&seriesRejected != 0 {
		m.rejectedConns.DeletePartialMatch(match)
	}
	if which&seriesHandshake != 0 {
		m.tlsErrors.DeletePartialMatch(match)
		m.handshake.DeletePartialMatch(match)
	}
	if which&seriesRequests != 0 {
		m.requests.DeletePartialMatch(match)
		m.generated.DeletePartialMatch(match)
	}
	if which&seriesLayer4 != 0 {
		m.refusedConns.DeletePartialMatch(match)
		m.targetErrors.DeletePartialMatch(match)
		m.forwarded.DeletePartialMatch(match)
	}
}

// SetConfig records the outcome of a configuration load or reload. With ok,
// revision becomes the revision being served and at the time of the last
// success; without, only the failure is recorded, since the previous
// revision keeps serving.
func (m *Metrics) SetConfig(revision int64, ok bool, at time.Time) {
	if m == nil {
		return
	}
	if !ok {
		m.reloadsFailed.Inc()
		m.reloadSuccessful.Set(0)
		return
	}
	m.reloadsOK.Inc()
	m.reloadSuccessful.Set(1)
	m.configRevision.Set(float64(revision))
	m.reloadSuccessSeconds.Set(float64(at.UnixNano()) / 1e9)
}

// BlobCollection records one pass of the store's blob collection: whether it
// succeeded, and for a pass that did, the blobs it found referenced and
// waiting out their grace period, and what it deleted. The series appear with
// the first pass, so that a server reading a file, which has no store, has
// none.
func (m *Metrics) BlobCollection(ok bool, referenced, waiting, reclaimed int, reclaimedBytes int64) {
	if m == nil {
		return
	}
	if !ok {
		m.blobPasses.WithLabelValues("failure").Inc()
		m.blobPasses.WithLabelValues("success")
		return
	}
	m.blobPasses.WithLabelValues("success").Inc()
	m.blobPasses.WithLabelValues("failure")
	m.blobs.WithLabelValues("referenced").Set(float64(referenced))
	m.blobs.WithLabelValues("waiting").Set(float64(waiting))
	m.reclaimedBlobs.WithLabelValues().Add(float64(reclaimed))
	m.reclaimedBytes.WithLabelValues().Add(float64(reclaimedBytes))
}
