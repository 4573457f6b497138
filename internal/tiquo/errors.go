package tiquo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Error codes the docs name in error.code, plus the one the client uses for
// its own rate-limit refusals.
const (
	CodeValidation        = "validation_error"
	CodeUnauthorized      = "unauthorized"
	CodeInsufficientScope = "insufficient_scope"
	CodeForbidden         = "forbidden"
	CodeNotFound          = "not_found"
	CodeConflict          = "conflict"
	// CodeClientRateLimited marks an APIError the client made up itself
	// without sending a request: the key's budget is spent or paused past
	// the caller's context deadline. Its StatusCode is 429.
	CodeClientRateLimited = "client_rate_limited"
)

var (
	// ErrInvalidID is returned, without sending a request, for a customer id
	// that is empty or that could address another path.
	ErrInvalidID = errors.New("invalid customer id")
	// ErrMissingAPIKey is returned, without sending a request, when the API
	// key is empty.
	ErrMissingAPIKey = errors.New("missing API key")
	// ErrMalformedResponse wraps a successful response whose body is not
	// the documented JSON envelope. IsRetryable reports it as retryable.
	ErrMalformedResponse = errors.New("malformed response body")
	// ErrResponseTooLarge is returned when a response body exceeds
	// Config.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("response body too large")
)

// APIError is an error answer of the Tiquo API: a non-2xx status and, when
// the body held the {success:false,error:{...}} envelope, its code, message
// and field. Its text never holds the API key or the request body.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is error.code, e.g. "not_found"; empty when the body held none.
	Code string
	// Message is error.message, or the status text when the body held none.
	Message string
	// Field is error.field, the input a validation error is about.
	Field string
	// ActiveBookings is error.activeBookings, the number of active bookings or orders that
	// keep a DELETE from succeeding (409); zero when the answer did not say.
	ActiveBookings int
	// RetryAfter is when to try again, from Retry-After or, on a 429,
	// X-RateLimit-Reset; zero when the answer did not say.
	RetryAfter time.Time
	// Method and Route name the call, e.g. "GET" and "/v1/customers/{id}";
	// the route is a template that holds no id.
	Method, Route string
}

// Error returns e.g. `tiquo: GET /v1/customers/{id}: 404 not_found: Customer
// not found`.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("tiquo: ")
	if e.Method != "" {
		b.WriteString(e.Method + " " + e.Route + ": ")
	}
	fmt.Fprintf(&b, "%d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Field != "" {
		b.WriteString(" (field " + e.Field + ")")
	}
	if !e.RetryAfter.IsZero() {
		b.WriteString(" (retry after " + e.RetryAfter.UTC().Format(time.RFC3339) + ")")
	}
	return b.String()
}

// errorEnvelope is the documented error body.
type errorEnvelope struct {
	Success *bool `json:"success"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
		// ActiveBookings is an extra of the DELETE 409.
		ActiveBookings int `json:"activeBookings"`
	} `json:"error"`
}

// newAPIError builds the APIError of a non-2xx answer. A body that is not
// the envelope (HTML from a proxy, empty, cut short) still gives an error
// with the status and its text.
func newAPIError(status int, body []byte, retryAfter time.Time) *APIError {
	e := &APIError{StatusCode: status, RetryAfter: retryAfter}
	var env errorEnvelope
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		e.Code, e.Message, e.Field = env.Error.Code, env.Error.Message, env.Error.Field
		e.ActiveBookings = env.Error.ActiveBookings
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

func statusOf(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409 answer (email taken, or a delete
// blocked by active bookings).
func IsConflict(err error) bool { return statusOf(err) == http.StatusConflict }

// IsValidation reports whether err is a 400 answer.
func IsValidation(err error) bool { return statusOf(err) == http.StatusBadRequest }

// IsUnauthorized reports whether err is a 401 answer: the key is missing,
// malformed or revoked.
func IsUnauthorized(err error) bool { return statusOf(err) == http.StatusUnauthorized }

// IsForbidden reports whether err is a 403 answer (insufficient_scope or
// forbidden).
func IsForbidden(err error) bool { return statusOf(err) == http.StatusForbidden }

// IsRateLimited reports whether err is a 429 answer or the client's own
// refusal to exceed a key's budget.
func IsRateLimited(err error) bool { return statusOf(err) == http.StatusTooManyRequests }

// IsRetryable reports whether trying again later may succeed: a 429, a 5xx,
// a timeout (including an expired context deadline), a refused or reset
// connection, a connection closed before the answer ended, or a malformed
// success body. A cancelled context is not retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if s := statusOf(err); s != 0 {
		return s == http.StatusTooManyRequests || s >= 500
	}
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, ErrMalformedResponse) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// RetryAt returns when a 429 (or a 503 that said so) asks to try again.
func RetryAt(err error) (time.Time, bool) {
	var e *APIError
	if errors.As(err, &e) && !e.RetryAfter.IsZero() {
		return e.RetryAfter, true
	}
	return time.Time{}, false
}
