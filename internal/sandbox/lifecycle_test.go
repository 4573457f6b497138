package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// listIDs returns the ids of a list answer.
func listIDs(t *testing.T, r result) []string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("list = %d %s", r.Status, r.Raw)
	}
	var items []sandbox.Customer
	if err := json.Unmarshal(r.Env.Data, &items); err != nil {
		t.Fatalf("decode list %s: %v", r.Raw, err)
	}
	ids := []string{}
	for _, c := range items {
		ids = append(ids, c.ID)
	}
	return ids
}

func ids(cs []sandbox.Customer) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestArchive(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	const john = "/v1/customers/cust_abc123"

	// An active record shows no archived field.
	if r := call(t, s, keyRW, "GET", john, ""); r.Status != 200 || strings.Contains(string(r.Raw), `"archived":`) {
		t.Fatalf("GET before archiving = %d %s, want no archived field", r.Status, r.Raw)
	}

	r := call(t, s, keyRW, "PATCH", john, `{"archived":true}`)
	if r.Status != 200 || !r.customer(t).Archived || !r.customer(t).UpdatedAt.After(johnDoe().UpdatedAt) {
		t.Fatalf("PATCH archived:true = %d %s, want 200 archived with updatedAt moved", r.Status, r.Raw)
	}
	if r := call(t, s, keyRW, "GET", john, ""); r.Status != 200 || !strings.Contains(string(r.Raw), `"archived":true`) {
		t.Errorf("GET of an archived record = %d %s, want 200 with \"archived\":true", r.Status, r.Raw)
	}
	if got := listIDs(t, call(t, s, keyRW, "GET", "/v1/customers", "")); !cmp.Equal(got, []string{"cust_def456"}) {
		t.Errorf("list with cust_abc123 archived = %v", got)
	}
	for _, email := range []string{"john@example.com", "JOHN@example.com"} {
		if got := listIDs(t, call(t, s, keyRW, "GET", "/v1/customers?email="+email, "")); len(got) != 0 {
			t.Errorf("?email=%s found %v, want the archived record hidden", email, got)
		}
	}

	// The archived record still holds its email.
	if r := call(t, s, keyRW, "POST", "/v1/customers", `{"firstName":"J","lastName":"D","email":"John@Example.com"}`); r.Status != 409 || r.field() != "email" {
		t.Errorf("POST with an archived record's email = %d %s, want 409 on email", r.Status, r.Raw)
	}
	if r := call(t, s, keyRW, "PATCH", "/v1/customers/cust_def456", `{"email":"john@example.com"}`); r.Status != 409 {
		t.Errorf("PATCH to an archived record's email = %d %s, want 409", r.Status, r.Raw)
	}
	// It can still be changed while archived, and archiving again changes nothing.
	if r := call(t, s, keyRW, "PATCH", john, `{"notes":"archived note"}`); r.Status != 200 || !r.customer(t).Archived {
		t.Errorf("PATCH notes of an archived record = %d %s", r.Status, r.Raw)
	}
	before, _ := s.Customer("cust_abc123")
	if r := call(t, s, keyRW, "PATCH", john, `{"archived":true}`); r.Status != 200 || !r.customer(t).UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("archiving again = %d %s, want updatedAt kept", r.Status, r.Raw)
	}

	// Restore.
	r = call(t, s, keyRW, "PATCH", john, `{"archived":false}`)
	if r.Status != 200 || r.customer(t).Archived || strings.Contains(string(r.Raw), `"archived":`) {
		t.Fatalf("PATCH archived:false = %d %s", r.Status, r.Raw)
	}
	if got := listIDs(t, call(t, s, keyRW, "GET", "/v1/customers?email=john@example.com", "")); !cmp.Equal(got, []string{"cust_abc123"}) {
		t.Errorf("?email= after restoring = %v", got)
	}
	if c, _ := s.Customer("cust_abc123"); c.Notes != "archived note" {
		t.Errorf("notes after restoring = %q, want the edit made while archived", c.Notes)
	}

	// An archived record can be deleted.
	call(t, s, keyRW, "PATCH", john, `{"archived":true}`)
	if r := call(t, s, keyRW, "DELETE", john, ""); r.Status != 200 {
		t.Errorf("DELETE of an archived record = %d %s", r.Status, r.Raw)
	}

	// POST does not take archived.
	if r := call(t, s, keyRW, "POST", "/v1/customers", `{"firstName":"A","lastName":"B","email":"a@example.com","archived":false}`); r.Status != 400 || r.field() != "archived" {
		t.Errorf("POST with archived = %d %s, want 400 on archived", r.Status, r.Raw)
	}
	if n := len(s.CustomersByEmail("a@example.com")); n != 0 {
		t.Errorf("refused POST stored %d records", n)
	}
}

func TestArchivedSeedAndListArchived(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	gone := janeSmith()
	gone.ID, gone.Email, gone.Archived = "cust_gone", "gone@example.com", true
	s.PutCustomer(gone)
	if got := listIDs(t, call(t, s, keyRW, "GET", "/v1/customers", "")); !cmp.Equal(got, []string{"cust_abc123", "cust_def456"}) {
		t.Errorf("list with an archived seed = %v", got)
	}
	s.SetBehaviour(sandbox.Behaviour{ListArchived: true})
	if got := listIDs(t, call(t, s, keyRW, "GET", "/v1/customers?email=gone@example.com", "")); !cmp.Equal(got, []string{"cust_gone"}) {
		t.Errorf("?email= with listArchived = %v, want the archived record", got)
	}
}

func TestActiveBookings(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	if code := admin(t, s, "PUT", "/_sandbox/customers/cust_abc123/active-bookings", `{"activeBookings":2}`, nil); code != 200 {
		t.Fatalf("PUT active-bookings = %d", code)
	}
	r := call(t, s, keyRW, "DELETE", "/v1/customers/cust_abc123", "")
	want := `{"success":false,"error":{"code":"conflict","message":"Cannot delete customer with active bookings","activeBookings":2}}`
	if r.Status != 409 || string(r.Raw) != want {
		t.Errorf("DELETE with bookings = %d %s, want 409 %s", r.Status, r.Raw, want)
	}
	if _, ok := s.Customer("cust_abc123"); !ok {
		t.Fatal("the 409 deleted the record")
	}
	// Other sandbox state is kept.
	if !s.SetActiveBookings("cust_abc123", 3) {
		t.Fatal("SetActiveBookings on a stored record = false")
	}
	if c, _ := s.Customer("cust_abc123"); c.Sandbox == nil || c.Sandbox.ActiveBookings != 3 {
		t.Errorf("state after SetActiveBookings = %+v", c.Sandbox)
	}
	if r := call(t, s, keyRW, "DELETE", "/v1/customers/cust_abc123", ""); r.Env.Error == nil || r.Env.Error.ActiveBookings != 3 {
		t.Errorf("DELETE = %s, want activeBookings 3", r.Raw)
	}
	// Zero lets DELETE through; a second DELETE is a 404.
	admin(t, s, "PUT", "/_sandbox/customers/cust_abc123/active-bookings", `{"activeBookings":0}`, nil)
	if r := call(t, s, keyRW, "DELETE", "/v1/customers/cust_abc123", ""); r.Status != 200 {
		t.Errorf("DELETE after clearing bookings = %d %s", r.Status, r.Raw)
	}
	if r := call(t, s, keyRW, "DELETE", "/v1/customers/cust_abc123", ""); r.Status != 404 || r.code() != "not_found" {
		t.Errorf("second DELETE = %d %s", r.Status, r.Raw)
	}

	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/_sandbox/customers/cust_abc123/active-bookings", `{"activeBookings":1}`, 404},
		{"PUT", "/_sandbox/customers/cust_def456/active-bookings", `{"activeBookings":-1}`, 400},
		{"PUT", "/_sandbox/customers/cust_def456/active-bookings", `{"bookings":1}`, 400},
		{"GET", "/_sandbox/customers/cust_def456/active-bookings", "", 405},
		{"PUT", "/_sandbox/customers/a/b/active-bookings", `{"activeBookings":1}`, 404},
	} {
		if code := admin(t, s, tc.method, tc.path, tc.body, nil); code != tc.want {
			t.Errorf("%s %s %s = %d, want %d", tc.method, tc.path, tc.body, code, tc.want)
		}
	}
	if s.SetActiveBookings("cust_nope", 1) {
		t.Error("SetActiveBookings on a missing record = true")
	}
	// Admin calls are not API requests.
	for _, req := range s.Requests() {
		if strings.HasPrefix(req.Path, "/_sandbox") {
			t.Errorf("admin call logged: %+v", req)
		}
	}
}

func TestCustomersByEmail(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	r := call(t, s, keyRW, "POST", "/v1/customers", `{"firstName":"M","lastName":"X","email":"Mixed.Case@Example.com"}`)
	if r.Status != 201 {
		t.Fatalf("POST = %d %s", r.Status, r.Raw)
	}
	created := r.customer(t).ID
	call(t, s, keyRW, "PATCH", "/v1/customers/"+created, `{"archived":true}`)
	dup := janeSmith()
	dup.ID, dup.Email = "cust_zzz", "mixed.case@example.COM" // Seeding may break uniqueness.
	s.PutCustomer(dup)

	got := s.CustomersByEmail("MIXED.case@example.com")
	if diff := cmp.Diff([]string{created, "cust_zzz"}, ids(got)); diff != "" {
		t.Errorf("CustomersByEmail ids (-want +got):\n%s", diff)
	}
	if len(got) == 2 && !got[0].Archived {
		t.Errorf("CustomersByEmail lost the archived flag: %+v", got[0])
	}
	if n := len(s.CustomersByEmail("nobody@example.com")); n != 0 {
		t.Errorf("CustomersByEmail(nobody) = %d records", n)
	}

	var viaAdmin []sandbox.Customer
	if code := admin(t, s, "GET", "/_sandbox/customers?email=mixed.case%40example.com", "", &viaAdmin); code != 200 {
		t.Fatalf("GET /_sandbox/customers?email= = %d", code)
	}
	if diff := cmp.Diff(got, viaAdmin); diff != "" {
		t.Errorf("admin ?email= (-Go +admin):\n%s", diff)
	}
	var all []sandbox.Customer
	admin(t, s, "GET", "/_sandbox/customers", "", &all)
	wantIDs := []string{"cust_abc123", "cust_def456", created, "cust_zzz"}
	slices.Sort(wantIDs) // Created ids are random.
	if diff := cmp.Diff(wantIDs, ids(all)); diff != "" {
		t.Errorf("GET /_sandbox/customers ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all, s.Customers()); diff != "" {
		t.Errorf("admin list vs Customers() (-admin +Go):\n%s", diff)
	}
	if code := admin(t, s, "DELETE", "/_sandbox/customers", "", nil); code != 405 {
		t.Errorf("DELETE /_sandbox/customers = %d, want 405", code)
	}
}

const newCustomer = `{"firstName":"New","lastName":"One","email":"new@example.com"}`

// lastRequest returns the last logged request.
func lastRequest(t *testing.T, s *sandbox.Server) sandbox.Request {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) == 0 {
		t.Fatal("request log empty")
	}
	return reqs[len(reqs)-1]
}

func TestFaultStoreThenFail(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{StoreThenFailRate: 1}})
	r := call(t, s, keyRW, "POST", "/v1/customers", newCustomer)
	if r.Status != 500 || r.code() != "internal_error" {
		t.Errorf("POST = %d %s, want the default 500", r.Status, r.Raw)
	}
	if got := s.CustomersByEmail("new@example.com"); len(got) != 1 || got[0].FirstName != "New" {
		t.Fatalf("records with the email after a store-then-fail = %+v, want one", got)
	}
	if req := lastRequest(t, s); req.Method != "POST" || req.Status != 500 || string(req.Body) != newCustomer {
		t.Errorf("logged %+v, want the POST with status 500 and its body", req)
	}
	// A blind retry meets the stored record.
	if r := call(t, s, keyRW, "POST", "/v1/customers", newCustomer); r.Status != 409 {
		t.Errorf("retried POST = %d %s, want 409", r.Status, r.Raw)
	}
	if n := len(s.CustomersByEmail("new@example.com")); n != 1 {
		t.Errorf("%d records after the retry, want 1", n)
	}

	s.SetFaults(sandbox.Faults{StoreThenFailRate: 1, StoreThenFailStatus: 502})
	if r := call(t, s, keyRW, "POST", "/v1/customers", `{"firstName":"B","lastName":"C","email":"b@example.com"}`); r.Status != 502 {
		t.Errorf("POST with status 502 = %d", r.Status)
	}
	// Only a create that stored a record fails; everything else is as without the fault.
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/customers/cust_abc123", ""},
		{"GET", "/v1/customers", ""},
		{"PATCH", "/v1/customers/cust_abc123", `{"notes":"x"}`},
		{"POST", "/v1/customers", `{"firstName":"B"}`},
		{"DELETE", "/v1/customers/cust_def456", ""},
	} {
		if r := call(t, s, keyRW, tc.method, tc.path, tc.body); r.Status >= 500 {
			t.Errorf("%s %s under store-then-fail = %d", tc.method, tc.path, r.Status)
		}
	}
}

func TestFaultStoreThenHang(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{StoreThenHangRate: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/v1/customers", strings.NewReader(newCustomer))
	req.Header.Set("Authorization", "Bearer "+keyRW)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("hanging POST answered %d", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want deadline exceeded", err)
	}
	if n := len(s.CustomersByEmail("new@example.com")); n != 1 {
		t.Errorf("%d records after a store-then-hang, want 1", n)
	}
	if got := lastRequest(t, s); got.Method != "POST" || got.Status != 0 || string(got.Body) != newCustomer {
		t.Errorf("logged %+v, want the POST with status 0", got)
	}
	// Requests other than a storing create still get their answer.
	if r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", ""); r.Status != 200 {
		t.Errorf("GET under store-then-hang = %d", r.Status)
	}
}

func TestFaultStoreThenReset(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{StoreThenResetRate: 1}})
	req, _ := http.NewRequest("POST", s.URL+"/v1/customers", strings.NewReader(newCustomer))
	req.Header.Set("Authorization", "Bearer "+keyRW)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("POST with store-then-reset = %d, want an error", resp.StatusCode)
	}
	if n := len(s.CustomersByEmail("new@example.com")); n != 1 {
		t.Errorf("%d records after a store-then-reset, want 1", n)
	}
	if got := lastRequest(t, s); got.Method != "POST" || got.Status != 0 {
		t.Errorf("logged %+v, want the POST with status 0", got)
	}
}

func TestStoreThenFaultsAdmin(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	body := `{"storeThenFailRate":0.5,"storeThenFailStatus":503,"storeThenHangRate":0.25,"storeThenResetRate":0.125}`
	if code := admin(t, s, "PUT", "/_sandbox/faults", body, nil); code != 200 {
		t.Fatalf("PUT faults = %d", code)
	}
	want := sandbox.Faults{StoreThenFailRate: 0.5, StoreThenFailStatus: 503, StoreThenHangRate: 0.25, StoreThenResetRate: 0.125}
	var got sandbox.Faults
	admin(t, s, "GET", "/_sandbox/faults", "", &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET faults (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"storeThenFailRate":1.5}`, `{"storeThenHangRate":-0.1}`,
		`{"storeThenResetRate":2}`, `{"storeThenFailStatus":400}`, `{"storeThenFailRat":1}`} {
		if code := admin(t, s, "PUT", "/_sandbox/faults", bad, nil); code != 400 {
			t.Errorf("PUT faults %s = %d, want 400", bad, code)
		}
	}
	if diff := cmp.Diff(want, s.Faults()); diff != "" {
		t.Errorf("refused PUTs changed the faults (-want +got):\n%s", diff)
	}
}
