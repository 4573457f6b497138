package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchmarkCountsAtCISize runs the benchmark at N=200 as `make bench` does, with the real
// manager binary against a real kube-apiserver and the sandbox, and asserts what it costs in
// calls and writes, never how long it takes: a change that adds a Tiquo call or a status write
// per Customer fails here, on any machine.
func TestBenchmarkCountsAtCISize(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds the control plane")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.n = 200
	cfg.root, cfg.assets, cfg.workDir = root, assets, t.TempDir()
	cfg.statusWriteProbe = time.Second
	cfg.limitedTarget = 6 * time.Second
	cfg.resync, cfg.intervals = 5*time.Second, 2
	cfg.newCustomers = 10
	cfg.log = testLog{t}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	started := time.Now()
	res, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	printReport(&report, res, started)
	t.Log("\n" + report.String())
	n := cfg.n

	t.Run("cold start: one GET, one PATCH and one status write per drifted Customer", func(t *testing.T) {
		c := res.cold
		if c.gets != n || c.patches != n || c.requests != 2*n {
			t.Errorf("%d requests (%d GET, %d PATCH); want %d GET and %d PATCH", c.requests, c.gets, c.patches, n, n)
		}
		if c.statusWrites != n {
			t.Errorf("%d status writes; want %d", c.statusWrites, n)
		}
		if c.tooMany != 0 {
			t.Errorf("%d answers 429 under a rate limit that does not bind", c.tooMany)
		}
	})

	t.Run("restart in sync: the scan's list pages and no call per Customer, no PATCH, no status write", func(t *testing.T) {
		r := res.restart
		if want := maxRestartCalls(n, restartKeys); r.requests > want {
			t.Errorf("%d Tiquo requests (%d lists, %d GETs of a record) for %d Customers in sync under %d key; want at most ceil(N/100)+keys = %d",
				r.requests, r.lists, r.gets-r.lists, n, restartKeys, want)
		}
		if r.patches != 0 || r.statusWrites != 0 {
			t.Errorf("%d PATCHes and %d status writes for Customers in sync; want none", r.patches, r.statusWrites)
		}
	})

	t.Run("rate-limited cold start: at most 1% answered 429, a retry per 429 at most", func(t *testing.T) {
		l := res.limited
		if float64(l.tooMany) > maxTooManyFraction*float64(l.requests) {
			t.Errorf("%d of %d requests answered 429; want at most 1%%", l.tooMany, l.requests)
		}
		// A GET and a PATCH per Customer, a retry per 429, and the drift scan's pass over the
		// account at startup (100 records a page), which finds the Customers of the earlier
		// runs in sync.
		if want := 2*n + l.tooMany + scanPages(n); l.requests > want {
			t.Errorf("%d Tiquo requests with %d answered 429; want at most %d", l.requests, l.tooMany, want)
		}
		if l.statusWrites > n+l.tooMany {
			t.Errorf("%d status writes with %d answered 429; want at most %d", l.statusWrites, l.tooMany, n+l.tooMany)
		}
	})

	t.Run("steady state: with the scan at most 0.05 calls per Customer per interval, without it about one; no status write", func(t *testing.T) {
		for _, s := range []steadyResult{res.steady, res.steadyPerCustomer} {
			if !s.ran {
				t.Errorf("the steady state with drift scan %t did not run", s.driftScan)
				continue
			}
			per := s.perCustomerPerInterval(n)
			switch {
			case s.driftScan && per > maxScanCallsPerInterval:
				t.Errorf("drift scan: %d Tiquo calls (%d lists) for %d Customers over %s with resync interval %s: %.3f per Customer per interval; want at most %v",
					s.calls, s.lists, n, s.window, s.interval, per, maxScanCallsPerInterval)
			case s.driftScan && s.lists < scanPages(n):
				t.Errorf("drift scan: %d list calls over %s with resync interval %s; want at least one full scan, %d pages",
					s.lists, s.window, s.interval, scanPages(n))
			case !s.driftScan && (per < minPerCustomerCalls || per > maxPerCustomerCalls):
				t.Errorf("per-Customer resyncs: %d Tiquo calls for %d Customers over %s with resync interval %s: %.3f per Customer per interval; want %v to %v",
					s.calls, n, s.window, s.interval, per, minPerCustomerCalls, maxPerCustomerCalls)
			}
			if s.statusWrites != 0 {
				t.Errorf("drift scan %t: %d status writes of Customers in sync; want none", s.driftScan, s.statusWrites)
			}
		}
	})

	t.Run("drift correction: every edit put back, with webhooks at one GET per edit at most", func(t *testing.T) {
		d := res.drift
		if !d.ran {
			t.Fatal("the drift correction did not run")
		}
		for name, c := range map[string]correction{"with webhooks": d.on, "without webhooks": d.off} {
			if c.edits != driftEdits || c.corrected != c.edits {
				t.Errorf("%s: %d of %d edits put back; want all %d", name, c.corrected, c.edits, driftEdits)
			}
		}
		if d.onGets > driftEdits {
			t.Errorf("%d GETs of records for %d edits with webhooks; want at most one each (an echo costs none)", d.onGets, driftEdits)
		}
	})

	t.Run("responsiveness: every Customer created during a full resync gets Ready", func(t *testing.T) {
		for name, r := range map[string]responsiveness{"startup pass": res.respStartup, "periodic resync": res.respResync} {
			if r.ran && (r.created != cfg.newCustomers || r.ready != r.created) {
				t.Errorf("%s: %d of %d created Customers Ready; want all %d", name, r.ready, r.created, cfg.newCustomers)
			}
		}
		if !res.respStartup.ran || !res.respResync.ran {
			t.Error("no Customers were created during the startup pass or the periodic resync")
		}
	})
}

// testLog writes the benchmark's progress to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
