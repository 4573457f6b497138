package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// This file tests Customers without spec.customerId, which declare a customer by email: the
// operator creates the record once, whatever happens to the manager between its POST and the
// status write that binds the Customer to the new record, and touches the record on deletion
// only as spec.deletionPolicy says.

// customersPath is the collection: POST creates, GET lists and looks up by email.
const customersPath = "/v1/customers"

// uniqueEmail returns an email address no other test uses.
func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s.%d@example.com", prefix, time.Now().UnixNano())
}

// declaredSpec declares Ada Lovelace under email, without customerId, with one field of each
// kind set besides the three a create needs.
func declaredSpec(email string) crmv1alpha1.CustomerSpec {
	return crmv1alpha1.CustomerSpec{
		FirstName: ptr.To("Ada"), LastName: ptr.To("Lovelace"), Email: ptr.To(email),
		Phone:            ptr.To("+44 20 7946 0958"),
		Address:          &crmv1alpha1.Address{Line1: ptr.To("12 St James's Square"), City: ptr.To("London"), Country: ptr.To("GB")},
		Tags:             &[]string{"founder"},
		Notes:            ptr.To("Prefers letters"),
		MarketingConsent: ptr.To(false),
	}
}

// createBody is the body of the POST that creates declaredSpec(email): firstName, lastName,
// email and every other field the spec sets, as set.
func createBody(email string) map[string]any {
	return map[string]any{
		"firstName": "Ada", "lastName": "Lovelace", "email": email,
		"phone":            "+44 20 7946 0958",
		"address":          map[string]any{"line1": "12 St James's Square", "city": "London", "country": "GB"},
		"tags":             []any{"founder"},
		"notes":            "Prefers letters",
		"marketingConsent": false,
	}
}

// isCreate keeps the POSTs to the collection.
func isCreate(c call) bool { return c.Method == http.MethodPost && c.Path == customersPath }

// byManager keeps the calls of one manager.
func byManager(name string) func(call) bool { return func(c call) bool { return c.Manager == name } }

// describe renders a call for comparison with what the contract says the operator sends:
// method, path and, for the list, the email and cursor it asks for (not the page size, which
// is the client's business).
func describe(c call) string {
	s := c.Method + " " + c.Path
	if c.Path != customersPath || c.Method != http.MethodGet {
		return s
	}
	q, err := url.ParseQuery(c.Query)
	if err != nil {
		return s + "?" + c.Query
	}
	var parts []string
	for _, k := range []string{"email", "cursor"} {
		if v := q.Get(k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return s
	}
	return s + "?" + strings.Join(parts, "&")
}

func describeAll(calls []call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = describe(c)
	}
	return out
}

// lookup is the call that looks a record up by email, as describe renders it.
func lookup(email string) string { return "GET " + customersPath + "?email=" + email }

// afterBinding is what a manager sends for a Customer whose create's answer was lost, once
// Tiquo answers again: the lookup by email that finds the record, and a read of that record
// before the diff (a list item may leave fields out). No POST, and no PATCH for a record
// created from the spec.
func afterBinding(email, id string) []string {
	return []string{lookup(email), http.MethodGet + " " + itemPath(id)}
}

// jsonBody decodes a request body for comparison.
func jsonBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("request body %q is not a JSON object: %v", b, err)
	}
	return m
}

// waitStoredCreate waits until the sandbox has stored the record of a POST by manager and
// holds back its answer (the StoreThenHang fault), and returns when that POST was sent.
func waitStoredCreate(t *testing.T, f *front, manager string) time.Time {
	t.Helper()
	var sent time.Time
	eventually(t, time.Minute, func() error {
		stored := where(f.Requests(), func(r sandbox.Request) bool {
			return r.Method == http.MethodPost && r.Path == customersPath && r.Status == 0
		})
		inFlight := where(f.log(), func(c call) bool { return isCreate(c) && c.Manager == manager && c.End.IsZero() })
		if len(stored) == 0 || len(inFlight) == 0 {
			return fmt.Errorf("no POST by %s stored and waiting for its answer yet; calls so far: %q",
				manager, describeAll(f.log()))
		}
		sent = inFlight[0].Start
		return nil
	})
	return sent
}

// requirePendingCreate checks that the Customer recorded the POST before sending it: it has
// status.pendingCreate and is not bound yet.
func requirePendingCreate(t *testing.T, ns, name string) {
	t.Helper()
	c := getCustomer(t, ns, name)
	if c.Status.PendingCreate == nil || c.Status.PendingCreate.EmailDigest == "" || c.Status.CustomerID != "" {
		t.Errorf("while its POST hangs, %s has status.customerId %q and pendingCreate %+v; want pendingCreate set "+
			"(written before the POST) and no customerId", name, c.Status.CustomerID, c.Status.PendingCreate)
	}
}

// requireOneRecord checks that exactly one record in the sandbox has email, archived ones
// included, and returns it.
func requireOneRecord(t *testing.T, f *front, email string) sandbox.Customer {
	t.Helper()
	recs := f.CustomersByEmail(email)
	if len(recs) != 1 {
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		t.Fatalf("%d records have the Customer's email (%v), want exactly 1", len(recs), ids)
	}
	return recs[0]
}

// requireBound checks that the Customer is Ready and bound to the record with id, with no
// create pending.
func requireBound(t *testing.T, ns, name, id string) *crmv1alpha1.Customer {
	t.Helper()
	c := getCustomer(t, ns, name)
	if c.Status.CustomerID != id {
		t.Errorf("%s: status.customerId %q, want %q, the one record with its email", name, c.Status.CustomerID, id)
	}
	if c.Status.PendingCreate != nil {
		t.Errorf("%s: status.pendingCreate %+v is still set after binding", name, c.Status.PendingCreate)
	}
	if state, ok := readyState(c, synced(name)); !ok {
		t.Errorf("%s: %s, want Ready=True/Synced", name, state)
	}
	// Neither still creating nor stuck.
	for _, typ := range []string{crmv1alpha1.ConditionReconciling, crmv1alpha1.ConditionStalled} {
		if cond := condition(c, typ); cond.Type != "" && cond.Status != metav1.ConditionFalse {
			t.Errorf("%s: condition %s is %s/%s (%s), want it False or absent", name, typ, cond.Status, cond.Reason, cond.Message)
		}
	}
	return c
}

// requireOnePost checks that the whole log holds exactly one POST, sent by manager with the
// body that creates declaredSpec(email).
func requireOnePost(t *testing.T, calls []call, manager, email string) {
	t.Helper()
	posts := where(calls, isCreate)
	if len(posts) != 1 {
		t.Errorf("%d POSTs in the whole log, want exactly 1; the log: %q", len(posts), describeAll(calls))
		return
	}
	if posts[0].Manager != manager {
		t.Errorf("the POST came from manager %q, want %q", posts[0].Manager, manager)
	}
	if d := cmp.Diff(createBody(email), jsonBody(t, posts[0].Body)); d != "" {
		t.Errorf("POST body (-want +got):\n%s", d)
	}
}

// eventsOf returns the events about one Customer.
func eventsOf(t *testing.T, ns, name string) []eventsv1.Event {
	t.Helper()
	var evs eventsv1.EventList
	if err := k8sClient.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return where(evs.Items, func(e eventsv1.Event) bool { return e.Regarding.Name == name })
}

// requireEvent waits for a Normal event with the reason about the Customer whose note names
// id and does not carry email.
func requireEvent(t *testing.T, ns, name, reason, id, email string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		evs := where(eventsOf(t, ns, name), func(e eventsv1.Event) bool { return e.Reason == reason })
		if len(evs) == 0 {
			return fmt.Errorf("no %s event about %s", reason, name)
		}
		for _, e := range evs {
			if e.Type != "Normal" || !strings.Contains(e.Note, id) || strings.Contains(strings.ToLower(e.Note), strings.ToLower(email)) {
				return fmt.Errorf("%s event %s/%q: want type Normal and a note that names %s and not the email", reason, e.Type, e.Note, id)
			}
		}
		return nil
	})
}

// releaseFinalizers removes the operator's finalizer from the Customers of ns when the test
// ends (after its managers stopped, before the namespace's Customers are deleted), so that a
// failed test leaves nothing behind for the managers of later tests.
func releaseFinalizers(t *testing.T, ns string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		var list crmv1alpha1.CustomerList
		if err := k8sClient.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Logf("list the Customers of %s: %v", ns, err)
			return
		}
		for i := range list.Items {
			c := &list.Items[i]
			if controllerutil.RemoveFinalizer(c, crmv1alpha1.DeletionFinalizer) {
				if err := k8sClient.Update(ctx, c); err != nil && !apierrors.IsNotFound(err) {
					t.Logf("remove the finalizer of %s/%s: %v", ns, c.Name, err)
				}
			}
		}
	})
}

// TestKillBetweenPostAndStatusWrite kills the manager (SIGKILL) after Tiquo stored the record
// its POST created and before the status write that binds the Customer to that record: the
// manager either never got the answer (the POST hangs after the record is stored) or got the
// new id and lost it with the process (the API server never sees the binding write). The
// next manager must find that record by email and bind the Customer to it, never POST again:
// one record, one POST, the Customer Ready with that record's id.
func TestKillBetweenPostAndStatusWrite(t *testing.T) {
	t.Run("POST unanswered", func(t *testing.T) {
		f := newFront(t, sandbox.Options{})
		ns := newNamespace(t)
		email := uniqueEmail("killed")
		f.SetFaults(sandbox.Faults{StoreThenHangRate: 1})

		first := startManager(t, "first", "--tiquo-base-url", f.base("first"))
		createCustomer(t, ns, "ada", declaredSpec(email))
		waitStoredCreate(t, f, "first")
		requirePendingCreate(t, ns, "ada")
		first.kill()
		f.SetFaults(sandbox.Faults{})
		restartAndRequireBound(t, f, ns, email, first, []string{lookup(email), "POST " + customersPath})
	})

	t.Run("POST answered, binding write held", func(t *testing.T) {
		f := newFront(t, sandbox.Options{})
		ns := newNamespace(t)
		email := uniqueEmail("unbound")
		hold := newBindingHold(t)

		first := startManager(t, "first", "--kubeconfig", hold.kubeconfig, "--tiquo-base-url", f.base("first"))
		createCustomer(t, ns, "ada", declaredSpec(email))
		select {
		case name := <-hold.held:
			if name != "ada" {
				t.Fatalf("held the binding write of %q, want ada's", name)
			}
		case <-time.After(time.Minute):
			t.Fatalf("no status write binding ada within a minute; calls so far: %q", describeAll(f.log()))
		}
		posts := where(f.log(), isCreate)
		if len(posts) != 1 || posts[0].Status != http.StatusCreated {
			t.Fatalf("the POSTs before the binding write: %+v; want one, answered 201", posts)
		}
		requirePendingCreate(t, ns, "ada")
		first.kill()
		rec := requireOneRecord(t, f, email)
		// The manager read the record it created before diffing it, and then wrote the status.
		restartAndRequireBound(t, f, ns, email, first,
			[]string{lookup(email), "POST " + customersPath, http.MethodGet + " " + itemPath(rec.ID)})
	})
}

// restartAndRequireBound checks what the killed manager first sent (firstCalls), starts a new
// manager and checks that it binds the Customer ada to the one record with email, with one
// lookup and no POST.
func restartAndRequireBound(t *testing.T, f *front, ns, email string, first *managerProc, firstCalls []string) {
	t.Helper()
	if !isExit(first.exitErr, syscall.SIGKILL) {
		t.Fatalf("manager first exited with %v, want killed by SIGKILL", first.exitErr)
	}
	if got := describeAll(where(f.log(), byManager("first"))); !slices.Equal(got, firstCalls) {
		t.Errorf("manager first sent %q before it was killed, want %q", got, firstCalls)
	}
	rec := requireOneRecord(t, f, email)

	second := startManager(t, "second", "--tiquo-base-url", f.base("second"))
	waitAll(t, ns, time.Minute, synced("ada"))
	second.requireRunning(t)

	requireOneRecord(t, f, email)
	requireBound(t, ns, "ada", rec.ID)
	calls := f.log()
	requireOnePost(t, calls, "first", email)
	// The new manager resolves the pending create with one lookup by email, binds the record
	// it finds, reads it (a list item may leave fields out) and, since that record was
	// created from the spec, patches nothing.
	if got, want := describeAll(where(calls, byManager("second"))), afterBinding(email, rec.ID); !slices.Equal(got, want) {
		t.Errorf("after the restart the manager sent %q, want exactly %q", got, want)
	}
	requireEvent(t, ns, "ada", "Created", rec.ID, email)
}

// bindingHold stands between a manager and the API server and holds back, with no answer,
// every status patch that binds a Customer to its record (one that sets status.customerId):
// to the manager, the API server has not answered yet, and nothing is stored.
type bindingHold struct {
	kubeconfig string
	// held receives the name of each Customer whose binding write is held.
	held chan string
}

func newBindingHold(t *testing.T) *bindingHold {
	t.Helper()
	rp := apiServerProxy(t)
	h := &bindingHold{held: make(chan string, 16)}
	closed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := statusPatchOf(r); ok {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"customerId"`)) {
				select {
				case h.held <- name:
				default:
				}
				select {
				case <-r.Context().Done():
				case <-closed:
				}
				panic(http.ErrAbortHandler) // Close the connection without an answer.
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(closed)
		srv.CloseClientConnections()
		srv.Close()
	})
	h.kubeconfig = proxyKubeconfig(t, srv.URL)
	return h
}

// electionArgs are the flags of a manager that takes part in leader election with a short
// lease, as TestLeaderElectionFailover runs them.
func electionArgs(f *front, name, leaseNS string) []string {
	return []string{"--tiquo-base-url", f.base(name),
		"--leader-elect", "--leader-election-namespace", leaseNS,
		"--leader-elect-lease-duration", leaseDuration.String(), "--leader-elect-renew-deadline", renewDeadline.String(),
		"--leader-elect-retry-period", retryPeriod.String()}
}

// waitStandby waits until a manager tries to acquire the Lease.
func waitStandby(t *testing.T, m *managerProc) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if !strings.Contains(strings.ToLower(m.out.String()), "attempting to acquire leader lease") {
			return fmt.Errorf("manager %s has not tried to acquire the Lease yet", m.name)
		}
		return nil
	})
}

// TestFailoverMidCreate fails over between two managers with leader election while the
// leader's POST hangs after Tiquo stored the record. The new leader must bind the record the
// old one created: one record, one POST, the Customer bound to it. The old leader is either
// killed, or frozen (SIGSTOP) while the standby takes over and then resumed once its POST has
// timed out, so that it wakes up with a failed create and a Lease that is no longer its own.
func TestFailoverMidCreate(t *testing.T) {
	for _, frozen := range []bool{false, true} {
		name := "leader killed"
		if frozen {
			name = "leader frozen, then resumed"
		}
		if !t.Run(name, func(t *testing.T) { failoverMidCreate(t, frozen) }) {
			return
		}
	}
}

func failoverMidCreate(t *testing.T, frozen bool) {
	f := newFront(t, sandbox.Options{})
	ns := newNamespace(t)
	leaseNS := newNamespace(t)
	leases := watchLease(t, leaseNS)
	email := uniqueEmail("failover")
	f.SetFaults(sandbox.Faults{StoreThenHangRate: 1})

	a := startManager(t, "a", electionArgs(f, "a", leaseNS)...)
	leaderA := leases.next(t, time.Minute, "")
	b := startManager(t, "b", electionArgs(f, "b", leaseNS)...)
	waitStandby(t, b)

	createCustomer(t, ns, "ada", declaredSpec(email))
	sent := waitStoredCreate(t, f, "a")
	requirePendingCreate(t, ns, "ada")
	// Only the hung create sees the fault; the standby meets a Tiquo that works.
	f.SetFaults(sandbox.Faults{})
	rec := requireOneRecord(t, f, email)

	if frozen {
		if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT) })
	} else {
		a.kill()
	}
	leaderB := leases.next(t, leaseDuration+retryPeriod+30*time.Second, leaderA.identity)
	waitAll(t, ns, time.Minute, synced("ada"))
	b.requireRunning(t)
	requireOneRecord(t, f, email)
	requireBound(t, ns, "ada", rec.ID)
	// The standby waited for the Lease: its first call to Tiquo came after it acquired it.
	if bCalls := where(f.log(), byManager("b")); len(bCalls) > 0 && bCalls[0].Start.Before(leaderB.acquired) {
		t.Errorf("b called Tiquo at %s, before it acquired the Lease at %s", bCalls[0].Start.Format("15:04:05.000"),
			leaderB.acquired.Format("15:04:05.000"))
	}

	var resumed time.Time
	if frozen {
		// Resume the old leader once its POST's client timeout (30s) has run out.
		if wait := time.Until(sent.Add(31 * time.Second)); wait > 0 {
			time.Sleep(wait)
		}
		resumed = time.Now()
		if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		// It finds the Lease taken and exits; whatever it did until then is in the log.
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			t.Errorf("the old leader still runs 30s after it was resumed, with the Lease held by %s", leaderB.identity)
		}
		// The Customer stays bound to the one record, whatever the old leader did on waking.
		requireOneRecord(t, f, email)
		requireBound(t, ns, "ada", rec.ID)
	}

	calls := f.log()
	requireOnePost(t, calls, "a", email)
	if got, want := describeAll(where(calls, byManager("b"))), afterBinding(email, rec.ID); !slices.Equal(got, want) {
		t.Errorf("the new leader sent %q, want exactly %q", got, want)
	}
	if frozen {
		late := where(calls, func(c call) bool { return c.Manager == "a" && !c.Start.Before(resumed) })
		t.Logf("the old leader, resumed %s after its POST, sent %q before it exited (%v)",
			resumed.Sub(sent).Round(time.Millisecond), describeAll(late), a.exitErr)
	}
	requireEvent(t, ns, "ada", "Created", rec.ID, email)
}

// TestDeclaredCustomerAsShipped runs the manager binary with its defaults: a Customer without
// customerId becomes Ready with status.customerId set and exactly one record with its email,
// at the cost of a lookup, the POST and a read of the new record;
// deleting it under the default deletionPolicy (Orphan) leaves that record untouched, with no
// call to Tiquo; deleting one with deletionPolicy Archive archives its record with
// PATCH {"archived":true} and then lets the Customer go.
func TestDeclaredCustomerAsShipped(t *testing.T) {
	f := newFront(t, sandbox.Options{})
	ns := newNamespace(t)
	releaseFinalizers(t, ns)
	m := startManagerAsShipped(t, "shipped", "--tiquo-base-url", f.base("shipped"))

	orphanEmail, archiveEmail := uniqueEmail("orphan"), uniqueEmail("archive")
	createCustomer(t, ns, "kept", declaredSpec(orphanEmail))
	archiveSpec := declaredSpec(archiveEmail)
	archiveSpec.DeletionPolicy = crmv1alpha1.DeletionPolicyArchive
	createCustomer(t, ns, "archived", archiveSpec)
	waitAll(t, ns, time.Minute, synced("kept"), synced("archived"))
	m.requireRunning(t)

	kept := requireOneRecord(t, f, orphanEmail)
	archived := requireOneRecord(t, f, archiveEmail)
	keptCustomer := requireBound(t, ns, "kept", kept.ID)
	requireBound(t, ns, "archived", archived.ID)
	calls := f.log()
	for _, c := range []struct{ name, email, id string }{{"kept", orphanEmail, kept.ID}, {"archived", archiveEmail, archived.ID}} {
		mine := where(calls, func(cl call) bool {
			return describe(cl) == lookup(c.email) || cl.Path == itemPath(c.id) ||
				isCreate(cl) && strings.Contains(string(cl.Body), c.email)
		})
		want := []string{lookup(c.email), "POST " + customersPath, http.MethodGet + " " + itemPath(c.id)}
		if got := describeAll(mine); !slices.Equal(got, want) {
			t.Errorf("%s: the calls for it were %q, want %q", c.name, got, want)
		}
		if posts := where(mine, isCreate); len(posts) == 1 {
			if d := cmp.Diff(createBody(c.email), jsonBody(t, posts[0].Body)); d != "" {
				t.Errorf("%s: POST body (-want +got):\n%s", c.name, d)
			}
		}
		requireEvent(t, ns, c.name, "Created", c.id, c.email)
	}
	if len(calls) != 6 {
		t.Errorf("%d calls to Tiquo for two new Customers, want 6: %q", len(calls), describeAll(calls))
	}

	// Orphan: no finalizer, no DeletionPolicy condition. Archive: the finalizer, and a
	// condition that says the policy will be applied to the bound record.
	if controllerutil.ContainsFinalizer(keptCustomer, crmv1alpha1.DeletionFinalizer) {
		t.Errorf("kept, with the default deletionPolicy, carries the finalizer %s", crmv1alpha1.DeletionFinalizer)
	}
	if cond := condition(keptCustomer, crmv1alpha1.ConditionDeletionPolicy); cond.Type != "" {
		t.Errorf("kept, with the default deletionPolicy, has a DeletionPolicy condition: %+v", cond)
	}
	eventually(t, 30*time.Second, func() error {
		c := getCustomer(t, ns, "archived")
		if !controllerutil.ContainsFinalizer(c, crmv1alpha1.DeletionFinalizer) {
			return fmt.Errorf("archived has finalizers %v, want %s", c.Finalizers, crmv1alpha1.DeletionFinalizer)
		}
		cond := condition(c, crmv1alpha1.ConditionDeletionPolicy)
		if cond.Status != metav1.ConditionTrue || cond.Reason != string(crmv1alpha1.DeletionPolicyArchive) ||
			!strings.Contains(cond.Message, archived.ID) || cond.ObservedGeneration != c.Generation {
			return fmt.Errorf("archived's DeletionPolicy condition is %+v, want True/Archive naming %s", cond, archived.ID)
		}
		return nil
	})

	// Delete both. The Orphan Customer goes at once; the Archive one once its record is
	// archived.
	before := len(f.log())
	for _, name := range []string{"kept", "archived"} {
		c := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := k8sClient.Delete(context.Background(), c); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	for _, name := range []string{"kept", "archived"} {
		eventually(t, time.Minute, func() error {
			var c crmv1alpha1.Customer
			err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &c)
			switch {
			case apierrors.IsNotFound(err):
				return nil
			case err != nil:
				return err
			}
			return fmt.Errorf("%s still exists, with finalizers %v", name, c.Finalizers)
		})
	}
	requireEvent(t, ns, "archived", "Archived", archived.ID, archiveEmail)
	// The Orphan Customer's deletion was handled long since; a second more for a call it
	// should not make.
	time.Sleep(time.Second)
	m.requireRunning(t)

	after := f.log()[before:]
	if got, want := describeAll(after), []string{"PATCH " + itemPath(archived.ID)}; !slices.Equal(got, want) {
		t.Errorf("deleting the two Customers sent %q, want exactly %q (nothing for the Orphan one)", got, want)
	}
	for _, c := range where(after, patches(false)) {
		if d := cmp.Diff(map[string]any{"archived": true}, jsonBody(t, c.Body)); d != "" {
			t.Errorf("the archiving PATCH's body (-want +got):\n%s", d)
		}
	}
	if got := requireOneRecord(t, f, orphanEmail); !cmp.Equal(got, kept) {
		t.Errorf("deleting the Orphan Customer changed its record (-before +after):\n%s", cmp.Diff(kept, got))
	}
	if got := requireOneRecord(t, f, archiveEmail); !got.Archived || got.ID != archived.ID {
		t.Errorf("after deleting the Archive Customer its record %s has archived=%v, want true", got.ID, got.Archived)
	}
}
