package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// deletionPolicies are every spec.deletionPolicy, in the order of how much they change.
var deletionPolicies = []crmv1alpha1.DeletionPolicy{
	crmv1alpha1.DeletionPolicyOrphan, crmv1alpha1.DeletionPolicyArchive, crmv1alpha1.DeletionPolicyDelete,
}

// ParseDeletionPolicies parses the --allowed-deletion-policies flag: a comma-separated list
// of Orphan, Archive and Delete. Orphan, which changes nothing, is always allowed, so it may
// be left out.
func ParseDeletionPolicies(s string) ([]crmv1alpha1.DeletionPolicy, error) {
	allowed := []crmv1alpha1.DeletionPolicy{crmv1alpha1.DeletionPolicyOrphan}
	var errs []error
	for part := range strings.SplitSeq(s, ",") {
		p := crmv1alpha1.DeletionPolicy(strings.TrimSpace(part))
		switch {
		case p == "":
			continue
		case !slices.Contains(deletionPolicies, p):
			errs = append(errs, fmt.Errorf("unknown deletion policy %q: use Orphan, Archive or Delete, such as Orphan,Archive", p))
		case !slices.Contains(allowed, p):
			allowed = append(allowed, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(allowed, func(a, b crmv1alpha1.DeletionPolicy) int {
		return slices.Index(deletionPolicies, a) - slices.Index(deletionPolicies, b)
	})
	return allowed, nil
}

// deletionPolicy returns the policy the operator applies when c is deleted, and the
// DeletionPolicy condition that says so, or nil when spec.deletionPolicy is Orphan. A policy
// the operator forbids, or any policy under managementPolicy Observe, is applied as Orphan.
func (r *CustomerReconciler) deletionPolicy(c *crmv1alpha1.Customer) (crmv1alpha1.DeletionPolicy, *metav1.Condition) {
	asked := c.Spec.DeletionPolicy
	if asked == "" || asked == crmv1alpha1.DeletionPolicyOrphan {
		return crmv1alpha1.DeletionPolicyOrphan, nil
	}
	cond := &metav1.Condition{Type: crmv1alpha1.ConditionDeletionPolicy, ObservedGeneration: c.Generation}
	record := "its Tiquo record"
	if id := c.BoundID(); id != "" {
		record = "Tiquo customer " + id
	}
	switch {
	case c.Spec.ManagementPolicy == crmv1alpha1.ManagementPolicyObserve:
		cond.Status, cond.Reason = metav1.ConditionFalse, crmv1alpha1.ReasonObserveOnly
		cond.Message = fmt.Sprintf("managementPolicy is Observe, so deletionPolicy %s is not applied: deleting this "+
			"Customer leaves %s as it is", asked, record)
		return crmv1alpha1.DeletionPolicyOrphan, cond
	case r.AllowedDeletionPolicies != nil && !slices.Contains(r.AllowedDeletionPolicies, asked):
		cond.Status, cond.Reason = metav1.ConditionFalse, crmv1alpha1.ReasonDeletionPolicyForbidden
		cond.Message = fmt.Sprintf("The operator does not allow deletionPolicy %s (--allowed-deletion-policies=%s), so "+
			"deleting this Customer leaves %s as it is. Use one of those policies, or ask the operator's administrators",
			asked, joinPolicies(r.AllowedDeletionPolicies), record)
		return crmv1alpha1.DeletionPolicyOrphan, cond
	}
	cond.Status, cond.Reason = metav1.ConditionTrue, string(asked)
	if asked == crmv1alpha1.DeletionPolicyArchive {
		cond.Message = "Deleting this Customer archives " + record + " (PATCH {\"archived\": true}); it can be restored in Tiquo"
	} else {
		cond.Message = "Deleting this Customer deletes " + record + " for good, unless it has active bookings"
	}
	return asked, cond
}

func joinPolicies(ps []crmv1alpha1.DeletionPolicy) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

// keepFinalizer adds the deletion finalizer when want and removes it otherwise. The update
// sends the Customer as the API server has it (the cache trims metadata, such as kubectl's
// last-applied-configuration, that an update must not lose), guarded by the resourceVersion
// the reconcile read: a Customer changed since is reconciled again from its new state.
func (r *CustomerReconciler) keepFinalizer(ctx context.Context, c *crmv1alpha1.Customer, want bool) error {
	if controllerutil.ContainsFinalizer(c, crmv1alpha1.DeletionFinalizer) == want {
		return nil
	}
	latest, err := r.fresh(ctx, client.ObjectKeyFromObject(c))
	if err != nil {
		return err
	}
	if latest.Generation != c.Generation || !latest.DeletionTimestamp.Equal(c.DeletionTimestamp) {
		// The spec changed since the reconcile read it: decide again from the new one.
		return errChangedMeanwhile
	}
	if want {
		controllerutil.AddFinalizer(latest, crmv1alpha1.DeletionFinalizer)
	} else {
		controllerutil.RemoveFinalizer(latest, crmv1alpha1.DeletionFinalizer)
	}
	if err := r.Update(ctx, latest); err != nil {
		if apierrors.IsConflict(err) {
			return errChangedMeanwhile
		}
		return err
	}
	c.Finalizers, c.ResourceVersion = latest.Finalizers, latest.ResourceVersion
	r.wrote(c)
	return nil
}

// release removes the finalizer of a Customer being deleted, which lets it go; why, when
// set, is recorded as an event.
func (r *CustomerReconciler) release(ctx context.Context, c *crmv1alpha1.Customer, why string) outcome {
	if err := r.keepFinalizer(ctx, c, false); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return outcome{kind: released}
		case errors.Is(err, errChangedMeanwhile):
			return outcome{kind: restart}
		}
		return r.backOff(ctx, c, "", outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable,
			message: "Removing the deletion finalizer failed: " + err.Error()})
	}
	if why != "" && r.Recorder != nil {
		r.Recorder.Eventf(c, nil, "Normal", "Orphaned", "Delete", "%s", why)
	}
	return outcome{kind: released}
}

// remove applies the deletion policy to the record of a Customer being deleted: archives or
// deletes it, then releases the Customer. A 404 means there is nothing left to do; a DELETE
// refused for active bookings keeps the Customer, reported as DeletionBlocked.
func (r *CustomerReconciler) remove(ctx context.Context, c *crmv1alpha1.Customer, policy crmv1alpha1.DeletionPolicy,
	apiKey string, secret SecretKeySelector) outcome {
	id := c.BoundID()
	if id == "" {
		// A create whose answer was lost may have stored a record: it is this Customer's. No
		// other record is: one that merely has the email was never bound to it.
		rec, err := r.findPending(ctx, c, apiKey)
		if err != nil {
			return classify(err, "", secret, redactor(&c.Spec, nil))
		}
		if rec != nil {
			id = rec.ID
		}
	}
	if id == "" {
		out := r.release(ctx, c, "")
		return out
	}
	redact := redactor(&c.Spec, nil)
	var err error
	var counter *prometheus.CounterVec
	switch policy {
	case crmv1alpha1.DeletionPolicyArchive:
		counter = archivesTotal
		_, err = r.call(ctx, func(ctx context.Context) (*tiquo.Customer, error) {
			return r.API.SetArchived(ctx, apiKey, id, true)
		})
	default:
		counter = deletesTotal
		_, err = r.call(ctx, func(ctx context.Context) (*tiquo.Customer, error) {
			return nil, r.API.DeleteCustomer(ctx, apiKey, id)
		})
	}
	switch {
	case err == nil, tiquo.IsNotFound(err):
		result := resultSuccess
		if err != nil {
			result = resultGone
		}
		counter.WithLabelValues(result).Inc()
		done := map[crmv1alpha1.DeletionPolicy]string{crmv1alpha1.DeletionPolicyArchive: "Archived",
			crmv1alpha1.DeletionPolicyDelete: "Deleted"}[policy]
		log.FromContext(ctx).Info(done+" Tiquo customer", "customerId", id, "gone", err != nil)
		out := r.release(ctx, c, "")
		if out.kind == released && r.Recorder != nil {
			msg := fmt.Sprintf("%s Tiquo customer %s", done, id)
			if err != nil {
				msg = fmt.Sprintf("Tiquo customer %s was already gone (HTTP 404)", id)
			}
			r.Recorder.Eventf(c, nil, "Normal", done, "Delete", "%s", msg)
		}
		return out
	case policy == crmv1alpha1.DeletionPolicyDelete && tiquo.IsConflict(err):
		counter.WithLabelValues(resultBlocked).Inc()
		bookings := "active bookings or orders"
		var apiErr *tiquo.APIError
		if errors.As(err, &apiErr) && apiErr.ActiveBookings > 0 {
			bookings = fmt.Sprintf("%d active bookings or orders", apiErr.ActiveBookings)
		}
		out := stalled(crmv1alpha1.ReasonDeletionBlocked,
			"Tiquo refused to delete customer %s: it has %s (HTTP 409). The Customer is kept until they end; the "+
				"operator tries again at its slow recheck (--terminal-recheck-interval), or at once on `kubectl tiquo sync`. "+
				"To keep the record instead, set deletionPolicy to Archive or Orphan", id, bookings)
		out.customerID = id
		return out
	default:
		counter.WithLabelValues(resultError).Inc()
		out := classify(err, id, secret, redact)
		out.customerID = id
		return out
	}
}
