package controller_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// update applies mutate to the latest version of c and writes it.
func update(t *testing.T, c *crmv1alpha1.Customer, mutate func(*crmv1alpha1.Customer)) *crmv1alpha1.Customer {
	t.Helper()
	var fresh crmv1alpha1.Customer
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), &fresh); err != nil {
		t.Fatal(err)
	}
	mutate(&fresh)
	if err := k8sClient.Update(context.Background(), &fresh); err != nil {
		t.Fatal(err)
	}
	return &fresh
}

// requestSync sets the requestedAt annotation to v, as kubectl tiquo sync does.
func requestSync(v string) func(*crmv1alpha1.Customer) {
	return func(c *crmv1alpha1.Customer) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[crmv1alpha1.ReconcileRequestAnnotation] = v
	}
}

func get(t *testing.T, c *crmv1alpha1.Customer) *crmv1alpha1.Customer {
	t.Helper()
	var fresh crmv1alpha1.Customer
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), &fresh); err != nil {
		t.Fatal(err)
	}
	return &fresh
}

func TestSuspendStopsAllCalls(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	rec := seed(t, id, nil)
	c := create(t, ns, "suspended", matchingSpec(id))
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

	c = update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.Suspend = true })
	eventually(t, 10*time.Second, func() error {
		got := get(t, c)
		s := suspendedCondition(got)
		if s == nil || s.Status != metav1.ConditionTrue || s.Reason != crmv1alpha1.ReasonSuspended ||
			s.ObservedGeneration != got.Generation || got.Status.ObservedGeneration != got.Generation {
			return errorf("Suspended = %+v", s)
		}
		return nil
	})
	if r := condition(t, get(t, c), crmv1alpha1.ConditionReady); r.Status != metav1.ConditionTrue || r.Reason != crmv1alpha1.ReasonSynced {
		t.Errorf("suspending changed Ready to %s/%s; want it left as it was", r.Status, r.Reason)
	}

	// Drift in Tiquo and resync intervals pass: not a single call while suspended.
	before := calls(id)
	rec.Phone = "+1000000000"
	editInDashboard(rec)
	time.Sleep(3 * resyncInterval)
	if n := calls(id); !equalCalls(n, before) {
		t.Errorf("calls while suspended: %v, before %v", n, before)
	}

	// Resuming syncs at once and puts the record back.
	update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.Suspend = false })
	putBack := func() error {
		if b := patchBodies(t, id); len(b) != 1 || b[0] != `{"phone":"+1987654321"}` {
			return errorf("PATCHes %v after resuming", b)
		}
		return nil
	}
	eventually(t, 10*time.Second, putBack)
	stays(t, quietWindow, putBack)
	eventually(t, 10*time.Second, func() error {
		if cond := suspendedCondition(get(t, c)); cond != nil {
			return errorf("Suspended condition stays after resuming: %+v", cond)
		}
		return nil
	})
}

// suspendedCondition returns the Suspended condition, or nil.
func suspendedCondition(c *crmv1alpha1.Customer) *metav1.Condition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == crmv1alpha1.ConditionSuspended {
			return &c.Status.Conditions[i]
		}
	}
	return nil
}

func TestObservePolicyReportsWithoutPatching(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, func(c *sandbox.Customer) {
		c.Phone = "+1555"
		c.Address.Line1 = "1 Elm Street"
	})
	spec := matchingSpec(id)
	spec.ManagementPolicy = crmv1alpha1.ManagementPolicyObserve
	c := create(t, ns, "observed", spec)

	got := waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonDrifted)
	if want := []string{"address.line1", "phone"}; !slices.Equal(got.Status.PendingChanges, want) {
		t.Errorf("status.pendingChanges = %v, want %v", got.Status.PendingChanges, want)
	}
	if s := condition(t, got, crmv1alpha1.ConditionStalled); s.Status != metav1.ConditionFalse {
		t.Errorf("Stalled = %s for drift under Observe; drift is information, not failure", s.Status)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d, want %d", got.Status.ObservedGeneration, got.Generation)
	}
	waitScans(t, 2)
	if b := patchBodies(t, id); len(b) != 0 {
		t.Errorf("Observe sent PATCHes %v", b)
	}
	if got := get(t, c); readyReasonOf(got) != crmv1alpha1.ReasonDrifted || !slices.Equal(got.Status.PendingChanges, []string{"address.line1", "phone"}) {
		t.Errorf("after drift scans: Ready reason %s, pendingChanges %v; want Drifted, [address.line1 phone]", readyReasonOf(got), got.Status.PendingChanges)
	}

	// Switching to Sync sends exactly the pending changes.
	update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.ManagementPolicy = crmv1alpha1.ManagementPolicySync })
	got = waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	stays(t, quietWindow, func() error {
		if b := patchBodies(t, id); len(b) != 1 || b[0] != `{"address":{"line1":"456 Oak Avenue"},"phone":"+1987654321"}` {
			return errorf("PATCHes %v after switching to Sync", b)
		}
		return nil
	})
	if len(got.Status.PendingChanges) != 0 {
		t.Errorf("pendingChanges %v stays after the sync", got.Status.PendingChanges)
	}
}

func TestRequestedAtSyncsNow(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	spec := crmv1alpha1.CustomerSpec{CustomerID: id}
	c := create(t, ns, "sync-now", spec)
	// Not found: terminal, so the operator would not call again for an hour.
	waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonNotFound)

	seed(t, id, nil) // The record is restored in Tiquo.
	update(t, c, func(c *crmv1alpha1.Customer) {
		c.Annotations = map[string]string{crmv1alpha1.ReconcileRequestAnnotation: "2026-11-29T10:00:00Z"}
	})
	got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if got.Status.LastHandledReconcileAt != "2026-11-29T10:00:00Z" {
		t.Errorf("status.lastHandledReconcileAt = %q", got.Status.LastHandledReconcileAt)
	}
	if n := calls(id); n["GET"] != 2 {
		t.Errorf("calls %v; want the terminal attempt and the requested one", n)
	}
}

// A Customer's syncInterval replaces the operator's. Where the drift scan covers a key, its
// Customers need no resync of their own; this test uses a key whose account costs more to
// page than to read its one Customer's record, so that the scan gives way to per-Customer
// resyncs at the operator's interval, as it does in a large account.
func TestSyncIntervalPerCustomer(t *testing.T) {
	ns := newNamespace(t)
	if err := k8sClient.Create(context.Background(), apiKeySecret(ns, "own-key", keyOther)); err != nil {
		t.Fatal(err)
	}
	for i := sb.CustomerCount(); i <= 150; i++ {
		seed(t, fmt.Sprintf("%s_filler_%d", uniqueID(t), i), nil)
	}
	slow, fast := uniqueID(t)+"_slow", uniqueID(t)+"_fast"
	seed(t, slow, nil)
	seed(t, fast, nil)
	spec := matchingSpec(slow)
	spec.SyncInterval = &metav1.Duration{Duration: time.Hour}
	waitFor(t, create(t, ns, "slow", spec), metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	spec = matchingSpec(fast)
	spec.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: "own-key"}
	waitFor(t, create(t, ns, "fast", spec), metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	waitScans(t, 3) // The scan tries the key once, and gives way.

	waitResyncs(t, fast, 2) // The operator's interval.
	if n := calls(slow); n["GET"] != 1 {
		t.Errorf("a Customer with syncInterval 1h was read %d times in a few seconds", n["GET"])
	}
}
