package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// binding says how a Customer without spec.customerId came to be bound to its record.
type binding int

const (
	// notBound: the Customer was bound already, or is not bound yet.
	notBound binding = iota
	// created: the operator's POST created the record, in this reconcile or an earlier one
	// whose answer was lost.
	created
	// adopted: the record had the Customer's email before; adoptionPolicy allowed taking it.
	adopted
	// observedByEmail: managementPolicy is Observe; the record is read, never written.
	observedByEmail
)

// Results of the create, adoption, archive and delete counters.
const (
	resultSuccess = "success"
	resultError   = "error"
	resultRefused = "refused"
	resultBlocked = "blocked"
	resultGone    = "gone"
)

// errChangedMeanwhile: the Customer changed between the reconcile's read and its write.
var errChangedMeanwhile = errors.New("the Customer changed meanwhile; starting again from its new state")

// refused reports whether Tiquo answered err with a 4xx, which stores nothing.
func refused(err error) bool {
	var e *tiquo.APIError
	return errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500
}

// emailDigest identifies an email without holding it: the hex SHA-256 of the Customer's uid
// and the lower-cased address. status.pendingCreate keeps it, so that the record of a POST
// can be found after spec.email changed, and status never holds personal data.
func emailDigest(uid types.UID, email string) string {
	sum := sha256.Sum256([]byte(string(uid) + "\x00" + strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// bind finds the record a Customer without spec.customerId declares, or creates it. It
// returns the record's id and how it was bound, or, when it cannot bind it now, the outcome
// to report.
//
// No POST is ever sent without a lookup by email first, nor without status.pendingCreate
// stored first: a POST whose answer is lost (a timeout, a reset connection, a 5xx, a
// manager that stops) may still have created the record, and the next attempt must find that
// record rather than create a second one. Tiquo keeps emails unique, so the lookup by the
// email of that POST finds it; when spec.email changed since, the account is paged for the
// digest the pending create recorded.
func (r *CustomerReconciler) bind(ctx context.Context, c *crmv1alpha1.Customer, apiKey string,
	secret SecretKeySelector) (string, binding, *outcome) {
	email := *c.Spec.Email
	digest := emailDigest(c.UID, email)
	redact := redactor(&c.Spec, nil)
	fail := func(err error) *outcome {
		out := classify(err, "", secret, redact)
		if out.kind == transient && c.Status.PendingCreate != nil {
			out.reason = crmv1alpha1.ReasonCreating
			out.message = "A POST /v1/customers was sent and whether Tiquo stored it is not known yet; " +
				"the operator looks the email up before anything else. " + out.message
		}
		return &out
	}

	// An earlier POST of this Customer, whose answer was not bound.
	ours := false
	if p := c.Status.PendingCreate; p != nil {
		if ours = p.EmailDigest == digest; !ours {
			// spec.email changed since that POST.
			rec, err := r.findPending(ctx, c, apiKey)
			if err != nil {
				return "", notBound, fail(err)
			}
			if rec != nil {
				return rec.ID, created, nil
			}
			// That POST stored nothing; the next one is recorded anew.
		}
	}

	rec, err := r.lookup(ctx, apiKey, email)
	if err != nil {
		return "", notBound, fail(err)
	}
	if rec != nil {
		return r.take(ctx, c, rec.ID, ours)
	}
	if c.Spec.ManagementPolicy == crmv1alpha1.ManagementPolicyObserve {
		out := stalled(crmv1alpha1.ReasonNotFound,
			"No Tiquo customer has spec.email, and managementPolicy is Observe, so the operator does not create it. "+
				"Set managementPolicy to Sync to create it, or correct spec.email")
		return "", notBound, &out
	}

	if err := r.markPending(ctx, c, digest); errors.Is(err, errChangedMeanwhile) {
		return "", notBound, &outcome{kind: restart}
	} else if err != nil {
		out := outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable,
			message: "Recording the create in status failed, so no POST was sent: " + err.Error()}
		return "", notBound, &out
	}
	log.FromContext(ctx).Info("Creating Tiquo customer")
	rec, err = r.call(ctx, func(ctx context.Context) (*tiquo.Customer, error) {
		return r.API.CreateCustomer(ctx, apiKey, diff.Create(&c.Spec))
	})
	switch {
	case err == nil:
		createsTotal.WithLabelValues(resultSuccess).Inc()
		return rec.ID, created, nil
	case tiquo.IsConflict(err):
		// Someone holds the email: an earlier POST of ours that stored late, or a record made
		// since the lookup. Find it.
		createsTotal.WithLabelValues(resultError).Inc()
		found, lerr := r.lookup(ctx, apiKey, email)
		if lerr != nil {
			return "", notBound, fail(lerr)
		}
		if found == nil {
			out := stalled(crmv1alpha1.ReasonEmailConflict,
				"Tiquo refused to create the customer: another record already uses spec.email (HTTP 409), but a lookup "+
					"by email does not show it, so it is probably archived. Restore it in Tiquo (it is then adopted), "+
					"or change spec.email")
			out.storedNothing = !ours
			return "", notBound, &out
		}
		id, how, out := r.take(ctx, c, found.ID, ours)
		if out != nil {
			// Not bound (refused, or another Customer's): this POST created nothing, so no
			// later lookup may take that record for the record of this POST.
			out.storedNothing = !ours
		}
		return id, how, out
	case refused(err):
		// Tiquo refused the POST: nothing was stored.
		createsTotal.WithLabelValues(resultError).Inc()
		out := classify(err, "", secret, redact)
		out.storedNothing = !ours
		return "", notBound, &out
	default:
		// A timeout, a reset connection, a 5xx: the record may exist. Look, never POST again
		// blindly.
		createsTotal.WithLabelValues(resultError).Inc()
		log.FromContext(ctx).Info("The create's answer was lost; looking the email up", "error", tiquoErrorSummary(err))
		found, lerr := r.lookup(ctx, apiKey, email)
		if lerr == nil && found != nil {
			return found.ID, created, nil
		}
		out := *fail(err)
		out.reason = crmv1alpha1.ReasonCreating
		return "", notBound, &out
	}
}

// take binds a Customer to a record found by its email, unless another Customer manages it
// or adoptionPolicy refuses it. ours says the record may come from the Customer's own
// earlier POST, which is never refused.
func (r *CustomerReconciler) take(ctx context.Context, c *crmv1alpha1.Customer, id string, ours bool) (string, binding, *outcome) {
	if others, err := r.managing(ctx, id, c.UID); err != nil {
		out := outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable, message: "Listing Customers failed: " + err.Error()}
		return "", notBound, &out
	} else if len(others) > 0 {
		out := stalled(crmv1alpha1.ReasonDuplicateCustomerID,
			"The Tiquo customer %s, which has spec.email, is managed by Customers %s; delete this Customer or change its email",
			id, strings.Join(others, ", "))
		return "", notBound, &out
	}
	switch {
	case ours:
		return id, created, nil
	case c.Spec.ManagementPolicy == crmv1alpha1.ManagementPolicyObserve:
		return id, observedByEmail, nil
	case c.Spec.AdoptionPolicy == crmv1alpha1.AdoptionPolicyRefuse:
		adoptionsTotal.WithLabelValues(resultRefused).Inc()
		out := stalled(crmv1alpha1.ReasonAdoptionRefused,
			"Tiquo customer %s already has spec.email and adoptionPolicy is Refuse, so the operator leaves it alone. "+
				"To manage it, set adoptionPolicy to Adopt (or create a Customer with customerId: %s); otherwise change spec.email",
			id, id)
		return "", notBound, &out
	default:
		adoptionsTotal.WithLabelValues(resultSuccess).Inc()
		return id, adopted, nil
	}
}

// findPending returns the record an earlier POST of c created and did not bind, or nil when
// it stored nothing (or there was none): the record with the email of that POST, looked up
// by spec.email when it is the same, and otherwise found by its digest.
func (r *CustomerReconciler) findPending(ctx context.Context, c *crmv1alpha1.Customer, apiKey string) (*tiquo.Customer, error) {
	p := c.Status.PendingCreate
	switch {
	case p == nil:
		return nil, nil
	case c.Spec.Email != nil && p.EmailDigest == emailDigest(c.UID, *c.Spec.Email):
		return r.lookup(ctx, apiKey, *c.Spec.Email)
	default:
		return r.findByDigest(ctx, apiKey, c.UID, p.EmailDigest)
	}
}

// lookup returns the record whose email is email, or nil. Tiquo compares emails without
// regard to case and hides archived records.
func (r *CustomerReconciler) lookup(ctx context.Context, apiKey, email string) (*tiquo.Customer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.APICallTimeout)
	defer cancel()
	for rec, err := range r.API.ListCustomers(ctx, apiKey, tiquo.ListOptions{Email: email, Limit: 1}) {
		if err != nil {
			return nil, err
		}
		if diff.SameEmail(rec.Email, email) {
			return rec, nil
		}
	}
	return nil, nil
}

// findByDigest pages through the account for the record whose email has the digest of a
// pending create, or returns nil. It runs only when spec.email changed while a create's
// answer was lost.
func (r *CustomerReconciler) findByDigest(ctx context.Context, apiKey string, uid types.UID, digest string) (*tiquo.Customer, error) {
	ctx, cancel := context.WithTimeout(ctx, pagingCallsAllowed*r.APICallTimeout)
	defer cancel()
	for rec, err := range r.API.ListCustomers(ctx, apiKey, tiquo.ListOptions{Limit: tiquo.MaxListLimit}) {
		if err != nil {
			return nil, err
		}
		if rec.Email != "" && emailDigest(uid, rec.Email) == digest {
			return rec, nil
		}
	}
	return nil, nil
}

// pagingCallsAllowed bounds the time findByDigest may page for, in call timeouts.
const pagingCallsAllowed = 10

// markPending stores status.pendingCreate before a POST, guarded by the resourceVersion the
// reconcile read: when another manager or writer changed the Customer meanwhile, nothing is
// sent and the reconcile starts again from the new state.
func (r *CustomerReconciler) markPending(ctx context.Context, c *crmv1alpha1.Customer, digest string) error {
	before := c.DeepCopy()
	c.Status.PendingCreate = &crmv1alpha1.PendingCreate{Since: metav1.NewTime(r.now().Truncate(1e9)), EmailDigest: digest}
	if err := r.Status().Patch(ctx, c, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		before.DeepCopyInto(c)
		if apierrors.IsConflict(err) {
			return errChangedMeanwhile
		}
		return err
	}
	r.wrote(c)
	return nil
}

// wrote tells the status writer that the reconcile itself stored c, so that the next
// reconcile does not start from a cache that has not seen it yet.
func (r *CustomerReconciler) wrote(c *crmv1alpha1.Customer) {
	if r.writer != nil {
		r.writer.stored(client.ObjectKeyFromObject(c), c.ResourceVersion)
	}
}

// managing returns namespace/name of the Customers other than uid bound to the record id.
func (r *CustomerReconciler) managing(ctx context.Context, id string, uid types.UID) ([]string, error) {
	var list crmv1alpha1.CustomerList
	if err := r.List(ctx, &list, client.MatchingFields{indexCustomerID: id}, readOnly); err != nil {
		return nil, err
	}
	var others []string
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID != uid && o.DeletionTimestamp.IsZero() {
			others = append(others, o.Namespace+"/"+o.Name)
		}
	}
	return others, nil
}
