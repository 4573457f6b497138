package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// TestForbiddenDeletionPolicyIsTreatedAsOrphan runs the manager binary with
// --allowed-deletion-policies=Orphan,Archive, as a platform team that forbids deleting Tiquo
// records would: a Customer asking for Delete says so in its DeletionPolicy condition, carries
// no finalizer, and deleting it leaves the record; Archive, still allowed, is applied.
func TestForbiddenDeletionPolicyIsTreatedAsOrphan(t *testing.T) {
	ctx := context.Background()
	f := newFront(t, sandbox.Options{})
	ns := newNamespace(t)
	startManager(t, "forbid-delete", "--tiquo-base-url", f.base("forbid-delete"),
		"--allowed-deletion-policies=Orphan,Archive")

	forbidden, allowed := uniqueID("forbidden", 0), uniqueID("allowed", 1)
	seed(f, forbidden, nil)
	seed(f, allowed, nil)
	spec := matchingSpec(forbidden)
	spec.DeletionPolicy = crmv1alpha1.DeletionPolicyDelete
	createCustomer(t, ns, "asks-delete", spec)
	spec = matchingSpec(allowed)
	spec.DeletionPolicy = crmv1alpha1.DeletionPolicyArchive
	createCustomer(t, ns, "asks-archive", spec)
	waitAll(t, ns, 30*time.Second, synced("asks-delete"), synced("asks-archive"))

	c := getCustomer(t, ns, "asks-delete")
	cond := condition(c, crmv1alpha1.ConditionDeletionPolicy)
	if cond.Status != metav1.ConditionFalse || cond.Reason != crmv1alpha1.ReasonDeletionPolicyForbidden ||
		!strings.Contains(cond.Message, "--allowed-deletion-policies=Orphan,Archive") || !strings.Contains(cond.Message, forbidden) {
		t.Errorf("DeletionPolicy condition %+v; want False/DeletionPolicyForbidden naming the flag and the record", cond)
	}
	if len(c.Finalizers) > 0 {
		t.Errorf("finalizers %v on a Customer whose policy is forbidden", c.Finalizers)
	}
	a := getCustomer(t, ns, "asks-archive")
	if cond := condition(a, crmv1alpha1.ConditionDeletionPolicy); cond.Status != metav1.ConditionTrue || cond.Reason != "Archive" {
		t.Errorf("DeletionPolicy condition of the Archive Customer %+v", cond)
	}
	if len(a.Finalizers) != 1 || a.Finalizers[0] != crmv1alpha1.DeletionFinalizer {
		t.Errorf("finalizers %v of the Archive Customer", a.Finalizers)
	}

	for _, obj := range []*crmv1alpha1.Customer{c, a} {
		if err := k8sClient.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), &crmv1alpha1.Customer{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("customer %s still there (%w)", obj.Name, err)
			}
			return nil
		})
	}
	var calls []string
	for _, r := range f.Requests() {
		if r.Method != "GET" {
			calls = append(calls, r.Method+" "+r.Path+" "+string(r.Body))
		}
	}
	if want := []string{"PATCH /v1/customers/" + allowed + ` {"archived":true}`}; strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes to Tiquo %q, want only %q", calls, want)
	}
	if rec, ok := f.Customer(forbidden); !ok || rec.Archived {
		t.Errorf("the record of the forbidden policy: present %v, archived %v", ok, rec.Archived)
	}
}
