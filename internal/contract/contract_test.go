package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

const testKey = "sk_test_contract_0123456789"

// newSandbox starts a sandbox with a small, short rate-limit window, so that every answer
// carries the rate-limit headers and the 429 probe is cheap.
func newSandbox(t *testing.T, opts sandbox.Options) *sandbox.Server {
	t.Helper()
	opts.Keys = map[string][]string{testKey: {sandbox.ScopeRead, sandbox.ScopeWrite}}
	opts.RateLimitPerMinute = 60
	opts.RateLimitWindow = time.Second
	sb := sandbox.NewServer(opts)
	t.Cleanup(sb.Close)
	return sb
}

func config(sb *sandbox.Server) Config {
	return Config{BaseURL: sb.URL + "/v1", APIKey: testKey, ProbeRateLimit: true, Settle: 20 * time.Millisecond}
}

// statuses maps each assumption to its status.
func statuses(rep Report) map[sandbox.Assumption]Status {
	m := map[sandbox.Assumption]Status{}
	for _, r := range rep.Results {
		m[r.Assumption] = r.Status
	}
	return m
}

// want is every assumption holding except those named, which differ.
func want(differing ...sandbox.Assumption) map[sandbox.Assumption]Status {
	m := map[sandbox.Assumption]Status{}
	for _, a := range sandbox.Assumptions {
		m[a] = Holds
	}
	for _, a := range differing {
		m[a] = Differs
	}
	return m
}

// assertClean checks that the sandbox holds no customer after a run, as the API lists them and
// as the store holds them.
func assertClean(t *testing.T, sb *sandbox.Server) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, sb.URL+"/v1/customers?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	for {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&env)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			time.Sleep(time.Second)
			continue
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list after the run: %d %v", resp.StatusCode, err)
		}
		if len(env.Data) != 0 {
			t.Errorf("%d scratch customers left after the run", len(env.Data))
		}
		// Lists hide archived records; the store does not.
		if n := sb.CustomerCount(); n != 0 {
			t.Errorf("%d records left in the sandbox after the run, archived ones included", n)
		}
		return
	}
}

func run(t *testing.T, sb *sandbox.Server, cfg Config) Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg, NewPrefix())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if strings.Contains(table.String(), testKey) {
		t.Error("the table holds the API key")
	}
	if rep.Requests > rep.Budget+ProbeBudget(60) {
		t.Errorf("%d requests, over the budget of %d plus the probe's", rep.Requests, rep.Budget)
	}
	assertClean(t, sb)
	return rep
}

func TestSandboxHoldsEveryAssumption(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	rep := run(t, sb, config(sb))
	if d := cmp.Diff(want(), statuses(rep)); d != "" {
		t.Errorf("statuses (-want +got):\n%s", d)
	}
	var order []sandbox.Assumption
	for _, r := range rep.Results {
		order = append(order, r.Assumption)
	}
	if d := cmp.Diff(sandbox.Assumptions, order); d != "" {
		t.Errorf("report order (-want +got):\n%s", d)
	}
}

// Each behaviour option of the sandbox makes exactly the assumption it names differ.
func TestEachDeviationDiffersAlone(t *testing.T) {
	for _, d := range sandbox.Deviations {
		t.Run(d.Flag, func(t *testing.T) {
			t.Parallel()
			var b sandbox.Behaviour
			d.Set(&b, true)
			sb := newSandbox(t, sandbox.Options{Behaviour: b})
			rep := run(t, sb, config(sb))
			if diff := cmp.Diff(want(d.Breaks), statuses(rep)); diff != "" {
				t.Errorf("statuses with --%s (-want +got):\n%s", d.Flag, diff)
			}
		})
	}
	// The faults' older switches are the same options.
	t.Run("faults", func(t *testing.T) {
		t.Parallel()
		sb := newSandbox(t, sandbox.Options{Faults: sandbox.Faults{NormalizePhone: true, LowercaseEmail: true}})
		cfg := config(sb)
		cfg.ProbeRateLimit = false
		rep := run(t, sb, cfg)
		w := want(sandbox.PhoneStoredAsSent, sandbox.EmailStoredAsSent)
		w[sandbox.RateLimited429] = NotChecked
		if diff := cmp.Diff(w, statuses(rep)); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
	})
}

// roundTripper lets a test act on the nth request.
type roundTripper struct {
	n      atomic.Int32
	before func(n int32) error
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := rt.before(rt.n.Add(1)); err != nil {
		return nil, err
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestInterruptedRunCleansUp(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := config(sb)
	cfg.HTTPClient = &http.Client{Transport: &roundTripper{before: func(n int32) error {
		if n == 30 { // Mid-run, as a Ctrl-C would.
			cancel()
		}
		return nil
	}}}
	rep, err := Run(ctx, cfg, NewPrefix())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v, want context.Canceled", err)
	}
	got := statuses(rep)
	if got[sandbox.AbsentFieldsUntouched] != Holds || got[sandbox.CreateAndDelete] != NotChecked {
		t.Errorf("statuses %v: want the first checks run and the last not", got)
	}
	if len(rep.Leftover) != 0 {
		t.Errorf("left over: %v", rep.Leftover)
	}
	assertClean(t, sb)
}

func TestFailingRunCleansUp(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	cfg := config(sb)
	cfg.ProbeRateLimit = false
	cfg.HTTPClient = &http.Client{Transport: &roundTripper{before: func(n int32) error {
		if n >= 20 && n < 24 {
			return errors.New("connection reset by test")
		}
		return nil
	}}}
	rep, err := Run(context.Background(), cfg, NewPrefix())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var failedChecks int
	for _, r := range rep.Results {
		if r.Status == Failed {
			failedChecks++
			if !strings.Contains(r.Seen, "connection reset by test") {
				t.Errorf("%s: seen %q does not give the cause", r.Assumption, r.Seen)
			}
		}
	}
	if failedChecks == 0 {
		t.Error("no check failed")
	}
	assertClean(t, sb)
}

func TestBudgetEndsTheRun(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	cfg := config(sb)
	// A 429 on every answer would make the run wait forever; the budget ends it.
	sb.SetRateLimit(1)
	cfg.MaxRateLimitWait = 2 * time.Second
	cfg.ProbeRateLimit = false
	r := &runner{cfg: cfg, budget: 3, limit: -1}
	var err error
	if r.base, err = collectionURL(cfg.BaseURL); err != nil {
		t.Fatal(err)
	}
	r.cfg.HTTPClient = http.DefaultClient
	for range 3 {
		if _, err = r.call(context.Background(), http.MethodGet, "", nil, nil); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrBudget) || r.requests != 3 {
		t.Errorf("after %d requests: %v, want the budget of 3 spent", r.requests, err)
	}
}
