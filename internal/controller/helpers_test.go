package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/fixture"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// newNamespace creates a namespace of the test's own.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ctrl-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// uniqueID returns a customer id no other test uses.
func uniqueID(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "_", " ", "_", "'", "").Replace(t.Name()))
	return fmt.Sprintf("cust_%s_%d", name[:min(len(name), 40)], time.Now().UnixNano()%1_000_000)
}

// seed stores the record John Doe of the docs under id in the sandbox, changed by mutate.
func seed(t *testing.T, id string, mutate func(*sandbox.Customer)) sandbox.Customer {
	t.Helper()
	c := fixture.Record(id)
	if mutate != nil {
		mutate(&c)
	}
	sb.PutCustomer(c)
	return c
}

// editInDashboard stores rec as someone editing it in the Tiquo dashboard would: Tiquo moves
// updatedAt on every change.
func editInDashboard(rec sandbox.Customer) {
	rec.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	sb.PutCustomer(rec)
}

// matchingSpec returns a spec that declares every field of the seeded record as it is.
func matchingSpec(id string) crmv1alpha1.CustomerSpec { return fixture.Spec(id) }

func create(t *testing.T, ns, name string, spec crmv1alpha1.CustomerSpec) *crmv1alpha1.Customer {
	t.Helper()
	c := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := k8sClient.Create(context.Background(), c); err != nil {
		t.Fatalf("create Customer %s: %v", name, err)
	}
	return c
}

// eventually polls f until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor waits until the Customer's Ready condition has the reason, for its current
// generation, and returns the Customer as it then is.
func waitFor(t *testing.T, c *crmv1alpha1.Customer, ready metav1.ConditionStatus, reason string) *crmv1alpha1.Customer {
	t.Helper()
	got := &crmv1alpha1.Customer{}
	eventually(t, 20*time.Second, func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
			return err
		}
		cond := apimeta.FindStatusCondition(got.Status.Conditions, crmv1alpha1.ConditionReady)
		if cond == nil || cond.Status != ready || cond.Reason != reason || cond.ObservedGeneration != got.Generation {
			return fmt.Errorf("Ready condition is %+v; want %s/%s for generation %d", cond, ready, reason, got.Generation)
		}
		return nil
	})
	return got
}

// condition returns the condition of type t, failing the test when it is missing.
func condition(t *testing.T, c *crmv1alpha1.Customer, typ string) metav1.Condition {
	t.Helper()
	cond := apimeta.FindStatusCondition(c.Status.Conditions, typ)
	if cond == nil {
		t.Fatalf("no %s condition in %+v", typ, c.Status.Conditions)
	}
	return *cond
}

// calls returns the API requests the sandbox received for one customer id, by method.
func calls(id string) map[string]int {
	n := map[string]int{}
	for _, r := range sb.Requests() {
		if r.Path == "/v1/customers/"+id {
			n[r.Method]++
		}
	}
	return n
}

// patchBodies returns the bodies of the PATCHes the sandbox received for one id, compacted.
func patchBodies(t *testing.T, id string) []string {
	t.Helper()
	var bodies []string
	for _, r := range sb.Requests() {
		if r.Path == "/v1/customers/"+id && r.Method == "PATCH" {
			var v any
			if err := json.Unmarshal(r.Body, &v); err != nil {
				t.Fatalf("PATCH body %s is not JSON: %v", r.Body, err)
			}
			b, _ := json.Marshal(v) // Sorted keys, no spaces.
			bodies = append(bodies, string(b))
		}
	}
	return bodies
}

// waitResyncs waits until the sandbox has received n more GETs for id than before, i.e. n
// routine resyncs happened, and fails if they came faster than the resync interval allows
// (a hot loop) or much slower.
func waitResyncs(t *testing.T, id string, n int) {
	t.Helper()
	start, began := calls(id)["GET"], time.Now()
	eventually(t, time.Duration(n+2)*resyncInterval*2, func() error {
		if got := calls(id)["GET"]; got < start+n {
			return fmt.Errorf("%d resync GETs, want %d", got-start, n)
		}
		return nil
	})
	// The first resync may be due at once (its timer ran before this call); each later one
	// comes an interval (±10% jitter) after the one before.
	if elapsed, least := time.Since(began), time.Duration(float64(n-1)*0.85*float64(resyncInterval)); elapsed < least {
		t.Errorf("%d resyncs in %s; want at least %s between the first and the last", n, elapsed, least)
	}
	if got := calls(id)["GET"]; got > start+n {
		t.Errorf("%d GETs while waiting for %d resyncs", got-start, n)
	}
}

// listCalls returns how many times the sandbox listed customers: the drift scan's pages.
func listCalls() int {
	n := 0
	for _, r := range sb.Requests() {
		if r.Method == "GET" && r.Path == "/v1/customers" {
			n++
		}
	}
	return n
}

// waitScans waits until the drift scan has listed the account at least n more times.
func waitScans(t *testing.T, n int) {
	t.Helper()
	start := listCalls()
	eventually(t, time.Duration(n+2)*resyncInterval*2, func() error {
		if got := listCalls(); got < start+n {
			return fmt.Errorf("%d list calls, want %d", got-start, n)
		}
		return nil
	})
}

// stays fails the test unless f keeps returning nil for d: an "exactly one" that is seen
// at once must also hold once the operator has had time to do more.
func stays(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if err := f(); err != nil {
			t.Fatalf("within %s: %v", d, err)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// readyReasonOf returns the reason of the Customer's Ready condition, or "".
func readyReasonOf(c *crmv1alpha1.Customer) string {
	if cond := apimeta.FindStatusCondition(c.Status.Conditions, crmv1alpha1.ConditionReady); cond != nil {
		return cond.Reason
	}
	return ""
}
