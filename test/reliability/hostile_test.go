package reliability

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// hostileCase is one Customer spec, written as JSON so that it can hold wrong types.
type hostileCase struct {
	name string
	spec map[string]any
	// rejected: admission refuses the object with a message naming this field path.
	rejected string
	// Otherwise the Customer ends with this Ready reason (Ready=True for Synced, else False) and,
	// when set, the Ready message names mention.
	reason, mention string
	// check inspects the record after a Synced outcome.
	check func(sandbox.Customer) error
}

// TestHostileInput creates Customers with huge strings, unicode and control characters, path
// tricks in customerId, impossible dates, duplicate tags and wrong JSON types. Each is rejected at
// admission with a message naming the field, or ends in a clear condition; and no request ever
// goes to a path other than /v1/customers/{the escaped id} of an accepted Customer.
func TestHostileInput(t *testing.T) {
	ctx := context.Background()
	f := newFront(t, sandbox.Options{})
	ns := newNamespace(t)
	startManager(t, "hostile", "--tiquo-base-url", f.base("hostile"))

	// Records the accepted Customers name, seeded with John Doe.
	known := map[string]bool{}
	id := func(s string) string { known[s] = true; return s }
	longID := "cust_" + strings.Repeat("x", 59)
	equal := func(field, want string, got func(sandbox.Customer) string) func(sandbox.Customer) error {
		return func(c sandbox.Customer) error {
			if g := got(c); g != want {
				return fmt.Errorf("%s is %q in Tiquo, want %q", field, g, want)
			}
			return nil
		}
	}
	unicodeNotes := "RTL \u202eoverride\u202c, ZWJ 👩\u200d💻, combining e\u0301, CJK 山田, astral 𝓙𝓸𝓱𝓷"
	controlNotes := "line1\r\nline2\ttab \x1b[31mred\x1b[0m bell\x07 nul\x00 del\x7f"

	cases := []hostileCase{
		// Path tricks in customerId: the pattern admits only letters, digits, _ and -.
		{name: "id-dotdot-slash", spec: map[string]any{"customerId": "../x"}, rejected: "spec.customerId"},
		{name: "id-encoded-slash", spec: map[string]any{"customerId": "%2F"}, rejected: "spec.customerId"},
		{name: "id-slash", spec: map[string]any{"customerId": "a/b"}, rejected: "spec.customerId"},
		{name: "id-query", spec: map[string]any{"customerId": "?x=1"}, rejected: "spec.customerId"},
		{name: "id-fragment", spec: map[string]any{"customerId": "cust#1"}, rejected: "spec.customerId"},
		{name: "id-dotdot", spec: map[string]any{"customerId": ".."}, rejected: "spec.customerId"},
		{name: "id-dot", spec: map[string]any{"customerId": "."}, rejected: "spec.customerId"},
		{name: "id-empty", spec: map[string]any{"customerId": ""}, rejected: "spec.customerId"},
		{name: "id-space", spec: map[string]any{"customerId": "cust 1"}, rejected: "spec.customerId"},
		{name: "id-newline", spec: map[string]any{"customerId": "cust\n1"}, rejected: "spec.customerId"},
		{name: "id-nul", spec: map[string]any{"customerId": "cust\x001"}, rejected: "spec.customerId"},
		{name: "id-percent-nul", spec: map[string]any{"customerId": "cust%00"}, rejected: "spec.customerId"},
		{name: "id-backslash", spec: map[string]any{"customerId": `..\x`}, rejected: "spec.customerId"},
		{name: "id-cyrillic", spec: map[string]any{"customerId": "сust_1"}, rejected: "spec.customerId"},
		{name: "id-too-long", spec: map[string]any{"customerId": longID + "y"}, rejected: "spec.customerId"},
		// Without customerId a Customer declares a customer by email, which it must then give.
		{name: "id-and-email-missing", spec: map[string]any{"notes": "x"}, rejected: "spec.email"},
		{name: "id-number", spec: map[string]any{"customerId": 123}, rejected: "spec.customerId"},
		// Huge strings.
		{name: "first-name-too-long", spec: map[string]any{"customerId": "c1", "firstName": strings.Repeat("x", 101)}, rejected: "spec.firstName"},
		{name: "notes-too-long", spec: map[string]any{"customerId": "c1", "notes": strings.Repeat("n", 5001)}, rejected: "spec.notes"},
		{name: "address-too-long", spec: map[string]any{"customerId": "c1", "address": map[string]any{"line1": strings.Repeat("a", 201)}}, rejected: "spec.address.line1"},
		{name: "too-many-tags", spec: map[string]any{"customerId": "c1", "tags": manyTags(51, 3)}, rejected: "spec.tags"},
		{name: "tag-too-long", spec: map[string]any{"customerId": "c1", "tags": []any{strings.Repeat("t", 65)}}, rejected: "spec.tags[0]"},
		{name: "tag-empty", spec: map[string]any{"customerId": "c1", "tags": []any{""}}, rejected: "spec.tags[0]"},
		// Duplicate tags: tags is a set.
		{name: "tags-duplicate", spec: map[string]any{"customerId": "c1", "tags": []any{"VIP", "VIP"}}, rejected: "spec.tags[1]"},
		// Impossible dates and other formats.
		{name: "date-feb-30", spec: map[string]any{"customerId": "c1", "dateOfBirth": "2023-02-30"}, rejected: "spec.dateOfBirth"},
		{name: "date-feb-29-common-year", spec: map[string]any{"customerId": "c1", "dateOfBirth": "2023-02-29"}, rejected: "spec.dateOfBirth"},
		{name: "date-feb-29-1900", spec: map[string]any{"customerId": "c1", "dateOfBirth": "1900-02-29"}, rejected: "spec.dateOfBirth"},
		{name: "date-month-13", spec: map[string]any{"customerId": "c1", "dateOfBirth": "2023-13-01"}, rejected: "spec.dateOfBirth"},
		{name: "date-zero", spec: map[string]any{"customerId": "c1", "dateOfBirth": "0000-00-00"}, rejected: "spec.dateOfBirth"},
		{name: "date-unpadded", spec: map[string]any{"customerId": "c1", "dateOfBirth": "1990-5-15"}, rejected: "spec.dateOfBirth"},
		{name: "date-timestamp", spec: map[string]any{"customerId": "c1", "dateOfBirth": "1990-05-15T00:00:00Z"}, rejected: "spec.dateOfBirth"},
		{name: "email-not-an-address", spec: map[string]any{"customerId": "c1", "email": "not-an-email"}, rejected: "spec.email"},
		{name: "email-two-ats", spec: map[string]any{"customerId": "c1", "email": "a@b@example.com"}, rejected: "spec.email"},
		{name: "email-newline", spec: map[string]any{"customerId": "c1", "email": "a@example.com\nBcc: x@example.com"}, rejected: "spec.email"},
		{name: "phone-letters", spec: map[string]any{"customerId": "c1", "phone": "+1 555 CALL NOW"}, rejected: "spec.phone"},
		{name: "phone-newline", spec: map[string]any{"customerId": "c1", "phone": "555\n123"}, rejected: "spec.phone"},
		{name: "location-path", spec: map[string]any{"customerId": "c1", "preferredLocationId": "../loc"}, rejected: "spec.preferredLocationId"},
		{name: "secret-ref-path", spec: map[string]any{"customerId": "c1", "apiKeySecretRef": map[string]any{"name": "../kube-system/admin"}}, rejected: "spec.apiKeySecretRef.name"},
		{name: "secret-ref-namespace", spec: map[string]any{"customerId": "c1", "apiKeySecretRef": map[string]any{"name": "x", "namespace": "kube-system"}}, rejected: "spec.apiKeySecretRef.namespace"},
		{name: "sync-interval-negative", spec: map[string]any{"customerId": "c1", "syncInterval": "-5m"}, rejected: "spec.syncInterval"},
		{name: "policy-unknown", spec: map[string]any{"customerId": "c1", "managementPolicy": "Delete"}, rejected: "spec.managementPolicy"},
		// Wrong JSON types.
		{name: "type-first-name-bool", spec: map[string]any{"customerId": "c1", "firstName": true}, rejected: "spec.firstName"},
		{name: "type-tags-string", spec: map[string]any{"customerId": "c1", "tags": "VIP"}, rejected: "spec.tags"},
		{name: "type-tags-numbers", spec: map[string]any{"customerId": "c1", "tags": []any{1, 2}}, rejected: "spec.tags[0]"},
		{name: "type-consent-string", spec: map[string]any{"customerId": "c1", "marketingConsent": "yes"}, rejected: "spec.marketingConsent"},
		{name: "type-address-string", spec: map[string]any{"customerId": "c1", "address": "1 Main St"}, rejected: "spec.address"},
		{name: "type-address-line-number", spec: map[string]any{"customerId": "c1", "address": map[string]any{"line1": 5}}, rejected: "spec.address.line1"},
		{name: "type-suspend-string", spec: map[string]any{"customerId": "c1", "suspend": "true"}, rejected: "spec.suspend"},
		{name: "unknown-field", spec: map[string]any{"customerId": "c1", "loyaltyPoints": 1e6}, rejected: "spec.loyaltyPoints"},

		// Accepted by the API server.
		{name: "unicode", spec: map[string]any{"customerId": id("cust_unicode"), "firstName": "Zoë Ñúñez-Łukasz",
			"lastName": "山田 太郎 😀", "notes": unicodeNotes},
			reason: crmv1alpha1.ReasonSynced, check: equal("notes", unicodeNotes, func(c sandbox.Customer) string { return c.Notes })},
		{name: "control-characters", spec: map[string]any{"customerId": id("cust_control"), "notes": controlNotes,
			"address": map[string]any{"line2": "Suite\x075"}},
			reason: crmv1alpha1.ReasonSynced, check: equal("notes", controlNotes, func(c sandbox.Customer) string { return c.Notes })},
		{name: "multibyte-at-the-limit", spec: map[string]any{"customerId": id("cust_multibyte"), "firstName": strings.Repeat("山", 100)},
			reason: crmv1alpha1.ReasonSynced, check: equal("firstName", strings.Repeat("山", 100), func(c sandbox.Customer) string { return c.FirstName })},
		{name: "leap-day", spec: map[string]any{"customerId": id("cust_leap"), "dateOfBirth": "2000-02-29"},
			reason: crmv1alpha1.ReasonSynced, check: equal("dateOfBirth", "2000-02-29", func(c sandbox.Customer) string { return c.DateOfBirth })},
		{name: "tags-case-and-unicode", spec: map[string]any{"customerId": id("cust_tags"), "tags": []any{"VIP", "vip", "ünïcødé", "🏷"}},
			reason: crmv1alpha1.ReasonSynced, check: func(c sandbox.Customer) error {
				if want := []string{"VIP", "vip", "ünïcødé", "🏷"}; !slices.Equal(c.Tags, want) {
					return fmt.Errorf("tags are %q in Tiquo, want %q", c.Tags, want)
				}
				return nil
			}},
		{name: "most-tags", spec: map[string]any{"customerId": id("cust_manytags"), "tags": manyTags(50, 64)},
			reason: crmv1alpha1.ReasonSynced},
		{name: "phone-separators", spec: map[string]any{"customerId": id("cust_phone"), "phone": "+1 (987) 654-321"},
			reason: crmv1alpha1.ReasonSynced},
		{name: "longest-id", spec: map[string]any{"customerId": id(longID), "notes": "x"}, reason: crmv1alpha1.ReasonSynced},
		{name: "id-dash", spec: map[string]any{"customerId": id("-"), "notes": "x"}, reason: crmv1alpha1.ReasonSynced},
		{name: "id-underscores", spec: map[string]any{"customerId": id("__"), "notes": "x"}, reason: crmv1alpha1.ReasonSynced},
		{name: "unknown-id", spec: map[string]any{"customerId": "cust_nobody", "notes": "x"}, reason: crmv1alpha1.ReasonNotFound},
		// Accepted by the API server but refused by Tiquo: a clear condition naming the field.
		{name: "blank-first-name", spec: map[string]any{"customerId": id("cust_blank"), "firstName": "   "},
			reason: crmv1alpha1.ReasonInvalidSpec, mention: "firstName"},
		{name: "notes-over-tiquos-limit", spec: map[string]any{"customerId": id("cust_longnotes"), "notes": strings.Repeat("n", 5000)},
			reason: crmv1alpha1.ReasonInvalidSpec, mention: "notes"},
	}
	for k := range known {
		seed(f, k, nil)
	}

	var wants []want
	for _, tc := range cases {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": crmv1alpha1.GroupVersion.String(), "kind": "Customer",
			"metadata": map[string]any{"name": tc.name, "namespace": ns},
			"spec":     tc.spec,
		}}
		err := k8sClient.Create(ctx, u, client.FieldValidation("Strict"))
		switch {
		case tc.rejected != "" && err == nil:
			t.Errorf("%s: admitted; want it rejected naming %s", tc.name, tc.rejected)
		case tc.rejected != "" && !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err):
			t.Errorf("%s: rejected with %v; want an Invalid or BadRequest answer naming %s", tc.name, err, tc.rejected)
		case tc.rejected != "" && !strings.Contains(err.Error(), tc.rejected):
			t.Errorf("%s: the rejection %q does not name %s", tc.name, err, tc.rejected)
		case tc.rejected == "" && err != nil:
			t.Errorf("%s: rejected: %v", tc.name, err)
		case tc.rejected == "":
			ready := "False"
			if tc.reason == crmv1alpha1.ReasonSynced {
				ready = "True"
			}
			wants = append(wants, want{tc.name, metav1.ConditionStatus(ready), tc.reason})
		}
	}

	// customerId cannot be changed to another record once set.
	c := getCustomer(t, ns, "leap-day")
	c.Spec.CustomerID = "cust_unicode"
	if err := k8sClient.Update(ctx, c); err == nil || !strings.Contains(err.Error(), "customerId is immutable") {
		t.Errorf("changing customerId: %v; want it refused as immutable", err)
	}

	took := waitAll(t, ns, 90*time.Second, wants...)
	byName := map[string]hostileCase{}
	for _, tc := range cases {
		byName[tc.name] = tc
	}
	for _, w := range wants {
		tc := byName[w.name]
		got := getCustomer(t, ns, w.name)
		if msg := condition(got, crmv1alpha1.ConditionReady).Message; tc.mention != "" && !strings.Contains(msg, tc.mention) {
			t.Errorf("%s: the Ready message %q does not name %s", w.name, msg, tc.mention)
		}
		if tc.check != nil {
			rec, _ := f.Customer(got.Spec.CustomerID)
			if err := tc.check(rec); err != nil {
				t.Errorf("%s: %v", w.name, err)
			}
		}
	}

	// Every request went to the escaped path of an accepted Customer's id (or listed the
	// collection, as the drift scan does).
	allowed := map[string]bool{itemPath("cust_nobody"): true}
	for k := range known {
		allowed[itemPath(k)] = true
	}
	calls := f.log()
	for _, cl := range calls {
		list := cl.Path == "/v1/customers" && cl.Method == http.MethodGet
		if !list && (!allowed[cl.Path] || (cl.Method != http.MethodGet && cl.Method != http.MethodPatch)) {
			t.Errorf("a request went to %s %s, which is no accepted Customer's record", cl.Method, cl.Path)
		}
	}
	rejected := 0
	for _, tc := range cases {
		if tc.rejected != "" {
			rejected++
		}
	}
	t.Logf("hostile input: %d specs rejected at admission, %d accepted and in their state after %s; %d requests, all to accepted ids",
		rejected, len(wants), took.Round(time.Millisecond), len(calls))
}

// manyTags returns n distinct tags of the given length.
func manyTags(n, length int) []any {
	tags := make([]any, n)
	for i := range tags {
		s := fmt.Sprintf("t%d-", i)
		tags[i] = s + strings.Repeat("x", max(0, length-len(s)))
	}
	return tags
}
