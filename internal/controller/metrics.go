package controller

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// labelResult is the label of the create, adoption, archive and delete counters.
const labelResult = "result"

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
	createsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tiquo_customer_creates_total",
		Help: "POST /v1/customers sent for Customers without customerId, by result (success, error). An error " +
			"whose answer was lost is followed by a lookup by email, never by a second POST.",
	}, []string{labelResult})
	adoptionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tiquo_customer_adoptions_total",
		Help: "Records found by email for Customers without customerId, by result (success: adopted; refused: " +
			"adoptionPolicy is Refuse).",
	}, []string{labelResult})
	archivesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tiquo_customer_archives_total",
		Help: "Records archived because their Customer was deleted under deletionPolicy Archive, by result " +
			"(success, gone: already deleted, error).",
	}, []string{labelResult})
	deletesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tiquo_customer_deletes_total",
		Help: "Records deleted because their Customer was deleted under deletionPolicy Delete, by result " +
			"(success, gone: already deleted, blocked: active bookings, error).",
	}, []string{labelResult})
)

func init() {
	metrics.Registry.MustRegister(patchesTotal, patchedFieldsTotal, driftCorrectionsTotal, customersByReason,
		timeToReady, transientFailuresTotal, webhookEventsTotal, createsTotal, adoptionsTotal, archivesTotal, deletesTotal)
	// Every result is exported from the start, at zero, so that rates and alerts see it.
	for counter, results := range map[*prometheus.CounterVec][]string{
		createsTotal:   {resultSuccess, resultError},
		adoptionsTotal: {resultSuccess, resultRefused},
		archivesTotal:  {resultSuccess, resultGone, resultError},
		deletesTotal:   {resultSuccess, resultGone, resultBlocked, resultError},
	} {
		for _, result := range results {
			counter.WithLabelValues(result)
		}
	}
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
