package sandbox

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"
)

// Address is the postal address of a customer in the API's wire format.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Country    string `json:"country,omitempty"`
}

// isZero reports whether every subfield of a is empty.
func (a Address) isZero() bool { return a == Address{} }

// Customer is one stored customer record in the v1 API's wire format. The
// same struct is the element type of a seed file and the body of
// PUT /_sandbox/customers/{id}.
type Customer struct {
	ID                  string     `json:"id"`
	FirstName           string     `json:"firstName"`
	LastName            string     `json:"lastName"`
	Email               string     `json:"email"`
	Phone               string     `json:"phone,omitempty"`
	DateOfBirth         string     `json:"dateOfBirth,omitempty"`
	Address             *Address   `json:"address,omitempty"`
	Tags                []string   `json:"tags"`
	Notes               string     `json:"notes,omitempty"`
	PreferredLocationID string     `json:"preferredLocationId,omitempty"`
	MarketingConsent    *bool      `json:"marketingConsent,omitempty"`
	CompanyID           string     `json:"companyId,omitempty"`
	LoyaltyPoints       int64      `json:"loyaltyPoints"`
	TotalSpent          float64    `json:"totalSpent"`
	VisitCount          int64      `json:"visitCount"`
	CreatedAt           time.Time  `json:"createdAt"`
	UpdatedAt           time.Time  `json:"updatedAt"`
	LastVisit           *time.Time `json:"lastVisit,omitempty"`
	// Archived hides the record from lists (the email filter included) while GET still
	// shows it; PATCH {"archived": true} sets it and {"archived": false} restores the
	// record. Shown only when true. An archived record keeps its email: no other record
	// can take it.
	Archived bool `json:"archived,omitempty"`

	// Sandbox holds sandbox-only state that is never part of an API
	// response. It can be set in a seed file or through the admin API.
	Sandbox *RecordState `json:"_sandbox,omitempty"`
}

// RecordState is sandbox-only state attached to a stored record, used to
// provoke documented errors that plain customer data cannot.
type RecordState struct {
	// ActiveBookings, when positive, makes DELETE answer 409 conflict with
	// an activeBookings extra, as the delete page documents.
	ActiveBookings int `json:"activeBookings,omitempty"`
	// Forbidden makes every API call on this record answer 403 forbidden
	// ("resource that does not belong to you").
	Forbidden bool `json:"forbidden,omitempty"`
}

// clone returns a deep copy of c.
func (c Customer) clone() Customer {
	out := c
	if c.Address != nil {
		a := *c.Address
		out.Address = &a
	}
	out.Tags = slices.Clone(c.Tags)
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if c.MarketingConsent != nil {
		v := *c.MarketingConsent
		out.MarketingConsent = &v
	}
	if c.LastVisit != nil {
		v := *c.LastVisit
		out.LastVisit = &v
	}
	if c.Sandbox != nil {
		v := *c.Sandbox
		out.Sandbox = &v
	}
	return out
}

// public returns the record as the API shows it: a deep copy without the
// sandbox-only state.
func (c Customer) public() Customer {
	out := c.clone()
	out.Sandbox = nil
	return out
}

// store is the in-memory customer table. Every method is safe for
// concurrent use.
type store struct {
	mu        sync.Mutex
	customers map[string]Customer
}

func newStore() *store {
	return &store{customers: make(map[string]Customer)}
}

// get returns a deep copy of the record with the given id.
func (s *store) get(id string) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[id]
	if !ok {
		return Customer{}, false
	}
	return c.clone(), true
}

// put stores a deep copy of c, replacing any record with the same id. It
// does not check email uniqueness: seeding may deliberately break it.
func (s *store) put(c Customer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customers[c.ID] = c.clone()
}

// remove deletes the record with the given id and reports whether it
// existed.
func (s *store) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.customers[id]
	delete(s.customers, id)
	return ok
}

// emailTakenLocked reports whether another record than exceptID uses email.
// Emails compare case-insensitively unless b says otherwise. s.mu must be held.
func (s *store) emailTakenLocked(email, exceptID string, b Behaviour) bool {
	for id, c := range s.customers {
		if id != exceptID && b.emailEqual(c.Email, email) {
			return true
		}
	}
	return false
}

// errEmailTaken and errNotFound are the outcomes create and update report
// besides success.
type storeError int

const (
	errNotFound storeError = iota + 1
	errEmailTaken
)

func (e storeError) Error() string {
	switch e {
	case errNotFound:
		return "not found"
	case errEmailTaken:
		return "email taken"
	}
	return "unknown store error"
}

// create stores a new record built from in with a fresh id and the given
// time as createdAt and updatedAt.
func (s *store) create(in Customer, now time.Time, b Behaviour) (Customer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emailTakenLocked(in.Email, "", b) {
		return Customer{}, errEmailTaken
	}
	c := in.clone()
	for {
		c.ID = newID()
		if _, dup := s.customers[c.ID]; !dup {
			break
		}
	}
	c.CreatedAt, c.UpdatedAt = now, now
	s.customers[c.ID] = c
	return c.clone(), nil
}

// update applies p to the record with the given id. updatedAt moves to now
// (or just past the previous value) only when a field actually changed, unless
// b says every PATCH moves it.
func (s *store) update(id string, p patch, now time.Time, b Behaviour) (Customer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.customers[id]
	if !ok {
		return Customer{}, errNotFound
	}
	c := old.clone()
	p.applyTo(&c, b)
	if c.Email != old.Email && s.emailTakenLocked(c.Email, id, b) {
		return Customer{}, errEmailTaken
	}
	if !equalRecords(old, c) || b.NoopPatchTouchesUpdatedAt {
		if !now.After(old.UpdatedAt) {
			now = old.UpdatedAt.Add(time.Millisecond)
		}
		c.UpdatedAt = now
		s.customers[id] = c
	}
	return c.clone(), nil
}

// list returns up to limit records with ids greater than cursor, in
// ascending id order, optionally only those whose email equals email
// (case-insensitively unless b says otherwise), and whether more records follow.
// Archived records are left out unless b says otherwise.
func (s *store) list(cursor, email string, limit int, b Behaviour) ([]Customer, bool) {
	s.mu.Lock()
	matches := make([]Customer, 0, limit+1)
	for id, c := range s.customers {
		if id <= cursor {
			continue
		}
		if email != "" && !b.emailEqual(c.Email, email) {
			continue
		}
		if c.Archived && !b.ListArchived {
			continue
		}
		matches = append(matches, c)
	}
	s.mu.Unlock()
	slices.SortFunc(matches, func(a, b Customer) int { return cmp.Compare(a.ID, b.ID) })
	more := len(matches) > limit
	if more {
		matches = matches[:limit]
	}
	out := make([]Customer, len(matches))
	for i, c := range matches {
		out[i] = c.clone()
	}
	return out, more
}

// equalRecords reports whether a and b hold the same writable data, archived included.
func equalRecords(a, b Customer) bool {
	addr := func(p *Address) Address {
		if p == nil {
			return Address{}
		}
		return *p
	}
	consent := func(p *bool) string {
		if p == nil {
			return "unset"
		}
		if *p {
			return "true"
		}
		return "false"
	}
	return a.FirstName == b.FirstName && a.LastName == b.LastName &&
		a.Email == b.Email && a.Phone == b.Phone && a.DateOfBirth == b.DateOfBirth &&
		addr(a.Address) == addr(b.Address) && slices.Equal(a.Tags, b.Tags) &&
		a.Notes == b.Notes && a.PreferredLocationID == b.PreferredLocationID &&
		consent(a.MarketingConsent) == consent(b.MarketingConsent) &&
		a.CompanyID == b.CompanyID && a.Archived == b.Archived
}

// newID returns a fresh customer id such as cust_5f0c1a2b3c4d5e6f.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return "cust_" + hex.EncodeToString(b[:])
}
