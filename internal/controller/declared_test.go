package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/controller"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// uniqueEmail returns an email address no other test uses.
func uniqueEmail(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", ".", " ", ".", "_", ".", "'", "").Replace(t.Name()))
	return fmt.Sprintf("%s.%d@example.com", name[:min(len(name), 40)], time.Now().UnixNano()%1_000_000)
}

// declared returns the spec of a Customer without customerId, found by email or created.
func declared(email string) crmv1alpha1.CustomerSpec {
	return crmv1alpha1.CustomerSpec{FirstName: ptr.To("Ada"), LastName: ptr.To("Lovelace"), Email: ptr.To(email),
		Phone: ptr.To("+441234567890"), Tags: &[]string{"declared"}}
}

// trail returns, in order, the calls the sandbox received about one customer: lookups by its
// email, POSTs of its email and every call to one of ids, as "METHOD path status", with
// the compacted body of POSTs and PATCHes and the email filter of lookups written as
// ?email=. The drift scan's listings, which concern the whole account, are left out.
func trail(t *testing.T, email string, ids ...string) []string {
	t.Helper()
	var out []string
	for _, r := range sb.Requests() {
		q, _ := url.ParseQuery(r.Query)
		body := ""
		if len(r.Body) > 0 && string(r.Body) != "null" {
			var v any
			if err := json.Unmarshal(r.Body, &v); err != nil {
				t.Fatalf("%s %s body %s is not JSON: %v", r.Method, r.Path, r.Body, err)
			}
			b, _ := json.Marshal(v) // Sorted keys, no spaces.
			body = " " + string(b)
		}
		switch {
		case r.Path == "/v1/customers" && r.Method == "GET" && strings.EqualFold(q.Get("email"), email):
			out = append(out, fmt.Sprintf("GET /v1/customers?email= %d", r.Status))
		case r.Path == "/v1/customers" && r.Method == "POST" && strings.Contains(strings.ToLower(body), strings.ToLower(email)):
			out = append(out, fmt.Sprintf("POST /v1/customers %d%s", r.Status, body))
		case slices.ContainsFunc(ids, func(id string) bool { return id != "" && r.Path == "/v1/customers/"+id }):
			out = append(out, fmt.Sprintf("%s %s %d%s", r.Method, r.Path, r.Status, body))
		}
	}
	return out
}

// postsOf counts the POSTs in trail(t, email, ids...).
func postsOf(t *testing.T, email string, ids ...string) int {
	t.Helper()
	n := 0
	for _, call := range trail(t, email, ids...) {
		if strings.HasPrefix(call, "POST") {
			n++
		}
	}
	return n
}

// postBody is the body the operator POSTs for declared(email), compacted.
func postBody(email string) string {
	return fmt.Sprintf(`{"email":%q,"firstName":"Ada","lastName":"Lovelace","phone":"+441234567890","tags":["declared"]}`, email)
}

// recordsWith returns the sandbox records with the email, archived ones included.
func recordsWith(email string) []sandbox.Customer {
	var out []sandbox.Customer
	for _, c := range sb.Customers() {
		if strings.EqualFold(c.Email, email) {
			out = append(out, c)
		}
	}
	return out
}

// onlyRecord fails unless the sandbox holds exactly one record with the email, and returns it.
func onlyRecord(t *testing.T, email string) sandbox.Customer {
	t.Helper()
	recs := recordsWith(email)
	if len(recs) != 1 {
		t.Fatalf("the sandbox holds %d records with the email, want exactly 1: %+v", len(recs), recs)
	}
	return recs[0]
}

func wantTrail(t *testing.T, got, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls about the customer (-want +got):\n%s", diff)
	}
}

// TestCreatesADeclaredCustomer: a Customer without customerId whose email Tiquo does not know
// is created with one POST after one lookup, bound through status.customerId, and not
// created again.
func TestCreatesADeclaredCustomer(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	c := create(t, ns, "new", declared(email))

	got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	rec := onlyRecord(t, email)
	if got.Status.CustomerID != rec.ID || got.Status.PendingCreate != nil {
		t.Errorf("status.customerId %q, pendingCreate %+v; want %s and none", got.Status.CustomerID, got.Status.PendingCreate, rec.ID)
	}
	want := []string{
		"GET /v1/customers?email= 200",
		"POST /v1/customers 201 " + postBody(email),
		"GET /v1/customers/" + rec.ID + " 200",
	}
	wantTrail(t, trail(t, email, rec.ID), want)
	if ev := eventsFor(t, got); !slices.Contains(ev, "Created") {
		t.Errorf("events %v, want Created", ev)
	}
	stays(t, quietWindow, func() error {
		if n := len(recordsWith(email)); n != 1 {
			return errorf("%d records with the email", n)
		}
		if got := trail(t, email, rec.ID); !slices.Equal(got[:min(len(got), 3)], want) || slices.ContainsFunc(got[3:], func(s string) bool {
			return !strings.HasPrefix(s, "GET /v1/customers/"+rec.ID)
		}) {
			return errorf("calls %v, want %v and resync GETs only", got, want)
		}
		return nil
	})
}

// TestAdoptsTheRecordWithTheEmail: a record that has the email (in another case) is adopted,
// patched to the spec, never POSTed, and the adoption is an event naming the id.
func TestAdoptsTheRecordWithTheEmail(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	id := uniqueID(t)
	seed(t, id, func(r *sandbox.Customer) { r.Email = strings.ToUpper(email); r.Phone = "+15550000000" })
	c := create(t, ns, "adopt", declared(email))

	got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if got.Status.CustomerID != id {
		t.Errorf("status.customerId %q, want the adopted %s", got.Status.CustomerID, id)
	}
	onlyRecord(t, email)
	stays(t, quietWindow, func() error { return nil })
	gotTrail := trail(t, email, id)
	// The seeded record differs in every declared field but the email, which differs only in case.
	wantTrail(t, gotTrail[:min(len(gotTrail), 3)], []string{
		"GET /v1/customers?email= 200",
		"GET /v1/customers/" + id + " 200",
		`PATCH /v1/customers/` + id + ` 200 {"firstName":"Ada","lastName":"Lovelace","phone":"+441234567890","tags":["declared"]}`,
	})
	for _, call := range gotTrail[3:] {
		if !strings.HasPrefix(call, "GET /v1/customers/"+id) {
			t.Errorf("after the adoption: %s", call)
		}
	}
	var adoptedEvent bool
	for _, e := range eventMessages(t, got) {
		adoptedEvent = adoptedEvent || strings.Contains(e, "Adopted Tiquo customer "+id)
	}
	if !adoptedEvent {
		t.Errorf("no event says which record was adopted: %v", eventMessages(t, got))
	}
}

// TestRefusesToAdopt: under adoptionPolicy Refuse, a record with the email is left alone and
// the condition names it; nothing is created.
func TestRefusesToAdopt(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	id := uniqueID(t)
	seed(t, id, func(r *sandbox.Customer) { r.Email = email })
	spec := declared(email)
	spec.AdoptionPolicy = crmv1alpha1.AdoptionPolicyRefuse
	c := create(t, ns, "refuse", spec)

	got := waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonAdoptionRefused)
	if cond := condition(t, got, crmv1alpha1.ConditionStalled); cond.Status != metav1.ConditionTrue ||
		!strings.Contains(cond.Message, id) || !strings.Contains(cond.Message, "adoptionPolicy") {
		t.Errorf("Stalled %+v; want True, naming %s and adoptionPolicy", cond, id)
	}
	if got.Status.CustomerID != "" {
		t.Errorf("status.customerId %q after a refusal", got.Status.CustomerID)
	}
	stays(t, quietWindow, func() error {
		if got := trail(t, email, id); !slices.Equal(got, []string{"GET /v1/customers?email= 200"}) {
			return errorf("calls %v, want the one lookup", got)
		}
		return nil
	})
	onlyRecord(t, email)
}

// TestEmailChangeAfterBindingPatchesTheSameRecord: once bound, a new spec.email is a PATCH of
// the same record, never a new one.
func TestEmailChangeAfterBindingPatchesTheSameRecord(t *testing.T) {
	ns := newNamespace(t)
	email, newEmail := uniqueEmail(t), "renamed."+uniqueEmail(t)
	c := create(t, ns, "rename", declared(email))
	got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	id := got.Status.CustomerID

	got = update(t, got, func(c *crmv1alpha1.Customer) { c.Spec.Email = ptr.To(newEmail) })
	got = waitFor(t, got, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if got.Status.CustomerID != id {
		t.Errorf("status.customerId %q after the email change, want %s", got.Status.CustomerID, id)
	}
	if bodies := patchBodies(t, id); !slices.Equal(bodies, []string{fmt.Sprintf(`{"email":%q}`, newEmail)}) {
		t.Errorf("PATCHes %v, want the email only", bodies)
	}
	if rec := onlyRecord(t, newEmail); rec.ID != id {
		t.Errorf("the record with the new email is %s, want %s", rec.ID, id)
	}
	if n := len(recordsWith(email)); n != 0 {
		t.Errorf("%d records keep the old email", n)
	}
	for _, r := range sb.Requests() {
		if r.Method == "POST" && strings.Contains(string(r.Body), newEmail) {
			t.Errorf("a POST with the new email: %s", r.Body)
		}
	}
}

// TestObserveNeverCreates: under managementPolicy Observe a Customer without customerId is
// looked up, never created; a record found is bound read-only.
func TestObserveNeverCreates(t *testing.T) {
	ns := newNamespace(t)
	missing := uniqueEmail(t)
	spec := declared(missing)
	spec.ManagementPolicy = crmv1alpha1.ManagementPolicyObserve
	c := create(t, ns, "observe-missing", spec)
	got := waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonNotFound)
	if msg := condition(t, got, crmv1alpha1.ConditionReady).Message; !strings.Contains(msg, "Observe") {
		t.Errorf("NotFound message %q does not say why nothing is created", msg)
	}

	found := "found." + uniqueEmail(t)
	id := uniqueID(t)
	seed(t, id, func(r *sandbox.Customer) { r.Email = found })
	spec = declared(found)
	spec.ManagementPolicy = crmv1alpha1.ManagementPolicyObserve
	o := create(t, ns, "observe-found", spec)
	got = waitFor(t, o, metav1.ConditionFalse, crmv1alpha1.ReasonDrifted)
	if got.Status.CustomerID != id {
		t.Errorf("status.customerId %q, want %s", got.Status.CustomerID, id)
	}
	stays(t, quietWindow, func() error {
		for _, r := range sb.Requests() {
			if r.Method == "POST" && (strings.Contains(string(r.Body), missing) || strings.Contains(string(r.Body), found)) ||
				r.Method != "GET" && r.Path == "/v1/customers/"+id {
				return errorf("%s %s under Observe", r.Method, r.Path)
			}
		}
		return nil
	})
	if n := len(recordsWith(missing)); n != 0 {
		t.Errorf("%d records created under Observe", n)
	}
}

// TestSuspendedDeclaredCustomerMakesNoCall: spec.suspend holds the lookup and the create.
func TestSuspendedDeclaredCustomerMakesNoCall(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	spec := declared(email)
	spec.Suspend = true
	c := create(t, ns, "suspended", spec)
	eventually(t, 20*time.Second, func() error {
		got := &crmv1alpha1.Customer{}
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
			return err
		}
		if cond := suspendedCondition(got); cond == nil || cond.Status != metav1.ConditionTrue {
			return errorf("Suspended is %+v", cond)
		}
		return nil
	})
	stays(t, quietWindow, func() error {
		if got := trail(t, email); len(got) > 0 {
			return errorf("calls while suspended: %v", got)
		}
		return nil
	})
}

// The never-two-records scenarios a single manager meets: a POST whose answer is lost after
// Tiquo stored the record is followed by a lookup, which binds that record, never by a
// second POST.
func TestCreateWhoseAnswerIsLostIsFoundNotRepeated(t *testing.T) {
	for name, tc := range map[string]struct {
		faults     sandbox.Faults
		postStatus int
	}{
		// The answer hangs past the client's timeout (the sandbox logs it with status 0).
		"hang past the timeout": {sandbox.Faults{StoreThenHangRate: 1}, 0},
		"503 after storing":     {sandbox.Faults{StoreThenFailRate: 1, StoreThenFailStatus: 503}, 503},
		"reset after storing":   {sandbox.Faults{StoreThenResetRate: 1}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() { sb.SetFaults(sandbox.Faults{}) })
			sb.SetFaults(tc.faults)
			ns := newNamespace(t)
			email := uniqueEmail(t)
			c := create(t, ns, "lost", declared(email))

			// The first lookup after the POST finds the record; lift the fault so that the
			// rest of the test meets a healthy Tiquo.
			eventually(t, 20*time.Second, func() error {
				if got := trail(t, email); len(got) < 3 {
					return errorf("calls %v", got)
				}
				return nil
			})
			sb.SetFaults(sandbox.Faults{})
			got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
			rec := onlyRecord(t, email)
			if got.Status.CustomerID != rec.ID || got.Status.PendingCreate != nil {
				t.Errorf("status.customerId %q, pendingCreate %+v; want %s and none", got.Status.CustomerID,
					got.Status.PendingCreate, rec.ID)
			}
			wantTrail(t, trail(t, email, rec.ID)[:4], []string{
				"GET /v1/customers?email= 200",
				fmt.Sprintf("POST /v1/customers %d %s", tc.postStatus, postBody(email)),
				"GET /v1/customers?email= 200",
				"GET /v1/customers/" + rec.ID + " 200",
			})
			stays(t, quietWindow, func() error {
				if posts, records := postsOf(t, email, rec.ID), len(recordsWith(email)); posts != 1 || records != 1 {
					return errorf("%d POSTs, %d records", posts, records)
				}
				return nil
			})
		})
	}
}

// TestPendingCreateIsFoundAfterTheEmailChanged: a manager stopped between a POST that stored
// the record and the status write, and spec.email changed before the next reconcile. The
// record of that POST is found by the digest status.pendingCreate recorded, bound, and
// patched to the new email; nothing is POSTed.
func TestPendingCreateIsFoundAfterTheEmailChanged(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	first, second := uniqueEmail(t), "second."+uniqueEmail(t)
	spec := declared(first)
	spec.Suspend = true
	c := create(t, ns, "pending", spec)

	// What the stopped manager left: the record its POST stored, and status.pendingCreate.
	id := uniqueID(t)
	seed(t, id, func(r *sandbox.Customer) {
		r.Email, r.FirstName, r.LastName, r.Phone, r.Tags = first, "Ada", "Lovelace", "+441234567890", []string{"declared"}
	})
	// The operator reports the suspension first; it writes nothing more while suspended.
	eventually(t, 20*time.Second, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if cond := suspendedCondition(c); cond == nil {
			return errorf("not suspended yet")
		}
		return nil
	})
	c.Status.PendingCreate = &crmv1alpha1.PendingCreate{Since: metav1.Now(), EmailDigest: controller.EmailDigest(c.UID, first)}
	if err := k8sClient.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Spec.Email, c.Spec.Suspend = ptr.To(second), false
	if err := k8sClient.Update(ctx, c); err != nil {
		t.Fatal(err)
	}

	got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if got.Status.CustomerID != id || got.Status.PendingCreate != nil {
		t.Errorf("status.customerId %q, pendingCreate %+v; want %s and none", got.Status.CustomerID, got.Status.PendingCreate, id)
	}
	if bodies := patchBodies(t, id); !slices.Equal(bodies, []string{fmt.Sprintf(`{"email":%q}`, second)}) {
		t.Errorf("PATCHes %v, want the new email", bodies)
	}
	for _, r := range sb.Requests() {
		if r.Method == "POST" && (strings.Contains(string(r.Body), first) || strings.Contains(string(r.Body), second)) {
			t.Errorf("POST %s", r.Body)
		}
	}
	if recs := append(recordsWith(first), recordsWith(second)...); len(recs) != 1 {
		t.Errorf("%d records with either email, want 1", len(recs))
	}
}

// TestBoundRecordDeletedInTiquoIsNotCreatedAgain: a Customer keeps its record for life; when
// that record is deleted in Tiquo, the Customer reports it and nothing is POSTed.
func TestBoundRecordDeletedInTiquoIsNotCreatedAgain(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	got := waitFor(t, create(t, ns, "gone", declared(email)), metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	id := got.Status.CustomerID
	sb.RemoveCustomer(id)
	got = update(t, got, requestSync("after-delete"))
	got = waitFor(t, got, metav1.ConditionFalse, crmv1alpha1.ReasonNotFound)
	if msg := condition(t, got, crmv1alpha1.ConditionReady).Message; !strings.Contains(msg, id) || !strings.Contains(msg, "bound") {
		t.Errorf("NotFound message %q does not name the bound record", msg)
	}
	stays(t, quietWindow, func() error {
		if posts, records := postsOf(t, email, id), len(recordsWith(email)); posts != 1 || records != 0 {
			return errorf("%d POSTs, %d records", posts, records)
		}
		return nil
	})
}

// TestArchivedRecordWithTheEmailIsNotTakenForOurs: an archived record keeps its email but is
// hidden from the lookup, so the POST meets a 409 and the lookup after it finds nothing. That
// POST created nothing: status.pendingCreate goes, so that once the record is restored it is
// a record of someone else's, which adoptionPolicy Refuse refuses, and not the record of
// this Customer's POST.
func TestArchivedRecordWithTheEmailIsNotTakenForOurs(t *testing.T) {
	ns := newNamespace(t)
	email := uniqueEmail(t)
	id := uniqueID(t)
	rec := seed(t, id, func(r *sandbox.Customer) { r.Email, r.Archived = email, true })
	spec := declared(email)
	spec.AdoptionPolicy = crmv1alpha1.AdoptionPolicyRefuse
	got := waitFor(t, create(t, ns, "archived", spec), metav1.ConditionFalse, crmv1alpha1.ReasonEmailConflict)
	if msg := condition(t, got, crmv1alpha1.ConditionReady).Message; !strings.Contains(msg, "archived") {
		t.Errorf("EmailConflict message %q does not say the record is probably archived", msg)
	}
	if got.Status.PendingCreate != nil || got.Status.CustomerID != "" {
		t.Errorf("pendingCreate %+v, customerId %q after a POST that created nothing", got.Status.PendingCreate, got.Status.CustomerID)
	}
	wantTrail(t, trail(t, email, id), []string{
		"GET /v1/customers?email= 200",
		"POST /v1/customers 409 " + postBody(email),
		"GET /v1/customers?email= 200",
	})

	rec.Archived = false
	sb.PutCustomer(rec)
	got = update(t, got, requestSync("restored"))
	got = waitFor(t, got, metav1.ConditionFalse, crmv1alpha1.ReasonAdoptionRefused)
	if got.Status.CustomerID != "" || len(patchBodies(t, id)) > 0 {
		t.Errorf("the restored record was taken: customerId %q, PATCHes %v", got.Status.CustomerID, patchBodies(t, id))
	}
}
