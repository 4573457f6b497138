package tiquo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// Keys of the tests. The secret part is distinctive so that a leak into an
// error text is easy to spot.
const (
	keyRW = "sk_test_SECRETrw0123456789"
	keyRO = "sk_test_SECRETro0123456789"
)

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

// env is a sandbox with two customers and a client pointed at it.
type env struct {
	sb     *sandbox.Server
	client *tiquo.Client
}

func newEnv(t *testing.T, opts sandbox.Options, cfg tiquo.Config) env {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = map[string][]string{
			keyRW: {sandbox.ScopeRead, sandbox.ScopeWrite},
			keyRO: {sandbox.ScopeRead},
		}
	}
	sb := sandbox.NewServer(opts)
	t.Cleanup(sb.Close)
	sb.PutCustomer(johnDoe())
	sb.PutCustomer(sandbox.Customer{ID: "cust_def456", FirstName: "Jane", LastName: "Smith", Email: "jane@example.com"})
	if cfg.BaseURL == "" {
		cfg.BaseURL = sb.URL
	}
	c, err := tiquo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return env{sb: sb, client: c}
}

// noSecret fails the test when err's text holds a key.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error text holds the API key: %v", err)
	}
}

func TestGetCustomer(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, tiquo.Config{})
	got, err := e.client.GetCustomer(context.Background(), keyRO, "cust_abc123")
	if err != nil {
		t.Fatal(err)
	}
	want := &tiquo.Customer{
		ID: "cust_abc123", FirstName: "John", LastName: "Doe", Email: "john@example.com",
		Phone: "+1234567890", DateOfBirth: "1990-05-15",
		Address: &tiquo.Address{Line1: "123 Main Street", Line2: "Apt 4B", City: "New York",
			State: "NY", PostalCode: "10001", Country: "US"},
		Tags: []string{"VIP", "frequent"}, Notes: "Prefers morning appointments",
		PreferredLocationID: "loc_xyz789", MarketingConsent: ptr(true), CompanyID: "comp_def456",
		LoyaltyPoints: 150, TotalSpent: 2500, VisitCount: 12,
		CreatedAt: ptr(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)),
		UpdatedAt: ptr(time.Date(2024, 1, 20, 14, 0, 0, 0, time.UTC)),
		LastVisit: ptr(time.Date(2024, 1, 18, 15, 30, 0, 0, time.UTC)),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetCustomer (-want +got):\n%s", diff)
	}
}

func TestUpdateCustomer(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, tiquo.Config{})
	p := tiquo.Patch{
		Phone:   ptr("+1987654321"),
		Notes:   ptr(""),
		Tags:    &[]string{},
		Address: &tiquo.AddressPatch{Line1: ptr("456 Oak Avenue"), Line2: ptr("")},
	}
	got, err := e.client.UpdateCustomer(context.Background(), keyRW, "cust_abc123", p)
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.sb.Requests()
	if len(reqs) != 1 || reqs[0].Method != "PATCH" || reqs[0].Path != "/v1/customers/cust_abc123" {
		t.Fatalf("requests = %+v", reqs)
	}
	if diff := cmp.Diff(`{"phone":"+1987654321","address":{"line1":"456 Oak Avenue","line2":""},"tags":[],"notes":""}`, string(reqs[0].Body)); diff != "" {
		t.Errorf("PATCH body (-want +got):\n%s", diff)
	}
	wantAddr := &tiquo.Address{Line1: "456 Oak Avenue", City: "New York", State: "NY", PostalCode: "10001", Country: "US"}
	if diff := cmp.Diff(wantAddr, got.Address); diff != "" {
		t.Errorf("merged address (-want +got):\n%s", diff)
	}
	if got.Phone != "+1987654321" || got.Notes != "" || len(got.Tags) != 0 || got.Email != "john@example.com" {
		t.Errorf("answer = %+v", got)
	}
	if !got.UpdatedAt.After(time.Date(2024, 1, 20, 14, 0, 0, 0, time.UTC)) {
		t.Errorf("updatedAt did not move: %v", got.UpdatedAt)
	}
}

func TestCreateAndDeleteCustomer(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, tiquo.Config{})
	ctx := context.Background()
	c, err := e.client.CreateCustomer(ctx, keyRW, tiquo.CreateRequest{
		FirstName: "Ann", LastName: "Lee", Email: "ann@example.com", Tags: []string{"new"}, MarketingConsent: ptr(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, "cust_") || c.CreatedAt == nil || c.MarketingConsent == nil || *c.MarketingConsent {
		t.Errorf("created = %+v", c)
	}
	if body := string(e.sb.Requests()[0].Body); body != `{"firstName":"Ann","lastName":"Lee","email":"ann@example.com","tags":["new"],"marketingConsent":false}` {
		t.Errorf("POST body = %s", body)
	}
	if err := e.client.DeleteCustomer(ctx, keyRW, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetCustomer(ctx, keyRW, c.ID); !tiquo.IsNotFound(err) {
		t.Errorf("GET after delete: %v", err)
	}
	if err := e.client.DeleteCustomer(ctx, keyRW, c.ID); !tiquo.IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
}

// TestArchiveAndRestore: SetArchived sends only {"archived": ...}, and the record comes back
// with the flag; an archived record is hidden from a lookup by email until it is restored.
func TestArchiveAndRestore(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, tiquo.Config{})
	ctx := context.Background()
	c, err := e.client.CreateCustomer(ctx, keyRW, tiquo.CreateRequest{FirstName: "Ann", LastName: "Lee", Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	found := func() int {
		n := 0
		for _, err := range e.client.ListCustomers(ctx, keyRW, tiquo.ListOptions{Email: "ANN@example.com"}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	archived, err := e.client.SetArchived(ctx, keyRW, c.ID, true)
	if err != nil || !archived.Archived || archived.ID != c.ID {
		t.Fatalf("SetArchived(true) = %+v, %v", archived, err)
	}
	reqs := e.sb.Requests()
	if last := reqs[len(reqs)-1]; last.Method != "PATCH" || string(last.Body) != `{"archived":true}` {
		t.Errorf("archive sent %s %s", last.Method, last.Body)
	}
	if n := found(); n != 0 {
		t.Errorf("lookup by email found %d archived records, want 0", n)
	}
	if restored, err := e.client.SetArchived(ctx, keyRW, c.ID, false); err != nil || restored.Archived {
		t.Fatalf("SetArchived(false) = %+v, %v", restored, err)
	}
	if n := found(); n != 1 {
		t.Errorf("lookup by email found %d restored records, want 1", n)
	}
	if _, err := e.client.SetArchived(ctx, keyRW, "cust_none", true); !tiquo.IsNotFound(err) {
		t.Errorf("archiving an unknown id: %v, want 404", err)
	}
}

// TestErrors covers every status and code of tiquo-api.md section 5.
func TestErrors(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, tiquo.Config{})
	busy := johnDoe()
	busy.ID, busy.Email, busy.Sandbox = "cust_busy", "busy@example.com", &sandbox.RecordState{ActiveBookings: 2}
	e.sb.PutCustomer(busy)
	locked := johnDoe()
	locked.ID, locked.Email, locked.Sandbox = "cust_locked", "locked@example.com", &sandbox.RecordState{Forbidden: true}
	e.sb.PutCustomer(locked)
	ctx := context.Background()
	get := func(key, id string) func() error {
		return func() error { _, err := e.client.GetCustomer(ctx, key, id); return err }
	}
	patch := func(key, id string, p tiquo.Patch) func() error {
		return func() error { _, err := e.client.UpdateCustomer(ctx, key, id, p); return err }
	}

	type predicates struct{ notFound, conflict, validation, unauthorized, forbidden, rateLimited, retryable bool }
	cases := map[string]struct {
		faults             sandbox.Faults
		call               func() error
		status             int
		code, field, route string
		want               predicates
	}{
		"400 validation_error": {
			call:   patch(keyRW, "cust_abc123", tiquo.Patch{DateOfBirth: ptr("1990-02-30")}),
			status: 400, code: "validation_error", field: "dateOfBirth", want: predicates{validation: true},
		},
		"400 on create": {
			call: func() error {
				_, err := e.client.CreateCustomer(ctx, keyRW, tiquo.CreateRequest{FirstName: "A", LastName: "B"})
				return err
			},
			status: 400, code: "validation_error", field: "email", route: "/v1/customers", want: predicates{validation: true},
		},
		"401 unauthorized": {
			call:   get("sk_test_SECRETunknown", "cust_abc123"),
			status: 401, code: "unauthorized", want: predicates{unauthorized: true},
		},
		"403 insufficient_scope": {
			call:   patch(keyRO, "cust_abc123", tiquo.Patch{Notes: ptr("x")}),
			status: 403, code: "insufficient_scope", want: predicates{forbidden: true},
		},
		"403 forbidden": {
			call:   get(keyRW, "cust_locked"),
			status: 403, code: "forbidden", want: predicates{forbidden: true},
		},
		"404 not_found": {
			call:   get(keyRW, "cust_missing"),
			status: 404, code: "not_found", want: predicates{notFound: true},
		},
		"409 conflict on email": {
			call:   patch(keyRW, "cust_abc123", tiquo.Patch{Email: ptr("jane@example.com")}),
			status: 409, code: "conflict", field: "email", want: predicates{conflict: true},
		},
		"409 conflict on delete": {
			call:   func() error { return e.client.DeleteCustomer(ctx, keyRW, "cust_busy") },
			status: 409, code: "conflict", want: predicates{conflict: true},
		},
		"500": {
			faults: sandbox.Faults{ErrorRate: 1, ErrorStatus: 500},
			call:   get(keyRW, "cust_abc123"),
			status: 500, code: "internal_error", want: predicates{retryable: true},
		},
		"502 with an HTML body": {
			faults: sandbox.Faults{ErrorRate: 1, ErrorStatus: 502},
			call:   get(keyRW, "cust_abc123"),
			status: 502, want: predicates{retryable: true},
		},
		"503": {
			faults: sandbox.Faults{ErrorRate: 1, ErrorStatus: 503},
			call:   get(keyRW, "cust_abc123"),
			status: 503, code: "service_unavailable", want: predicates{retryable: true},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e.sb.SetFaults(tc.faults)
			defer e.sb.SetFaults(sandbox.Faults{})
			err := tc.call()
			var ae *tiquo.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error = %v, want *APIError", err)
			}
			route := tc.route
			if route == "" {
				route = "/v1/customers/{id}"
			}
			if ae.StatusCode != tc.status || ae.Code != tc.code || ae.Field != tc.field || ae.Route != route || ae.Message == "" {
				t.Errorf("APIError = %+v, want status %d code %q field %q route %s", ae, tc.status, tc.code, tc.field, route)
			}
			got := predicates{
				notFound: tiquo.IsNotFound(err), conflict: tiquo.IsConflict(err), validation: tiquo.IsValidation(err),
				unauthorized: tiquo.IsUnauthorized(err), forbidden: tiquo.IsForbidden(err),
				rateLimited: tiquo.IsRateLimited(err), retryable: tiquo.IsRetryable(err),
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(predicates{})); diff != "" {
				t.Errorf("predicates (-want +got):\n%s", diff)
			}
			noSecret(t, err)
			wrapped := fmt.Errorf("reconcile: %w", err)
			if tiquo.IsNotFound(wrapped) != tc.want.notFound || tiquo.IsRetryable(wrapped) != tc.want.retryable {
				t.Error("predicates differ on a wrapped error")
			}
		})
	}
}

func TestErrorBodies(t *testing.T) {
	cases := map[string]struct {
		status int
		body   string
		want   tiquo.APIError
	}{
		"empty":                  {500, "", tiquo.APIError{StatusCode: 500, Message: "Internal Server Error"}},
		"truncated":              {404, `{"success":false,"error":{"code":"not_fo`, tiquo.APIError{StatusCode: 404, Message: "Not Found"}},
		"plain":                  {503, "upstream connect error", tiquo.APIError{StatusCode: 503, Message: "Service Unavailable"}},
		"envelope without error": {400, `{"success":false}`, tiquo.APIError{StatusCode: 400, Message: "Bad Request"}},
		"extra fields": {409, `{"success":false,"error":{"code":"conflict","message":"Cannot delete customer with active bookings","activeBookings":2}}`,
			tiquo.APIError{StatusCode: 409, Code: "conflict", Message: "Cannot delete customer with active bookings", ActiveBookings: 2}},
		"redirect is not followed": {307, "", tiquo.APIError{StatusCode: 307, Message: "Temporary Redirect"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == 307 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := tiquo.New(tiquo.Config{BaseURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetCustomer(context.Background(), keyRW, "cust_abc123")
			var ae *tiquo.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error = %v, want *APIError", err)
			}
			want := tc.want
			want.Method, want.Route = "GET", "/v1/customers/{id}"
			if diff := cmp.Diff(&want, ae); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = w.Write([]byte(`{"success":true,"data":{"id":"cust_abc123"}}`))
	}))
	defer srv.Close()
	for _, tc := range []struct{ ua, want string }{{"", "tiquo-operator/" + tiquo.Version}, {"custom/1", "custom/1"}} {
		c, err := tiquo.New(tiquo.Config{BaseURL: srv.URL, UserAgent: tc.ua})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetCustomer(context.Background(), keyRW, "cust_abc123"); err != nil {
			t.Fatal(err)
		}
		if got.Get("User-Agent") != tc.want || got.Get("Authorization") != "Bearer "+keyRW || got.Get("Content-Type") != "application/json" {
			t.Errorf("headers = %v", got)
		}
	}
}

func TestListCustomers(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, tiquo.Config{})
	const n = 250
	want := map[string]bool{"cust_abc123": true, "cust_def456": true}
	for i := range n - 2 {
		id := fmt.Sprintf("cust_%03d", i)
		want[id] = true
		e.sb.PutCustomer(sandbox.Customer{ID: id, FirstName: "F", LastName: "L", Email: id + "@example.com"})
	}
	ctx := context.Background()

	seen := map[string]int{}
	for c, err := range e.client.ListCustomers(ctx, keyRO, tiquo.ListOptions{Limit: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		seen[c.ID]++
	}
	if len(seen) != n {
		t.Errorf("listed %d customers, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 || !want[id] {
			t.Errorf("%s listed %d times", id, k)
		}
	}
	if reqs := e.sb.Requests(); len(reqs) != 3 || reqs[1].Query != "cursor=cust_099&limit=100" {
		t.Errorf("pages = %+v", reqs)
	}

	// Stopping early sends no further request.
	e.sb.ClearRequests()
	count := 0
	for _, err := range e.client.ListCustomers(ctx, keyRO, tiquo.ListOptions{Limit: 10}) {
		if err != nil {
			t.Fatal(err)
		}
		if count++; count == 15 {
			break
		}
	}
	if k := len(e.sb.Requests()); k != 2 {
		t.Errorf("%d requests for 15 items in pages of 10", k)
	}

	// Email filter; the email never shows in an error.
	var ids []string
	for c, err := range e.client.ListCustomers(ctx, keyRO, tiquo.ListOptions{Email: "JOHN@example.com"}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if diff := cmp.Diff([]string{"cust_abc123"}, ids); diff != "" {
		t.Errorf("email filter (-want +got):\n%s", diff)
	}
	e.sb.SetFaults(sandbox.Faults{ResetRate: 1})
	for _, err := range e.client.ListCustomers(ctx, keyRO, tiquo.ListOptions{Email: "john@example.com"}) {
		if err == nil || strings.Contains(err.Error(), "john") || !tiquo.IsRetryable(err) {
			t.Errorf("list error = %v, want retryable without the email", err)
		}
	}
	e.sb.SetFaults(sandbox.Faults{})

	for _, limit := range []int{-1, 101} {
		for _, err := range e.client.ListCustomers(ctx, keyRO, tiquo.ListOptions{Limit: limit}) {
			if err == nil {
				t.Errorf("limit %d accepted", limit)
			}
		}
	}
}

func TestInvalidIDs(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, tiquo.Config{})
	ctx := context.Background()
	for _, id := range []string{"", "a/b", "..", "../cust_abc123", "cust..x", ".", "/", "x\n"} {
		_, err := e.client.GetCustomer(ctx, keyRW, id)
		if !errors.Is(err, tiquo.ErrInvalidID) {
			t.Errorf("GetCustomer(%q) = %v, want ErrInvalidID", id, err)
		}
		if _, err := e.client.UpdateCustomer(ctx, keyRW, id, tiquo.Patch{}); !errors.Is(err, tiquo.ErrInvalidID) {
			t.Errorf("UpdateCustomer(%q) = %v", id, err)
		}
		if err := e.client.DeleteCustomer(ctx, keyRW, id); !errors.Is(err, tiquo.ErrInvalidID) {
			t.Errorf("DeleteCustomer(%q) = %v", id, err)
		}
	}
	if n := len(e.sb.Requests()); n != 0 {
		t.Errorf("%d requests sent for invalid ids", n)
	}
	// Other characters are escaped into the one path segment.
	_, err := e.client.GetCustomer(ctx, keyRW, "a b?c#d%2F")
	if !tiquo.IsNotFound(err) {
		t.Errorf("escaped id: %v", err)
	}
	if reqs := e.sb.Requests(); len(reqs) != 1 || reqs[0].Path != "/v1/customers/a%20b%3Fc%23d%252F" || reqs[0].Query != "" {
		t.Errorf("escaped request = %+v", reqs)
	}
	if _, err := e.client.GetCustomer(ctx, "", "cust_abc123"); !errors.Is(err, tiquo.ErrMissingAPIKey) {
		t.Errorf("empty key: %v", err)
	}
}

func TestRateLimitHeadersAndPause(t *testing.T) {
	const window = 2 * time.Second
	e := newEnv(t, sandbox.Options{RateLimitPerMinute: 5, RateLimitWindow: window}, tiquo.Config{})
	ctx := context.Background()

	// Spend the window's budget behind the client's back until the client
	// meets a 429 (a window may end between the two; then try again).
	var err429 error
	for try := 0; try < 10 && err429 == nil; try++ {
		for range 5 {
			req, _ := http.NewRequest("GET", e.sb.URL+"/v1/customers/cust_abc123", nil)
			req.Header.Set("Authorization", "Bearer "+keyRW)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_ = resp.Body.Close()
			}
		}
		if _, err := e.client.GetCustomer(ctx, keyRW, "cust_abc123"); err != nil {
			err429 = err
		}
	}
	if !tiquo.IsRateLimited(err429) || !tiquo.IsRetryable(err429) {
		t.Fatalf("error = %v, want a 429", err429)
	}
	noSecret(t, err429)
	retryAt, ok := tiquo.RetryAt(err429)
	if !ok || retryAt.Before(time.Now().Add(-time.Second)) || retryAt.After(time.Now().Add(window+time.Second)) {
		t.Fatalf("RetryAt = %v, %v", retryAt, ok)
	}
	rl, ok := e.client.RateLimit(keyRW)
	if !ok || rl.Limit != 5 || rl.Remaining != 0 || !rl.Reset.Equal(retryAt) {
		t.Errorf("RateLimit = %+v, %v", rl, ok)
	}

	// Every caller of the key now waits for the reset before sending.
	e.sb.ClearRequests()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := e.client.GetCustomer(ctx, keyRW, "cust_abc123"); err != nil {
				t.Errorf("after the pause: %v", err)
			}
		})
	}
	// A caller whose deadline ends before the reset is refused at once.
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	stillPaused := time.Now().Before(retryAt.Add(-100 * time.Millisecond))
	_, err := e.client.GetCustomer(short, keyRW, "cust_abc123")
	var ae *tiquo.APIError
	if stillPaused && (!errors.As(err, &ae) || ae.Code != tiquo.CodeClientRateLimited) {
		t.Errorf("short deadline during the pause: %v, want a client-side 429", err)
	}
	wg.Wait()
	for _, r := range e.sb.Requests() {
		if r.Time.Before(retryAt) {
			t.Errorf("request at %v, before the reset %v", r.Time, retryAt)
		}
	}
	// Another key is not paused.
	if _, err := e.client.GetCustomer(ctx, keyRO, "cust_abc123"); err != nil {
		t.Errorf("other key: %v", err)
	}
}

func TestClientSideLimit(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, tiquo.Config{RequestsPerMinute: 60}) // One a second, burst one.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := e.client.GetCustomer(ctx, keyRW, "cust_abc123"); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.GetCustomer(ctx, keyRW, "cust_abc123")
	var ae *tiquo.APIError
	if !errors.As(err, &ae) || ae.Code != tiquo.CodeClientRateLimited || !tiquo.IsRateLimited(err) {
		t.Errorf("second call = %v, want a client-side 429", err)
	}
	if n := len(e.sb.Requests()); n != 1 {
		t.Errorf("%d requests sent, want 1", n)
	}
	// Another key has its own bucket.
	if _, err := e.client.GetCustomer(context.Background(), keyRO, "cust_abc123"); err != nil {
		t.Errorf("other key: %v", err)
	}
}

func TestTransportFailures(t *testing.T) {
	cases := map[string]struct {
		faults    sandbox.Faults
		cfg       tiquo.Config
		ctx       func() (context.Context, context.CancelFunc)
		retryable bool
		is        error
	}{
		"reset": {faults: sandbox.Faults{ResetRate: 1}, retryable: true},
		"client timeout": {
			faults: sandbox.Faults{HangRate: 1}, cfg: tiquo.Config{Timeout: 100 * time.Millisecond}, retryable: true,
		},
		"context deadline": {
			faults: sandbox.Faults{HangRate: 1},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			retryable: true, is: context.DeadlineExceeded,
		},
		"context cancelled": {
			faults: sandbox.Faults{HangRate: 1},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			retryable: false, is: context.Canceled,
		},
		"malformed body": {faults: sandbox.Faults{MalformedRate: 1}, retryable: true, is: tiquo.ErrMalformedResponse},
		"oversized body": {cfg: tiquo.Config{MaxResponseBytes: 100}, retryable: false, is: tiquo.ErrResponseTooLarge},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, sandbox.Options{Faults: tc.faults}, tc.cfg)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			_, err := e.client.GetCustomer(ctx, keyRW, "cust_abc123")
			if err == nil {
				t.Fatal("no error")
			}
			if got := tiquo.IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tc.retryable)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			var ae *tiquo.APIError
			if errors.As(err, &ae) {
				t.Errorf("transport failure reported as APIError %+v", ae)
			}
			noSecret(t, err)
			if strings.Contains(err.Error(), "127.0.0.1:") && strings.Contains(err.Error(), "cust_abc123") {
				t.Errorf("error holds the full URL: %v", err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	sb := sandbox.NewTLSServer(sandbox.Options{Keys: map[string][]string{keyRW: {sandbox.ScopeRead}}})
	defer sb.Close()
	sb.PutCustomer(johnDoe())

	c, err := tiquo.New(tiquo.Config{BaseURL: sb.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCustomer(context.Background(), keyRW, "cust_abc123"); err == nil {
		t.Error("self-signed server accepted without its CA")
	} else {
		noSecret(t, err)
	}

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, sb.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = tiquo.New(tiquo.Config{BaseURL: sb.URL, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCustomer(context.Background(), keyRW, "cust_abc123"); err != nil {
		t.Errorf("with the CA: %v", err)
	}

	junk := filepath.Join(dir, "junk.pem")
	_ = os.WriteFile(junk, []byte("not a certificate"), 0o600)
	for _, f := range []string{junk, filepath.Join(dir, "missing.pem")} {
		if _, err := tiquo.New(tiquo.Config{BaseURL: sb.URL, CAFile: f}); err == nil {
			t.Errorf("CA file %s accepted", f)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, sandbox.Options{RateLimitPerMinute: 100}, tiquo.Config{Registerer: reg})
	// A second client on the same registry shares the collectors.
	c2, err := tiquo.New(tiquo.Config{BaseURL: e.sb.URL, Registerer: reg})
	if err != nil {
		t.Fatalf("second New on one registry: %v", err)
	}
	ctx := context.Background()
	_, _ = e.client.GetCustomer(ctx, keyRW, "cust_abc123")
	_, _ = c2.GetCustomer(ctx, keyRW, "cust_def456")
	_, _ = e.client.GetCustomer(ctx, keyRW, "cust_missing")
	for _, err := range e.client.ListCustomers(ctx, keyRW, tiquo.ListOptions{Email: "john@example.com"}) {
		if err != nil {
			t.Errorf("ListCustomers: %v", err)
		}
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	counts := map[string]float64{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "tiquo_requests_total" {
				var key []string
				for _, lp := range m.GetLabel() {
					key = append(key, lp.GetName()+"="+lp.GetValue())
				}
				counts[strings.Join(key, ",")] = m.GetCounter().GetValue()
			}
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				if strings.Contains(v, "cust_") || strings.Contains(v, "SECRET") || strings.Contains(v, "@") {
					t.Errorf("%s label %s=%q holds an id, key or email", mf.GetName(), lp.GetName(), v)
				}
			}
		}
	}
	wantCounts := map[string]float64{
		"code=200,method=GET,route=/v1/customers/{id}": 2,
		"code=404,method=GET,route=/v1/customers/{id}": 1,
		"code=200,method=GET,route=/v1/customers":      1,
	}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("tiquo_requests_total (-want +got):\n%s", diff)
	}
	for _, name := range []string{"tiquo_requests_total", "tiquo_request_duration_seconds", "tiquo_rate_limit_remaining"} {
		if !found[name] {
			t.Errorf("metric %s missing", name)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tiquo_rate_limit_remaining X-RateLimit-Remaining of the last answer, by API key fingerprint.
# TYPE tiquo_rate_limit_remaining gauge
tiquo_rate_limit_remaining{key="`+tiquo.KeyFingerprint(keyRW)+`"} 96
`), "tiquo_rate_limit_remaining"); err != nil {
		t.Error(err)
	}
}

func TestKeyFingerprint(t *testing.T) {
	a, b := tiquo.KeyFingerprint(keyRW), tiquo.KeyFingerprint(keyRO)
	if a == b || len(a) != 12 || strings.Contains(a, "SECRET") || a != tiquo.KeyFingerprint(keyRW) {
		t.Errorf("fingerprints %q %q", a, b)
	}
}

// RetainKeys drops the limiter, the last headers and the metric series of every key not in
// use, and keeps those of the keys in use.
func TestRetainKeysForgetsKeysNotInUse(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, sandbox.Options{RateLimitPerMinute: 100}, tiquo.Config{Registerer: reg})
	ctx := context.Background()
	for _, k := range []string{keyRW, keyRO} {
		if _, err := e.client.GetCustomer(ctx, k, "cust_abc123"); err != nil {
			t.Fatal(err)
		}
	}
	if n := testutil.CollectAndCount(reg, "tiquo_rate_limit_remaining"); n != 2 {
		t.Fatalf("%d tiquo_rate_limit_remaining series for two keys in use, want 2", n)
	}
	e.client.RetainKeys([]string{keyRW})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tiquo_rate_limit_remaining X-RateLimit-Remaining of the last answer, by API key fingerprint.
# TYPE tiquo_rate_limit_remaining gauge
tiquo_rate_limit_remaining{key="`+tiquo.KeyFingerprint(keyRW)+`"} 99
`), "tiquo_rate_limit_remaining"); err != nil {
		t.Error(err)
	}
	if _, ok := e.client.RateLimit(keyRO); ok {
		t.Error("the rate-limit state of a key no longer in use is kept")
	}
	if _, ok := e.client.RateLimit(keyRW); !ok {
		t.Error("the rate-limit state of a key in use is gone")
	}
	e.client.RetainKeys(nil)
	if n := testutil.CollectAndCount(reg, "tiquo_rate_limit_remaining"); n != 0 {
		t.Errorf("%d tiquo_rate_limit_remaining series left with no key in use", n)
	}
}
