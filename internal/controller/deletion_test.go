package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// deleteAndWaitGone deletes the Customer and waits until the API server no longer has it.
func deleteAndWaitGone(t *testing.T, c *crmv1alpha1.Customer) {
	t.Helper()
	if err := k8sClient.Delete(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c)
}

// waitGone waits until the API server no longer has the Customer: its finalizer is released.
func waitGone(t *testing.T, c *crmv1alpha1.Customer) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 20*time.Second, func() error {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &crmv1alpha1.Customer{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%w)", err)
	})
}

// boundWithPolicy creates a declared Customer under the deletion policy and waits until it is
// Synced and carries the finalizer the policy needs.
func boundWithPolicy(t *testing.T, ns, name, email string, policy crmv1alpha1.DeletionPolicy) *crmv1alpha1.Customer {
	t.Helper()
	spec := declared(email)
	spec.DeletionPolicy = policy
	got := waitFor(t, create(t, ns, name, spec), metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if has, want := controllerutil.ContainsFinalizer(got, crmv1alpha1.DeletionFinalizer), policy != "" &&
		policy != crmv1alpha1.DeletionPolicyOrphan; has != want {
		t.Fatalf("finalizers %v under deletionPolicy %q", got.Finalizers, policy)
	}
	return got
}

// TestOrphanDeletionLeavesTheRecord: by default, deleting a Customer that created its record
// leaves the record as it is, with no call to Tiquo.
func TestOrphanDeletionLeavesTheRecord(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	c := boundWithPolicy(t, ns, "orphan", email, "")
	if cond := condition(t, c, crmv1alpha1.ConditionReady); cond.Status != metav1.ConditionTrue {
		t.Fatal(cond)
	}
	id := c.Status.CustomerID
	before := onlyRecord(t, email)
	calls := len(trail(t, email, id))

	deleteAndWaitGone(t, c)
	stays(t, quietWindow, func() error {
		if got := trail(t, email, id); len(got) != calls {
			return errorf("calls after the deletion: %v", got[calls:])
		}
		return nil
	})
	if after := onlyRecord(t, email); after.Archived || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("the record changed: archived %v, updatedAt %s -> %s", after.Archived, before.UpdatedAt, after.UpdatedAt)
	}
}

// TestArchiveOnDeletion: under deletionPolicy Archive the Customer carries a finalizer, says
// what deleting it will do, and its deletion archives the record with exactly
// {"archived":true} before it goes.
func TestArchiveOnDeletion(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	c := boundWithPolicy(t, ns, "archive", email, crmv1alpha1.DeletionPolicyArchive)
	id := c.Status.CustomerID
	if cond := condition(t, c, crmv1alpha1.ConditionDeletionPolicy); cond.Status != metav1.ConditionTrue ||
		cond.Reason != "Archive" || !strings.Contains(cond.Message, id) {
		t.Errorf("DeletionPolicy condition %+v", cond)
	}
	calls := len(trail(t, email, id))

	deleteAndWaitGone(t, c)
	if got := trail(t, email, id)[calls:]; !slices.Equal(got, []string{"PATCH /v1/customers/" + id + ` 200 {"archived":true}`}) {
		t.Errorf("calls of the deletion %v, want the archive PATCH only", got)
	}
	if rec := onlyRecord(t, email); !rec.Archived {
		t.Errorf("the record is not archived")
	}
	if ev := eventsFor(t, c); !slices.Contains(ev, "Archived") {
		t.Errorf("events %v, want Archived", ev)
	}
}

// TestDeleteOnDeletion: under deletionPolicy Delete the record is deleted, then the Customer.
func TestDeleteOnDeletion(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	c := boundWithPolicy(t, ns, "delete", email, crmv1alpha1.DeletionPolicyDelete)
	id := c.Status.CustomerID
	calls := len(trail(t, email, id))

	deleteAndWaitGone(t, c)
	if got := trail(t, email, id)[calls:]; !slices.Equal(got, []string{"DELETE /v1/customers/" + id + " 200"}) {
		t.Errorf("calls of the deletion %v, want one DELETE", got)
	}
	if n := len(recordsWith(email)); n != 0 {
		t.Errorf("%d records left", n)
	}
}

// TestDeletionBlockedByActiveBookings: a DELETE refused for active bookings keeps the Customer,
// reports DeletionBlocked with the count, and is not retried in a loop; once the bookings
// end, a requested sync deletes the record and lets the Customer go.
func TestDeletionBlockedByActiveBookings(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	email := uniqueEmail(t)
	c := boundWithPolicy(t, ns, "blocked", email, crmv1alpha1.DeletionPolicyDelete)
	id := c.Status.CustomerID
	if !sb.SetActiveBookings(id, 2) {
		t.Fatal("no record to give bookings to")
	}
	if err := k8sClient.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonDeletionBlocked)
	stalledCond := condition(t, got, crmv1alpha1.ConditionStalled)
	if stalledCond.Status != metav1.ConditionTrue || !strings.Contains(stalledCond.Message, "2 active bookings") {
		t.Errorf("Stalled %+v; want True with the bookings count", stalledCond)
	}
	if !controllerutil.ContainsFinalizer(got, crmv1alpha1.DeletionFinalizer) {
		t.Errorf("the finalizer is gone while the record is not")
	}
	if ev := eventsFor(t, got); !slices.Contains(ev, crmv1alpha1.ReasonDeletionBlocked) {
		t.Errorf("events %v, want DeletionBlocked", ev)
	}
	// No hot retry: the one DELETE stands until the slow recheck.
	stays(t, quietWindow, func() error {
		if n := calls(id)["DELETE"]; n != 1 {
			return errorf("%d DELETEs", n)
		}
		return nil
	})
	onlyRecord(t, email)

	sb.SetActiveBookings(id, 0)
	update(t, got, requestSync("bookings-ended"))
	waitGone(t, c)
	if n := len(recordsWith(email)); n != 0 {
		t.Errorf("%d records left after the bookings ended", n)
	}
}

// TestSwitchingToOrphanReleasesTheFinalizer: a finalizer exists only while the policy is not
// Orphan; once switched back, deleting the Customer leaves the record.
func TestSwitchingToOrphanReleasesTheFinalizer(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	email := uniqueEmail(t)
	c := boundWithPolicy(t, ns, "switch", email, crmv1alpha1.DeletionPolicyArchive)
	id := c.Status.CustomerID

	c = update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.DeletionPolicy = crmv1alpha1.DeletionPolicyOrphan })
	eventually(t, 20*time.Second, func() error {
		got := &crmv1alpha1.Customer{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), got); err != nil {
			return err
		}
		if len(got.Finalizers) > 0 || condition(t, got, crmv1alpha1.ConditionReady).ObservedGeneration != got.Generation {
			return errorf("finalizers %v", got.Finalizers)
		}
		if cond := apimeta.FindStatusCondition(got.Status.Conditions, crmv1alpha1.ConditionDeletionPolicy); cond != nil {
			return errorf("DeletionPolicy condition %+v under Orphan", cond)
		}
		return nil
	})
	calls := len(trail(t, email, id))
	deleteAndWaitGone(t, c)
	stays(t, quietWindow, func() error {
		if got := trail(t, email, id); len(got) != calls {
			return errorf("calls after the deletion: %v", got[calls:])
		}
		return nil
	})
	if rec := onlyRecord(t, email); rec.Archived {
		t.Errorf("archived after switching to Orphan")
	}
}

// TestObserveNeverArchivesOrDeletes: under managementPolicy Observe the deletion policy is
// not applied: no finalizer, a condition that says so, and a deletion that calls nothing.
func TestObserveNeverArchivesOrDeletes(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, nil)
	spec := matchingSpec(id)
	spec.ManagementPolicy, spec.DeletionPolicy = crmv1alpha1.ManagementPolicyObserve, crmv1alpha1.DeletionPolicyDelete
	got := waitFor(t, create(t, ns, "observe", spec), metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if cond := condition(t, got, crmv1alpha1.ConditionDeletionPolicy); cond.Status != metav1.ConditionFalse ||
		cond.Reason != crmv1alpha1.ReasonObserveOnly {
		t.Errorf("DeletionPolicy condition %+v, want False/ObserveOnly", cond)
	}
	if len(got.Finalizers) > 0 {
		t.Errorf("finalizers %v under Observe", got.Finalizers)
	}
	if got.Status.CustomerID != id {
		t.Errorf("status.customerId %q, want %s copied from the spec", got.Status.CustomerID, id)
	}
	deleteAndWaitGone(t, got)
	stays(t, quietWindow, func() error {
		if n := calls(id); n["DELETE"]+n["PATCH"] > 0 {
			return errorf("calls %v", n)
		}
		return nil
	})
}

// TestSuspendHoldsTheDeletion: a suspended Customer being deleted makes no call; resuming it
// applies the policy.
func TestSuspendHoldsTheDeletion(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	email := uniqueEmail(t)
	c := boundWithPolicy(t, ns, "held", email, crmv1alpha1.DeletionPolicyArchive)
	id := c.Status.CustomerID
	c = update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.Suspend = true })
	eventually(t, 20*time.Second, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if cond := suspendedCondition(c); cond == nil || cond.ObservedGeneration != c.Generation {
			return errorf("Suspended %+v", cond)
		}
		return nil
	})
	calls := len(trail(t, email, id))
	if err := k8sClient.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	stays(t, quietWindow, func() error {
		if got := trail(t, email, id); len(got) != calls {
			return errorf("calls while suspended: %v", got[calls:])
		}
		return nil
	})
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatalf("the Customer went while suspended: %v", err)
	}
	if cond := suspendedCondition(c); cond == nil || !strings.Contains(cond.Message, "deletion waits") {
		t.Errorf("Suspended %+v does not say the deletion waits", cond)
	}
	c = update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.Suspend = false })
	waitGone(t, c)
	if rec := onlyRecord(t, email); !rec.Archived {
		t.Errorf("not archived after resuming")
	}
}
