package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// Customers without spec.customerId, each with a file name that sorts in this order.
const (
	// createMe has an email no record has.
	createMe = `apiVersion: crm.tiquo.co/v1alpha1
kind: Customer
metadata: {name: new-person}
spec:
  firstName: New
  lastName: Person
  email: new.person@example.com
  address: {city: Oslo}
  tags: [fresh]
  marketingConsent: false
  deletionPolicy: Archive
`
	// adoptMe finds cust_abc123 by email (in another case) and changes its notes.
	adoptMe = `apiVersion: crm.tiquo.co/v1alpha1
kind: Customer
metadata: {name: john}
spec:
  firstName: John
  lastName: Doe
  email: JOHN@example.com
  notes: Moved to Brooklyn
`
	// adoptInSync finds cust_def456, which already matches.
	adoptInSync = `apiVersion: crm.tiquo.co/v1alpha1
kind: Customer
metadata: {name: jane}
spec:
  firstName: Jane
  lastName: Smith
  email: jane@example.com
`
	// boundByStatus is a copy saved from the cluster: bound through status.customerId.
	boundByStatus = `apiVersion: crm.tiquo.co/v1alpha1
kind: Customer
metadata: {name: janet, namespace: shop, uid: 0b7c7f9e-5d1c-4a57-9d0c-6c1f1a4b9f31}
spec:
  firstName: Janet
  lastName: Smyth
  email: janet@example.com
  tags: [regular]
status:
  customerId: cust_DEF456
  conditions:
  - {type: Ready, status: "True", reason: Synced, message: "", lastTransitionTime: "2026-11-30T10:00:00Z"}
`
)

func TestDiffFindsOrCreatesByEmail(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a-create.yaml"), createMe)
	writeFile(t, filepath.Join(dir, "b-adopt.yaml"), adoptMe)
	writeFile(t, filepath.Join(dir, "c-adopt-in-sync.yaml"), adoptInSync)
	writeFile(t, filepath.Join(dir, "d-bound.yaml"), boundByStatus)

	sb.ClearRequests()
	r := runPlugin(t, tiquoEnv(sb), nil, "diff", "-f", dir)
	if r.code != exitChanges {
		t.Fatalf("diff: want exit 1: %s", r)
	}
	ms, err := plugin.ReadManifests([]string{filepath.Join(dir, "a-create.yaml")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	createBody, err := json.Marshal(diff.Create(&ms[0].Customer.Spec))
	if err != nil {
		t.Fatal(err)
	}
	want := "customer/new-person (unbound): would create: POST /v1/customers " + string(createBody) + "\n" +
		`customer/john (unbound): would adopt cust_abc123, found by spec.email, then PATCH /v1/customers/cust_abc123 {"notes":"Moved to Brooklyn"}` + "\n" +
		"customer/jane (unbound): would adopt cust_def456, found by spec.email, in sync\n" +
		`customer/janet (cust_DEF456): PATCH /v1/customers/cust_DEF456 {"tags":["regular"]}` + "\n"
	if d := cmp.Diff(want, r.stdout); d != "" {
		t.Errorf("stdout (-want +got):\n%s", d)
	}
	if wantBody := `{"firstName":"New","lastName":"Person","email":"new.person@example.com","address":{"city":"Oslo"},` +
		`"tags":["fresh"],"marketingConsent":false}`; string(createBody) != wantBody {
		t.Errorf("create body %s, want %s", createBody, wantBody)
	}

	// Only reads: one email lookup per unbound Customer, then a GET of each record diffed.
	var calls []string
	for _, req := range sb.Requests() {
		calls = append(calls, req.Method+" "+req.Path+"?"+req.Query)
	}
	wantCalls := []string{
		"GET /v1/customers?email=new.person%40example.com",
		"GET /v1/customers?email=JOHN%40example.com",
		"GET /v1/customers/cust_abc123?",
		"GET /v1/customers?email=jane%40example.com",
		"GET /v1/customers/cust_def456?",
		"GET /v1/customers/cust_DEF456?",
	}
	if d := cmp.Diff(wantCalls, calls); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}

	// The POST body printed is what the Tiquo client puts on the wire.
	sb.ClearRequests()
	if _, err := newClient(t, sb).CreateCustomer(context.Background(), testKey, diff.Create(&ms[0].Customer.Spec)); err != nil {
		t.Fatal(err)
	}
	reqs := sb.Requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" {
		t.Fatalf("requests %+v, want one POST", reqs)
	}
	var sent bytes.Buffer
	if err := json.Compact(&sent, reqs[0].Body); err != nil {
		t.Fatal(err)
	}
	if sent.String() != string(createBody) {
		t.Errorf("sandbox received %s, diff printed %s", sent.String(), createBody)
	}

	// Once the record exists, the same manifest adopts it (in sync) instead of creating
	// another.
	r = runPlugin(t, tiquoEnv(sb), nil, "diff", "-f", filepath.Join(dir, "a-create.yaml"))
	if r.code != exitChanges || !strings.HasPrefix(r.stdout, "customer/new-person (unbound): would adopt cust_") ||
		!strings.HasSuffix(r.stdout, ", found by spec.email, in sync\n") {
		t.Errorf("diff after the create: %s", r)
	}
}

func TestDiffRefusedAdoption(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	refuse := strings.Replace(adoptMe, "  notes:", "  adoptionPolicy: Refuse\n  notes:", 1)
	r := runPlugin(t, tiquoEnv(sb), strings.NewReader(refuse), "diff", "-f", "-")
	wantOut := "customer/john (unbound): would refuse to adopt cust_abc123 (adoptionPolicy Refuse): it would stall with reason AdoptionRefused\n"
	if r.code != exitError || r.stdout != wantOut ||
		!strings.Contains(r.stderr, "1 of 1 Customers would not be bound: their email belongs to a record they may not adopt") {
		t.Errorf("diff of a refused adoption: want exit 2, %q and the advice: %s", wantOut, r)
	}

	// A record the Customer's own earlier POST created is bound whatever the policy says.
	pending := refuse + "status:\n  pendingCreate: {since: \"2026-11-30T10:00:00Z\", emailDigest: \"" +
		strings.Repeat("ab", 32) + "\"}\n"
	r = runPlugin(t, tiquoEnv(sb), strings.NewReader(pending), "diff", "-f", "-")
	if r.code != exitChanges || r.stdout != "customer/john (unbound): would bind cust_abc123, the record its earlier POST created, "+
		`then PATCH /v1/customers/cust_abc123 {"notes":"Moved to Brooklyn"}`+"\n" {
		t.Errorf("diff of a Customer with a pending create: %s", r)
	}

	// Under Observe the operator binds the record read-only whatever adoptionPolicy says.
	observeRefuse := strings.Replace(refuse, "  adoptionPolicy: Refuse\n", "  adoptionPolicy: Refuse\n  managementPolicy: Observe\n", 1)
	r = runPlugin(t, tiquoEnv(sb), strings.NewReader(observeRefuse), "diff", "-f", "-")
	if r.code != exitChanges || r.stdout != "customer/john (unbound): would adopt cust_abc123, found by spec.email, "+
		`then PATCH /v1/customers/cust_abc123 {"notes":"Moved to Brooklyn"} (not sent: managementPolicy is Observe)`+"\n" {
		t.Errorf("diff of an Observe Customer under adoptionPolicy Refuse: %s", r)
	}

	// An archived record is not listed, so it is not found; the operator would try to create.
	sb.PutCustomer(sandbox.Customer{ID: "cust_arch", FirstName: "Old", LastName: "Timer", Email: "old@example.com", Archived: true})
	archived := strings.NewReplacer("John", "Old", "Doe", "Timer", "JOHN@example.com", "old@example.com").Replace(adoptMe)
	r = runPlugin(t, tiquoEnv(sb), strings.NewReader(archived), "diff", "-f", "-")
	if r.code != exitChanges || !strings.HasPrefix(r.stdout, "customer/john (unbound): would create: POST /v1/customers ") {
		t.Errorf("diff of a Customer whose email only an archived record has: %s", r)
	}

	// Held back: shown with what would be sent once the operator may write.
	observe := strings.Replace(createMe, "  deletionPolicy: Archive\n", "  managementPolicy: Observe\n", 1)
	r = runPlugin(t, tiquoEnv(sb), strings.NewReader(observe), "diff", "-f", "-")
	if r.code != exitChanges || !strings.HasSuffix(r.stdout, "} (not sent: managementPolicy is Observe)\n") {
		t.Errorf("diff of an unbound Observe Customer: %s", r)
	}
	for _, req := range sb.Requests() {
		if req.Method != "GET" {
			t.Errorf("diff sent %s %s", req.Method, req.Path)
		}
	}
}

// deletable is cust_abc123 with a deletionPolicy, as kubectl get -o yaml shows it while it
// is being deleted.
const deletable = `apiVersion: crm.tiquo.co/v1alpha1
kind: Customer
metadata:
  name: john-doe
  namespace: shop
  deletionTimestamp: "2026-11-30T12:00:00Z"
  finalizers: [crm.tiquo.co/deletion-policy]
spec:
  customerId: cust_abc123
  notes: changed, but a Customer being deleted is not patched
  deletionPolicy: Archive
`

func TestDiffDeletion(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	asDeleted := func(s string) string {
		return strings.Replace(s, "  deletionTimestamp: \"2026-11-30T12:00:00Z\"\n", "", 1)
	}
	forbiddenStatus := "status:\n  conditions:\n  - {type: DeletionPolicy, status: \"False\", reason: DeletionPolicyForbidden, " +
		"message: x, lastTransitionTime: \"2026-11-30T10:00:00Z\"}\n"
	for name, tc := range map[string]struct {
		manifest string
		args     []string
		wantCode int
		want     string
	}{
		"archive, being deleted": {
			manifest: deletable, wantCode: exitChanges,
			want: `customer/john-doe (cust_abc123): would archive: PATCH /v1/customers/cust_abc123 {"archived":true}`,
		},
		"delete, removed from Git": {
			manifest: strings.Replace(asDeleted(deletable), "Archive", "Delete", 1), args: []string{"--deleted"}, wantCode: exitChanges,
			want: "customer/john-doe (cust_abc123): would delete: DELETE /v1/customers/cust_abc123",
		},
		"delete, suspended": {
			manifest: strings.Replace(deletable, "Archive", "Delete\n  suspend: true", 1), wantCode: exitChanges,
			want: "customer/john-doe (cust_abc123): would delete: DELETE /v1/customers/cust_abc123 (not sent while spec.suspend is true)",
		},
		"orphan by default": {
			manifest: strings.Replace(deletable, "  deletionPolicy: Archive\n", "", 1), wantCode: exitOK,
			want: "customer/john-doe (cust_abc123): deleting it leaves the record as it is: deletionPolicy is Orphan",
		},
		"without --deleted, a diff": {
			manifest: asDeleted(deletable), wantCode: exitChanges,
			want: `customer/john-doe (cust_abc123): PATCH /v1/customers/cust_abc123 {"notes":"changed, but a Customer being deleted is not patched"}`,
		},
		"observe": {
			manifest: strings.Replace(deletable, "Archive", "Delete\n  managementPolicy: Observe", 1), wantCode: exitOK,
			want: "customer/john-doe (cust_abc123): deleting it leaves the record as it is: managementPolicy is Observe",
		},
		"forbidden by the operator": {
			manifest: strings.Replace(deletable, "Archive", "Delete", 1) + forbiddenStatus, wantCode: exitOK,
			want: "customer/john-doe (cust_abc123): deleting it leaves the record as it is: " +
				"the operator forbids deletionPolicy Delete (--allowed-deletion-policies)",
		},
		"gone already": {
			manifest: strings.Replace(deletable, "cust_abc123", "cust_gone", 1), wantCode: exitOK,
			want: "customer/john-doe (cust_gone): the record is gone already (404): deleting it completes without a change",
		},
		"a create pending": {
			manifest: strings.Replace(deletable, "  customerId: cust_abc123\n", "  firstName: John\n  lastName: Doe\n  email: john@example.com\n", 1) +
				"status:\n  pendingCreate: {since: \"2026-11-30T10:00:00Z\", emailDigest: \"" + strings.Repeat("ab", 32) + "\"}\n",
			wantCode: exitChanges,
			want:     `customer/john-doe (unbound): would archive: PATCH /v1/customers/cust_abc123 {"archived":true}`,
		},
		"never bound": {
			manifest: strings.Replace(deletable, "  customerId: cust_abc123\n", "  firstName: A\n  lastName: B\n  email: a@example.com\n", 1),
			wantCode: exitOK,
			want:     "customer/john-doe (unbound): deleting it sends nothing: it is not bound to a Tiquo record",
		},
	} {
		t.Run(name, func(t *testing.T) {
			sb.ClearRequests()
			r := runPlugin(t, tiquoEnv(sb), strings.NewReader(tc.manifest), append([]string{"diff", "-f", "-"}, tc.args...)...)
			if r.code != tc.wantCode || r.stdout != tc.want+"\n" {
				t.Errorf("want exit %d and %q: %s", tc.wantCode, tc.want, r)
			}
			for _, req := range sb.Requests() {
				if req.Method != "GET" {
					t.Errorf("diff sent %s %s", req.Method, req.Path)
				}
			}
		})
	}

	// The archive body printed is what the Tiquo client sends.
	sb.ClearRequests()
	if _, err := newClient(t, sb).SetArchived(context.Background(), testKey, "cust_abc123", true); err != nil {
		t.Fatal(err)
	}
	if reqs := sb.Requests(); len(reqs) != 1 || reqs[0].Method != "PATCH" || compact(t, reqs[0].Body) != `{"archived":true}` {
		t.Errorf("SetArchived sent %+v", reqs)
	}
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.String()
}
