package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

func TestGetCustomer(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", "")
	if r.Status != http.StatusOK || !r.Env.Success {
		t.Fatalf("GET = %d %s", r.Status, r.Raw)
	}
	if diff := cmp.Diff(johnDoe(), r.customer(t)); diff != "" {
		t.Errorf("GET data (-want +got):\n%s", diff)
	}
	var raw map[string]any
	_ = json.Unmarshal(r.Env.Data, &raw)
	if _, ok := raw["_sandbox"]; ok {
		t.Errorf("API answer shows sandbox-only state: %s", r.Raw)
	}
	if got, want := raw["createdAt"], "2024-01-15T10:30:00Z"; got != want {
		t.Errorf("createdAt = %v, want %v", got, want)
	}

	r = call(t, s, keyRW, "GET", "/v1/customers/cust_nope", "")
	if r.Status != http.StatusNotFound || r.code() != "not_found" || r.Env.Success {
		t.Errorf("GET unknown = %d %s, want 404 not_found", r.Status, r.Raw)
	}
	r = call(t, s, keyRW, "GET", "/v1/other", "")
	if r.Status != http.StatusNotFound {
		t.Errorf("GET /v1/other = %d, want 404", r.Status)
	}
	r = call(t, s, keyRW, "PUT", "/v1/customers/cust_abc123", "{}")
	if r.Status != http.StatusMethodNotAllowed {
		t.Errorf("PUT = %d, want 405", r.Status)
	}
}

func TestPatch(t *testing.T) {
	base := johnDoe()
	with := func(f func(*sandbox.Customer)) sandbox.Customer {
		c := johnDoe()
		f(&c)
		return c
	}
	cases := map[string]struct {
		body      string
		wantCode  int
		wantError string // error.code
		wantField string
		want      sandbox.Customer // stored record afterwards, updatedAt ignored
	}{
		"only the field sent changes": {
			body: `{"phone":"+1987654321"}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Phone = "+1987654321" }),
		},
		"address merges": {
			body: `{"address":{"line1":"456 Oak Avenue"}}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Address.Line1 = "456 Oak Avenue" }),
		},
		"empty address subfield clears it": {
			body: `{"address":{"line2":""}}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Address.Line2 = "" }),
		},
		"null address subfield clears it": {
			body: `{"address":{"line2":null,"city":"Boston"}}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Address.Line2, c.Address.City = "", "Boston" }),
		},
		"null address removes it": {
			body: `{"address":null}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Address = nil }),
		},
		"tags replace": {
			body: `{"tags":["longtime"]}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Tags = []string{"longtime"} }),
		},
		"empty tags remove all": {
			body: `{"tags":[]}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Tags = []string{} }),
		},
		"null tags remove all": {
			body: `{"tags":null}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Tags = []string{} }),
		},
		"empty notes clear": {
			body: `{"notes":""}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Notes = "" }),
		},
		"null notes clear": {
			body: `{"notes":null}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Notes = "" }),
		},
		"consent false": {
			body: `{"marketingConsent":false}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.MarketingConsent = ptr(false) }),
		},
		"consent null unsets": {
			body: `{"marketingConsent":null}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.MarketingConsent = nil }),
		},
		"several fields": {
			body:     `{"firstName":"Johnny","email":"johnny@example.com","dateOfBirth":"2000-02-29","companyId":"","preferredLocationId":"loc_1"}`,
			wantCode: 200,
			want: with(func(c *sandbox.Customer) {
				c.FirstName, c.Email, c.DateOfBirth, c.CompanyID, c.PreferredLocationID =
					"Johnny", "johnny@example.com", "2000-02-29", "", "loc_1"
			}),
		},
		"empty body changes nothing": {body: `{}`, wantCode: 200, want: base},
		"email taken":                {body: `{"email":"jane@example.com"}`, wantCode: 409, wantError: "conflict", wantField: "email", want: base},
		"email taken, other case":    {body: `{"email":"JANE@example.com"}`, wantCode: 409, wantError: "conflict", wantField: "email", want: base},
		"own email, other case": {
			body: `{"email":"John@Example.com"}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Email = "John@Example.com" }),
		},
		"read-only field":    {body: `{"loyaltyPoints":1}`, wantCode: 400, wantError: "validation_error", wantField: "loyaltyPoints", want: base},
		"read-only id":       {body: `{"id":"cust_x"}`, wantCode: 400, wantError: "validation_error", wantField: "id", want: base},
		"unknown field":      {body: `{"source":"api"}`, wantCode: 400, wantError: "validation_error", wantField: "source", want: base},
		"archived null":      {body: `{"archived":null}`, wantCode: 400, wantError: "validation_error", wantField: "archived", want: base},
		"archived as string": {body: `{"archived":"yes"}`, wantCode: 400, wantError: "validation_error", wantField: "archived", want: base},
		"archive": {
			body: `{"archived":true}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Archived = true }),
		},
		"archive with other fields": {
			body: `{"archived":true,"notes":"left","tags":["gone"]}`, wantCode: 200,
			want: with(func(c *sandbox.Customer) { c.Archived, c.Notes, c.Tags = true, "left", []string{"gone"} }),
		},
		"restore an active record": {body: `{"archived":false}`, wantCode: 200, want: base},
		"unknown subfield":         {body: `{"address":{"zip":"1"}}`, wantCode: 400, wantError: "validation_error", wantField: "address.zip", want: base},
		"string as number":         {body: `{"firstName":1}`, wantCode: 400, wantError: "validation_error", wantField: "firstName", want: base},
		"tags not strings":         {body: `{"tags":[1]}`, wantCode: 400, wantError: "validation_error", wantField: "tags", want: base},
		"tags not array":           {body: `{"tags":"VIP"}`, wantCode: 400, wantError: "validation_error", wantField: "tags", want: base},
		"consent as string":        {body: `{"marketingConsent":"yes"}`, wantCode: 400, wantError: "validation_error", wantField: "marketingConsent", want: base},
		"address not object":       {body: `{"address":"x"}`, wantCode: 400, wantError: "validation_error", wantField: "address", want: base},
		"subfield not string":      {body: `{"address":{"city":3}}`, wantCode: 400, wantError: "validation_error", wantField: "address.city", want: base},
		"no such date":             {body: `{"dateOfBirth":"1990-02-30"}`, wantCode: 400, wantError: "validation_error", wantField: "dateOfBirth", want: base},
		"date not ISO":             {body: `{"dateOfBirth":"15/05/1990"}`, wantCode: 400, wantError: "validation_error", wantField: "dateOfBirth", want: base},
		"date short month":         {body: `{"dateOfBirth":"1990-5-15"}`, wantCode: 400, wantError: "validation_error", wantField: "dateOfBirth", want: base},
		"bad email":                {body: `{"email":"john@"}`, wantCode: 400, wantError: "validation_error", wantField: "email", want: base},
		"email with name":          {body: `{"email":"John <john@example.com>"}`, wantCode: 400, wantError: "validation_error", wantField: "email", want: base},
		"email cleared":            {body: `{"email":""}`, wantCode: 400, wantError: "validation_error", wantField: "email", want: base},
		"first name cleared":       {body: `{"firstName":null}`, wantCode: 400, wantError: "validation_error", wantField: "firstName", want: base},
		"body not an object":       {body: `["x"]`, wantCode: 400, wantError: "validation_error", want: base},
		"body not JSON":            {body: `{"phone":`, wantCode: 400, wantError: "validation_error", want: base},
		"one bad field aborts":     {body: `{"notes":"x","visitCount":2}`, wantCode: 400, wantError: "validation_error", wantField: "visitCount", want: base},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, sandbox.Options{})
			r := call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", tc.body)
			if r.Status != tc.wantCode || r.code() != tc.wantError || r.field() != tc.wantField {
				t.Fatalf("PATCH %s = %d %s, want %d %q field %q", tc.body, r.Status, r.Raw, tc.wantCode, tc.wantError, tc.wantField)
			}
			stored, _ := s.Customer("cust_abc123")
			ignore := cmpopts.IgnoreFields(sandbox.Customer{}, "UpdatedAt")
			if diff := cmp.Diff(tc.want, stored, ignore); diff != "" {
				t.Errorf("stored record (-want +got):\n%s", diff)
			}
			if tc.wantCode == 200 {
				if diff := cmp.Diff(tc.want, r.customer(t), ignore); diff != "" {
					t.Errorf("PATCH answer (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestUpdatedAt(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newServer(t, sandbox.Options{Now: clock})
	before, _ := s.Customer("cust_abc123")

	updatedAt := func(body string) time.Time {
		t.Helper()
		r := call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", body)
		if r.Status != 200 {
			t.Fatalf("PATCH %s = %d %s", body, r.Status, r.Raw)
		}
		return r.customer(t).UpdatedAt
	}
	if got := updatedAt(`{}`); !got.Equal(before.UpdatedAt) {
		t.Errorf("empty PATCH moved updatedAt to %v", got)
	}
	if got := updatedAt(`{"phone":"+1234567890","tags":["VIP","frequent"]}`); !got.Equal(before.UpdatedAt) {
		t.Errorf("PATCH of unchanged values moved updatedAt to %v", got)
	}
	first := updatedAt(`{"notes":"a"}`)
	if !first.Equal(now) {
		t.Errorf("updatedAt = %v, want %v", first, now)
	}
	second := updatedAt(`{"notes":"b"}`) // Same clock reading.
	if !second.After(first) {
		t.Errorf("second change: updatedAt %v not after %v", second, first)
	}
}

func TestCreate(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newServer(t, sandbox.Options{Now: func() time.Time { return now }})
	r := call(t, s, keyRW, "POST", "/v1/customers",
		`{"firstName":"Ann","lastName":"Lee","email":"ann@example.com","tags":["new"],"address":{"city":"Oslo"},"marketingConsent":true}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST = %d %s", r.Status, r.Raw)
	}
	got := r.customer(t)
	want := sandbox.Customer{
		ID: got.ID, FirstName: "Ann", LastName: "Lee", Email: "ann@example.com", Tags: []string{"new"},
		Address: &sandbox.Address{City: "Oslo"}, MarketingConsent: ptr(true), CreatedAt: now, UpdatedAt: now,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if len(got.ID) < 6 || got.ID[:5] != "cust_" {
		t.Errorf("id = %q, want cust_...", got.ID)
	}
	if r := call(t, s, keyRW, "GET", "/v1/customers/"+got.ID, ""); r.Status != 200 {
		t.Errorf("GET created = %d", r.Status)
	}

	for name, tc := range map[string]struct{ body, code, field string }{
		"missing email":    {`{"firstName":"A","lastName":"B"}`, "validation_error", "email"},
		"missing first":    {`{"lastName":"B","email":"b@example.com"}`, "validation_error", "firstName"},
		"duplicate email":  {`{"firstName":"A","lastName":"B","email":"John@example.com"}`, "conflict", "email"},
		"read-only":        {`{"firstName":"A","lastName":"B","email":"b@example.com","createdAt":"2024-01-01T00:00:00Z"}`, "validation_error", "createdAt"},
		"bad date":         {`{"firstName":"A","lastName":"B","email":"b@example.com","dateOfBirth":"2023-13-01"}`, "validation_error", "dateOfBirth"},
		"empty first name": {`{"firstName":" ","lastName":"B","email":"b@example.com"}`, "validation_error", "firstName"},
	} {
		t.Run(name, func(t *testing.T) {
			r := call(t, s, keyRW, "POST", "/v1/customers", tc.body)
			if r.code() != tc.code || r.field() != tc.field {
				t.Errorf("POST %s = %d %s, want %s field %s", tc.body, r.Status, r.Raw, tc.code, tc.field)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	r := call(t, s, keyRW, "DELETE", "/v1/customers/cust_abc123", "")
	if r.Status != 200 || string(r.Env.Data) != `{"deleted":true,"id":"cust_abc123"}` {
		t.Fatalf("DELETE = %d %s", r.Status, r.Raw)
	}
	if r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", ""); r.code() != "not_found" {
		t.Errorf("GET after DELETE = %d %s", r.Status, r.Raw)
	}
	if r := call(t, s, keyRW, "DELETE", "/v1/customers/cust_abc123", ""); r.code() != "not_found" {
		t.Errorf("second DELETE = %d %s", r.Status, r.Raw)
	}
	// The email is free again.
	if r := call(t, s, keyRW, "PATCH", "/v1/customers/cust_def456", `{"email":"john@example.com"}`); r.Status != 200 {
		t.Errorf("PATCH to freed email = %d %s", r.Status, r.Raw)
	}

	busy := janeSmith()
	busy.ID, busy.Email, busy.Sandbox = "cust_busy", "busy@example.com", &sandbox.RecordState{ActiveBookings: 2}
	s.PutCustomer(busy)
	r = call(t, s, keyRW, "DELETE", "/v1/customers/cust_busy", "")
	if r.Status != 409 || r.code() != "conflict" || r.Env.Error.ActiveBookings != 2 {
		t.Errorf("DELETE with bookings = %d %s, want 409 conflict activeBookings 2", r.Status, r.Raw)
	}
}

func TestAuthAndScopes(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	locked := janeSmith()
	locked.ID, locked.Email, locked.Sandbox = "cust_locked", "l@example.com", &sandbox.RecordState{Forbidden: true}
	s.PutCustomer(locked)

	cases := []struct {
		name, auth, method, path, body string
		wantStatus                     int
		wantCode                       string
	}{
		{"no header", "", "GET", "/v1/customers/cust_abc123", "", 401, "unauthorized"},
		{"unknown key", "Bearer sk_test_nope", "GET", "/v1/customers/cust_abc123", "", 401, "unauthorized"},
		{"basic auth", "Basic c2s6eA==", "GET", "/v1/customers", "", 401, "unauthorized"},
		{"empty bearer", "Bearer ", "GET", "/v1/customers", "", 401, "unauthorized"},
		{"read key may get", "Bearer " + keyRO, "GET", "/v1/customers/cust_abc123", "", 200, ""},
		{"read key may list", "Bearer " + keyRO, "GET", "/v1/customers", "", 200, ""},
		{"read key may not patch", "Bearer " + keyRO, "PATCH", "/v1/customers/cust_abc123", "{}", 403, "insufficient_scope"},
		{"read key may not post", "Bearer " + keyRO, "POST", "/v1/customers", "{}", 403, "insufficient_scope"},
		{"read key may not delete", "Bearer " + keyRO, "DELETE", "/v1/customers/cust_abc123", "", 403, "insufficient_scope"},
		{"write key may not get", "Bearer " + keyWO, "GET", "/v1/customers/cust_abc123", "", 403, "insufficient_scope"},
		{"write key may not list", "Bearer " + keyWO, "GET", "/v1/customers", "", 403, "insufficient_scope"},
		{"write key may patch", "Bearer " + keyWO, "PATCH", "/v1/customers/cust_abc123", "{}", 200, ""},
		{"record not yours", "Bearer " + keyRW, "GET", "/v1/customers/cust_locked", "", 403, "forbidden"},
		{"record not yours, patch", "Bearer " + keyRW, "PATCH", "/v1/customers/cust_locked", "{}", 403, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
			if tc.body != "" {
				req, _ = http.NewRequest(tc.method, s.URL+tc.path, stringsReader(tc.body))
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			var env struct {
				Success bool
				Error   *struct{ Code string }
			}
			_ = json.NewDecoder(resp.Body).Decode(&env)
			code := ""
			if env.Error != nil {
				code = env.Error.Code
			}
			if resp.StatusCode != tc.wantStatus || code != tc.wantCode {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, code, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestListPagination(t *testing.T) {
	s := sandbox.NewServer(sandbox.Options{Keys: testKeys})
	t.Cleanup(s.Close)
	const n = 237
	var want []string
	for i := range n {
		id := fmt.Sprintf("cust_%04d", (i*7919)%1000) // Inserted out of order.
		want = append(want, id)
		s.PutCustomer(sandbox.Customer{ID: id, FirstName: "F", LastName: "L", Email: id + "@example.com"})
	}
	slices.Sort(want)

	for _, limit := range []int{0, 1, 7, 25, 100} {
		t.Run("limit="+strconv.Itoa(limit), func(t *testing.T) {
			var got []string
			cursor, pages := "", 0
			for {
				q := "?cursor=" + cursor
				if limit > 0 {
					q += "&limit=" + strconv.Itoa(limit)
				}
				r := call(t, s, keyRO, "GET", "/v1/customers"+q, "")
				if r.Status != 200 || r.Env.Pagination == nil {
					t.Fatalf("list = %d %s", r.Status, r.Raw)
				}
				var page []sandbox.Customer
				_ = json.Unmarshal(r.Env.Data, &page)
				pageSize := limit
				if limit == 0 {
					pageSize = sandbox.DefaultListLimit
				}
				if len(page) > pageSize {
					t.Fatalf("page of %d > limit %d", len(page), pageSize)
				}
				for _, c := range page {
					got = append(got, c.ID)
				}
				pages++
				if !r.Env.Pagination.HasMore {
					break
				}
				if next := r.Env.Pagination.NextCursor; next != page[len(page)-1].ID {
					t.Fatalf("nextCursor %q is not the last id %q", next, page[len(page)-1].ID)
				}
				cursor = r.Env.Pagination.NextCursor
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listed ids (-want +got):\n%s", diff)
			}
			if pageSize := max(limit, 0); pageSize > 0 && pages != (n+pageSize-1)/pageSize {
				t.Errorf("pages = %d", pages)
			}
		})
	}

	r := call(t, s, keyRO, "GET", "/v1/customers?email="+strings.ToUpper(want[10])+"@example.com", "")
	var page []sandbox.Customer
	_ = json.Unmarshal(r.Env.Data, &page)
	if len(page) != 1 || page[0].ID != want[10] || r.Env.Pagination.HasMore {
		t.Errorf("email filter = %s", r.Raw)
	}
	for _, bad := range []string{"0", "101", "-1", "ten"} {
		if r := call(t, s, keyRO, "GET", "/v1/customers?limit="+bad, ""); r.Status != 400 || r.field() != "limit" {
			t.Errorf("limit=%s = %d %s, want 400 field limit", bad, r.Status, r.Raw)
		}
	}
}

func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2024, 1, 1, 11, 59, 30, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newServer(t, sandbox.Options{RateLimitPerMinute: 3, Now: clock})
	reset := strconv.FormatInt(time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC).Unix(), 10) // 1704110400, as in the docs.

	for i, wantRemaining := range []string{"2", "1", "0"} {
		r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", "")
		h := r.Header
		if r.Status != 200 || h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != wantRemaining || h.Get("X-RateLimit-Reset") != reset {
			t.Fatalf("request %d: %d limit=%s remaining=%s reset=%s", i, r.Status,
				h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset"))
		}
	}
	r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", "")
	if r.Status != 429 || r.code() != "rate_limit_exceeded" || r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("X-RateLimit-Reset") != reset {
		t.Errorf("over budget = %d %s %v", r.Status, r.Raw, r.Header)
	}
	// Another key has its own budget.
	if r := call(t, s, keyRO, "GET", "/v1/customers/cust_abc123", ""); r.Status != 200 {
		t.Errorf("other key = %d", r.Status)
	}
	// The next window starts afresh.
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	if r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", ""); r.Status != 200 || r.Header.Get("X-RateLimit-Remaining") != "2" {
		t.Errorf("next window = %d remaining %s", r.Status, r.Header.Get("X-RateLimit-Remaining"))
	}
	// Unlimited: no headers.
	s.SetRateLimit(0)
	if r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", ""); r.Status != 200 || r.Header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("unlimited = %d limit header %q", r.Status, r.Header.Get("X-RateLimit-Limit"))
	}
}
