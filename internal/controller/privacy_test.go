package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// TestNoPersonalDataOrKeysLeak drives Customers with canary personal values through a patch,
// an email conflict and a validation error, then searches the manager's log output (at every
// verbosity), the events and the status for the canaries and the API keys.
func TestNoPersonalDataOrKeysLeak(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	id := uniqueID(t)
	canaries := map[string]string{
		"firstName": "Zebulonx", "lastName": "Quaffertyx", "email": "canary.person@leak-test.example",
		"phone": "+1 (444) 987-0001", "dateOfBirth": "1971-07-19", "notes": "canary-notes-7f3a",
		"line1": "77 Canary Lane", "city": "Leakington", "postalCode": "CAN-4242",
	}
	seed(t, id, nil)
	seed(t, id+"_owner", func(c *sandbox.Customer) { c.Email = "canary.taken@leak-test.example" })
	spec := crmv1alpha1.CustomerSpec{
		CustomerID: id, FirstName: ptr.To(canaries["firstName"]), LastName: ptr.To(canaries["lastName"]),
		Email: ptr.To(canaries["email"]), Phone: ptr.To(canaries["phone"]), DateOfBirth: ptr.To(canaries["dateOfBirth"]),
		Notes: ptr.To(canaries["notes"]),
		Address: &crmv1alpha1.Address{Line1: ptr.To(canaries["line1"]), City: ptr.To(canaries["city"]),
			PostalCode: ptr.To(canaries["postalCode"])},
	}
	patched := create(t, ns, "patched", spec)
	waitFor(t, patched, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

	// An email conflict and a validation error, whose Tiquo messages might quote values.
	conflictID := id + "_conflict"
	seed(t, conflictID, nil)
	conflict := create(t, ns, "conflict", crmv1alpha1.CustomerSpec{
		CustomerID: conflictID, Email: ptr.To("canary.taken@leak-test.example"), Notes: ptr.To(canaries["notes"])})
	waitFor(t, conflict, metav1.ConditionFalse, crmv1alpha1.ReasonEmailConflict)
	invalidID := id + "_invalid"
	seed(t, invalidID, nil)
	invalid := create(t, ns, "invalid", crmv1alpha1.CustomerSpec{
		CustomerID: invalidID, Notes: ptr.To(canaries["notes"] + strings.Repeat("x", 1200))})
	waitFor(t, invalid, metav1.ConditionFalse, crmv1alpha1.ReasonInvalidSpec)

	secrets := map[string]string{"read-write key": keyReadWrite, "read-only key": keyReadOnly, "other key": keyOther}
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
	logs := managerLogs.String()
	if !strings.Contains(logs, "Patching Tiquo customer") {
		t.Fatalf("the manager's logs were not captured; the check below would prove nothing")
	}
	for where, text := range map[string]string{"logs": logs, "events": string(eventText), "status": string(statusText)} {
		for name, v := range canaries {
			if strings.Contains(strings.ToLower(text), strings.ToLower(v)) {
				t.Errorf("the %s hold the %s of a customer (%q)", where, name, v)
			}
		}
		for name, v := range secrets {
			if strings.Contains(text, v) {
				t.Errorf("the %s hold the %s", where, name)
			}
		}
	}
}
