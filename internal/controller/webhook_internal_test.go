package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// What hints keeps about a Customer goes with it, and an event is new only when its
// updatedAt is newer than both what the operator saw and the status.
func TestHintsAreForgottenWithTheirCustomer(t *testing.T) {
	h := newHints()
	key := types.NamespacedName{Namespace: "shop", Name: "jane"}
	c := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c.Status.UpdatedAt = t0.Format(time.RFC3339Nano)

	h.mark(key)
	h.saw(key, t0.Add(time.Second))
	h.saw(key, t0) // an older read does not move what was seen back
	for _, tc := range []struct {
		at   time.Time
		want int
	}{{t0, 0}, {t0.Add(time.Second), 0}, {t0.Add(1001 * time.Millisecond), 1}} {
		if got := len(h.newerThanSeen([]*crmv1alpha1.Customer{c}, tc.at)); got != tc.want {
			t.Errorf("an event at %s: %d Customers to hint; want %d", tc.at, got, tc.want)
		}
	}

	h.forget(key)
	if h.take(key) {
		t.Error("a hint outlived its Customer")
	}
	if len(h.pending) != 0 || len(h.seen) != 0 || len(h.patching) != 0 {
		t.Errorf("hints holds %d pending, %d seen, %d patching after the Customer went", len(h.pending), len(h.seen), len(h.patching))
	}
	// With nothing seen in memory, the status still tells what the operator saw.
	if got := len(h.newerThanSeen([]*crmv1alpha1.Customer{c}, t0)); got != 0 {
		t.Errorf("an event at status.updatedAt: %d Customers to hint; want 0", got)
	}
}
