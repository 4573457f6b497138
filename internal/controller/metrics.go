package controller

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of the reconciler, served on the manager's metrics endpoint beside
// controller-runtime's and the Tiquo client's. Labels hold field names and condition reasons,
// never ids, keys or personal data.
var (
	patchesTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tiquo_customer_patches_total",
		Help: "PATCH requests that changed a Tiquo customer record.",
	})
	patchedFieldsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tiquo_customer_patched_fields_total",
		Help: "Fields changed by PATCH requests, by field name (address subfields as address.line1).",
	}, []string{"field"})
	driftCorrectionsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tiquo_customer_drift_corrections_total",
		Help: "PATCH requests that put back a record changed outside Git while its spec was already in sync.",
	})
	customersByReason = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tiquo_customers",
		Help: "Customer objects by the reason of their Ready condition.",
	}, []string{"reason"})
	timeToReady = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tiquo_customer_time_to_ready_seconds",
		Help:    "Time from the operator first seeing a generation of a Customer's spec to that generation being Ready.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 16), // 50ms to about 27 minutes.
	})
	transientFailuresTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tiquo_customer_transient_failures_total",
		Help: "Syncs that failed for a reason that may pass (RateLimited, APIUnavailable).",
	}, []string{"reason"})
	webhookEventsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tiquo_webhook_events_total",
		Help: "Tiquo webhook deliveries by event type (customer.created, customer.updated, customer.deleted, " +
			"other, unknown) and verdict (queued, unknown_id, bad_signature, stale, duplicate, echo, rate_limited, " +
			"malformed, ignored, unavailable).",
	}, []string{"type", "verdict"})
)

func init() {
	metrics.Registry.MustRegister(patchesTotal, patchedFieldsTotal, driftCorrectionsTotal, customersByReason,
		timeToReady, transientFailuresTotal, webhookEventsTotal)
}

// fleet tracks what the per-object metrics need: each Customer's current Ready reason, and
// when the operator first saw the generation it is working on.
type fleet struct {
	mu      sync.Mutex
	reasons map[types.NamespacedName]string
	seen    map[types.NamespacedName]generationSeen
}

type generationSeen struct {
	generation int64
	at         time.Time
	ready      bool
}

func newFleet() *fleet {
	return &fleet{reasons: map[types.NamespacedName]string{}, seen: map[types.NamespacedName]generationSeen{}}
}

// observe records that key is at generation, first seen at now unless seen before.
func (f *fleet) observe(key types.NamespacedName, generation int64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.seen[key]; !ok || s.generation != generation {
		f.seen[key] = generationSeen{generation: generation, at: now}
	}
}

// report moves key to a Ready reason, and records the time to Ready the first time a
// generation gets there.
func (f *fleet) report(key types.NamespacedName, reason string, ready bool, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.reasons[key]; !ok || old != reason {
		if ok {
			customersByReason.WithLabelValues(old).Dec()
		}
		customersByReason.WithLabelValues(reason).Inc()
		f.reasons[key] = reason
	}
	if s, ok := f.seen[key]; ok && ready && !s.ready {
		timeToReady.Observe(now.Sub(s.at).Seconds())
		s.ready = true
		f.seen[key] = s
	}
}

// forget drops a Customer that is gone.
func (f *fleet) forget(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.reasons[key]; ok {
		customersByReason.WithLabelValues(old).Dec()
	}
	delete(f.reasons, key)
	delete(f.seen, key)
}
