package diff_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

func TestCreateRequest(t *testing.T) {
	required := crmv1alpha1.CustomerSpec{FirstName: new("Ann"), LastName: new("Lee"), Email: new("Ann@Example.com")}
	for name, tc := range map[string]struct {
		reason string
		spec   crmv1alpha1.CustomerSpec
		want   string
	}{
		"required only": {
			reason: "the three fields Tiquo requires, as written",
			spec:   required,
			want:   `{"firstName":"Ann","lastName":"Lee","email":"Ann@Example.com"}`,
		},
		"every field": {
			reason: "every record field the spec sets is sent, in the wire order of CreateRequest",
			spec: func() crmv1alpha1.CustomerSpec {
				s := required
				s.Phone = new("+1 (555) 456-7890")
				s.DateOfBirth = new("1990-05-15")
				s.Address = &crmv1alpha1.Address{Line1: new("1 Main St"), City: new("Boston"), Country: new("US")}
				s.Tags = &[]string{"VIP", "new"}
				s.Notes = new("Prefers email")
				s.PreferredLocationID = new("loc_1")
				s.MarketingConsent = new(false)
				s.CompanyID = new("comp_1")
				return s
			}(),
			want: `{"firstName":"Ann","lastName":"Lee","email":"Ann@Example.com","phone":"+1 (555) 456-7890",` +
				`"dateOfBirth":"1990-05-15","address":{"line1":"1 Main St","city":"Boston","country":"US"},` +
				`"tags":["VIP","new"],"notes":"Prefers email","preferredLocationId":"loc_1",` +
				`"marketingConsent":false,"companyId":"comp_1"}`,
		},
		"empty values": {
			reason: `notes: "", tags: [] and an empty address are what a new record has: nothing to send`,
			spec: func() crmv1alpha1.CustomerSpec {
				s := required
				s.Notes = new("")
				s.Tags = &[]string{}
				s.Address = &crmv1alpha1.Address{Line1: new("")}
				return s
			}(),
			want: `{"firstName":"Ann","lastName":"Lee","email":"Ann@Example.com"}`,
		},
		"not record fields": {
			reason: "suspend, the policies and the key reference belong to the operator, not to Tiquo",
			spec: func() crmv1alpha1.CustomerSpec {
				s := required
				s.Suspend = true
				s.ManagementPolicy = crmv1alpha1.ManagementPolicySync
				s.AdoptionPolicy = crmv1alpha1.AdoptionPolicyRefuse
				s.DeletionPolicy = crmv1alpha1.DeletionPolicyDelete
				s.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: "key"}
				return s
			}(),
			want: `{"firstName":"Ann","lastName":"Lee","email":"Ann@Example.com"}`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(diff.CreateRequest(&tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, string(got)); d != "" {
				t.Errorf("%s: body (-want +got):\n%s", tc.reason, d)
			}
			// A record stored as the request says is in sync with the spec: the create
			// needs no PATCH after it.
			req := diff.CreateRequest(&tc.spec)
			rec := &tiquo.Customer{
				ID: id, FirstName: req.FirstName, LastName: req.LastName, Email: req.Email, Phone: req.Phone,
				DateOfBirth: req.DateOfBirth, Address: req.Address, Tags: req.Tags, Notes: req.Notes,
				PreferredLocationID: req.PreferredLocationID, MarketingConsent: req.MarketingConsent, CompanyID: req.CompanyID,
			}
			if p := diff.Compute(&tc.spec, rec); !p.IsEmpty() {
				t.Errorf("the created record would still be patched: %v", p.Fields())
			}
		})
	}

	// The request does not share the spec's tag list.
	spec := required
	spec.Tags = &[]string{"a"}
	req := diff.CreateRequest(&spec)
	req.Tags[0] = "changed"
	if (*spec.Tags)[0] != "a" {
		t.Error("CreateRequest aliases spec.tags")
	}
}
