package controller

import (
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// setStatus writes an outcome into c's status: the observed read-only fields and the
// Ready, Reconciling and Stalled conditions, each for the current generation.
// status.observedGeneration moves only when the generation reached a final state.
func (r *CustomerReconciler) setStatus(c *crmv1alpha1.Customer, out outcome) {
	st := &c.Status
	if out.kind == suspended {
		// Ready and the other conditions stay as they were. The generation is observed:
		// suspension is a final state the user chose, so GitOps tools need not wait on it.
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: crmv1alpha1.ConditionSuspended,
			Status: metav1.ConditionTrue, Reason: out.reason, Message: out.message, ObservedGeneration: c.Generation})
		st.ObservedGeneration = c.Generation
		return
	}
	meta.RemoveStatusCondition(&st.Conditions, crmv1alpha1.ConditionSuspended)
	// The record a Customer is bound to never changes: a spec.customerId added later that
	// names another record is reported (sync), not followed.
	switch {
	case st.CustomerID != "":
	case c.Spec.CustomerID != "":
		st.CustomerID = c.Spec.CustomerID
	default:
		st.CustomerID = out.customerID
	}
	if st.CustomerID != "" || out.storedNothing {
		// The create it recorded is bound, or created nothing.
		st.PendingCreate = nil
	}
	if _, cond := r.deletionPolicy(c); cond != nil {
		meta.SetStatusCondition(&st.Conditions, *cond)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, crmv1alpha1.ConditionDeletionPolicy)
	}
	if out.live != nil {
		observe(st, out.live)
	}
	if out.kind != transient {
		st.PendingChanges = out.pending
	}
	gen := c.Generation
	switch out.kind {
	case observed:
		setConditions(c, metav1.ConditionFalse, out.reason, out.message, false, false)
		st.ObservedGeneration = gen
	case synced:
		wasSynced := isReadyAt(c, gen)
		setConditions(c, metav1.ConditionTrue, out.reason, out.message, false, false)
		st.ObservedGeneration = gen
		if out.patched != nil {
			st.LastPatchedFields = out.patched
		}
		if out.patched != nil || !wasSynced {
			st.LastSyncTime = &metav1.Time{Time: r.now().Truncate(time.Second)}
		}
	case terminal:
		setConditions(c, metav1.ConditionFalse, out.reason, out.message, false, true)
		st.ObservedGeneration = gen
	case transient:
		if isReadyAt(c, gen) && r.now().Sub(out.failingSince) < r.TransientGracePeriod {
			// A routine resync of an object that was in sync failed: keep Ready as it was,
			// so that GitOps tools do not flap. Events and metrics record the failure.
			return
		}
		setConditions(c, metav1.ConditionFalse, out.reason, out.message, true, false)
	}
}

// setConditions sets Ready to ready with reason and message, and Reconciling and Stalled to
// the given truth, all for the current generation.
func setConditions(c *crmv1alpha1.Customer, ready metav1.ConditionStatus, reason, message string,
	reconciling, stalled bool) {
	set := func(t string, s metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: message, ObservedGeneration: c.Generation,
		})
	}
	set(crmv1alpha1.ConditionReady, ready, reason, message)
	if reconciling {
		set(crmv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	} else {
		set(crmv1alpha1.ConditionReconciling, metav1.ConditionFalse, reason, "")
	}
	if stalled {
		set(crmv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	} else {
		set(crmv1alpha1.ConditionStalled, metav1.ConditionFalse, reason, "")
	}
}

// isReadyAt reports whether c was Ready=True for generation gen.
func isReadyAt(c *crmv1alpha1.Customer, gen int64) bool {
	cond := meta.FindStatusCondition(c.Status.Conditions, crmv1alpha1.ConditionReady)
	return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == gen
}

// readyReason returns the reason of the Ready condition, or "".
func readyReason(c *crmv1alpha1.Customer) string {
	if cond := meta.FindStatusCondition(c.Status.Conditions, crmv1alpha1.ConditionReady); cond != nil {
		return cond.Reason
	}
	return ""
}

// observe copies the read-only fields of the live record into status. Personal data
// (names, email, phone, address, notes) is never copied.
func observe(st *crmv1alpha1.CustomerStatus, live *tiquo.Customer) {
	st.LoyaltyPoints = new(live.LoyaltyPoints)
	st.VisitCount = new(live.VisitCount)
	st.TotalSpent = formatAmount(live.TotalSpent)
	st.CreatedAt = metaTime(live.CreatedAt)
	st.UpdatedAt = ""
	if live.UpdatedAt != nil {
		st.UpdatedAt = live.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	st.LastVisit = metaTime(live.LastVisit)
}

// formatAmount renders a money amount with two decimals, as Tiquo shows it ("2500.00").
func formatAmount(v float64) string {
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func metaTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	return &metav1.Time{Time: t.UTC().Truncate(time.Second)}
}

// emitEvents records real changes only: a PATCH (Patched for a new spec, DriftCorrected when
// the record had drifted from a spec already in sync), a Warning on entering a terminal
// reason, and a Warning for each transient failure. An in-sync resync emits nothing.
func (r *CustomerReconciler) emitEvents(before, after *crmv1alpha1.Customer, out outcome) {
	if r.Recorder == nil {
		return
	}
	switch out.bound {
	case created:
		r.Recorder.Eventf(after, nil, "Normal", "Created", "Create", "Created Tiquo customer %s", out.customerID)
	case adopted:
		r.Recorder.Eventf(after, nil, "Normal", "Adopted", "Adopt",
			"Adopted Tiquo customer %s, found by spec.email; it is patched to the spec like any other", out.customerID)
	}
	switch out.kind {
	case synced:
		if len(out.patched) == 0 {
			return
		}
		fields := strings.Join(out.patched, ", ")
		if isReadyAt(before, after.Generation) {
			r.Recorder.Eventf(after, nil, "Normal", "DriftCorrected", "Patch",
				"The Tiquo record changed outside Git and was put back: %s", fields)
		} else {
			r.Recorder.Eventf(after, nil, "Normal", "Patched", "Patch", "Patched %s", fields)
		}
	case terminal:
		if readyReason(before) != out.reason || before.Status.ObservedGeneration != after.Generation {
			r.Recorder.Eventf(after, nil, "Warning", out.reason, "Sync", "%s", out.message)
		}
	case observed:
		if readyReason(before) != out.reason {
			r.Recorder.Eventf(after, nil, "Normal", out.reason, "Observe", "%s", out.message)
		}
	case transient:
		r.Recorder.Eventf(after, nil, "Warning", out.reason, "Sync", "%s", out.message)
	}
}
