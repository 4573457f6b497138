package tiquo

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Address is a customer's postal address in the API's wire format.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Country    string `json:"country,omitempty"`
}

// Customer is a customer record as the v1 API returns it. Fields the
// response does not carry (list items and PATCH answers may omit some) are
// zero; fields the client does not know are ignored.
type Customer struct {
	ID                  string   `json:"id"`
	FirstName           string   `json:"firstName,omitempty"`
	LastName            string   `json:"lastName,omitempty"`
	Email               string   `json:"email,omitempty"`
	Phone               string   `json:"phone,omitempty"`
	DateOfBirth         string   `json:"dateOfBirth,omitempty"`
	Address             *Address `json:"address,omitempty"`
	Tags                []string `json:"tags,omitempty"`
	Notes               string   `json:"notes,omitempty"`
	PreferredLocationID string   `json:"preferredLocationId,omitempty"`
	CompanyID           string   `json:"companyId,omitempty"`
	MarketingConsent    *bool    `json:"marketingConsent,omitempty"`
	// Archived is true for a record archived with PATCH {"archived": true}: lists and
	// lookups by email hide it, and it still holds its email.
	Archived bool `json:"archived,omitempty"`
	// LoyaltyPoints, TotalSpent, VisitCount, CreatedAt, UpdatedAt and
	// LastVisit are read-only.
	LoyaltyPoints int64      `json:"loyaltyPoints,omitempty"`
	TotalSpent    float64    `json:"totalSpent,omitempty"`
	VisitCount    int64      `json:"visitCount,omitempty"`
	CreatedAt     *time.Time `json:"createdAt,omitempty"`
	UpdatedAt     *time.Time `json:"updatedAt,omitempty"`
	LastVisit     *time.Time `json:"lastVisit,omitempty"`
}

// UnmarshalJSON decodes the wire format, accepting ISO 8601 timestamps with
// or without fractional seconds and with Z, ±hh:mm or ±hhmm offsets, and
// null or "" as "no timestamp".
func (c *Customer) UnmarshalJSON(b []byte) error {
	type plain Customer
	var w struct {
		plain
		CreatedAt *isoTime `json:"createdAt"`
		UpdatedAt *isoTime `json:"updatedAt"`
		LastVisit *isoTime `json:"lastVisit"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Customer(w.plain)
	c.CreatedAt, c.UpdatedAt, c.LastVisit = w.CreatedAt.ptr(), w.UpdatedAt.ptr(), w.LastVisit.ptr()
	return nil
}

// isoTime is a timestamp decoded from an ISO 8601 string.
type isoTime struct{ t *time.Time }

func (it *isoTime) ptr() *time.Time {
	if it == nil {
		return nil
	}
	return it.t
}

// isoLayouts are the ISO 8601 forms accepted, most common first.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
}

func (it *isoTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			it.t = &t
			return nil
		}
	}
	return fmt.Errorf("timestamp %q is not ISO 8601", s)
}

// CreateRequest is the body of POST /v1/customers. FirstName, LastName and
// Email are required; the other fields are sent only when set.
type CreateRequest struct {
	FirstName           string   `json:"firstName"`
	LastName            string   `json:"lastName"`
	Email               string   `json:"email"`
	Phone               string   `json:"phone,omitempty"`
	DateOfBirth         string   `json:"dateOfBirth,omitempty"`
	Address             *Address `json:"address,omitempty"`
	Tags                []string `json:"tags,omitempty"`
	Notes               string   `json:"notes,omitempty"`
	PreferredLocationID string   `json:"preferredLocationId,omitempty"`
	MarketingConsent    *bool    `json:"marketingConsent,omitempty"`
	CompanyID           string   `json:"companyId,omitempty"`
}

// ListOptions filters and pages GET /v1/customers.
type ListOptions struct {
	// Limit is the page size, 1 to 100; 0 lets the server choose (25).
	Limit int
	// Email, when set, keeps only the customer with that email address.
	Email string
	// Cursor starts the listing after a previous page's nextCursor.
	Cursor string
}

// MaxListLimit is the largest page size the API accepts.
const MaxListLimit = 100
