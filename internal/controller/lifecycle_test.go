package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// metric returns the value of the series of name whose labels include labels: a counter's
// or gauge's value, or a histogram's count.
func metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				if labelValue(m, k) != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// The reconciler's own metrics move with what it does: a PATCH of a new spec, the fields it
// changed, the time to Ready, a drift correction, the fleet by reason, a transient failure.
func TestReconcilerMetrics(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	rec := seed(t, id, func(c *sandbox.Customer) { c.Notes = "outdated" })
	read := func() map[string]float64 {
		return map[string]float64{
			"patches":        metric(t, "tiquo_customer_patches_total", nil),
			"notes":          metric(t, "tiquo_customer_patched_fields_total", map[string]string{"field": "notes"}),
			"corrections":    metric(t, "tiquo_customer_drift_corrections_total", nil),
			"synced":         metric(t, "tiquo_customers", map[string]string{"reason": crmv1alpha1.ReasonSynced}),
			"time to ready":  metric(t, "tiquo_customer_time_to_ready_seconds", nil),
			"APIUnavailable": metric(t, "tiquo_customer_transient_failures_total", map[string]string{"reason": crmv1alpha1.ReasonAPIUnavailable}),
		}
	}
	grew := func(before map[string]float64, want map[string]float64) error {
		now := read()
		for k, d := range want {
			if got := now[k] - before[k]; got != d {
				return fmt.Errorf("%s moved by %v, want %v (all: %v)", k, got, d, now)
			}
		}
		return nil
	}

	before := read()
	c := create(t, ns, "metered", matchingSpec(id))
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	eventually(t, 5*time.Second, func() error {
		return grew(before, map[string]float64{"patches": 1, "notes": 1, "corrections": 0, "synced": 1, "time to ready": 1})
	})

	before = read()
	rec.Notes = "edited in the dashboard"
	editInDashboard(rec)
	eventually(t, 4*resyncInterval, func() error {
		return grew(before, map[string]float64{"patches": 1, "notes": 1, "corrections": 1, "synced": 0, "time to ready": 0})
	})

	before = read()
	withFaults(t, sandbox.Faults{ErrorRate: 1, ErrorStatus: 503})
	rec.Notes = "edited again"
	editInDashboard(rec)
	eventually(t, 4*resyncInterval, func() error {
		if d := read()["APIUnavailable"] - before["APIUnavailable"]; d < 1 {
			return fmt.Errorf("no transient failure counted during an outage")
		}
		return nil
	})
}

// The requestedAt annotation is cut to what status.lastHandledReconcileAt holds (256 bytes),
// so that an overlong value forces one sync, not one per reconcile; a request made while
// suspended is handled when the Customer is resumed, not before.
func TestRequestedAtIsCutAndHandledOnce(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, nil)
	c := create(t, ns, "requested", matchingSpec(id))
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

	long := strings.Repeat("2026-11-30T10:00:00Z/", 15) // 315 bytes.
	update(t, c, func(c *crmv1alpha1.Customer) {
		c.Annotations = map[string]string{crmv1alpha1.ReconcileRequestAnnotation: long}
	})
	eventually(t, 10*time.Second, func() error {
		if got := get(t, c).Status.LastHandledReconcileAt; got != long[:256] {
			return errorf("lastHandledReconcileAt %q, want the first 256 bytes of the request", got)
		}
		return nil
	})
	stays(t, quietWindow, func() error {
		if n := calls(id)["GET"]; n != 2 {
			return errorf("%d GETs; want the first and the one requested", n)
		}
		return nil
	})

	update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.Suspend = true })
	eventually(t, 10*time.Second, func() error {
		if s := suspendedCondition(get(t, c)); s == nil {
			return errorf("not suspended yet")
		}
		return nil
	})
	update(t, c, func(c *crmv1alpha1.Customer) { c.Annotations[crmv1alpha1.ReconcileRequestAnnotation] = "again" })
	stays(t, quietWindow, func() error {
		got := get(t, c)
		if n := calls(id)["GET"]; n != 2 || got.Status.LastHandledReconcileAt != long[:256] {
			return errorf("while suspended: %d GETs, lastHandledReconcileAt %q; want 2 and the earlier request", n,
				got.Status.LastHandledReconcileAt)
		}
		return nil
	})
	update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.Suspend = false })
	eventually(t, 10*time.Second, func() error {
		if got := get(t, c).Status.LastHandledReconcileAt; got != "again" {
			return errorf("lastHandledReconcileAt %q after resuming, want again", got)
		}
		return nil
	})
}

// A Customer being deleted (held by another controller's finalizer) is not synced: drift
// in Tiquo costs no call and no PATCH, and the Customer goes once the finalizer does.
func TestDeletingCustomerIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	id := uniqueID(t)
	rec := seed(t, id, nil)
	c := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "going",
		Finalizers: []string{"example.com/hold"}}, Spec: matchingSpec(id)}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if err := k8sClient.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	before := calls(id)
	rec.Phone = "+1000000000"
	editInDashboard(rec)
	waitScans(t, 2)
	if n := calls(id); !equalCalls(n, before) {
		t.Errorf("calls for a Customer being deleted: %v, before %v", n, before)
	}
	update(t, c, func(c *crmv1alpha1.Customer) { c.Finalizers = nil })
	eventually(t, 10*time.Second, func() error {
		var gone crmv1alpha1.Customer
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &gone); err == nil {
			return errorf("the Customer is still there")
		}
		return nil
	})
	if stored, _ := sb.Customer(id); stored.Phone != "+1000000000" {
		t.Errorf("the record was changed to %q; deleting a Customer leaves it alone", stored.Phone)
	}
}
