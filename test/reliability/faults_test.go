package reliability

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/child"
	"github.com/tiquo-operator/tiquo-operator/internal/controller"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// Settings of the in-process manager of TestTiquoFaults. The binary has no flag for the
// client's timeout (30s), so the hang fault is driven in-process with a short one.
const (
	faultWorkers       = 4
	faultRatePerMinute = 600 // 10 requests a second, bursts of 10.
	faultClientTimeout = time.Second
	faultMaxBody       = 256 << 10
	faultCustomers     = 10
)

// inProcess is the reconciler the manager binary runs, wired the same way, in this process.
type inProcess struct {
	cancel context.CancelFunc
	done   chan error
	api    *tiquo.Client
}

func startInProcess(t *testing.T, baseURL string) *inProcess {
	t.Helper()
	mgr, err := ctrl.NewManager(rest.CopyConfig(restCfg), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultTransform: controller.CacheTransform()},
		// A panic must crash the test, not be swallowed by the controller.
		Controller: config.Controller{SkipNameValidation: ptr.To(true), RecoverPanic: ptr.To(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := tiquo.New(tiquo.Config{
		BaseURL: baseURL, Timeout: faultClientTimeout, RequestsPerMinute: faultRatePerMinute,
		MaxResponseBytes: faultMaxBody, Logger: ctrl.Log.WithName("tiquo"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &controller.CustomerReconciler{
		API:                     api,
		DefaultSecret:           &controller.SecretKeySelector{Namespace: defaultSecretNamespace, Name: defaultSecretName, Key: "apiKey"},
		ResyncInterval:          time.Hour,
		TerminalRecheckInterval: time.Hour,
		RetryBaseDelay:          100 * time.Millisecond,
		RetryMaxDelay:           time.Second,
		TransientGracePeriod:    time.Hour,
		APICallTimeout:          3 * time.Second,
		MaxConcurrentReconciles: faultWorkers,
		// The drift scan is on, as the manager ships.
		DriftScan: true,
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &inProcess{cancel: cancel, done: make(chan error, 1), api: api}
	go func() { p.done <- mgr.Start(ctx) }()
	return p
}

// stop stops the manager and fails the test if it had stopped by itself, or does not stop.
func (p *inProcess) stop(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		t.Fatalf("the manager stopped by itself: %v", err)
	default:
	}
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("the manager stopped with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the manager did not stop within 60s")
	}
	p.api.CloseIdleConnections()
}

// faultPhase is one kind of Tiquo failure, injected while a batch of new Customers is created
// and then cleared.
type faultPhase struct {
	name string
	// start injects the fault; the phase clears both the sandbox's and the front's faults.
	start func(f *front)
	// hold is the least time the fault lasts.
	hold time.Duration
	// reason is the Ready reason the Customers show during the fault.
	reason string
	// pause is, for a 429 storm, how long every worker of the key must wait after a 429.
	pause time.Duration
	// everyID: the fault lasts until every Customer of the batch has met it.
	everyID bool
	// persist: the fault is a steady state the Customers must converge under, before it clears.
	persist bool
}

// TestTiquoFaults injects each kind of Tiquo failure while Customers that need a PATCH are
// created, holds it, clears it, and checks that every Customer converges with exactly one
// successful PATCH; that 429 storms pause every worker of the key; that the manager stays within
// its configured request rate throughout; and that stopping the manager leaves no goroutine
// behind.
func TestTiquoFaults(t *testing.T) {
	f := newFront(t, sandbox.Options{RateLimitWindow: time.Second})
	ns := newNamespace(t)

	leaks := goleak.IgnoreCurrent()
	before := runtime.NumGoroutine()
	mgr := startInProcess(t, f.base("inproc"))
	peak := 0
	phases := []faultPhase{
		{name: "bursts of 5xx", reason: crmv1alpha1.ReasonAPIUnavailable, hold: 1500 * time.Millisecond, everyID: true,
			start: func(f *front) { f.SetFaults(sandbox.Faults{ErrorRate: 1}) }},
		{name: "connection resets", reason: crmv1alpha1.ReasonAPIUnavailable, hold: 1500 * time.Millisecond, everyID: true,
			start: func(f *front) { f.SetFaults(sandbox.Faults{ResetRate: 1}) }},
		{name: "hangs past the client timeout", reason: crmv1alpha1.ReasonAPIUnavailable, hold: 2500 * time.Millisecond, everyID: true,
			start: func(f *front) { f.SetFaults(sandbox.Faults{HangRate: 1}) }},
		{name: "malformed bodies", reason: crmv1alpha1.ReasonAPIUnavailable, hold: 1500 * time.Millisecond, everyID: true,
			start: func(f *front) { f.SetFaults(sandbox.Faults{MalformedRate: 1}) }},
		{name: "oversized bodies", reason: crmv1alpha1.ReasonAPIUnavailable, hold: 1500 * time.Millisecond, everyID: true,
			start: func(f *front) { f.setFault(frontFault{pad: faultMaxBody + 1}) }},
		{name: "429 storm with Retry-After", reason: crmv1alpha1.ReasonRateLimited, hold: 4 * time.Second, pause: 3 * time.Second,
			start: func(f *front) { f.setFault(frontFault{tooMany: true, retryAfter: "3"}) }},
		{name: "429 storm without any rate-limit header", reason: crmv1alpha1.ReasonRateLimited, hold: 3 * time.Second, pause: time.Second,
			start: func(f *front) { f.setFault(frontFault{tooMany: true}) }},
		{name: "sandbox budget spent, X-RateLimit-Reset", persist: true,
			start: func(f *front) { f.SetRateLimit(4) }},
		{name: "a mix of everything, with latency", hold: 2 * time.Second,
			start: func(f *front) {
				f.SetFaults(sandbox.Faults{ErrorRate: 0.2, ResetRate: 0.15, HangRate: 0.05, MalformedRate: 0.2,
					Latency: 10 * time.Millisecond, LatencyJitter: 50 * time.Millisecond})
			}},
	}
	for i, ph := range phases {
		ok := t.Run(ph.name, func(t *testing.T) {
			runFaultPhase(t, f, ns, i, ph)
			peak = max(peak, runtime.NumGoroutine())
		})
		if !ok {
			break
		}
	}

	// The client's token bucket holds every worker to the configured rate: at most a burst of
	// one second's worth plus the rate over any window (a little slack for the time between
	// the limiter and the server's clock).
	calls := where(f.log(), func(c call) bool { return c.Manager == "inproc" })
	perSecond := faultRatePerMinute / 60
	for _, w := range []time.Duration{time.Second, 5 * time.Second} {
		// A burst, then the rate over the window and over one more second: a request reaches the
		// server some time after the limiter let it go, longer on a loaded machine. Without the
		// limiter these phases send about 60 requests in a second and 140 in five.
		limit := perSecond + int(w.Seconds()+1)*perSecond
		if got := maxInWindow(calls, w); got > limit {
			t.Errorf("%d requests within %s; the configured rate allows %d", got, w, limit)
		} else {
			t.Logf("rate: at most %d requests within %s (limit %d)", got, w, limit)
		}
	}

	mgr.stop(t)
	after := waitForGoroutines(t, leaks)
	t.Logf("goroutines: %d before the manager started, %d at the peak, %d after it stopped; %d requests in all",
		before, peak, after, len(calls))
	if after > before+2 {
		t.Errorf("%d goroutines after the manager stopped, %d before it started", after, before)
	}
}

// runFaultPhase creates a batch of Customers under a fault, clears it, and checks convergence.
func runFaultPhase(t *testing.T, f *front, ns string, n int, ph faultPhase) {
	var names []string
	ids := map[string]string{}
	for i := range faultCustomers {
		id := uniqueID(fmt.Sprintf("fault%d", n), i)
		seed(f, id, drifted)
		name := fmt.Sprintf("p%d-c%d", n, i)
		names = append(names, name)
		ids[name] = id
	}
	startIdx := len(f.log())
	ph.start(f)
	faultStart := time.Now()
	for _, name := range names {
		createCustomer(t, ns, name, matchingSpec(ids[name]))
	}
	if ph.everyID {
		// Every Customer has met the fault.
		eventually(t, 60*time.Second, func() error {
			calls := f.log()[startIdx:]
			for _, name := range names {
				if len(where(calls, forID(ids[name]))) == 0 {
					return fmt.Errorf("no call yet for %s", name)
				}
			}
			return nil
		})
	}
	time.Sleep(time.Until(faultStart.Add(ph.hold)))
	if ph.reason != "" {
		// The Customers report the failure as in progress, and none is Ready.
		eventually(t, 30*time.Second, func() error {
			reporting := 0
			for _, name := range names {
				c := getCustomer(t, ns, name)
				ready, rec := condition(c, crmv1alpha1.ConditionReady), condition(c, crmv1alpha1.ConditionReconciling)
				if ready.Status == metav1.ConditionTrue {
					t.Fatalf("%s is Ready during the fault: %+v", name, ready)
				}
				if ready.Status == metav1.ConditionFalse && ready.Reason == ph.reason && rec.Status == metav1.ConditionTrue {
					reporting++
				}
			}
			if reporting == 0 {
				return fmt.Errorf("no Customer reports Ready=False/%s with Reconciling=True during the fault", ph.reason)
			}
			return nil
		})
	}

	wants := make([]want, 0, len(names))
	for _, name := range names {
		wants = append(wants, synced(name))
	}
	var converged time.Duration
	if ph.persist {
		converged = waitAll(t, ns, 60*time.Second, wants...)
	}
	f.SetFaults(sandbox.Faults{})
	f.SetRateLimit(0)
	f.setFault(frontFault{})
	cleared := time.Now()
	storm := cleared.Sub(faultStart)
	if !ph.persist {
		converged = waitAll(t, ns, 60*time.Second, wants...)
	}

	calls := f.log()[startIdx:]
	failed := where(calls, func(c call) bool { return c.Status == 0 || c.Status >= 400 })
	okPatches := countBy(calls, patches(true))
	for _, name := range names {
		id := ids[name]
		if n := okPatches[itemPath(id)]; n != 1 {
			t.Errorf("%s: %d successful PATCHes, want exactly 1", name, n)
		}
		if rec, _ := f.Customer(id); rec.Phone != "+1987654321" {
			t.Errorf("%s: the record's phone is %q after convergence", name, rec.Phone)
		}
	}
	when := "after the fault cleared"
	if ph.persist {
		when = "under the fault"
	}
	t.Logf("%s: fault held %s; %d calls, %d failed; converged %s %s",
		ph.name, storm.Round(time.Millisecond), len(calls), len(failed), converged.Round(time.Millisecond), when)

	if ph.pause > 0 {
		// After a 429 every worker of the key waits out the pause: in a storm of length S at most
		// one round of requests per pause, and a round is at most one request per worker.
		injected := where(calls, func(c call) bool { return c.Injected })
		rounds := int(storm/ph.pause) + 2
		if len(injected) == 0 || len(injected) > rounds*faultWorkers {
			t.Errorf("%d requests answered 429 in a storm of %s; want between 1 and %d (%d rounds of %d workers)",
				len(injected), storm.Round(time.Millisecond), rounds*faultWorkers, rounds, faultWorkers)
		}
	}
	if strings.HasPrefix(ph.name, "sandbox budget") {
		// The sandbox announces each window's remaining budget: once it is spent the client
		// waits for the reset, so only the requests already in flight meet a 429.
		byWindow := map[time.Time]int{}
		for _, c := range where(calls, func(c call) bool { return c.Status == http.StatusTooManyRequests }) {
			byWindow[c.Start.Truncate(time.Second)]++
		}
		for w, n := range byWindow {
			if n > faultWorkers+1 {
				t.Errorf("%d requests answered 429 in the window starting %s; the client should stop when the budget is spent",
					n, w.Format("15:04:05"))
			}
		}
	}
}

// waitForGoroutines waits until no goroutine but those running before the manager started is
// left, and returns the number of goroutines then.
func waitForGoroutines(t *testing.T, leaks goleak.Option) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// A known leak of k8s.io/apimachinery, not of the operator: a watch.Filter goroutine (which
		// controller-runtime puts on metadata informers, here the Secrets') that is sending an
		// event when its informer stops blocks for ever (kubernetes/kubernetes#113254). It can
		// only happen once per informer, when the manager stops.
		err := goleak.Find(leaks, goleak.IgnoreTopFunction("k8s.io/apimachinery/pkg/watch.(*filteredWatch).loop"))
		if err == nil {
			return runtime.NumGoroutine()
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines left behind by the stopped manager: %v", err)
			return runtime.NumGoroutine()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestManagerBinaryUnderTiquoFaults runs the manager binary through a spell of mixed Tiquo
// failures while every Customer's spec changes: it keeps running, converges with exactly one
// successful PATCH per change once the failures stop, and its goroutine count (go_goroutines on
// its /metrics) comes back to where it was.
func TestManagerBinaryUnderTiquoFaults(t *testing.T) {
	f := newFront(t, sandbox.Options{})
	ns := newNamespace(t)
	metricsAddr := freeAddr(t)
	m := startManager(t, "bin", "--tiquo-base-url", f.base("bin"), "--tiquo-rate-limit", "600",
		"--max-concurrent-reconciles", "4", "--metrics-bind-address", metricsAddr, "--metrics-secure=false")

	const n = 10
	wants := make([]want, 0, n)
	ids := map[string]string{}
	for i := range n {
		id := uniqueID("binfault", i)
		seed(f, id, drifted)
		name := fmt.Sprintf("c%d", i)
		ids[name] = id
		createCustomer(t, ns, name, matchingSpec(id))
		wants = append(wants, synced(name))
	}
	waitAll(t, ns, 90*time.Second, wants...)
	goroutines := func() float64 {
		text, err := child.Metrics(context.Background(), metricsAddr)
		if err != nil {
			t.Fatalf("scrape the manager's metrics: %v", err)
		}
		v, ok := metricValue(text, "go_goroutines")
		if !ok {
			t.Fatal("no go_goroutines in the manager's metrics")
		}
		return v
	}
	time.Sleep(time.Second)
	before := goroutines()

	startIdx := len(f.log())
	f.SetFaults(sandbox.Faults{ErrorRate: 0.3, ResetRate: 0.2, MalformedRate: 0.2, LatencyJitter: 30 * time.Millisecond})
	for name := range ids {
		c := getCustomer(t, ns, name)
		c.Spec.Notes = ptr.To("Changed during an outage")
		if err := k8sClient.Update(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	peak := before
	for range 8 {
		time.Sleep(500 * time.Millisecond)
		peak = max(peak, goroutines())
	}
	m.requireRunning(t)
	f.SetFaults(sandbox.Faults{})
	converged := waitAll(t, ns, 90*time.Second, wants...)
	m.requireRunning(t)

	calls := f.log()[startIdx:]
	okPatches := countBy(calls, patches(true))
	for name, id := range ids {
		if got := okPatches[itemPath(id)]; got != 1 {
			t.Errorf("%s: %d successful PATCHes for one change, want exactly 1", name, got)
		}
		if rec, _ := f.Customer(id); rec.Notes != "Changed during an outage" {
			t.Errorf("%s: the record's notes are %q", name, rec.Notes)
		}
	}
	failed := where(calls, func(c call) bool { return c.Status == 0 || c.Status >= 500 })
	// --tiquo-rate-limit 600: 10 a second, bursts of 10 (and a second of slack, as above).
	if got := maxInWindow(f.log(), time.Second); got > 30 {
		t.Errorf("%d requests within a second; --tiquo-rate-limit 600 allows 30", got)
	}

	// Idle keep-alive connections account for a few goroutines; a leak per failed request
	// would be far more.
	var after float64
	eventually(t, 30*time.Second, func() error {
		if after = goroutines(); after > before+10 {
			return fmt.Errorf("%v goroutines, %v before the faults", after, before)
		}
		return nil
	})
	t.Logf("binary: %d calls during and after the faults, %d failed; converged %s after they cleared; "+
		"go_goroutines %v before, %v at the peak, %v after", len(calls), len(failed),
		converged.Round(time.Millisecond), before, peak, after)
}
