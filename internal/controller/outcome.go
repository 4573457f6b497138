package controller

import (
	"errors"
	"fmt"
	"time"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// kind sorts outcomes by what happens next.
type kind int

const (
	// synced: the record matches the spec; recheck for drift after the resync interval.
	synced kind = iota
	// terminal: nothing changes without a change to the spec, the Secret or the record;
	// recheck slowly.
	terminal
	// transient: try again after a backoff, or at the announced rate-limit reset.
	transient
	// observed: the record differs but managementPolicy is Observe; report and recheck at
	// the resync interval.
	observed
	// suspended: spec.suspend is true; no call, no requeue.
	suspended
	// released: the Customer was being deleted and its finalizer is gone; nothing to report.
	released
	// restart: the Customer changed while the reconcile wrote to it; reconcile it again from
	// its new state, with nothing to report.
	restart
)

// outcome is the result of one sync: what to report and when to come back. Its message never
// holds a key or personal data.
type outcome struct {
	kind    kind
	reason  string
	message string
	// live is the record as last observed, when Tiquo answered.
	live *tiquo.Customer
	// patched names the fields a successful PATCH changed in this sync.
	patched []string
	// pending names the fields a PATCH would change, under managementPolicy Observe.
	pending []string
	// retryAt is when Tiquo asked to be called again (429) and, once backOff has run, when
	// the next attempt is due; for a terminal outcome, when its slow recheck is due.
	retryAt time.Time
	// failingSince is when the current run of transient failures began.
	failingSince time.Time
	// customerID is the record the sync worked on, when the Customer is bound to one.
	customerID string
	// bound says how this sync bound a Customer without spec.customerId to its record.
	bound binding
	// storedNothing says Tiquo refused the POST this sync sent (a 4xx), so that
	// status.pendingCreate no longer stands for a record that may exist.
	storedNothing bool
}

func inSync(live *tiquo.Customer, patched []string) outcome {
	return outcome{kind: synced, reason: crmv1alpha1.ReasonSynced,
		message: "The Tiquo record matches the spec", live: live, patched: patched}
}

func stalled(reason, format string, args ...any) outcome {
	return outcome{kind: terminal, reason: reason, message: fmt.Sprintf(format, args...)}
}

// classify turns a failed call to Tiquo into an outcome. customerID and secret are named in
// messages; values from the spec are not, and Tiquo's own text is quoted only as tiquoError
// renders it, through redact.
func classify(err error, customerID string, secret SecretKeySelector, redact func(string) string) outcome {
	var apiErr *tiquo.APIError
	errors.As(err, &apiErr)
	switch {
	case tiquo.IsRateLimited(err):
		at, _ := tiquo.RetryAt(err)
		o := outcome{kind: transient, reason: crmv1alpha1.ReasonRateLimited, retryAt: at,
			message: "Tiquo's rate limit for this API key is spent; waiting for it to reset"}
		if !at.IsZero() {
			o.message += " at " + at.UTC().Format(time.RFC3339)
		}
		return o
	case tiquo.IsRetryable(err):
		// A 503 may announce with Retry-After when to come back; backOff waits at least that.
		at, _ := tiquo.RetryAt(err)
		o := outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable, retryAt: at,
			message: "Tiquo is unavailable; retrying with backoff: " + tiquoError(err, redact)}
		if !at.IsZero() {
			o.message = "Tiquo is unavailable and asked to be called again at " + at.UTC().Format(time.RFC3339) +
				": " + tiquoError(err, redact)
		}
		return o
	case tiquo.IsNotFound(err):
		return stalled(crmv1alpha1.ReasonNotFound,
			"Tiquo has no customer %s (HTTP 404). Check spec.customerId: the operator never creates a record named by id", customerID)
	case tiquo.IsConflict(err):
		return stalled(crmv1alpha1.ReasonEmailConflict,
			"Another Tiquo customer already uses spec.email (HTTP 409). Free that address in Tiquo or change spec.email")
	case tiquo.IsValidation(err):
		detail := "HTTP 400"
		if code := safeCode(apiErr.Code, redact); code != "" {
			detail += " " + code
		}
		if field := safeField(apiErr.Field); field != "" {
			detail += ", field " + field
		}
		return stalled(crmv1alpha1.ReasonInvalidSpec, "Tiquo rejected the change (%s): %s", detail, redact(apiErr.Message))
	case tiquo.IsUnauthorized(err):
		return stalled(crmv1alpha1.ReasonUnauthorized,
			"Tiquo rejected the API key in Secret %s (HTTP 401): it is missing, malformed or revoked", secret)
	case tiquo.IsForbidden(err):
		detail := "HTTP 403"
		if code := safeCode(apiErr.Code, redact); code != "" {
			detail += " " + code
		}
		return stalled(crmv1alpha1.ReasonForbidden,
			"The API key in Secret %s may not do this (%s): it needs the customers:read and customers:write scopes, and the record must belong to its organisation",
			secret, detail)
	case apiErr != nil:
		return stalled(crmv1alpha1.ReasonInvalidSpec, "Tiquo refused the request: %s", tiquoError(err, redact))
	default:
		// Not an answer of Tiquo: an invalid id, a missing key, a cancelled context.
		return outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable,
			message: "Calling Tiquo failed: " + tiquoError(err, redact)}
	}
}
