package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// admin sends an admin request and decodes its JSON answer into out.
func admin(t *testing.T, s *sandbox.Server, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func TestAdminAPI(t *testing.T) {
	s := newServer(t, sandbox.Options{RateLimitPerMinute: 2})
	call(t, s, keyRW, "GET", "/v1/customers?limit=1&email=john%40example.com", "")
	call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", `{"notes":"x"}`)
	call(t, s, "", "GET", "/v1/customers/cust_abc123", "")

	var reqs []sandbox.Request
	if code := admin(t, s, "GET", "/_sandbox/requests", "", &reqs); code != 200 {
		t.Fatalf("GET requests = %d", code)
	}
	for i := range reqs {
		if reqs[i].Time.IsZero() || time.Since(reqs[i].Time) > time.Hour {
			t.Errorf("request %d time %v", i, reqs[i].Time)
		}
		reqs[i].Time = time.Time{}
	}
	want := []sandbox.Request{
		{Method: "GET", Path: "/v1/customers", Query: "limit=1&email=john%40example.com", Status: 200},
		{Method: "PATCH", Path: "/v1/customers/cust_abc123", Body: json.RawMessage(`{"notes":"x"}`), Status: 200},
		{Method: "GET", Path: "/v1/customers/cust_abc123", Status: 401},
	}
	if diff := cmp.Diff(want, reqs); diff != "" {
		t.Errorf("request log (-want +got):\n%s", diff)
	}

	var st sandbox.Stats
	admin(t, s, "GET", "/_sandbox/stats", "", &st)
	wantStats := sandbox.Stats{Requests: 3, ByMethod: map[string]int{"GET": 2, "PATCH": 1}, ByStatus: map[int]int{200: 2, 401: 1}}
	if diff := cmp.Diff(wantStats, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	// Seeding neither counts as a request nor spends the rate limit.
	seed := `{"firstName":"Zoe","lastName":"Z","email":"zoe@example.com","tags":["x"],"loyaltyPoints":7,"_sandbox":{"activeBookings":1}}`
	var stored sandbox.Customer
	if code := admin(t, s, "PUT", "/_sandbox/customers/cust_zoe", seed, &stored); code != 200 {
		t.Fatalf("PUT customer = %d", code)
	}
	if stored.ID != "cust_zoe" || stored.LoyaltyPoints != 7 || stored.Sandbox.ActiveBookings != 1 || stored.CreatedAt.IsZero() {
		t.Errorf("stored = %+v", stored)
	}
	var got sandbox.Customer
	if code := admin(t, s, "GET", "/_sandbox/customers/cust_zoe", "", &got); code != 200 || got.Email != "zoe@example.com" {
		t.Errorf("GET stored = %d %+v", code, got)
	}
	if code := admin(t, s, "GET", "/_sandbox/customers/cust_none", "", nil); code != 404 {
		t.Errorf("GET unknown stored = %d", code)
	}
	if code := admin(t, s, "PUT", "/_sandbox/customers/cust_bad", `{"tags":"x"}`, nil); code != 400 {
		t.Errorf("PUT bad JSON = %d", code)
	}
	if n := len(s.Requests()); n != 3 {
		t.Errorf("%d requests logged after admin calls, want 3", n)
	}

	// Faults at run time.
	var f sandbox.Faults
	if code := admin(t, s, "PUT", "/_sandbox/faults", `{"errorRate":1,"errorStatus":503}`, &f); code != 200 || f.ErrorStatus != 503 {
		t.Fatalf("PUT faults = %d %+v", code, f)
	}
	if s.Faults().ErrorRate != 1 {
		t.Errorf("faults not applied: %+v", s.Faults())
	}
	if code := admin(t, s, "PUT", "/_sandbox/faults", `{"errorRate":3}`, nil); code != 400 {
		t.Errorf("PUT bad faults = %d", code)
	}
	admin(t, s, "PUT", "/_sandbox/faults", `{}`, nil)

	// Clearing.
	if code := admin(t, s, "DELETE", "/_sandbox/requests", "", nil); code != 204 {
		t.Errorf("DELETE requests = %d", code)
	}
	reqs = nil
	admin(t, s, "GET", "/_sandbox/requests", "", &reqs)
	if reqs == nil || len(reqs) != 0 {
		t.Errorf("after clearing: %v, want []", reqs)
	}
	if st := s.Stats(); st.Requests != 0 {
		t.Errorf("stats after clearing = %+v", st)
	}
	if code := admin(t, s, "GET", "/_sandbox/nope", "", nil); code != 404 {
		t.Errorf("unknown admin path = %d", code)
	}
}

func TestRequestLogBound(t *testing.T) {
	s := sandbox.NewServer(sandbox.Options{Keys: testKeys, RequestLogSize: 3})
	t.Cleanup(s.Close)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		call(t, s, keyRW, "GET", "/v1/customers/"+id, "")
	}
	var paths []string
	for _, r := range s.Requests() {
		paths = append(paths, r.Path)
	}
	if diff := cmp.Diff([]string{"/v1/customers/c", "/v1/customers/d", "/v1/customers/e"}, paths); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.Requests != 5 {
		t.Errorf("stats count %d, want 5", st.Requests)
	}
}
