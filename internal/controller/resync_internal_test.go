package controller

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

func TestResyncIntervalIsClampedToTheMinimum(t *testing.T) {
	cases := map[string]struct {
		spec *metav1.Duration
		want time.Duration
	}{
		"operator default":        {nil, 10 * time.Minute},
		"longer than the default": {&metav1.Duration{Duration: time.Hour}, time.Hour},
		"above the minimum":       {&metav1.Duration{Duration: time.Minute}, time.Minute},
		"below the minimum":       {&metav1.Duration{Duration: time.Second}, crmv1alpha1.MinSyncInterval},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := &crmv1alpha1.Customer{Spec: crmv1alpha1.CustomerSpec{SyncInterval: tc.spec}}
			if got := resyncInterval(c, 10*time.Minute); got != tc.want {
				t.Errorf("resyncInterval = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestEveryTransientOutcomeComesBack guards the contract of backOff: whatever failed
// transiently (Tiquo, or reading Kubernetes before any call), the Customer is requeued after
// a positive delay and its grace period has a start.
func TestEveryTransientOutcomeComesBack(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	r := &CustomerReconciler{RetryBaseDelay: time.Second, RetryMaxDelay: time.Minute,
		schedule: newSchedule(), now: func() time.Time { return now }}
	c := &crmv1alpha1.Customer{}
	c.Namespace, c.Name, c.Generation = "shop", "john-doe", 1
	for name, out := range map[string]outcome{
		"listing Customers failed": {kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable},
		"rate limited":             {kind: transient, reason: crmv1alpha1.ReasonRateLimited, retryAt: now.Add(30 * time.Second)},
	} {
		out = r.backOff(context.Background(), c, "", out)
		res := r.next(c, out)
		if res.RequeueAfter <= 0 {
			t.Errorf("%s: RequeueAfter %s; the Customer would never be retried", name, res.RequeueAfter)
		}
		if out.failingSince.IsZero() {
			t.Errorf("%s: no start for the grace period", name)
		}
		if name == "rate limited" && res.RequeueAfter < 30*time.Second {
			t.Errorf("%s: back after %s, before the announced reset", name, res.RequeueAfter)
		}
	}
}
