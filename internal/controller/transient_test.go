package controller_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// withFaults injects faults into the sandbox for the rest of the test.
func withFaults(t *testing.T, f sandbox.Faults) {
	t.Helper()
	sb.SetFaults(f)
	t.Cleanup(func() { sb.SetFaults(sandbox.Faults{}) })
}

// statuses returns the statuses the sandbox answered for one id, in order.
func statuses(id string) []int {
	var out []int
	for _, r := range sb.Requests() {
		if r.Path == "/v1/customers/"+id {
			out = append(out, r.Status)
		}
	}
	return out
}

func count(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func TestServerErrorsBackOffAndRecover(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, func(c *sandbox.Customer) { c.Phone = "+1555" })
	withFaults(t, sandbox.Faults{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable})
	c := create(t, ns, "outage", matchingSpec(id))

	got := waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonAPIUnavailable)
	if r := condition(t, got, crmv1alpha1.ConditionReconciling); r.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %s during an outage, want True", r.Status)
	}
	if s := condition(t, got, crmv1alpha1.ConditionStalled); s.Status != metav1.ConditionFalse {
		t.Errorf("Stalled = %s during an outage, want False", s.Status)
	}
	if got.Status.ObservedGeneration == got.Generation {
		t.Errorf("observedGeneration moved to %d without a final state", got.Generation)
	}

	// Backoff from 200ms doubling to 2s: at most about six attempts in four seconds.
	time.Sleep(4 * time.Second)
	if n := count(statuses(id), http.StatusServiceUnavailable); n < 2 || n > 8 {
		t.Errorf("%d attempts in 4s of outage; want a few, backing off", n)
	}

	sb.SetFaults(sandbox.Faults{})
	start := time.Now()
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	t.Logf("converged %s after the outage ended", time.Since(start).Round(time.Millisecond))
	if b := patchBodies(t, id); len(b) != 1 || b[0] != `{"phone":"+1987654321"}` {
		t.Errorf("PATCHes %v after recovery; want exactly one", b)
	}
}

func TestFailedResyncDoesNotFlipReady(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, nil)
	c := create(t, ns, "steady", matchingSpec(id))
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	writes := statusCount.get(ns, "steady")

	withFaults(t, sandbox.Faults{ErrorRate: 1, ErrorStatus: http.StatusInternalServerError})
	eventually(t, 4*resyncInterval, func() error {
		if n := count(statuses(id), http.StatusInternalServerError); n < 2 {
			return errorf("%d failed resyncs so far", n)
		}
		return nil
	})
	var got crmv1alpha1.Customer
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), &got); err != nil {
		t.Fatal(err)
	}
	if r := condition(t, &got, crmv1alpha1.ConditionReady); r.Status != metav1.ConditionTrue {
		t.Errorf("a failed routine resync turned Ready to %s/%s", r.Status, r.Reason)
	}
	if w := statusCount.get(ns, "steady"); w != writes {
		t.Errorf("failed resyncs wrote status %d times", w-writes)
	}
	eventually(t, 5*time.Second, func() error {
		for _, e := range eventsFor(t, c) {
			if e == crmv1alpha1.ReasonAPIUnavailable {
				return nil
			}
		}
		return errorf("no APIUnavailable event")
	})
}

func TestRateLimitWaitsForTheReset(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, func(c *sandbox.Customer) { c.Phone = "+1555" })
	if err := k8sClient.Create(ctx, apiKeySecret(ns, "key", keyOther)); err != nil {
		t.Fatal(err)
	}
	sb.SetRateLimit(3)
	t.Cleanup(func() { sb.SetRateLimit(suiteRateLimit) })
	// Spend the key's budget, as another client of the account would, in every window until
	// the operator has met a 429: on a loaded machine its first call can come windows later.
	spent := make(chan struct{})
	go func() {
		defer close(spent)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) &&
			count(statuses(id), http.StatusTooManyRequests) == 0; {
			var reset int64
			for range 3 {
				req, _ := http.NewRequest(http.MethodGet, sb.URL+"/v1/customers/"+id+"_spend", nil)
				req.Header.Set("Authorization", "Bearer "+keyOther)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				reset, _ = strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
				_ = resp.Body.Close()
			}
			for time.Now().Before(time.Unix(reset, 0)) && count(statuses(id), http.StatusTooManyRequests) == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() { <-spent })

	spec := matchingSpec(id)
	spec.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: "key"}
	c := create(t, ns, "limited", spec)
	got := waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonRateLimited)
	if r := condition(t, got, crmv1alpha1.ConditionReconciling); r.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %s while rate limited", r.Status)
	}
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if n := count(statuses(id), http.StatusTooManyRequests); n != 1 {
		t.Errorf("%d requests answered 429; want 1: the operator must wait for the announced reset", n)
	}
	if b := patchBodies(t, id); len(b) != 1 {
		t.Errorf("PATCHes %v; want one", b)
	}
}

func TestNormalisingServerIsNotPatchedInALoop(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, nil)
	withFaults(t, sandbox.Faults{NormalizePhone: true})
	spec := matchingSpec(id)
	spec.Phone = ptr.To("001987654321") // Tiquo stores it as +1987654321.
	c := create(t, ns, "normalised", spec)

	got := waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonNonConvergent)
	if msg := condition(t, got, crmv1alpha1.ConditionStalled).Message; !strings.Contains(msg, "phone") {
		t.Errorf("Stalled message %q does not name the field", msg)
	}
	time.Sleep(2 * resyncInterval)
	if b := patchBodies(t, id); len(b) != 1 || b[0] != `{"phone":"001987654321"}` {
		t.Errorf("PATCHes %v; want exactly one", b)
	}
}

// TestKstatusReadsTheConditions checks that the kstatus library, which kubectl, Argo CD and
// Flux build on, computes the right status from what the controller writes.
func TestKstatusReadsTheConditions(t *testing.T) {
	ns := newNamespace(t)
	synced := uniqueID(t)
	seed(t, synced, nil)
	cases := []struct {
		name string
		spec crmv1alpha1.CustomerSpec
		wait func(*crmv1alpha1.Customer) *crmv1alpha1.Customer
		want status.Status
	}{
		{"synced", matchingSpec(synced), func(c *crmv1alpha1.Customer) *crmv1alpha1.Customer {
			return waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
		}, status.CurrentStatus},
		{"not-found", crmv1alpha1.CustomerSpec{CustomerID: synced + "_missing"}, func(c *crmv1alpha1.Customer) *crmv1alpha1.Customer {
			return waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonNotFound)
		}, status.FailedStatus},
	}
	for _, tc := range cases {
		got := tc.wait(create(t, ns, tc.name, tc.spec))
		if s := kstatus(t, got); s != tc.want {
			t.Errorf("%s: kstatus %s, want %s", tc.name, s, tc.want)
		}
	}

	// A transient failure on first contact is in progress; so is a spec not yet observed.
	withFaults(t, sandbox.Faults{ErrorRate: 1, ErrorStatus: http.StatusBadGateway})
	outage := uniqueID(t) + "_outage"
	seed(t, outage, nil)
	got := waitFor(t, create(t, ns, "outage", matchingSpec(outage)), metav1.ConditionFalse, crmv1alpha1.ReasonAPIUnavailable)
	if s := kstatus(t, got); s != status.InProgressStatus {
		t.Errorf("outage: kstatus %s, want InProgress", s)
	}
	got.Generation++ // As the object is between a spec change and the next reconcile.
	if s := kstatus(t, got); s != status.InProgressStatus {
		t.Errorf("unobserved generation: kstatus %s, want InProgress", s)
	}
}

func kstatus(t *testing.T, c *crmv1alpha1.Customer) status.Status {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}
