package sandbox

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Request is one API request as the sandbox received it. It never holds the
// Authorization header.
type Request struct {
	Method string `json:"method"`
	// Path is the escaped path as sent, e.g. /v1/customers/cust_abc123.
	Path string `json:"path"`
	// Query is the raw query string, e.g. limit=100&cursor=cust_abc123.
	Query string `json:"query,omitempty"`
	// Body is the body as sent when it was JSON, a JSON string holding it
	// when it was not, and null when empty.
	Body json.RawMessage `json:"body,omitempty"`
	// Status is the status answered; 0 when the connection was reset or
	// dropped without an answer.
	Status int `json:"status"`
	// Time is when the request arrived, by the sandbox clock.
	Time time.Time `json:"time"`
}

// Stats counts the API requests received since start or the last
// ClearRequests.
type Stats struct {
	Requests int            `json:"requests"`
	ByMethod map[string]int `json:"byMethod"`
	// ByStatus is keyed by status; 0 counts requests never answered.
	ByStatus map[int]int `json:"byStatus"`
}

func newStats() Stats {
	return Stats{ByMethod: map[string]int{}, ByStatus: map[int]int{}}
}

// record appends r to the request log and counts it.
func (s *Sandbox) record(r Request) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if len(s.reqs) >= s.logSize {
		s.reqs = slices.Delete(s.reqs, 0, len(s.reqs)-s.logSize+1)
	}
	s.reqs = append(s.reqs, r)
	s.stats.Requests++
	s.stats.ByMethod[r.Method]++
	s.stats.ByStatus[r.Status]++
}

// Requests returns the logged API requests, oldest first.
func (s *Sandbox) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Request{}, s.reqs...)
}

// ClearRequests empties the request log and resets the stats.
func (s *Sandbox) ClearRequests() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.reqs = nil
	s.stats = newStats()
}

// Stats returns request counts by method and status.
func (s *Sandbox) Stats() Stats {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return Stats{
		Requests: s.stats.Requests,
		ByMethod: maps.Clone(s.stats.ByMethod),
		ByStatus: maps.Clone(s.stats.ByStatus),
	}
}

// serveAdmin serves the sandbox's own API, which needs no key and is never
// logged as a request:
//
//	GET    /_sandbox/requests        the request log, oldest first
//	DELETE /_sandbox/requests        clear the log and the stats
//	GET    /_sandbox/customers       every record, archived ones included
//	GET    /_sandbox/customers?email=x  every record with that email, any case
//	GET    /_sandbox/customers/{id}  the stored record
//	PUT    /_sandbox/customers/{id}  edit (or create) a record as the dashboard
//	                                 would: updatedAt moves unless the body sets it
//	DELETE /_sandbox/customers/{id}  remove a record as the dashboard would
//	PUT    /_sandbox/customers/{id}/active-bookings  {"activeBookings": n};
//	                                 n > 0 makes DELETE answer 409
//	GET    /_sandbox/stats           counts by method and status
//	GET    /_sandbox/faults          the faults injected
//	PUT    /_sandbox/faults          replace the faults injected
//	GET    /_sandbox/behaviour       the behaviour options in force
//	PUT    /_sandbox/behaviour       replace the behaviour options
//	PUT    /_sandbox/rate-limit      {"perMinute": n}; 0 = unlimited
//	GET    /_sandbox/webhooks        the webhook config (secret hidden) and stats
//	PUT    /_sandbox/webhooks        set where and how webhooks are delivered
//	DELETE /_sandbox/webhooks        stop delivering webhooks
//	GET    /_sandbox/webhooks/deliveries  the delivery log, oldest first
//
// Changes through the customers endpoints send webhooks (see WebhookConfig).
func (s *Sandbox) serveAdmin(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/_sandbox")
	switch {
	case p == "/requests" || p == "/stats":
		s.serveAdminLog(w, r, p)
	case p == "/webhooks" || p == "/webhooks/deliveries":
		s.serveAdminWebhooks(w, r, p)
	case p == "/faults" || p == "/behaviour" || p == "/rate-limit":
		s.serveAdminSettings(w, r, p)
	case p == "/customers":
		s.serveAdminCustomers(w, r)
	case strings.HasPrefix(p, "/customers/"):
		s.serveAdminCustomerPath(w, r, p[len("/customers/"):])
	default:
		writeAdmin(w, http.StatusNotFound, errNoEndpoint)
	}
}

// errNoEndpoint answers a path or method the admin API does not serve.
var errNoEndpoint = adminError{"no such sandbox endpoint"}

// serveAdminLog serves the request log and the stats.
func (s *Sandbox) serveAdminLog(w http.ResponseWriter, r *http.Request, p string) {
	switch r.Method + " " + p {
	case "GET /requests":
		writeAdmin(w, http.StatusOK, s.Requests())
	case "DELETE /requests":
		s.ClearRequests()
		w.WriteHeader(http.StatusNoContent)
	case "GET /stats":
		writeAdmin(w, http.StatusOK, s.Stats())
	default:
		writeAdmin(w, http.StatusNotFound, errNoEndpoint)
	}
}

// serveAdminCustomerPath serves /customers/{id} and /customers/{id}/active-bookings; rest is
// the path after /customers/.
func (s *Sandbox) serveAdminCustomerPath(w http.ResponseWriter, r *http.Request, rest string) {
	raw, sub, _ := strings.Cut(rest, "/")
	id, err := url.PathUnescape(raw)
	switch {
	case sub != "" && sub != "active-bookings":
		writeAdmin(w, http.StatusNotFound, errNoEndpoint)
	case err != nil || id == "":
		writeAdmin(w, http.StatusBadRequest, adminError{"bad customer id"})
	case sub == "active-bookings":
		s.serveAdminActiveBookings(w, r, id)
	default:
		s.serveAdminCustomer(w, r, id)
	}
}

// serveAdminSettings serves the faults, the behaviour options and the rate limit.
func (s *Sandbox) serveAdminSettings(w http.ResponseWriter, r *http.Request, p string) {
	switch r.Method + " " + p {
	case "GET /faults":
		writeAdmin(w, http.StatusOK, s.Faults())
	case "PUT /faults":
		var f Faults
		if !decodeAdmin(w, r, &f) {
			return
		}
		if err := f.Validate(); err != nil {
			writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
			return
		}
		s.SetFaults(f)
		writeAdmin(w, http.StatusOK, f)
	case "GET /behaviour":
		writeAdmin(w, http.StatusOK, s.Behaviour())
	case "PUT /behaviour":
		var b Behaviour
		if !decodeAdmin(w, r, &b) {
			return
		}
		s.SetBehaviour(b)
		writeAdmin(w, http.StatusOK, b)
	case "PUT /rate-limit":
		var body struct {
			PerMinute int `json:"perMinute"`
		}
		if !decodeAdmin(w, r, &body) {
			return
		}
		s.SetRateLimit(body.PerMinute)
		writeAdmin(w, http.StatusOK, body)
	default:
		writeAdmin(w, http.StatusMethodNotAllowed, errMethodNotAllowed)
	}
}

func (s *Sandbox) serveAdminCustomer(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodGet:
		c, ok := s.Customer(id)
		if !ok {
			writeAdmin(w, http.StatusNotFound, adminError{"no such customer"})
			return
		}
		writeAdmin(w, http.StatusOK, c)
	case http.MethodPut:
		var c Customer
		if !decodeAdmin(w, r, &c) {
			return
		}
		c.ID = id
		writeAdmin(w, http.StatusOK, s.EditCustomer(c))
	case http.MethodDelete:
		if !s.DeleteCustomer(id) {
			writeAdmin(w, http.StatusNotFound, adminError{"no such customer"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeAdmin(w, http.StatusMethodNotAllowed, errMethodNotAllowed)
	}
}

// errMethodNotAllowed answers a method an admin endpoint does not serve.
var errMethodNotAllowed = adminError{"method not allowed"}

type adminError struct {
	Error string `json:"error"`
}

func writeAdmin(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Not indented: the request log must show bodies byte for byte.
	_ = json.NewEncoder(w).Encode(v) // The client may be gone; nothing to do about it.
}

// decodeAdmin decodes a JSON request body into v, answering 400 itself when
// it cannot.
func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{"bad JSON body: " + err.Error()})
		return false
	}
	return true
}
