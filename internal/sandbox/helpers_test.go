package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// Keys used by the tests.
const (
	keyRW = "sk_test_rw"
	keyRO = "sk_test_ro"
	keyWO = "sk_test_wo"
)

var testKeys = map[string][]string{
	keyRW: {sandbox.ScopeRead, sandbox.ScopeWrite},
	keyRO: {sandbox.ScopeRead},
	keyWO: {sandbox.ScopeWrite},
}

func ptr[T any](v T) *T { return &v }

// johnDoe is the customer of the docs' GET example.
func johnDoe() sandbox.Customer {
	lv := time.Date(2024, 1, 18, 15, 30, 0, 0, time.UTC)
	return sandbox.Customer{
		ID: "cust_abc123", FirstName: "John", LastName: "Doe", Email: "john@example.com",
		Phone: "+1234567890", DateOfBirth: "1990-05-15",
		Address: &sandbox.Address{Line1: "123 Main Street", Line2: "Apt 4B", City: "New York",
			State: "NY", PostalCode: "10001", Country: "US"},
		Tags: []string{"VIP", "frequent"}, Notes: "Prefers morning appointments",
		PreferredLocationID: "loc_xyz789", MarketingConsent: ptr(true), CompanyID: "comp_def456",
		LoyaltyPoints: 150, TotalSpent: 2500, VisitCount: 12,
		CreatedAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		UpdatedAt: time.Date(2024, 1, 20, 14, 0, 0, 0, time.UTC),
		LastVisit: &lv,
	}
}

func janeSmith() sandbox.Customer {
	return sandbox.Customer{
		ID: "cust_def456", FirstName: "Jane", LastName: "Smith", Email: "jane@example.com",
		Tags:      []string{},
		CreatedAt: time.Date(2024, 1, 16, 9, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2024, 1, 16, 9, 0, 0, 0, time.UTC),
	}
}

// newServer starts a sandbox with the test keys and the two customers
// above, closed at the end of the test.
func newServer(t *testing.T, opts sandbox.Options) *sandbox.Server {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = testKeys
	}
	s := sandbox.NewServer(opts)
	t.Cleanup(s.Close)
	s.PutCustomer(johnDoe())
	s.PutCustomer(janeSmith())
	return s
}

// result is a decoded API answer.
type result struct {
	Status int
	Header http.Header
	Raw    []byte
	Env    struct {
		Success    bool            `json:"success"`
		Data       json.RawMessage `json:"data"`
		Pagination *struct {
			HasMore    bool   `json:"hasMore"`
			NextCursor string `json:"nextCursor"`
		} `json:"pagination"`
		Error *struct {
			Code           string `json:"code"`
			Message        string `json:"message"`
			Field          string `json:"field"`
			ActiveBookings int    `json:"activeBookings"`
		} `json:"error"`
	}
}

func (r result) code() string {
	if r.Env.Error == nil {
		return ""
	}
	return r.Env.Error.Code
}

func (r result) field() string {
	if r.Env.Error == nil {
		return ""
	}
	return r.Env.Error.Field
}

func (r result) customer(t *testing.T) sandbox.Customer {
	t.Helper()
	var c sandbox.Customer
	if err := json.Unmarshal(r.Env.Data, &c); err != nil {
		t.Fatalf("decode customer %s: %v", r.Raw, err)
	}
	return c
}

// call sends one request with the given key ("" for none) and body (""
// for none) and decodes the answer.
func call(t *testing.T, s *sandbox.Server, key, method, path, body string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	r := result{Status: resp.StatusCode, Header: resp.Header}
	if r.Raw, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Valid(r.Raw) {
		if err := json.Unmarshal(r.Raw, &r.Env); err != nil {
			t.Fatalf("decode %s: %v", r.Raw, err)
		}
	}
	return r
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
