package controller_test

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

func TestInSyncCostsOneGetAndNoWrites(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, nil)
	c := create(t, ns, "in-sync", matchingSpec(id))

	got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if n := calls(id); n["GET"] != 1 || n["PATCH"] != 0 {
		t.Errorf("first pass made %v; want 1 GET and no PATCH", n)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d, want %d", got.Status.ObservedGeneration, got.Generation)
	}
	if got.Status.LoyaltyPoints == nil || *got.Status.LoyaltyPoints != 150 || got.Status.TotalSpent != "2500.00" ||
		got.Status.VisitCount == nil || *got.Status.VisitCount != 12 || got.Status.LastSyncTime == nil {
		t.Errorf("observed read-only fields missing from status: %+v", got.Status)
	}
	if r := condition(t, got, crmv1alpha1.ConditionStalled); r.Status != metav1.ConditionFalse {
		t.Errorf("Stalled = %s", r.Status)
	}
	writes := statusCount.get(ns, "in-sync")
	if writes != 1 {
		t.Errorf("%d status writes for the first pass, want 1", writes)
	}

	// Later passes (the drift scan's pages, shared by every Customer of the key) cost the
	// record no call of its own, and write nothing.
	waitScans(t, 2)
	if n := calls(id); n["GET"] != 1 || n["PATCH"] != 0 {
		t.Errorf("drift scans of an in-sync record cost it %v; want the first GET only", n)
	}
	if w := statusCount.get(ns, "in-sync"); w != writes {
		t.Errorf("resyncs of an in-sync record wrote status %d times", w-writes)
	}
	if ev := eventsFor(t, c); len(ev) != 0 {
		t.Errorf("in-sync passes emitted events %v", ev)
	}
}

func TestDriftedFieldsGetTheSmallestPatch(t *testing.T) {
	cases := map[string]struct {
		reason string
		seed   func(*sandbox.Customer)
		spec   func(*crmv1alpha1.CustomerSpec)
		// want is the PATCH body; "" means no PATCH at all.
		want   string
		fields []string
	}{
		"phone": {
			reason: "Only the drifted phone is sent.",
			seed:   func(c *sandbox.Customer) { c.Phone = "+1234567890" },
			want:   `{"phone":"+1987654321"}`, fields: []string{"phone"},
		},
		"address line1": {
			reason: "Address merges, so only the drifted subfield is sent.",
			seed:   func(c *sandbox.Customer) { c.Address.Line1 = "1 Elm Street" },
			want:   `{"address":{"line1":"456 Oak Avenue"}}`, fields: []string{"address.line1"},
		},
		"tags reordered": {
			reason: "Tags are a set: another order is no drift.",
			seed:   func(c *sandbox.Customer) { c.Tags = []string{"longtime", "VIP"} },
		},
		"tags changed": {
			reason: "Tags replace, so the whole desired list is sent.",
			seed:   func(c *sandbox.Customer) { c.Tags = []string{"VIP"} },
			want:   `{"tags":["VIP","longtime"]}`, fields: []string{"tags"},
		},
		"notes cleared": {
			reason: `notes: "" clears the notes.`,
			spec:   func(s *crmv1alpha1.CustomerSpec) { s.Notes = ptr.To("") },
			want:   `{"notes":""}`, fields: []string{"notes"},
		},
		"tags removed": {
			reason: "tags: [] removes every tag.",
			spec:   func(s *crmv1alpha1.CustomerSpec) { s.Tags = &[]string{} },
			want:   `{"tags":[]}`, fields: []string{"tags"},
		},
		"email in another case": {
			reason: "Email is compared without case.",
			seed:   func(c *sandbox.Customer) { c.Email = "X" + c.Email },
			spec:   func(s *crmv1alpha1.CustomerSpec) { s.Email = ptr.To("x" + *s.Email) },
		},
		"phone with separators": {
			reason: "Phone is compared without separators.",
			spec:   func(s *crmv1alpha1.CustomerSpec) { s.Phone = ptr.To("+1 (987) 654-321") },
		},
		"unmanaged field drifted": {
			reason: "A field absent from the spec is never sent.",
			seed:   func(c *sandbox.Customer) { c.CompanyID = "comp_other" },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			id := uniqueID(t)
			seed(t, id, tc.seed)
			spec := matchingSpec(id)
			if tc.spec != nil {
				tc.spec(&spec)
			}
			c := create(t, ns, "drifted", spec)
			got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

			// Exactly that PATCH, and still only that once the operator has had time for more.
			stays(t, quietWindow, func() error {
				bodies := patchBodies(t, id)
				switch {
				case tc.want == "" && len(bodies) != 0:
					return errorf("%s\nsent PATCHes %v; want none", tc.reason, bodies)
				case tc.want != "" && (len(bodies) != 1 || bodies[0] != tc.want):
					return errorf("%s\nsent PATCHes %v; want exactly %s", tc.reason, bodies, tc.want)
				}
				return nil
			})
			if tc.want != "" && !slices.Equal(got.Status.LastPatchedFields, tc.fields) {
				t.Errorf("status.lastPatchedFields = %v, want %v", got.Status.LastPatchedFields, tc.fields)
			}
			if tc.want != "" {
				eventually(t, resyncInterval*3, func() error {
					if ev := eventsFor(t, c); !slices.Contains(ev, "Patched") {
						return errorf("events %v lack Patched", ev)
					}
					return nil
				})
			}
		})
	}
}

func TestDriftOutsideGitIsPutBack(t *testing.T) {
	ns := newNamespace(t)
	id := uniqueID(t)
	rec := seed(t, id, nil)
	c := create(t, ns, "drift", matchingSpec(id))
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

	// Someone edits the record in the Tiquo dashboard.
	rec.Phone = "+1000000000"
	editInDashboard(rec)
	putBack := func() error {
		if b := patchBodies(t, id); len(b) != 1 || b[0] != `{"phone":"+1987654321"}` {
			return errorf("PATCHes %v; want one putting the phone back", b)
		}
		return nil
	}
	eventually(t, resyncInterval*4, putBack)
	stays(t, quietWindow, putBack)
	if stored, _ := sb.Customer(id); stored.Phone != "+1987654321" {
		t.Errorf("phone in Tiquo is %q after the correction", stored.Phone)
	}
	eventually(t, resyncInterval*2, func() error {
		if ev := eventsFor(t, c); !slices.Contains(ev, "DriftCorrected") {
			return errorf("events %v lack DriftCorrected", ev)
		}
		return nil
	})
}
