package plugin

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// Action is what the operator would do to a Customer's Tiquo record.
type Action string

// The actions a Plan names.
const (
	// ActionNone: nothing is sent. Plan.Note says why when it is not "in sync".
	ActionNone Action = "none"
	// ActionPatch: PATCH /v1/customers/{id} with Plan.Patch.
	ActionPatch Action = "patch"
	// ActionCreate: POST /v1/customers with Plan.Create.
	ActionCreate Action = "create"
	// ActionAdopt: bind the record Plan.ID, found by spec.email, then PATCH it with
	// Plan.Patch when that is not empty.
	ActionAdopt Action = "adopt"
	// ActionRefuse: a record, Plan.ID, has spec.email but adoptionPolicy is Refuse; the
	// Customer would stall with reason AdoptionRefused.
	ActionRefuse Action = "refuse"
	// ActionArchive: PATCH /v1/customers/{id} {"archived":true}, for a Customer being deleted.
	ActionArchive Action = "archive"
	// ActionDelete: DELETE /v1/customers/{id}, for a Customer being deleted.
	ActionDelete Action = "delete"
)

// Plan is what the operator would do for one Customer, as far as the Tiquo API can tell
// without the cluster.
type Plan struct {
	Action Action
	// ID is the record acted on; empty for ActionCreate and for a Customer not bound yet.
	ID string
	// Patch is the PATCH body of ActionPatch and ActionAdopt.
	Patch tiquo.Patch
	// Create is the POST body of ActionCreate.
	Create tiquo.CreateRequest
	// Pending says, for ActionAdopt, that the record found is the one an earlier POST of
	// this Customer created (status.pendingCreate): it is bound whatever adoptionPolicy says.
	Pending bool
	// Note says, for ActionNone, why nothing is sent; empty means in sync.
	Note string
}

// Plan reads what Tiquo holds for c and returns what the operator would do:
//
//   - c bound to a record (spec.customerId, or status.customerId in a copy read from the
//     cluster): the PATCH diff.Compute gives, as Preview;
//   - c not bound: the email is looked up (GET /v1/customers?email=); a record found is
//     adopted (then patched to the spec) or, with adoptionPolicy Refuse, refused; none found
//     means POST /v1/customers with diff.Create's body;
//   - c being deleted (metadata.deletionTimestamp set, or deleting true): what its
//     deletionPolicy does to the record (see planDeletion).
//
// Plan only reads. spec.suspend and managementPolicy Observe do not change the plan: the
// caller says the operator holds it back.
func (r Remote) Plan(ctx context.Context, c *crmv1alpha1.Customer, deleting bool) (Plan, error) {
	if deleting || c.DeletionTimestamp != nil {
		return r.planDeletion(ctx, c)
	}
	if id := c.BoundID(); id != "" {
		p, err := r.Preview(ctx, c)
		if err != nil {
			return Plan{}, err
		}
		if p.IsEmpty() {
			return Plan{Action: ActionNone, ID: id}, nil
		}
		return Plan{Action: ActionPatch, ID: id, Patch: p}, nil
	}
	found, err := r.findByEmail(ctx, c)
	if err != nil {
		return Plan{}, fmt.Errorf("look up spec.email: %w", err)
	}
	if found == nil {
		return Plan{Action: ActionCreate, Create: diff.Create(&c.Spec)}, nil
	}
	pending := c.Status.PendingCreate != nil
	// Under Observe the operator binds the record read-only whatever adoptionPolicy says;
	// the record of the Customer's own earlier POST is never refused.
	if c.Spec.AdoptionPolicy == crmv1alpha1.AdoptionPolicyRefuse && !pending &&
		c.Spec.ManagementPolicy != crmv1alpha1.ManagementPolicyObserve {
		return Plan{Action: ActionRefuse, ID: found.ID}, nil
	}
	// List items lack fields such as address: diff against the full record.
	live, err := r.get(ctx, found.ID)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Action: ActionAdopt, ID: found.ID, Patch: diff.Compute(&c.Spec, live), Pending: pending}, nil
}

// findByEmail returns the record that has c's spec.email (the API compares it without
// case), or nil when there is none. Archived records are not listed, so they are not found.
func (r Remote) findByEmail(ctx context.Context, c *crmv1alpha1.Customer) (*tiquo.Customer, error) {
	if c.Spec.Email == nil || *c.Spec.Email == "" {
		return nil, fmt.Errorf("customer/%s has neither spec.customerId nor spec.email", c.Name)
	}
	var found *tiquo.Customer
	err := r.retry(ctx, "with the email of customer/"+c.Name, func() error {
		found = nil
		for item, err := range r.API.ListCustomers(ctx, r.APIKey, tiquo.ListOptions{Email: *c.Spec.Email}) {
			if err != nil {
				return err
			}
			// As the operator does: only a record with that very email is found.
			if diff.SameEmail(item.Email, *c.Spec.Email) {
				found = item
				break
			}
		}
		return nil
	})
	return found, err
}

// planDeletion is what deleting c does to its record: the one it is bound to or, while a
// create of it is pending (status.pendingCreate), the record that create stored, found by
// spec.email. Nothing is sent when c has no record,
// when its deletionPolicy is Orphan (the default), when managementPolicy is Observe, or when
// the operator forbids the policy (the DeletionPolicy condition of a copy read from the
// cluster says DeletionPolicyForbidden). Otherwise the record is read: a 404 means there is
// nothing left to archive or delete, and the operator would just release the Customer.
func (r Remote) planDeletion(ctx context.Context, c *crmv1alpha1.Customer) (Plan, error) {
	id := c.BoundID()
	if id == "" && c.Status.PendingCreate != nil && c.Spec.Email != nil {
		found, err := r.findByEmail(ctx, c)
		if err != nil {
			return Plan{}, fmt.Errorf("look up the record of the pending create: %w", err)
		}
		if found != nil {
			id = found.ID
		}
	}
	policy := c.Spec.DeletionPolicy
	if policy == "" {
		policy = crmv1alpha1.DeletionPolicyOrphan
	}
	leave := func(why string) (Plan, error) {
		return Plan{Action: ActionNone, ID: id, Note: "deleting it leaves the record as it is: " + why}, nil
	}
	switch {
	case id == "":
		return Plan{Action: ActionNone, Note: "deleting it sends nothing: it is not bound to a Tiquo record"}, nil
	case policy == crmv1alpha1.DeletionPolicyOrphan:
		return leave("deletionPolicy is Orphan")
	case c.Spec.ManagementPolicy == crmv1alpha1.ManagementPolicyObserve:
		return leave("managementPolicy is Observe")
	case forbidden(c):
		return leave(fmt.Sprintf("the operator forbids deletionPolicy %s (--allowed-deletion-policies)", policy))
	}
	if _, err := r.get(ctx, id); err != nil {
		if tiquo.IsNotFound(err) {
			return Plan{Action: ActionNone, ID: id, Note: "the record is gone already (404): deleting it completes without a change"}, nil
		}
		return Plan{}, err
	}
	if policy == crmv1alpha1.DeletionPolicyDelete {
		return Plan{Action: ActionDelete, ID: id}, nil
	}
	return Plan{Action: ActionArchive, ID: id}, nil
}

// forbidden reports whether the operator said, in c's DeletionPolicy condition, that it
// does not allow c's deletionPolicy. A manifest from Git has no status, so this is known
// only for a copy read from the cluster.
func forbidden(c *crmv1alpha1.Customer) bool {
	cond := meta.FindStatusCondition(c.Status.Conditions, crmv1alpha1.ConditionDeletionPolicy)
	return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == crmv1alpha1.ReasonDeletionPolicyForbidden
}
