package controller

import (
	"errors"
	"fmt"
	"strings"
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
}

func inSync(live *tiquo.Customer, patched []string) outcome {
	return outcome{kind: synced, reason: crmv1alpha1.ReasonSynced,
		message: "The Tiquo record matches the spec", live: live, patched: patched}
}

func stalled(reason, format string, args ...any) outcome {
	return outcome{kind: terminal, reason: reason, message: fmt.Sprintf(format, args...)}
}

// classify turns a failed call to Tiquo into an outcome. customerID and secret are named in
// messages; values from the spec are not, and redact strips them from Tiquo's own messages.
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
		return outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable,
			message: "Tiquo is unavailable; retrying with backoff: " + redact(err.Error())}
	case tiquo.IsNotFound(err):
		return stalled(crmv1alpha1.ReasonNotFound,
			"Tiquo has no customer %s (HTTP 404). Check spec.customerId: the operator never creates customers", customerID)
	case tiquo.IsConflict(err):
		return stalled(crmv1alpha1.ReasonEmailConflict,
			"Another Tiquo customer already uses spec.email (HTTP 409). Free that address in Tiquo or change spec.email")
	case tiquo.IsValidation(err):
		field := ""
		if apiErr.Field != "" {
			field = ", field " + apiErr.Field
		}
		return stalled(crmv1alpha1.ReasonInvalidSpec,
			"Tiquo rejected the change (HTTP 400 %s%s): %s", apiErr.Code, field, redact(apiErr.Message))
	case tiquo.IsUnauthorized(err):
		return stalled(crmv1alpha1.ReasonUnauthorized,
			"Tiquo rejected the API key in Secret %s (HTTP 401): it is missing, malformed or revoked", secret)
	case tiquo.IsForbidden(err):
		return stalled(crmv1alpha1.ReasonForbidden,
			"The API key in Secret %s may not do this (HTTP 403 %s): it needs the customers:read and customers:write scopes, and the record must belong to its organisation",
			secret, apiErr.Code)
	case apiErr != nil:
		return stalled(crmv1alpha1.ReasonInvalidSpec, "Tiquo refused the request: %s", redact(apiErr.Error()))
	default:
		// Not an answer of Tiquo: an invalid id, a missing key, a cancelled context.
		return outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable,
			message: "Calling Tiquo failed: " + redact(err.Error())}
	}
}

// redactor returns a function that replaces every personal value of the spec and of the live
// record in a text with [redacted], for messages that quote Tiquo.
func redactor(spec *crmv1alpha1.CustomerSpec, live *tiquo.Customer) func(string) string {
	var values []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v = strings.TrimSpace(v); len(v) >= 3 {
				values = append(values, v)
			}
		}
	}
	for _, p := range []*string{spec.FirstName, spec.LastName, spec.Email, spec.Phone, spec.DateOfBirth, spec.Notes} {
		if p != nil {
			add(*p)
		}
	}
	if a := spec.Address; a != nil {
		for _, p := range []*string{a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country} {
			if p != nil {
				add(*p)
			}
		}
	}
	if live != nil {
		add(live.FirstName, live.LastName, live.Email, live.Phone, live.DateOfBirth, live.Notes)
		if a := live.Address; a != nil {
			add(a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country)
		}
	}
	return func(s string) string {
		for _, v := range values {
			s = replaceFold(s, v, "[redacted]")
		}
		return s
	}
}

// replaceFold replaces every occurrence of old in s, compared without case.
func replaceFold(s, old, repl string) string {
	lower, lowerOld := strings.ToLower(s), strings.ToLower(old)
	if len(lower) != len(s) || len(lowerOld) != len(old) {
		// Case folding changed byte lengths (rare scripts); fall back to an exact match.
		return strings.ReplaceAll(s, old, repl)
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, lowerOld)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, lower = s[i+len(old):], lower[i+len(old):]
	}
}
