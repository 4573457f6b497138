package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// steadyResult is the routine resyncs of N Customers in sync.
type steadyResult struct {
	ran bool
	// driftScan says whether the manager ran with its drift scan (the default).
	driftScan bool
	interval  time.Duration
	window    time.Duration
	// calls is the Tiquo requests within the window, but for the records of the Customers
	// created for the responsiveness figures; lists is the list requests among them.
	calls, lists int
	// statusWrites is the status writes of the N Customers within the window, as MODIFIED
	// events of the benchmark's watch.
	statusWrites int
	// settling is how long it took from the end of the startup pass to the window, and
	// settlingCalls the Tiquo calls for the N Customers meanwhile: with the drift scan, the
	// time it takes to take over from per-Customer timers.
	settling      time.Duration
	settlingCalls int
}

// perCustomerPerInterval is the steady state's figure.
func (s steadyResult) perCustomerPerInterval(n int) float64 {
	intervals := s.window.Seconds() / s.interval.Seconds()
	if n == 0 || intervals == 0 {
		return 0
	}
	return float64(s.calls) / float64(n) / intervals
}

// responsiveness is the time to Ready of Customers created while a full resync ran.
type responsiveness struct {
	ran            bool
	created, ready int
	p50, p99, max  time.Duration
}

// steadyWithDriftScan is the steady state of the manager as shipped. New Customers are
// timed during its startup pass, which queues all N Customers at once.
func (b *bench) steadyWithDriftScan(ctx context.Context) error {
	r, err := b.steadyState(ctx, true)
	b.res.steady = r
	return err
}

// steadyPerCustomerResync is the steady state with --drift-scan=false, where every Customer
// has a resync timer of its own, as when an account is too large for the scan to pay. New
// Customers are timed during its first periodic resync.
func (b *bench) steadyPerCustomerResync(ctx context.Context) error {
	r, err := b.steadyState(ctx, false)
	b.res.steadyPerCustomer = r
	return err
}

// steadyState starts a fresh manager with the steady-state resync interval X, lets its startup
// pass go by and then its first periodic resync (per-Customer resyncs) or one interval (the
// drift scan), and counts the Tiquo calls over cfg.intervals intervals after that.
func (b *bench) steadyState(ctx context.Context, driftScan bool) (steadyResult, error) {
	cfg := b.cfg
	res := steadyResult{driftScan: driftScan, interval: cfg.resync}
	if err := b.stopManager(ctx); err != nil {
		return res, err
	}
	b.sb.SetRateLimit(cfg.rateLimit)
	b.sb.ClearRequests()
	purpose, extra := "steady state, drift scan", []string(nil)
	if !driftScan {
		purpose, extra = "steady state, per-Customer resyncs", []string{"--drift-scan=false"}
	}
	m, err := b.startManager(ctx, purpose, cfg.rateLimit, cfg.resync, secretName, extra...)
	if err != nil {
		return res, err
	}
	pass := cfg.passDuration()
	if driftScan {
		if b.res.respStartup, err = b.createDuringPass(ctx, m, newPrefix+"s-", 2*time.Minute+5*pass); err != nil {
			return res, err
		}
	}
	if _, err := b.waitIdle(ctx, m, cfg.n, 30*time.Second+5*pass, 2*time.Minute+20*pass); err != nil {
		return res, err
	}

	b.sb.ClearRequests()
	settleStart := time.Now()
	if driftScan {
		// The startup scan covers the key, so Customers in sync keep no resync timer and
		// there is no full periodic resync to wait for. A Customer reconciled before the scan
		// covered its key set a timer; those fire within one interval, and then only the scan
		// runs.
		b.logf("Letting one resync interval of %s go by for the drift scan to take over", cfg.resync)
		if err := sleepOrExit(ctx, m, cfg.resync); err != nil {
			return res, err
		}
	} else {
		// The startup pass set every Customer's timer: the first periodic resync is a full
		// pass.
		firstResync := cfg.resync + 30*time.Second + 5*pass
		b.res.respResync, err = b.createDuringPass(ctx, m, newPrefix+"r-", firstResync)
		if errors.Is(err, errNoPass) {
			b.logf("No full periodic resync within %s", firstResync)
		} else if err != nil {
			return res, err
		}
		if _, err := b.waitIdle(ctx, m, 0, 0, 2*time.Minute+20*pass); err != nil {
			return res, err
		}
	}

	res.settling = time.Since(settleStart)
	res.settlingCalls = b.callsExceptNew(settleStart, time.Now())
	b.sb.ClearRequests()
	window := time.Duration(cfg.intervals) * cfg.resync
	start := time.Now()
	writes0 := b.tracker.modifications(basePrefix)
	b.logf("Counting Tiquo calls over %d resync intervals of %s", cfg.intervals, cfg.resync)
	if err := sleepOrExit(ctx, m, window); err != nil {
		return res, err
	}
	end := time.Now()
	res.ran, res.window = true, end.Sub(start)
	res.statusWrites = b.tracker.modifications(basePrefix) - writes0
	res.calls = b.callsExceptNew(start, end)
	for _, r := range b.sb.Requests() {
		if r.Path == listPath && !r.Time.Before(start) && r.Time.Before(end) {
			res.lists++
		}
	}
	b.logf("Steady state (drift scan %t): %d Tiquo calls (%d lists) for %d Customers in %s (%.3f per Customer per interval), %d status writes",
		driftScan, res.calls, res.lists, cfg.n, res.window.Round(time.Millisecond), res.perCustomerPerInterval(cfg.n), res.statusWrites)
	return res, nil
}

// callsExceptNew counts the Tiquo requests logged in [from, to) but those for the records of
// the Customers created for the responsiveness figures.
func (b *bench) callsExceptNew(from, to time.Time) int {
	newPath := "/v1/customers/" + customerID(newPrefix)
	n := 0
	for _, r := range b.sb.Requests() {
		if !strings.HasPrefix(r.Path, newPath) && !r.Time.Before(from) && r.Time.Before(to) {
			n++
		}
	}
	return n
}

// errNoPass says no full resync began in time.
var errNoPass = errors.New("no full resync began")

// waitPass waits until a full pass over the N Customers is under way: N/20 GETs since the
// sandbox's log was last cleared.
func (b *bench) waitPass(ctx context.Context, m *managerProcess, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for b.sb.Stats().ByMethod["GET"] < max(1, b.cfg.n/20) {
		if time.Now().After(deadline) {
			return errNoPass
		}
		if err := sleepOrExit(ctx, m, pollEvery/5); err != nil {
			return err
		}
	}
	return nil
}

// createDuringPass waits until a full pass is under way, then creates cfg.newCustomers
// Customers with drifted records, spread over the first half of the least time the pass can
// take, and returns their times to Ready.
func (b *bench) createDuringPass(ctx context.Context, m *managerProcess, prefix string, timeout time.Duration) (responsiveness, error) {
	cfg := b.cfg
	r := responsiveness{}
	if err := b.waitPass(ctx, m, timeout); err != nil {
		return r, err
	}
	r.ran = true
	spacing := max(5*time.Millisecond, cfg.passDuration()/time.Duration(2*cfg.newCustomers))
	created := make([]time.Time, cfg.newCustomers)
	for i := range cfg.newCustomers {
		name := fmt.Sprintf("%s%04d", prefix, i)
		b.sb.PutCustomer(record(name, driftNotes))
		created[i] = time.Now()
		if err := createWithRetry(ctx, b.kc, customer(benchNamespace, name)); err != nil {
			return r, err
		}
		r.created++
		if err := sleepOrExit(ctx, m, spacing); err != nil {
			return r, err
		}
	}
	if err := b.waitCount(ctx, m, prefix, cfg.newCustomers, isReady, time.Minute+2*cfg.passDuration()); err != nil {
		return r, err
	}
	lat := make([]time.Duration, 0, cfg.newCustomers)
	for i := range cfg.newCustomers {
		if at, ok := b.tracker.readyAt(fmt.Sprintf("%s%04d", prefix, i)); ok {
			lat = append(lat, at.Sub(created[i]))
		}
	}
	r.ready = len(lat)
	r.p50, r.p99, r.max = percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1)
	b.logf("%d Customers created during a full resync: time to Ready p50 %s, p99 %s, max %s", r.ready,
		r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.max.Round(time.Millisecond))
	return r, nil
}
