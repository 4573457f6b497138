package controller

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// privateSpec is a spec whose personal values are canaries, one of them (the first name) too
// short to be removed wherever it occurs.
func privateSpec() *crmv1alpha1.CustomerSpec {
	return &crmv1alpha1.CustomerSpec{
		CustomerID: "cust_canary", FirstName: ptr.To("Al"), LastName: ptr.To("Quaffertyx"),
		Email: ptr.To("Canary.Person@Leak-Test.example"), Phone: ptr.To("+1 (555) 456-7890"),
		DateOfBirth: ptr.To("1971-07-19"), Notes: ptr.To("canary-notes-7f3a"),
		Address: &crmv1alpha1.Address{Line1: ptr.To("77 Canary Lane"), PostalCode: ptr.To("SW1A 1AA")},
	}
}

// leaks returns the forms of the canaries of privateSpec that msg holds: as sent, and as Tiquo
// might echo them (lower-cased, digits only, E.164, whitespace removed).
func leaks(msg string) []string {
	var found []string
	lower := strings.ToLower(msg)
	for _, v := range []string{"quaffertyx", "canary.person@leak-test.example", "canary.person",
		"+1 (555) 456-7890", "15554567890", "5554567890", "1971-07-19", "19710719", "canary-notes-7f3a",
		"77 canary lane", "77canarylane", "sw1a 1aa", "sw1a1aa"} {
		if strings.Contains(lower, v) {
			found = append(found, v)
		}
	}
	if regexp.MustCompile(`(?i)\bal\b`).MatchString(msg) {
		found = append(found, "Al")
	}
	return found
}

func TestClassifyQuotesNoPersonalValue(t *testing.T) {
	secret := SecretKeySelector{Namespace: "shop", Name: "tiquo", Key: "apiKey"}
	cases := map[string]error{
		"400 echoing values in its message": &tiquo.APIError{StatusCode: 400, Code: tiquo.CodeValidation,
			Message: "Phone +15554567890 of Al QUAFFERTYX (canary.person@leak-test.example, born 19710719) is invalid",
			Field:   "phone"},
		"400 echoing values in code and field": &tiquo.APIError{StatusCode: 400, Code: "invalid_15554567890",
			Message: "Invalid value", Field: "canary.person@leak-test.example"},
		"400 naming a value as its field": &tiquo.APIError{StatusCode: 400, Code: "quaffertyx",
			Message: "Invalid value", Field: "sw1a1aa"},
		"400 whose message folds to other rune lengths": &tiquo.APIError{StatusCode: 400,
			Code: tiquo.CodeValidation, Message: "ȺQuaffertyxİ"},
		"403 echoing a value in its code": &tiquo.APIError{StatusCode: 403, Code: "forbidden_for_quaffertyx",
			Message: "Forbidden"},
		"422 refused": &tiquo.APIError{StatusCode: 422, Method: "PATCH", Route: "/v1/customers/{id}",
			Code: "77canarylane", Message: "Address 77CANARYLANE unknown for +15554567890", Field: "Quaffertyx"},
		"503": &tiquo.APIError{StatusCode: 503, Method: "GET", Route: "/v1/customers/{id}",
			Message: "Backend down while reading canary-notes-7f3a (5554567890)", Field: "1971-07-19"},
		"not an answer": fmt.Errorf("tiquo: PATCH /v1/customers/{id}: %w",
			errors.New("unexpected EOF after canary.person@leak-test.example")),
	}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			out := classify(err, "cust_canary", secret, redactor(privateSpec(), nil))
			if found := leaks(out.message); len(found) > 0 {
				t.Errorf("message %q holds %q", out.message, found)
			}
			if !utf8.ValidString(out.message) {
				t.Errorf("message %q is not valid UTF-8", out.message)
			}
		})
	}
}

func TestClassifyKeepsWhatTheUserNeeds(t *testing.T) {
	secret := SecretKeySelector{Namespace: "shop", Name: "tiquo", Key: "apiKey"}
	cases := map[string]struct {
		err  error
		want string
	}{
		"validation": {&tiquo.APIError{StatusCode: 400, Code: tiquo.CodeValidation, Message: "Email is required", Field: "email"},
			"Tiquo rejected the change (HTTP 400 validation_error, field email): Email is required"},
		"undocumented code and address field": {&tiquo.APIError{StatusCode: 400, Code: "too_long", Message: "Too long", Field: "address.line1"},
			"Tiquo rejected the change (HTTP 400 too_long, field address.line1): Too long"},
		// "Ⱥ" grows and "İ" shrinks when lower-cased: the text keeps its byte length, but the
		// value moves within it.
		"value in a message among other runes": {&tiquo.APIError{StatusCode: 400, Code: tiquo.CodeValidation, Message: "ȺQuaffertyxİ"},
			"Tiquo rejected the change (HTTP 400 validation_error): Ⱥ[redacted]İ"},
		"refused": {&tiquo.APIError{StatusCode: 422, Method: "PATCH", Route: "/v1/customers/{id}", Code: "unprocessable", Message: "Cannot apply", Field: "tags"},
			"Tiquo refused the request: tiquo: PATCH /v1/customers/{id}: 422 unprocessable: Cannot apply (field tags)"},
		"forbidden": {&tiquo.APIError{StatusCode: 403, Code: tiquo.CodeInsufficientScope, Message: "This endpoint requires customers:write scope"},
			"The API key in Secret shop/tiquo:apiKey may not do this (HTTP 403 insufficient_scope): it needs the customers:read and customers:write scopes, and the record must belong to its organisation"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out := classify(tc.err, "cust_canary", secret, redactor(privateSpec(), nil))
			if diff := cmp.Diff(tc.want, out.message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClassifyHonoursRetryAfterOn503 checks that a 503 announcing when to come back is
// transient with that time, as the 429 is, and that a 5xx announcing nothing has none.
func TestClassifyHonoursRetryAfterOn503(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 45, 0, time.UTC)
	secret := SecretKeySelector{Namespace: "shop", Name: "tiquo", Key: "apiKey"}
	type result struct {
		Kind    kind
		Reason  string
		RetryAt time.Time
	}
	cases := map[string]struct {
		err  error
		want result
	}{
		"503 with Retry-After": {&tiquo.APIError{StatusCode: 503, Message: "Service Unavailable", RetryAfter: at},
			result{transient, crmv1alpha1.ReasonAPIUnavailable, at}},
		"503 without": {&tiquo.APIError{StatusCode: 503, Message: "Service Unavailable"},
			result{transient, crmv1alpha1.ReasonAPIUnavailable, time.Time{}}},
		"500": {&tiquo.APIError{StatusCode: 500, Message: "Internal Server Error"},
			result{transient, crmv1alpha1.ReasonAPIUnavailable, time.Time{}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out := classify(tc.err, "cust_canary", secret, redactor(privateSpec(), nil))
			got := result{out.kind, out.reason, out.retryAt}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if !tc.want.RetryAt.IsZero() && !strings.Contains(out.message, "2026-11-30T12:00:45Z") {
				t.Errorf("message %q does not say when Tiquo will be called again", out.message)
			}
		})
	}
}

// TestTiquoErrorSummaryQuotesNoTiquoText checks the rendering the drift scan logs, which has
// no values to redact against: Tiquo's message and anything but a documented code or a field
// name are left out.
func TestTiquoErrorSummaryQuotesNoTiquoText(t *testing.T) {
	cases := map[string]struct {
		err  error
		want string
	}{
		"message and undocumented code": {&tiquo.APIError{StatusCode: 500, Method: "GET", Route: "/v1/customers",
			Code: "quaffertyx", Message: "Record of Quaffertyx is corrupt", Field: "Quaffertyx"},
			"tiquo: GET /v1/customers: 500"},
		"documented code": {&tiquo.APIError{StatusCode: 401, Method: "GET", Route: "/v1/customers",
			Code: tiquo.CodeUnauthorized, Message: "Invalid API key"},
			"tiquo: GET /v1/customers: 401 unauthorized"},
		"transport": {fmt.Errorf("tiquo: GET /v1/customers: %w", errors.New("connection reset by peer")),
			"tiquo: GET /v1/customers: connection reset by peer"},
		"malformed answer quoting a phone": {fmt.Errorf("tiquo: GET /v1/customers: %w: %w",
			tiquo.ErrMalformedResponse, errors.New("bad +15554567890")),
			"tiquo: GET /v1/customers: malformed response body: bad [redacted]"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tiquoErrorSummary(tc.err)); diff != "" {
				t.Errorf("tiquoErrorSummary (-want +got):\n%s", diff)
			}
		})
	}
}
