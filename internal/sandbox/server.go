// Package sandbox is an in-memory implementation of the Tiquo v1 customers
// API (GET, list, POST, PATCH and DELETE under /v1/customers) with the
// semantics the public docs describe: address merges, tags replace, unique
// emails, keys with scopes, validation errors naming the field, per-key
// rate limits with X-RateLimit headers, and the {success,data} and
// {success:false,error} envelopes.
//
// It adds fault injection (latency, server errors, connection resets,
// hanging requests, malformed bodies, server-side normalisation, errors
// that echo the values sent, creates that store the record and then fail,
// hang or reset) and an admin API under /_sandbox/ that shows what clients
// sent and every record with an email. Tests, benchmarks
// and the local demo run it over real HTTP on loopback, in-process through
// NewServer or as the tiquo-sandbox command.
//
// The package deliberately does not import the operator's Tiquo client: it
// is an independent reading of the docs, so that tests cross-check the two.
//
// Where the docs are silent the sandbox decides as follows. On PATCH, ""
// and JSON null both clear a string field or an address subfield, [] and
// null both remove every tag, null unsets marketingConsent and removes the
// whole address; firstName, lastName and email cannot be cleared (400). A
// PATCH that changes nothing, {} included, leaves updatedAt alone. List is
// sorted by id ascending and the cursor is the last id returned. The email
// filter and email uniqueness are case-insensitive. The 429 code is
// rate_limit_exceeded. A 401 carries no X-RateLimit headers, since no key
// budget applies, and with no rate limit configured none are sent.
// PATCH {"archived": true} archives a record: GET shows "archived": true
// (the field is absent otherwise), lists and the email filter leave it out,
// it still holds its email (no other record may take it, as archived
// customers keep their data), DELETE still removes it, and
// {"archived": false} restores it. POST does not take archived (400). A
// second DELETE, like a GET after one, is a 404.
package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scopes the customers API checks.
const (
	ScopeRead  = "customers:read"
	ScopeWrite = "customers:write"
)

const (
	// DefaultListLimit is the page size when a list asks for none.
	DefaultListLimit = 25
	// MaxListLimit is the largest page size a list may ask for.
	MaxListLimit = 100
	// maxBodyBytes caps request bodies.
	maxBodyBytes = 1 << 20
	// defaultRequestLogSize is how many requests the log keeps by default.
	defaultRequestLogSize = 10000
)

// Options configures a Sandbox.
type Options struct {
	// Keys maps each valid API key to its scopes, e.g.
	// {"sk_test_demo": {"customers:read", "customers:write"}}.
	Keys map[string][]string
	// RateLimitPerMinute is each key's budget per window; 0 means unlimited.
	RateLimitPerMinute int
	// RateLimitWindow is the length of a rate-limit window; 0 means one
	// minute. Tests shorten it to see a window end.
	RateLimitWindow time.Duration
	// Faults are the faults injected from the start.
	Faults Faults
	// Behaviour selects where the sandbox departs from the operator's assumptions.
	Behaviour Behaviour
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger, when set, gets one line per API request with method, path,
	// status and duration; never a key, a query or a body.
	Logger *slog.Logger
	// RequestLogSize bounds the request log (oldest dropped first);
	// 0 means 10000.
	RequestLogSize int
}

// Sandbox is the in-memory Tiquo API. It implements http.Handler and is safe
// for concurrent use.
type Sandbox struct {
	keys    map[string]map[string]bool
	now     func() time.Time
	logger  *slog.Logger
	store   *store
	limiter *windowLimiter

	faultsMu sync.RWMutex
	faults   Faults

	// behaviour is guarded by faultsMu too.
	behaviour Behaviour

	logMu   sync.Mutex
	logSize int
	reqs    []Request
	stats   Stats

	closeOnce sync.Once
	done      chan struct{}

	// webhooks delivers an event for every change (webhooks.go).
	webhooks *webhooks
}

// New returns a Sandbox configured by opts, with no customers.
func New(opts Options) *Sandbox {
	s := &Sandbox{
		keys:    make(map[string]map[string]bool, len(opts.Keys)),
		now:     opts.Now,
		logger:  opts.Logger,
		store:   newStore(),
		limiter: newWindowLimiter(opts.RateLimitPerMinute, opts.RateLimitWindow),
		faults:  opts.Faults,
		logSize: opts.RequestLogSize,
		stats:   newStats(),
		done:    make(chan struct{}),

		webhooks: newWebhooks(),
	}
	s.behaviour = opts.Behaviour
	if s.now == nil {
		s.now = time.Now
	}
	if s.logSize <= 0 {
		s.logSize = defaultRequestLogSize
	}
	for k, scopes := range opts.Keys {
		set := make(map[string]bool, len(scopes))
		for _, sc := range scopes {
			set[sc] = true
		}
		s.keys[k] = set
	}
	return s
}

// Close releases requests held by the hang fault; it does not stop a
// server. It is safe to call more than once.
func (s *Sandbox) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// SetFaults replaces the injected faults; it panics on a nonsensical value
// (a rate outside [0, 1], a negative latency, a non-5xx error status).
func (s *Sandbox) SetFaults(f Faults) {
	if err := f.Validate(); err != nil {
		panic("sandbox: SetFaults: " + err.Error())
	}
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	s.faults = f
}

// Faults returns the faults currently injected.
func (s *Sandbox) Faults() Faults {
	s.faultsMu.RLock()
	defer s.faultsMu.RUnlock()
	return s.faults
}

// SetRateLimit changes every key's budget per window; 0 means unlimited.
func (s *Sandbox) SetRateLimit(perMinute int) { s.limiter.setLimit(perMinute) }

// PutCustomer seeds or overwrites a record as is (no validation, no
// uniqueness check, not logged as a request). A zero createdAt or updatedAt
// is set to now and nil tags to [].
func (s *Sandbox) PutCustomer(c Customer) {
	now := s.timestamp()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	s.store.put(c)
}

// Customer returns the stored record with the given id, including its
// sandbox-only state.
func (s *Sandbox) Customer(id string) (Customer, bool) { return s.store.get(id) }

// RemoveCustomer deletes the record with the given id, as the admin API's DELETE does, and
// reports whether it existed.
func (s *Sandbox) RemoveCustomer(id string) bool { return s.store.remove(id) }

// CustomerCount returns how many records the sandbox holds.
func (s *Sandbox) CustomerCount() int {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return len(s.store.customers)
}

// timestamp returns the current time as the API stores it: UTC, to the
// millisecond.
func (s *Sandbox) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// response is a rendered API answer.
type response struct {
	status int
	body   []byte
}

type apiError struct {
	Code           string `json:"code"`
	Message        string `json:"message"`
	Field          string `json:"field,omitempty"`
	ActiveBookings int    `json:"activeBookings,omitempty"`
}

type pagination struct {
	HasMore    bool   `json:"hasMore"`
	NextCursor string `json:"nextCursor,omitempty"`
}

type envelope struct {
	Success    bool        `json:"success"`
	Data       any         `json:"data,omitempty"`
	Pagination *pagination `json:"pagination,omitempty"`
	Error      *apiError   `json:"error,omitempty"`
}

func render(status int, e envelope) response {
	b, err := json.Marshal(e)
	if err != nil { // Only plain data is marshalled; this cannot happen.
		panic("sandbox: marshal response: " + err.Error())
	}
	return response{status: status, body: b}
}

func dataResponse(status int, data any) response {
	return render(status, envelope{Success: true, Data: data})
}

func errorResponse(status int, code, msg, field string) response {
	return render(status, envelope{Error: &apiError{Code: code, Message: msg, Field: field}})
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	writeResponse(w, errorResponse(status, code, msg, field))
}

func writeResponse(w http.ResponseWriter, r response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(r.body)))
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

// ServeHTTP serves the v1 customers API under /v1/customers and the admin
// API under /_sandbox/.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		s.serveAdmin(w, r)
		return
	}
	start := time.Now()
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	rec := Request{
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Query:  r.URL.RawQuery,
		Body:   rawBody(body),
		Time:   s.now().UTC(),
	}
	// The request is recorded before any byte of the answer is written, so a client that
	// has seen the answer always finds its request in the log. Status 0 stands for a
	// request answered by a reset or a hang.
	done := func(status int) {
		rec.Status = status
		s.record(rec)
		if s.logger != nil {
			s.logger.Info("request", "method", rec.Method, "path", rec.Path,
				"status", rec.Status, "duration", time.Since(start).Round(time.Microsecond))
		}
	}
	respond := func(resp response) {
		done(resp.status)
		writeResponse(w, resp)
	}

	f := s.Faults()
	f.delay(r.Context(), s.done)
	if chance(f.HangRate) {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		done(0)
		panic(http.ErrAbortHandler) // Close the connection without an answer.
	}
	if chance(f.ResetRate) {
		done(0)
		resetConnection(w)
		return
	}

	key, ok := bearerKey(r)
	scopes, known := s.keys[key]
	if !ok || !known {
		respond(errorResponse(http.StatusUnauthorized, "unauthorized", "Invalid API key", ""))
		return
	}
	if b, limited := s.limiter.take(key, s.now()); limited {
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(b.limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(b.remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(ceilUnix(b.reset), 10))
		if !b.allowed {
			respond(errorResponse(http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit exceeded", ""))
			return
		}
	}
	if chance(f.ErrorRate) {
		status := f.errorStatus()
		done(status)
		writeInjectedError(w, status)
		return
	}

	if (r.Method == http.MethodPatch || r.Method == http.MethodPost) && readErr == nil && chance(f.EchoValuesRate) {
		if resp, ok := echoValues(body, f.echoStatus()); ok {
			respond(resp)
			return
		}
	}

	var resp response
	if readErr != nil {
		resp = errorResponse(http.StatusBadRequest, "validation_error", "Request body too large or unreadable", "")
	} else {
		resp = s.route(r, scopes, body, f)
	}
	if s.failStoredCreate(w, r, resp, f, done) {
		return
	}
	respond(f.malform(resp))
}

// ceilUnix returns t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// bearerKey returns the key of an "Authorization: Bearer <key>" header.
func bearerKey(r *http.Request) (string, bool) {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", false
	}
	return key, true
}

// rawBody returns body as JSON for the request log: the body itself when it
// is valid JSON, else a JSON string of it, and nil when empty.
func rawBody(body []byte) json.RawMessage {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if json.Valid(body) {
		return json.RawMessage(bytes.Clone(body))
	}
	b, _ := json.Marshal(string(body)) // Marshalling a string cannot fail.
	return b
}

// route dispatches an authenticated API request.
func (s *Sandbox) route(r *http.Request, scopes map[string]bool, body []byte, f Faults) response {
	const prefix = "/v1/customers"
	p := r.URL.EscapedPath()
	var id string
	switch {
	case p == prefix:
	case strings.HasPrefix(p, prefix+"/") && !strings.Contains(p[len(prefix)+1:], "/"):
		var err error
		id, err = url.PathUnescape(p[len(prefix)+1:])
		if err != nil || id == "" {
			return errorResponse(http.StatusNotFound, "not_found", "Customer not found", "")
		}
	default:
		return errorResponse(http.StatusNotFound, "not_found", "Route not found", "")
	}

	need := ScopeRead
	if r.Method != http.MethodGet {
		need = ScopeWrite
	}
	var allowed bool
	switch r.Method {
	case http.MethodGet:
		allowed = true
	case http.MethodPost:
		allowed = id == ""
	case http.MethodPatch, http.MethodDelete:
		allowed = id != ""
	}
	if !allowed {
		return errorResponse(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed", "")
	}
	if !scopes[need] {
		return errorResponse(http.StatusForbidden, "insufficient_scope", "This endpoint requires "+need+" scope", "")
	}

	switch {
	case id == "" && r.Method == http.MethodGet:
		return s.list(r.URL.Query())
	case id == "":
		return s.create(body, f)
	}
	if c, ok := s.store.get(id); ok && c.Sandbox != nil && c.Sandbox.Forbidden {
		return errorResponse(http.StatusForbidden, "forbidden", "Insufficient permissions for this resource", "")
	}
	switch r.Method {
	case http.MethodGet:
		return s.get(id)
	case http.MethodPatch:
		return s.update(id, body, f)
	default:
		return s.delete(id)
	}
}

func notFound() response {
	return errorResponse(http.StatusNotFound, "not_found", "Customer not found", "")
}

func (s *Sandbox) get(id string) response {
	c, ok := s.store.get(id)
	if !ok {
		return notFound()
	}
	return dataResponse(http.StatusOK, c.public())
}

func (s *Sandbox) list(q url.Values) response {
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			return errorResponse(http.StatusBadRequest, "validation_error", "limit must be an integer between 1 and 100", "limit")
		}
		limit = n
	}
	page, more := s.store.list(q.Get("cursor"), q.Get("email"), limit, s.Behaviour())
	data := make([]Customer, len(page))
	for i, c := range page {
		data[i] = c.public()
	}
	pg := &pagination{HasMore: more}
	if more {
		pg.NextCursor = page[len(page)-1].ID
	}
	return render(http.StatusOK, envelope{Success: true, Data: data, Pagination: pg})
}

func (s *Sandbox) create(body []byte, f Faults) response {
	p, fe := parseBody(body, true)
	if fe != nil {
		return errorResponse(http.StatusBadRequest, "validation_error", fe.msg, fe.field)
	}
	b := s.behaviourWith(f)
	p.normalize(b)
	var c Customer
	p.applyTo(&c, b)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	created, err := s.store.create(c, s.timestamp(), b)
	if err != nil {
		return errorResponse(http.StatusConflict, "conflict", "A customer with this email already exists", fieldEmail)
	}
	s.changed(nil, &created)
	return dataResponse(http.StatusCreated, created.public())
}

func (s *Sandbox) update(id string, body []byte, f Faults) response {
	p, fe := parseBody(body, false)
	if fe != nil {
		return errorResponse(http.StatusBadRequest, "validation_error", fe.msg, fe.field)
	}
	b := s.behaviourWith(f)
	p.normalize(b)
	old, _ := s.store.get(id)
	c, err := s.store.update(id, p, s.timestamp(), b)
	switch {
	case errors.Is(err, errNotFound):
		return notFound()
	case errors.Is(err, errEmailTaken):
		return errorResponse(http.StatusConflict, "conflict", "A customer with this email already exists", fieldEmail)
	}
	s.changed(&old, &c)
	if b.PartialPatchResponse {
		return dataResponse(http.StatusOK, c.partial())
	}
	return dataResponse(http.StatusOK, c.public())
}

func (s *Sandbox) delete(id string) response {
	c, ok := s.store.get(id)
	if !ok {
		return notFound()
	}
	if c.Sandbox != nil && c.Sandbox.ActiveBookings > 0 {
		return render(http.StatusConflict, envelope{Error: &apiError{
			Code: "conflict", Message: "Cannot delete customer with active bookings",
			ActiveBookings: c.Sandbox.ActiveBookings,
		}})
	}
	if !s.store.remove(id) {
		return notFound()
	}
	s.changed(&c, nil)
	return dataResponse(http.StatusOK, map[string]any{"id": id, "deleted": true})
}
