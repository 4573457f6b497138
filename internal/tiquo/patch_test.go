package tiquo

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestPatchMarshalJSON(t *testing.T) {
	cases := map[string]struct {
		patch      Patch
		wantJSON   string
		wantFields []string
		wantEmpty  bool
	}{
		"zero": {patch: Patch{}, wantJSON: `{}`, wantEmpty: true},
		"one field": {
			patch: Patch{Phone: ptr("+1987654321")}, wantJSON: `{"phone":"+1987654321"}`,
			wantFields: []string{"phone"},
		},
		"empty string clears": {
			patch: Patch{Notes: ptr("")}, wantJSON: `{"notes":""}`, wantFields: []string{"notes"},
		},
		"nil tags slice sends empty list": {
			patch: Patch{Tags: ptr([]string(nil))}, wantJSON: `{"tags":[]}`, wantFields: []string{"tags"},
		},
		"empty tags": {
			patch: Patch{Tags: &[]string{}}, wantJSON: `{"tags":[]}`, wantFields: []string{"tags"},
		},
		"address without set subfield is left out": {
			patch: Patch{Address: &AddressPatch{}}, wantJSON: `{}`, wantEmpty: true,
		},
		"address subfields only as set": {
			patch:      Patch{Address: &AddressPatch{Line1: ptr("456 Oak Avenue"), Line2: ptr("")}},
			wantJSON:   `{"address":{"line1":"456 Oak Avenue","line2":""}}`,
			wantFields: []string{"address.line1", "address.line2"},
		},
		"false consent is sent": {
			patch: Patch{MarketingConsent: ptr(false)}, wantJSON: `{"marketingConsent":false}`,
			wantFields: []string{"marketingConsent"},
		},
		"every field, in docs order": {
			patch: Patch{
				FirstName: ptr("J"), LastName: ptr("D"), Email: ptr("j@example.com"), Phone: ptr("+1"),
				DateOfBirth: ptr("1990-05-15"), Notes: ptr("n"), PreferredLocationID: ptr("loc"),
				CompanyID: ptr("comp"), MarketingConsent: ptr(true), Tags: &[]string{"VIP", "a\"b"},
				Address: &AddressPatch{Line1: ptr("1"), Line2: ptr("2"), City: ptr("c"), State: ptr("s"),
					PostalCode: ptr("p"), Country: ptr("US")},
			},
			wantJSON: `{"firstName":"J","lastName":"D","email":"j@example.com","phone":"+1","dateOfBirth":"1990-05-15",` +
				`"address":{"line1":"1","line2":"2","city":"c","state":"s","postalCode":"p","country":"US"},` +
				`"tags":["VIP","a\"b"],"notes":"n","preferredLocationId":"loc","marketingConsent":true,"companyId":"comp"}`,
			wantFields: []string{"address.city", "address.country", "address.line1", "address.line2", "address.postalCode",
				"address.state", "companyId", "dateOfBirth", "email", "firstName", "lastName", "marketingConsent",
				"notes", "phone", "preferredLocationId", "tags"},
		},
		"html is not escaped away": {
			patch: Patch{Notes: ptr("<b>&</b>")}, wantJSON: `{"notes":"\u003cb\u003e\u0026\u003c/b\u003e"}`,
			wantFields: []string{"notes"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(tc.patch)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantJSON, string(got)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantFields, tc.patch.Fields()); diff != "" {
				t.Errorf("Fields (-want +got):\n%s", diff)
			}
			if got := tc.patch.IsEmpty(); got != tc.wantEmpty {
				t.Errorf("IsEmpty = %v, want %v", got, tc.wantEmpty)
			}
			var back map[string]any
			if err := json.Unmarshal(got, &back); err != nil {
				t.Errorf("not valid JSON: %v", err)
			}
		})
	}
}
