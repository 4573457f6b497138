package sandbox

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// This file holds what tests of a customer's life cycle need beyond the API itself: the
// faults that befall a create after its record is stored, active bookings that block a
// DELETE, and a look at every record with an email, archived ones included.

// Admin error messages used more than once.
const (
	msgMethodNotAllowed = "method not allowed"
	msgNoSuchCustomer   = "no such customer"
)

// failStoredCreate applies the store-then-fail, -hang and -reset faults when resp is the
// answer to a create whose record the store has already taken, and reports whether it
// answered (or dropped) the request itself. done records the request with the status given.
func (s *Sandbox) failStoredCreate(w http.ResponseWriter, r *http.Request, resp response, f Faults, done func(int)) bool {
	if r.Method != http.MethodPost || resp.status != http.StatusCreated {
		return false
	}
	switch {
	case chance(f.StoreThenFailRate):
		status := f.StoreThenFailStatus
		if status == 0 {
			status = http.StatusInternalServerError
		}
		done(status)
		writeInjectedError(w, status)
	case chance(f.StoreThenHangRate):
		// Logged at once, so that a test whose client has given up finds the request.
		done(0)
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		panic(http.ErrAbortHandler) // Close the connection without an answer.
	case chance(f.StoreThenResetRate):
		done(0)
		resetConnection(w)
	default:
		return false
	}
	return true
}

// SetActiveBookings gives the record with the given id n active bookings, so that DELETE
// answers 409 conflict with "activeBookings": n while n > 0; n <= 0 lets DELETE through
// again. Its other sandbox-only state is kept.
// It reports whether the record exists.
func (s *Sandbox) SetActiveBookings(id string, n int) bool {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	c, ok := s.store.customers[id]
	if !ok {
		return false
	}
	state := RecordState{}
	if c.Sandbox != nil {
		state = *c.Sandbox
	}
	state.ActiveBookings = n
	c.Sandbox = &state
	s.store.customers[id] = c
	return true
}

// CustomersByEmail returns every stored record whose email equals email without regard to
// case, archived ones included, in ascending id order, with their sandbox-only state. Tests
// use it to assert that exactly one record holds an email.
func (s *Sandbox) CustomersByEmail(email string) []Customer {
	return s.store.where(func(c Customer) bool { return strings.EqualFold(c.Email, email) })
}

// Customers returns every stored record, archived ones included, in ascending id order.
func (s *Sandbox) Customers() []Customer {
	return s.store.where(func(Customer) bool { return true })
}

// where returns deep copies of the records keep accepts, in ascending id order.
func (s *store) where(keep func(Customer) bool) []Customer {
	s.mu.Lock()
	out := []Customer{}
	for _, c := range s.customers {
		if keep(c) {
			out = append(out, c.clone())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Customer) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// serveAdminCustomers serves GET /_sandbox/customers[?email=...]: every record, or every
// record with that email without regard to case, archived ones included.
func (s *Sandbox) serveAdminCustomers(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeAdmin(w, http.StatusMethodNotAllowed, adminError{msgMethodNotAllowed})
		return
	}
	if email := r.URL.Query().Get("email"); email != "" {
		writeAdmin(w, http.StatusOK, s.CustomersByEmail(email))
		return
	}
	writeAdmin(w, http.StatusOK, s.Customers())
}

// serveAdminActiveBookings serves PUT /_sandbox/customers/{id}/active-bookings with a body
// {"activeBookings": n}.
func (s *Sandbox) serveAdminActiveBookings(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPut {
		writeAdmin(w, http.StatusMethodNotAllowed, adminError{msgMethodNotAllowed})
		return
	}
	var body struct {
		ActiveBookings int `json:"activeBookings"`
	}
	if !decodeAdmin(w, r, &body) {
		return
	}
	if body.ActiveBookings < 0 {
		writeAdmin(w, http.StatusBadRequest, adminError{"activeBookings must not be negative"})
		return
	}
	if !s.SetActiveBookings(id, body.ActiveBookings) {
		writeAdmin(w, http.StatusNotFound, adminError{msgNoSuchCustomer})
		return
	}
	writeAdmin(w, http.StatusOK, body)
}
