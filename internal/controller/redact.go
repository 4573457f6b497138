package controller

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/redact"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// Tiquo's error answers are text the operator does not control: error.message, error.code and
// error.field can all echo what was sent, in the form Tiquo stores it. Nothing of them reaches a
// condition, an event or a log line but through this file: the message passes a redactor, the
// code only when it is a documented code or a plain snake_case word the redactor leaves
// alone, the field only when it names a field of the API.

// redactor returns a function that removes from a text Tiquo wrote every personal value of the
// spec and of the live record, in the forms Tiquo may give them, and whatever looks like an
// email address or a phone number (see package redact).
func redactor(spec *crmv1alpha1.CustomerSpec, live *tiquo.Customer) func(string) string {
	var r redact.Redactor
	text := func(ps ...*string) {
		for _, p := range ps {
			if p != nil {
				r.Text(*p)
			}
		}
	}
	text(spec.FirstName, spec.LastName, spec.Notes)
	if spec.Email != nil {
		r.Email(*spec.Email)
	}
	if spec.Phone != nil {
		r.Phone(*spec.Phone)
	}
	if spec.DateOfBirth != nil {
		r.Date(*spec.DateOfBirth)
	}
	if a := spec.Address; a != nil {
		text(a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country)
	}
	if live != nil {
		r.Text(live.FirstName, live.LastName, live.Notes)
		r.Email(live.Email)
		r.Phone(live.Phone)
		r.Date(live.DateOfBirth)
		if a := live.Address; a != nil {
			r.Text(a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country)
		}
	}
	return r.Redact
}

// tiquoError renders err, from a call to Tiquo, for a condition, an event or a log line: method,
// route and status, error.code and error.field when safe, and error.message through redact. A
// nil redact leaves Tiquo's message out. An error that is no answer of Tiquo (a timeout, a
// refused connection) is its text through redact, or through redact.Patterns when redact is nil.
func tiquoError(err error, redactText func(string) string) string {
	var apiErr *tiquo.APIError
	if !errors.As(err, &apiErr) {
		if redactText == nil {
			return redact.Patterns(err.Error())
		}
		return redactText(err.Error())
	}
	var b strings.Builder
	b.WriteString("tiquo: ")
	if apiErr.Method != "" {
		b.WriteString(apiErr.Method + " " + apiErr.Route + ": ")
	}
	b.WriteString(strconv.Itoa(apiErr.StatusCode))
	if code := safeCode(apiErr.Code, redactText); code != "" {
		b.WriteString(" " + code)
	}
	if redactText != nil && apiErr.Message != "" {
		b.WriteString(": " + redactText(apiErr.Message))
	}
	if field := safeField(apiErr.Field); field != "" {
		b.WriteString(" (field " + field + ")")
	}
	return b.String()
}

// tiquoErrorSummary renders err, from a call to Tiquo made for no one Customer (the drift
// scan's listing), for a log line: as tiquoError does, with Tiquo's message left out, since
// there are no values to redact it against.
func tiquoErrorSummary(err error) string { return tiquoError(err, nil) }

// documentedCodes are the error.code values of Tiquo's docs, and the client's own.
var documentedCodes = map[string]bool{
	tiquo.CodeValidation: true, tiquo.CodeUnauthorized: true, tiquo.CodeInsufficientScope: true,
	tiquo.CodeForbidden: true, tiquo.CodeNotFound: true, tiquo.CodeConflict: true,
	tiquo.CodeClientRateLimited: true,
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// safeCode returns code when it is safe to quote: a documented code, or a snake_case word
// that redactText leaves as it is. Otherwise it returns "".
func safeCode(code string, redactText func(string) string) string {
	switch {
	case documentedCodes[code]:
		return code
	case redactText != nil && snakeCase.MatchString(code) && redactText(code) == code:
		return code
	default:
		return ""
	}
}

// apiFields are the names error.field may take: the writable fields of a customer, with
// address subfields both alone and as "address.<name>".
var apiFields = map[string]bool{
	"id": true, "firstName": true, "lastName": true, "email": true, "phone": true, "dateOfBirth": true,
	"address": true, "line1": true, "line2": true, "city": true, "state": true, "postalCode": true,
	"country": true, "address.line1": true, "address.line2": true, "address.city": true,
	"address.state": true, "address.postalCode": true, "address.country": true, "tags": true,
	"notes": true, "preferredLocationId": true, "marketingConsent": true, "companyId": true,
}

// safeField returns field when it names a field of the API, else "".
func safeField(field string) string {
	if apiFields[field] {
		return field
	}
	return ""
}
