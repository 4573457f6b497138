package main

import (
	"io"
	"math"
	"time"
)

// callsPerDriftedCustomer is k of a drifted record: one GET to read it, one PATCH to put it
// back.
const callsPerDriftedCustomer = 2

// config is one benchmark run. Zero values of the derived fields are filled by derive.
type config struct {
	// n is the number of Customers.
	n int
	// latency is the sandbox's latency L, added to every Tiquo request.
	latency time.Duration
	// workers is the manager's --max-concurrent-reconciles, C.
	workers int
	// rateLimit is R per minute for the scenarios it should not bind, in the manager's
	// --tiquo-rate-limit and in the sandbox.
	rateLimit int
	// limitedRate is R per minute for the rate-limited cold start; when zero it is derived
	// from the cold start's throughput so that it binds.
	limitedRate int
	// limitedTarget is how long the rate-limited cold start should take when limitedRate is
	// derived.
	limitedTarget time.Duration
	// resync is the steady state's --resync-interval X; derived from n when zero.
	resync time.Duration
	// intervals is how many resync intervals the steady state is counted over.
	intervals int
	// newCustomers is how many Customers are created during each full resync for the
	// responsiveness figures; derived from n when zero.
	newCustomers int
	// createWorkers bounds the concurrent creates of Customers by the benchmark itself.
	createWorkers int
	// statusWriteProbe is how long the API server's status-write rate W is measured.
	statusWriteProbe time.Duration
	// quiet is how long neither Tiquo nor the API server may see activity for the manager to
	// count as idle.
	quiet time.Duration

	// root is the repository root; the CRDs and ./cmd/manager are found from it.
	root string
	// manager is the manager binary; empty builds ./cmd/manager.
	manager string
	// assets is the directory of kube-apiserver and etcd (KUBEBUILDER_ASSETS).
	assets string
	// workDir receives the kubeconfig and the managers' logs; empty uses a temporary
	// directory.
	workDir string
	// skipLimited and skipSteady leave out the rate-limited cold start and the steady
	// state (with the responsiveness figures).
	skipLimited, skipSteady bool
	// skipDrift leaves out the drift correction with and without webhooks.
	skipDrift bool
	// managerFlags are appended to the flags of every manager.
	managerFlags []string
	// log receives progress lines.
	log io.Writer
}

func defaultConfig() config {
	return config{
		n:                1000,
		latency:          20 * time.Millisecond,
		workers:          8,
		rateLimit:        100000,
		limitedTarget:    25 * time.Second,
		intervals:        3,
		createWorkers:    16,
		statusWriteProbe: 3 * time.Second,
		quiet:            2 * time.Second,
		root:             ".",
		log:              io.Discard,
	}
}

// derive fills the fields left zero from n, L and C.
func (c *config) derive() {
	if c.resync <= 0 {
		// A full resync pass takes at least N*L/C; the interval leaves room for two.
		c.resync = max(15*time.Second, (2 * c.passDuration()).Round(time.Second))
	}
	if c.newCustomers <= 0 {
		c.newCustomers = min(100, max(20, c.n/10))
	}
	if c.intervals <= 0 {
		c.intervals = 3
	}
}

// bindingRate returns a rate limit per minute under which N drifted Customers take about
// target, but never more than half the rate of calls the workers sustained without a limit
// (coldCallsPerSecond), so that the limit, not the workers, binds.
func bindingRate(n int, target time.Duration, coldCallsPerSecond float64) int {
	perMinute := float64(n*callsPerDriftedCustomer) / target.Minutes()
	if coldCallsPerSecond > 0 {
		perMinute = min(perMinute, 0.5*coldCallsPerSecond*60)
	}
	return max(60, int(math.Round(perMinute)))
}

// passDuration is the least time one call to each of the N Customers takes with C workers
// against latency L: a full resync of Customers in sync.
func (c *config) passDuration() time.Duration {
	return time.Duration(c.n) * c.latency / time.Duration(max(c.workers, 1))
}

// scanPages is how many list calls one drift scan over the N Customers takes when they are
// the whole account (100 records a page). The rate-limited cold start, over Customers an
// earlier run synced, begins with one: the startup scan finds every record changed.
func scanPages(n int) int { return (n + 99) / 100 }

// restartKeys is how many API keys the Customers of a restart use: they all use the
// manager's default Secret.
const restartKeys = 1

// maxRestartCalls is the most Tiquo calls a restart over N Customers in sync may cost: the
// drift scan's list pages, ceil(N/100), plus one list call per key (a last, short page),
// and no call per Customer.
func maxRestartCalls(n, keys int) int { return scanPages(n) + keys }

// The steady state's bounds, in Tiquo calls per Customer per resync interval.
const (
	// maxScanCallsPerInterval: with the drift scan, a list page per 100 Customers, about
	// 0.01, and never a GET per Customer.
	maxScanCallsPerInterval = 0.05
	// minPerCustomerCalls and maxPerCustomerCalls: with --drift-scan=false each Customer
	// resyncs once an interval, give or take the jitter; fewer means resyncs stopped, more a
	// hot loop.
	minPerCustomerCalls = 0.75
	maxPerCustomerCalls = 1
)
