package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// canaryValues are personal values no other test uses, so that finding one anywhere the
// operator writes is a leak. Each test that stores them in Tiquo has an email of its own, since
// emails are unique there.
var canaryValues = map[string]string{
	"firstName": "Zebulonx", "lastName": "Quaffertyx", "email": "Canary.Person@Leak-Test.example",
	"email of the echo test": "Canary.Echo@Leak-Test.example",
	"phone":                  "+1 (444) 987-0001", "dateOfBirth": "1971-07-19", "notes": "canary-notes-7f3a",
	"line1": "77 Canary Lane", "city": "Leakington", "postalCode": "CAN-4242",
}

// canarySpec declares the canary values, with the canary email named emailKey, on the record id.
func canarySpec(id, emailKey string) crmv1alpha1.CustomerSpec {
	v := canaryValues
	return crmv1alpha1.CustomerSpec{
		CustomerID: id, FirstName: ptr.To(v["firstName"]), LastName: ptr.To(v["lastName"]),
		Email: ptr.To(v[emailKey]), Phone: ptr.To(v["phone"]), DateOfBirth: ptr.To(v["dateOfBirth"]),
		Notes: ptr.To(v["notes"]),
		Address: &crmv1alpha1.Address{Line1: ptr.To(v["line1"]), City: ptr.To(v["city"]),
			PostalCode: ptr.To(v["postalCode"])},
	}
}

// leakForms returns, lower-cased, every form in which a canary would be a leak: as written,
// without whitespace, with only its letters and digits (the phone as Tiquo's E.164 digits,
// the date as YYYYMMDD), the phone also as +digits and without its country code, and the
// local part of the email.
func leakForms() map[string]string {
	forms := map[string]string{}
	for name, v := range canaryValues {
		l := strings.ToLower(v)
		alnum := strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return r
			}
			return -1
		}, l)
		forms[l] = name
		forms[strings.Join(strings.Fields(l), "")] = name
		forms[alnum] = name
		if name == "phone" {
			forms["+"+alnum] = name
			forms[alnum[1:]] = name
		}
		if strings.HasPrefix(name, "email") {
			local, _, _ := strings.Cut(l, "@")
			forms[local] = name
		}
	}
	return forms
}

// operatorOutput is everything the operator wrote that a user, a log pipeline or a metrics
// backend sees, by where it was found.
func operatorOutput(t *testing.T, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	var evs eventsv1.EventList
	if err := k8sClient.List(ctx, &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	eventText, _ := json.Marshal(evs.Items)
	var customers crmv1alpha1.CustomerList
	if err := k8sClient.List(ctx, &customers, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var statusText []byte
	for _, c := range customers.Items {
		b, _ := json.Marshal(c.Status)
		statusText = append(statusText, b...)
	}
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var labels strings.Builder
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				fmt.Fprintf(&labels, "%s{%s=%q}\n", f.GetName(), l.GetName(), l.GetValue())
			}
		}
	}
	return map[string]string{"logs": managerLogs.String(), "events": string(eventText),
		"status and conditions": string(statusText), "metric labels": labels.String()}
}

// assertNoLeak fails the test for every canary form and every API key found in out.
func assertNoLeak(t *testing.T, out map[string]string) {
	t.Helper()
	keys := map[string]string{"read-write key": keyReadWrite, "read-only key": keyReadOnly, "other key": keyOther}
	forms := leakForms()
	for where, text := range out {
		lower := strings.ToLower(text)
		for form, name := range forms {
			if i := strings.Index(lower, form); i >= 0 {
				t.Errorf("the %s hold the %s of a customer as %q: ...%s...", where, name, form,
					text[max(0, i-80):min(len(text), i+len(form)+80)])
			}
		}
		for name, v := range keys {
			if strings.Contains(text, v) {
				t.Errorf("the %s hold the %s", where, name)
			}
		}
	}
}

// TestNoPersonalDataOrKeysLeak drives Customers with canary personal values through a patch,
// an email conflict and a validation error, then searches the manager's log output (at every
// verbosity), the events, the status and the metric labels for the canaries and the API keys.
func TestNoPersonalDataOrKeysLeak(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, nil)
	seed(t, id+"_owner", func(c *sandbox.Customer) { c.Email = "canary.taken@leak-test.example" })
	patched := create(t, ns, "patched", canarySpec(id, "email"))
	waitFor(t, patched, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

	// An email conflict and a validation error, whose Tiquo messages might quote values.
	conflictID := id + "_conflict"
	seed(t, conflictID, nil)
	conflict := create(t, ns, "conflict", crmv1alpha1.CustomerSpec{
		CustomerID: conflictID, Email: ptr.To("canary.taken@leak-test.example"), Notes: ptr.To(canaryValues["notes"])})
	waitFor(t, conflict, metav1.ConditionFalse, crmv1alpha1.ReasonEmailConflict)
	invalidID := id + "_invalid"
	seed(t, invalidID, nil)
	invalid := create(t, ns, "invalid", crmv1alpha1.CustomerSpec{
		CustomerID: invalidID, Notes: ptr.To(canaryValues["notes"] + strings.Repeat("x", 1200))})
	waitFor(t, invalid, metav1.ConditionFalse, crmv1alpha1.ReasonInvalidSpec)

	out := operatorOutput(t, ns)
	if !strings.Contains(out["logs"], "Patching Tiquo customer") {
		t.Fatalf("the manager's logs were not captured; the check below would prove nothing")
	}
	assertNoLeak(t, out)
}

// TestNoLeakWhenTiquoEchoesValues has the sandbox answer every PATCH that carries personal
// values with an error quoting them back, as sent and in the forms Tiquo stores them (phone
// +14449870001 and 14449870001, email lower-cased), in error.message, error.field and
// error.code, under each status whose message the operator quotes. Conditions, events, logs
// at every verbosity and metric labels must hold none of them. The test watches only
// Customers it creates and the PATCHes they cause, so it holds whether or not the drift scan
// runs.
func TestNoLeakWhenTiquoEchoesValues(t *testing.T) {
	ns := newNamespace(t)
	base := uniqueID(t)
	t.Cleanup(func() { sb.SetFaults(sandbox.Faults{}) })

	type phase struct {
		status int
		reason string
	}
	// Terminal answers first: they hold without a call for the terminal recheck interval (an
	// hour here), so later phases do not change them. The transient one comes last.
	phases := []phase{
		{http.StatusBadRequest, crmv1alpha1.ReasonInvalidSpec},
		{http.StatusForbidden, crmv1alpha1.ReasonForbidden},
		{http.StatusUnprocessableEntity, crmv1alpha1.ReasonInvalidSpec},
		{http.StatusServiceUnavailable, crmv1alpha1.ReasonAPIUnavailable},
	}
	var quoted []string // Condition messages that quote Tiquo's text.
	var last *crmv1alpha1.Customer
	for _, p := range phases {
		id := fmt.Sprintf("%s_%d", base, p.status)
		seed(t, id, nil)
		sb.SetFaults(sandbox.Faults{EchoValuesRate: 1, EchoValuesStatus: p.status})
		c := create(t, ns, fmt.Sprintf("echo-%d", p.status), canarySpec(id, "email of the echo test"))
		got := waitForReason(t, c, p.reason)
		echoed := 0
		for _, r := range sb.Requests() {
			if r.Path == "/v1/customers/"+id && r.Method == http.MethodPatch && r.Status == p.status {
				echoed++
			}
		}
		if echoed == 0 {
			t.Fatalf("the sandbox answered no PATCH of %s with the echoing %d; the check would prove nothing", id, p.status)
		}
		msg := apimeta.FindStatusCondition(got.Status.Conditions, crmv1alpha1.ConditionReady).Message
		if strings.Contains(msg, "[redacted]") {
			quoted = append(quoted, msg)
		}
		last = c
	}
	t.Logf("condition messages quoting Tiquo: %q", quoted)
	if len(quoted) < 3 {
		t.Fatalf("only %d condition messages quote Tiquo's text (%q); the echoed values never reached them, so the check would prove nothing",
			len(quoted), quoted)
	}

	// Tiquo recovers: the transient Customer patches the canary values and is Synced.
	sb.SetFaults(sandbox.Faults{})
	waitFor(t, last, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

	assertNoLeak(t, operatorOutput(t, ns))
}

// waitForReason waits until the Customer's Ready condition has the reason, whatever its status,
// and returns the Customer as it then is.
func waitForReason(t *testing.T, c *crmv1alpha1.Customer, reason string) *crmv1alpha1.Customer {
	t.Helper()
	got := &crmv1alpha1.Customer{}
	eventually(t, 20*time.Second, func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
			return err
		}
		cond := apimeta.FindStatusCondition(got.Status.Conditions, crmv1alpha1.ConditionReady)
		if cond == nil || cond.Reason != reason {
			return fmt.Errorf("Ready condition is %+v; want reason %s", cond, reason)
		}
		return nil
	})
	return got
}
