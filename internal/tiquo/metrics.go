package tiquo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Route templates used as the route label; they never hold an id.
const (
	routeCollection = "/v1/customers"
	routeItem       = "/v1/customers/{id}"
	routeOther      = "other"
)

// KeyFingerprint returns a short, stable, non-reversible name for an API
// key (the first 12 hex digits of its SHA-256), for metric labels and logs.
func KeyFingerprint(apiKey string) string {
	return fingerprintOf(sha256.Sum256([]byte(apiKey)))
}

func fingerprintOf(sum [sha256.Size]byte) string {
	return hex.EncodeToString(sum[:6])
}

// metrics are the client's Prometheus collectors.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	remaining *prometheus.GaugeVec
}

// newMetrics registers the collectors on reg, reusing those already
// registered by an earlier client so that New can run many times in one
// process.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tiquo_requests_total",
		Help: "Requests sent to the Tiquo API by method, route template and status code (\"error\" when no answer came).",
	}, []string{"method", "route", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tiquo_request_duration_seconds",
		Help:    "Time from sending a request to the Tiquo API to receiving its response headers.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"method", "route"}))
	if err != nil {
		return nil, err
	}
	remaining, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tiquo_rate_limit_remaining",
		Help: "X-RateLimit-Remaining of the last answer, by API key fingerprint.",
	}, []string{"key"}))
	if err != nil {
		return nil, err
	}
	return &metrics{requests: requests, duration: duration, remaining: remaining}, nil
}

// register registers c on reg or returns the equal collector registered
// before.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register tiquo metrics: %w", err)
	}
	return c, nil
}

type routeKey struct{}

// withRoute records the route template of a request in its context.
func withRoute(ctx context.Context, route string) context.Context {
	return context.WithValue(ctx, routeKey{}, route)
}

// routeOf returns the route template of req: the one the client recorded,
// else one derived from the path.
func routeOf(req *http.Request) string {
	if r, ok := req.Context().Value(routeKey{}).(string); ok {
		return r
	}
	p := req.URL.EscapedPath()
	switch {
	case strings.HasSuffix(p, routeCollection):
		return routeCollection
	case strings.Contains(p, routeCollection+"/"):
		return routeItem
	}
	return routeOther
}

// instrumentedTransport counts requests and times them by method, route
// template and status.
type instrumentedTransport struct {
	next http.RoundTripper
	m    *metrics
}

// RoundTrip implements http.RoundTripper.
func (t *instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	route := routeOf(req)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.m.duration.WithLabelValues(req.Method, route).Observe(time.Since(start).Seconds())
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.m.requests.WithLabelValues(req.Method, route, code).Inc()
	return resp, err
}
