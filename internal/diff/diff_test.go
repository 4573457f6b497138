package diff_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

const id = "cust_abc123"

// patchOut is what users see of a patch: the PATCH body the operator sends and the field
// names it records in status.lastPatchedFields.
type patchOut struct {
	Body   string
	Fields []string
}

// noPatch is the patch that sends nothing.
var noPatch = patchOut{Body: "{}"}

func out(t *testing.T, p tiquo.Patch) patchOut {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("json.Marshal(patch): %v", err)
	}
	return patchOut{Body: string(b), Fields: p.Fields()}
}

// record returns a fully populated live record, changed by mods.
func record(mods ...func(c *tiquo.Customer)) *tiquo.Customer {
	c := &tiquo.Customer{
		ID:          id,
		FirstName:   "John",
		LastName:    "Doe",
		Email:       "john@example.com",
		Phone:       "+15554567890",
		DateOfBirth: "1990-05-15",
		Address: &tiquo.Address{
			Line1: "456 Oak Avenue", Line2: "Apt 4", City: "New York", State: "NY",
			PostalCode: "10001", Country: "US",
		},
		Tags:                []string{"VIP", "longtime"},
		Notes:               "Prefers email communication",
		PreferredLocationID: "loc_xyz789",
		CompanyID:           "comp_def456",
		MarketingConsent:    new(true),
		LoyaltyPoints:       150,
		TotalSpent:          2500,
		VisitCount:          12,
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func TestCompute(t *testing.T) {
	cases := map[string]struct {
		reason string
		spec   *crmv1alpha1.CustomerSpec
		live   *tiquo.Customer
		want   patchOut
	}{
		"FirstNameChanged": {
			reason: "A managed text field that differs is sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, FirstName: new("Jane")},
			live:   record(),
			want:   patchOut{Body: `{"firstName":"Jane"}`, Fields: []string{"firstName"}},
		},
		"LastNameChanged": {
			reason: "lastName is compared with the live lastName, not another field.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, LastName: new("Smith")},
			live:   record(),
			want:   patchOut{Body: `{"lastName":"Smith"}`, Fields: []string{"lastName"}},
		},
		"FirstNameEqual": {
			reason: "A managed field equal to the live value is not sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, FirstName: new("John")},
			live:   record(),
			want:   noPatch,
		},
		"FirstNameEqualAfterTrimmingSpec": {
			reason: "Surrounding whitespace in the spec is ignored when comparing.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, FirstName: new("  John\t")},
			live:   record(),
			want:   noPatch,
		},
		"FirstNameEqualAfterTrimmingLive": {
			reason: "Surrounding whitespace in the live record is ignored when comparing.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, FirstName: new("John")},
			live:   record(func(c *tiquo.Customer) { c.FirstName = " John\n" }),
			want:   noPatch,
		},
		"TextSentAsWritten": {
			reason: "A differing value is sent exactly as the spec writes it, not normalised.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, FirstName: new(" Jane ")},
			live:   record(),
			want:   patchOut{Body: `{"firstName":" Jane "}`, Fields: []string{"firstName"}},
		},
		"NotesChanged": {
			reason: "notes that differ are sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Notes: new("Prefers SMS")},
			live:   record(),
			want:   patchOut{Body: `{"notes":"Prefers SMS"}`, Fields: []string{"notes"}},
		},
		"NotesEmptyClears": {
			reason: `notes: "" is desired state: it clears the live notes.`,
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Notes: new("")},
			live:   record(),
			want:   patchOut{Body: `{"notes":""}`, Fields: []string{"notes"}},
		},
		"NotesEmptyAlreadyClear": {
			reason: `notes: "" against notes already empty sends nothing.`,
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Notes: new("")},
			live:   record(func(c *tiquo.Customer) { c.Notes = "" }),
			want:   noPatch,
		},
		"DateOfBirthChanged": {
			reason: "dateOfBirth that differs is sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, DateOfBirth: new("1991-06-16")},
			live:   record(),
			want:   patchOut{Body: `{"dateOfBirth":"1991-06-16"}`, Fields: []string{"dateOfBirth"}},
		},
		"DateOfBirthEmptyClears": {
			reason: `dateOfBirth: "" clears the live date.`,
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, DateOfBirth: new("")},
			live:   record(),
			want:   patchOut{Body: `{"dateOfBirth":""}`, Fields: []string{"dateOfBirth"}},
		},
		"PreferredLocationIDEmptyClears": {
			reason: `preferredLocationId: "" clears the live location.`,
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, PreferredLocationID: new("")},
			live:   record(),
			want:   patchOut{Body: `{"preferredLocationId":""}`, Fields: []string{"preferredLocationId"}},
		},
		"PreferredLocationIDChanged": {
			reason: "preferredLocationId that differs is sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, PreferredLocationID: new("loc_new")},
			live:   record(),
			want:   patchOut{Body: `{"preferredLocationId":"loc_new"}`, Fields: []string{"preferredLocationId"}},
		},
		"CompanyIDChanged": {
			reason: "companyId that differs is sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, CompanyID: new("comp_new")},
			live:   record(),
			want:   patchOut{Body: `{"companyId":"comp_new"}`, Fields: []string{"companyId"}},
		},
		"CompanyIDEmptyClears": {
			reason: `companyId: "" clears the live company.`,
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, CompanyID: new("")},
			live:   record(),
			want:   patchOut{Body: `{"companyId":""}`, Fields: []string{"companyId"}},
		},
		"EmailEqualIgnoringCase": {
			reason: "email is compared without case.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Email: new("John@Example.COM")},
			live:   record(),
			want:   noPatch,
		},
		"EmailLiveCaseIgnored": {
			reason: "The live email's case is ignored too.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Email: new("john@example.com")},
			live:   record(func(c *tiquo.Customer) { c.Email = "JOHN@EXAMPLE.COM" }),
			want:   noPatch,
		},
		"EmailEqualIgnoringWhitespace": {
			reason: "email is compared without surrounding whitespace.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Email: new(" john@example.com\t")},
			live:   record(),
			want:   noPatch,
		},
		"EmailChangedSentAsWritten": {
			reason: "A differing email is sent with the spec's case, not lowered.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Email: new("Jane@Example.COM")},
			live:   record(),
			want:   patchOut{Body: `{"email":"Jane@Example.COM"}`, Fields: []string{"email"}},
		},
		"PhoneEqualIgnoringSeparators": {
			reason: "Spaces, parentheses and dashes in a phone number are ignored.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("+1 (555) 456-7890")},
			live:   record(),
			want:   noPatch,
		},
		"PhoneEqualIgnoringDots": {
			reason: "Dots in a phone number are ignored.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("+1.555.456.7890")},
			live:   record(),
			want:   noPatch,
		},
		"PhoneLiveSeparatorsIgnored": {
			reason: "Separators in the live phone number are ignored too.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("+15554567890")},
			live:   record(func(c *tiquo.Customer) { c.Phone = " +1 (555) 456-7890 " }),
			want:   noPatch,
		},
		"PhoneChangedSentAsWritten": {
			reason: "A differing phone number is sent with the spec's separators.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("+1 (555) 456-7891")},
			live:   record(),
			want:   patchOut{Body: `{"phone":"+1 (555) 456-7891"}`, Fields: []string{"phone"}},
		},
		"PhoneLeadingPlusSignificant": {
			reason: "A leading + is part of the number, not a separator.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("15554567890")},
			live:   record(),
			want:   patchOut{Body: `{"phone":"15554567890"}`, Fields: []string{"phone"}},
		},
		"PhoneEmptyClears": {
			reason: `phone: "" clears the live phone number.`,
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("")},
			live:   record(),
			want:   patchOut{Body: `{"phone":""}`, Fields: []string{"phone"}},
		},
		"PhoneEmptyClearsText": {
			reason: `phone: "" clears a live value that holds no digit at all.`,
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("")},
			live:   &tiquo.Customer{ID: id, Phone: "n/a"},
			want:   patchOut{Body: `{"phone":""}`, Fields: []string{"phone"}},
		},
		"PhoneLettersCount": {
			reason: "Only separators are ignored: letters in a live number make it differ.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("+1800")},
			live:   &tiquo.Customer{ID: id, Phone: "+1-800-FLOWERS"},
			want:   patchOut{Body: `{"phone":"+1800"}`, Fields: []string{"phone"}},
		},
		"ConsentTrueLiveUnknown": {
			reason: "Consent the live record does not report is sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, MarketingConsent: new(true)},
			live:   record(func(c *tiquo.Customer) { c.MarketingConsent = nil }),
			want:   patchOut{Body: `{"marketingConsent":true}`, Fields: []string{"marketingConsent"}},
		},
		"ConsentFalseLiveUnknown": {
			reason: "false is a value, not absence: it is sent when live does not report consent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, MarketingConsent: new(false)},
			live:   record(func(c *tiquo.Customer) { c.MarketingConsent = nil }),
			want:   patchOut{Body: `{"marketingConsent":false}`, Fields: []string{"marketingConsent"}},
		},
		"ConsentTrueLiveTrue": {
			reason: "Equal consent is not sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, MarketingConsent: new(true)},
			live:   record(),
			want:   noPatch,
		},
		"ConsentFalseLiveFalse": {
			reason: "Equal false consent is not sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, MarketingConsent: new(false)},
			live:   record(func(c *tiquo.Customer) { c.MarketingConsent = new(false) }),
			want:   noPatch,
		},
		"ConsentTrueLiveFalse": {
			reason: "Consent granted in the spec is sent.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, MarketingConsent: new(true)},
			live:   record(func(c *tiquo.Customer) { c.MarketingConsent = new(false) }),
			want:   patchOut{Body: `{"marketingConsent":true}`, Fields: []string{"marketingConsent"}},
		},
		"ConsentFalseLiveTrue": {
			reason: "Consent withdrawn in the spec is sent as false.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id, MarketingConsent: new(false)},
			live:   record(),
			want:   patchOut{Body: `{"marketingConsent":false}`, Fields: []string{"marketingConsent"}},
		},
		"ConsentAbsentLiveFalse": {
			reason: "Unmanaged consent is never sent, whatever live holds.",
			spec:   &crmv1alpha1.CustomerSpec{CustomerID: id},
			live:   record(func(c *tiquo.Customer) { c.MarketingConsent = new(false) }),
			want:   noPatch,
		},
		"OnlyManagedFieldsSent": {
			reason: "Of many differing fields, only the managed ones are sent.",
			spec: &crmv1alpha1.CustomerSpec{
				CustomerID: id, FirstName: new("John"), Phone: new("+1 555 000 1111"),
			},
			live: &tiquo.Customer{ID: id, FirstName: "John", LastName: "X", Email: "x@example.com", Notes: "x"},
			want: patchOut{Body: `{"phone":"+1 555 000 1111"}`, Fields: []string{"phone"}},
		},
		"EveryFieldChanged": {
			reason: "Every managed field that differs is sent, in the order the API docs list them.",
			spec: &crmv1alpha1.CustomerSpec{
				CustomerID: id, FirstName: new("Jane"), LastName: new("Roe"), Email: new("jane@example.com"),
				Phone: new("+1 555 000 1111"), DateOfBirth: new("1991-06-16"),
				Address:             &crmv1alpha1.Address{Line1: new("1 Elm St"), Country: new("CA")},
				Tags:                &[]string{"new"},
				Notes:               new(""),
				PreferredLocationID: new("loc_new"), MarketingConsent: new(false), CompanyID: new("comp_new"),
			},
			live: record(),
			want: patchOut{
				Body: `{"firstName":"Jane","lastName":"Roe","email":"jane@example.com","phone":"+1 555 000 1111",` +
					`"dateOfBirth":"1991-06-16","address":{"line1":"1 Elm St","country":"CA"},"tags":["new"],` +
					`"notes":"","preferredLocationId":"loc_new","marketingConsent":false,"companyId":"comp_new"}`,
				Fields: []string{"address.country", "address.line1", "companyId", "dateOfBirth", "email",
					"firstName", "lastName", "marketingConsent", "notes", "phone", "preferredLocationId", "tags"},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := out(t, diff.Compute(tc.spec, tc.live))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("\n%s\nCompute(...): -want, +got:\n%s", tc.reason, d)
			}
		})
	}
}

func TestComputeAddress(t *testing.T) {
	cases := map[string]struct {
		reason string
		spec   *crmv1alpha1.Address
		live   *tiquo.Address
		want   patchOut
	}{
		"Absent": {
			reason: "An absent address is not managed, even when live has one.",
			spec:   nil,
			live:   &tiquo.Address{Line1: "456 Oak Avenue", City: "New York"},
			want:   noPatch,
		},
		"NoSubfields": {
			reason: "address: {} manages no subfield, so nothing is sent.",
			spec:   &crmv1alpha1.Address{},
			live:   &tiquo.Address{Line1: "456 Oak Avenue"},
			want:   noPatch,
		},
		"Equal": {
			reason: "Managed subfields equal to live send nothing.",
			spec:   &crmv1alpha1.Address{Line1: new("456 Oak Avenue"), City: new("New York")},
			live:   &tiquo.Address{Line1: "456 Oak Avenue", City: "New York", Country: "US"},
			want:   noPatch,
		},
		"EqualAfterTrimming": {
			reason: "Subfields are compared without surrounding whitespace.",
			spec:   &crmv1alpha1.Address{PostalCode: new(" 10001 ")},
			live:   &tiquo.Address{PostalCode: "10001\t"},
			want:   noPatch,
		},
		"OnlyDifferingSubfieldSent": {
			reason: "The API merges address, so only the subfield that differs is sent.",
			spec:   &crmv1alpha1.Address{Line1: new("1 Elm St"), City: new("New York")},
			live:   &tiquo.Address{Line1: "456 Oak Avenue", City: "New York", Country: "US"},
			want:   patchOut{Body: `{"address":{"line1":"1 Elm St"}}`, Fields: []string{"address.line1"}},
		},
		"UnmanagedSubfieldIgnored": {
			reason: "A subfield absent from the spec is not sent though live differs.",
			spec:   &crmv1alpha1.Address{City: new("New York")},
			live:   &tiquo.Address{Line2: "Apt 4", City: "New York", State: "NY"},
			want:   noPatch,
		},
		"LiveNil": {
			reason: "Against a record without address every non-empty managed subfield is sent.",
			spec: &crmv1alpha1.Address{
				Line1: new("456 Oak Avenue"), City: new("New York"), Country: new("US"),
			},
			live: nil,
			want: patchOut{
				Body:   `{"address":{"line1":"456 Oak Avenue","city":"New York","country":"US"}}`,
				Fields: []string{"address.city", "address.country", "address.line1"},
			},
		},
		"LiveNilEmptySubfield": {
			reason: `line2: "" against a record without address has nothing to clear.`,
			spec:   &crmv1alpha1.Address{Line2: new("")},
			live:   nil,
			want:   noPatch,
		},
		"EmptySubfieldClears": {
			reason: `line2: "" clears the live line2 and leaves the other subfields alone.`,
			spec:   &crmv1alpha1.Address{Line1: new("456 Oak Avenue"), Line2: new("")},
			live:   &tiquo.Address{Line1: "456 Oak Avenue", Line2: "Apt 4", City: "New York"},
			want:   patchOut{Body: `{"address":{"line2":""}}`, Fields: []string{"address.line2"}},
		},
		"SentAsWritten": {
			reason: "A differing subfield is sent exactly as written.",
			spec:   &crmv1alpha1.Address{PostalCode: new(" 10002 ")},
			live:   &tiquo.Address{PostalCode: "10001"},
			want:   patchOut{Body: `{"address":{"postalCode":" 10002 "}}`, Fields: []string{"address.postalCode"}},
		},
		"EverySubfieldChanged": {
			reason: "Each subfield is compared with its own live subfield and sent in wire order.",
			spec: &crmv1alpha1.Address{
				Line1: new("l1"), Line2: new("l2"), City: new("c"), State: new("s"), PostalCode: new("p"),
				Country: new("CA"),
			},
			live: &tiquo.Address{
				Line1: "456 Oak Avenue", Line2: "Apt 4", City: "New York", State: "NY", PostalCode: "10001",
				Country: "US",
			},
			want: patchOut{
				Body: `{"address":{"line1":"l1","line2":"l2","city":"c","state":"s","postalCode":"p","country":"CA"}}`,
				Fields: []string{"address.city", "address.country", "address.line1", "address.line2",
					"address.postalCode", "address.state"},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := &crmv1alpha1.CustomerSpec{CustomerID: id, Address: tc.spec}
			live := record(func(c *tiquo.Customer) { c.Address = tc.live })
			got := out(t, diff.Compute(spec, live))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("\n%s\nCompute(...): -want, +got:\n%s", tc.reason, d)
			}
		})
	}
}

func TestComputeTags(t *testing.T) {
	cases := map[string]struct {
		reason string
		spec   *[]string
		live   []string
		want   patchOut
	}{
		"Absent": {
			reason: "Absent tags are not managed, even when live has some.",
			spec:   nil,
			live:   []string{"VIP"},
			want:   noPatch,
		},
		"EmptyClears": {
			reason: "tags: [] removes every tag and is sent as [], never null.",
			spec:   &[]string{},
			live:   []string{"VIP", "longtime"},
			want:   patchOut{Body: `{"tags":[]}`, Fields: []string{"tags"}},
		},
		"NilListClears": {
			reason: "A present but nil list means the same as [].",
			spec:   new([]string(nil)),
			live:   []string{"VIP"},
			want:   patchOut{Body: `{"tags":[]}`, Fields: []string{"tags"}},
		},
		"EmptyLiveNil": {
			reason: "tags: [] against a record without tags sends nothing.",
			spec:   &[]string{},
			live:   nil,
			want:   noPatch,
		},
		"EmptyLiveEmpty": {
			reason: "tags: [] against an empty list sends nothing.",
			spec:   &[]string{},
			live:   []string{},
			want:   noPatch,
		},
		"Equal": {
			reason: "The same tags in the same order send nothing.",
			spec:   &[]string{"VIP", "longtime"},
			live:   []string{"VIP", "longtime"},
			want:   noPatch,
		},
		"Reordered": {
			reason: "Tags are a set: a different order sends nothing.",
			spec:   &[]string{"longtime", "VIP"},
			live:   []string{"VIP", "longtime"},
			want:   noPatch,
		},
		"LiveDuplicates": {
			reason: "Duplicates in the live list do not make the sets differ.",
			spec:   &[]string{"longtime", "VIP"},
			live:   []string{"VIP", "longtime", "VIP"},
			want:   noPatch,
		},
		"EqualAfterTrimming": {
			reason: "Tags are compared without surrounding whitespace.",
			spec:   &[]string{" VIP", "longtime "},
			live:   []string{"longtime", "VIP"},
			want:   noPatch,
		},
		"Added": {
			reason: "The API replaces tags, so an added tag sends the whole desired list as written.",
			spec:   &[]string{"longtime", "VIP", "new"},
			live:   []string{"VIP", "longtime"},
			want:   patchOut{Body: `{"tags":["longtime","VIP","new"]}`, Fields: []string{"tags"}},
		},
		"Removed": {
			reason: "A removed tag sends the whole desired list.",
			spec:   &[]string{"VIP"},
			live:   []string{"VIP", "longtime"},
			want:   patchOut{Body: `{"tags":["VIP"]}`, Fields: []string{"tags"}},
		},
		"LiveNil": {
			reason: "Tags against a record without tags are sent.",
			spec:   &[]string{"VIP"},
			live:   nil,
			want:   patchOut{Body: `{"tags":["VIP"]}`, Fields: []string{"tags"}},
		},
		"CaseSignificant": {
			reason: "Tags are compared with their case.",
			spec:   &[]string{"vip"},
			live:   []string{"VIP"},
			want:   patchOut{Body: `{"tags":["vip"]}`, Fields: []string{"tags"}},
		},
		"SentAsWritten": {
			reason: "The desired list is sent as written, whitespace included, not normalised.",
			spec:   &[]string{" gold ", "VIP"},
			live:   []string{"VIP"},
			want:   patchOut{Body: `{"tags":[" gold ","VIP"]}`, Fields: []string{"tags"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := &crmv1alpha1.CustomerSpec{CustomerID: id, Tags: tc.spec}
			live := record(func(c *tiquo.Customer) { c.Tags = tc.live })
			got := out(t, diff.Compute(spec, live))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("\n%s\nCompute(...): -want, +got:\n%s", tc.reason, d)
			}
		})
	}
}

func TestComputeZeroSpecNeverPatches(t *testing.T) {
	cases := map[string]struct {
		reason string
		live   *tiquo.Customer
	}{
		"Full": {
			reason: "A spec with only customerId manages nothing, however full the record.",
			live:   record(),
		},
		"Empty": {
			reason: "Nor against a record that holds nothing.",
			live:   &tiquo.Customer{ID: id},
		},
		"Unusual": {
			reason: "Nor against a record with odd values the spec could never hold.",
			live: &tiquo.Customer{
				ID: id, FirstName: " ", Email: "NOT AN EMAIL", Phone: "n/a", DateOfBirth: "yesterday",
				Address: &tiquo.Address{}, Tags: []string{"", "VIP", "VIP"}, MarketingConsent: new(false),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := diff.Compute(&crmv1alpha1.CustomerSpec{CustomerID: id}, tc.live)
			if d := cmp.Diff(noPatch, out(t, p)); d != "" {
				t.Errorf("\n%s\nCompute(...): -want, +got:\n%s", tc.reason, d)
			}
			if !p.IsEmpty() {
				t.Errorf("\n%s\nCompute(...).IsEmpty() = false, want true", tc.reason)
			}
		})
	}
}

func TestComputeRecordMatchesItself(t *testing.T) {
	cases := map[string]struct {
		reason string
		spec   *crmv1alpha1.CustomerSpec
		live   *tiquo.Customer
	}{
		"SameValues": {
			reason: "A spec holding the record's own values, every field present, sends nothing.",
			spec:   specOf(record()),
			live:   record(),
		},
		"SameValuesEmptyRecord": {
			reason: "A spec holding an empty record's values (all empty) sends nothing.",
			spec:   specOf(&tiquo.Customer{ID: id}),
			live:   &tiquo.Customer{ID: id},
		},
		"WrittenDifferently": {
			reason: "Values that differ only in case of email, separators, whitespace or tag order send nothing.",
			spec: &crmv1alpha1.CustomerSpec{
				CustomerID: id, FirstName: new(" John "), LastName: new("Doe\t"), Email: new("JOHN@example.com"),
				Phone: new("+1 (555) 456-7890"), DateOfBirth: new(" 1990-05-15"),
				Address: &crmv1alpha1.Address{
					Line1: new("456 Oak Avenue "), Line2: new("Apt 4"), City: new(" New York"), State: new("NY"),
					PostalCode: new("10001"), Country: new("US"),
				},
				Tags:                &[]string{"longtime", " VIP"},
				Notes:               new("Prefers email communication\n"),
				PreferredLocationID: new("loc_xyz789"), MarketingConsent: new(true), CompanyID: new("comp_def456"),
			},
			live: record(),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := out(t, diff.Compute(tc.spec, tc.live))
			if d := cmp.Diff(noPatch, got); d != "" {
				t.Errorf("\n%s\nCompute(...): -want, +got:\n%s", tc.reason, d)
			}
		})
	}
}

func TestComputeLeavesInputsAlone(t *testing.T) {
	spec := &crmv1alpha1.CustomerSpec{
		CustomerID: id, FirstName: new("Jane"), Tags: &[]string{"new", "VIP"},
		Address: &crmv1alpha1.Address{Line1: new("1 Elm St")},
	}
	live := record()
	p := diff.Compute(spec, live)

	if d := cmp.Diff(record(), live); d != "" {
		t.Errorf("Compute changed the live record: -want, +got:\n%s", d)
	}
	wantSpec := &crmv1alpha1.CustomerSpec{
		CustomerID: id, FirstName: new("Jane"), Tags: &[]string{"new", "VIP"},
		Address: &crmv1alpha1.Address{Line1: new("1 Elm St")},
	}
	if d := cmp.Diff(wantSpec, spec); d != "" {
		t.Errorf("Compute changed the spec: -want, +got:\n%s", d)
	}

	// The patch must not share storage with the spec: a caller that edits one (say, the
	// controller dropping a non-convergent field) must not change the other.
	before := out(t, p)
	(*spec.Tags)[0] = "edited"
	*spec.FirstName = "edited"
	*spec.Address.Line1 = "edited"
	if d := cmp.Diff(before, out(t, p)); d != "" {
		t.Errorf("editing the spec changed the patch: -before, +after:\n%s", d)
	}
}

// fullPatch is a patch that sets every field, as Compute would against an empty record.
func fullPatch() tiquo.Patch {
	return tiquo.Patch{
		FirstName: new("Jane"), LastName: new("Roe"), Email: new("jane@example.com"), Phone: new("+1"),
		DateOfBirth: new("1991-06-16"), Notes: new(""), PreferredLocationID: new("loc"), CompanyID: new("comp"),
		MarketingConsent: new(false), Tags: &[]string{"VIP"},
		Address: &tiquo.AddressPatch{Line1: new("1 Elm St"), City: new("Toronto")},
	}
}

func TestOmit(t *testing.T) {
	cases := map[string]struct {
		reason string
		patch  tiquo.Patch
		names  []string
		want   patchOut
	}{
		"Nothing": {
			reason: "Omitting no name leaves the patch as it was.",
			patch:  fullPatch(),
			names:  nil,
			want: patchOut{
				Body: `{"firstName":"Jane","lastName":"Roe","email":"jane@example.com","phone":"+1",` +
					`"dateOfBirth":"1991-06-16","address":{"line1":"1 Elm St","city":"Toronto"},"tags":["VIP"],` +
					`"notes":"","preferredLocationId":"loc","marketingConsent":false,"companyId":"comp"}`,
				Fields: []string{"address.city", "address.line1", "companyId", "dateOfBirth", "email", "firstName",
					"lastName", "marketingConsent", "notes", "phone", "preferredLocationId", "tags"},
			},
		},
		"TopLevelFields": {
			reason: "Each top-level wire name removes its field, and only that field.",
			patch:  fullPatch(),
			names: []string{"firstName", "lastName", "email", "phone", "dateOfBirth", "notes",
				"preferredLocationId", "companyId"},
			want: patchOut{
				Body:   `{"address":{"line1":"1 Elm St","city":"Toronto"},"tags":["VIP"],"marketingConsent":false}`,
				Fields: []string{"address.city", "address.line1", "marketingConsent", "tags"},
			},
		},
		"TagsAndConsent": {
			reason: "tags and marketingConsent are removed by their wire names.",
			patch:  tiquo.Patch{Tags: &[]string{}, MarketingConsent: new(true), Phone: new("+1")},
			names:  []string{"tags", "marketingConsent"},
			want:   patchOut{Body: `{"phone":"+1"}`, Fields: []string{"phone"}},
		},
		"OneAddressSubfield": {
			reason: "address.line1 removes that subfield and keeps the others.",
			patch:  fullPatch(),
			names:  []string{"address.line1", "firstName"},
			want: patchOut{
				Body: `{"lastName":"Roe","email":"jane@example.com","phone":"+1","dateOfBirth":"1991-06-16",` +
					`"address":{"city":"Toronto"},"tags":["VIP"],"notes":"","preferredLocationId":"loc",` +
					`"marketingConsent":false,"companyId":"comp"}`,
				Fields: []string{"address.city", "companyId", "dateOfBirth", "email", "lastName",
					"marketingConsent", "notes", "phone", "preferredLocationId", "tags"},
			},
		},
		"LastAddressSubfieldDropsAddress": {
			reason: "Removing every set subfield drops the address.",
			patch:  tiquo.Patch{Phone: new("+1"), Address: &tiquo.AddressPatch{Line2: new(""), Country: new("US")}},
			names:  []string{"address.country", "address.line2"},
			want:   patchOut{Body: `{"phone":"+1"}`, Fields: []string{"phone"}},
		},
		"EveryAddressSubfield": {
			reason: "Every address subfield has a name that removes it.",
			patch: tiquo.Patch{Address: &tiquo.AddressPatch{
				Line1: new("1"), Line2: new("2"), City: new("c"), State: new("s"), PostalCode: new("p"),
				Country: new("US"),
			}},
			names: []string{"address.line1", "address.line2", "address.city", "address.state",
				"address.postalCode", "address.country"},
			want: noPatch,
		},
		"EveryField": {
			reason: "Omitting every name Fields returns leaves an empty patch.",
			patch:  fullPatch(),
			names:  fullPatch().Fields(),
			want:   noPatch,
		},
		"NameNotInPatch": {
			reason: "Omitting a field the patch does not set changes nothing.",
			patch:  tiquo.Patch{Phone: new("+1")},
			names:  []string{"email", "address.city", "tags"},
			want:   patchOut{Body: `{"phone":"+1"}`, Fields: []string{"phone"}},
		},
		"UnknownName": {
			reason: "An unknown name changes nothing.",
			patch:  tiquo.Patch{Phone: new("+1"), Address: &tiquo.AddressPatch{City: new("c")}},
			names:  []string{"nickname", "address.planet", "address"},
			want:   patchOut{Body: `{"phone":"+1","address":{"city":"c"}}`, Fields: []string{"address.city", "phone"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := out(t, tc.patch)
			omitted := diff.Omit(tc.patch, tc.names)
			got := out(t, omitted)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("\n%s\nOmit(...): -want, +got:\n%s", tc.reason, d)
			}
			if a := omitted.Address; a != nil && *a == (tiquo.AddressPatch{}) {
				t.Errorf("\n%s\nOmit(...) left an address with no subfield, want it dropped", tc.reason)
			}
			if d := cmp.Diff(before, out(t, tc.patch)); d != "" {
				t.Errorf("\n%s\nOmit changed its argument: -before, +after:\n%s", tc.reason, d)
			}
		})
	}
}

// apply returns live as the API leaves it after receiving p: it sends p through its JSON
// body, as the operator does, then sets every field the body carries, merges address subfield
// by subfield and replaces tags whole.
func apply(live tiquo.Customer, p tiquo.Patch) tiquo.Customer {
	b, err := json.Marshal(p)
	if err != nil {
		panic("marshal patch: " + err.Error()) // A Patch holds only strings and a bool.
	}
	var body struct {
		FirstName   *string `json:"firstName"`
		LastName    *string `json:"lastName"`
		Email       *string `json:"email"`
		Phone       *string `json:"phone"`
		DateOfBirth *string `json:"dateOfBirth"`
		Address     *struct {
			Line1      *string `json:"line1"`
			Line2      *string `json:"line2"`
			City       *string `json:"city"`
			State      *string `json:"state"`
			PostalCode *string `json:"postalCode"`
			Country    *string `json:"country"`
		} `json:"address"`
		Tags                *[]string `json:"tags"`
		Notes               *string   `json:"notes"`
		PreferredLocationID *string   `json:"preferredLocationId"`
		MarketingConsent    *bool     `json:"marketingConsent"`
		CompanyID           *string   `json:"companyId"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		panic("unmarshal patch body " + string(b) + ": " + err.Error())
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&live.FirstName, body.FirstName)
	set(&live.LastName, body.LastName)
	set(&live.Email, body.Email)
	set(&live.Phone, body.Phone)
	set(&live.DateOfBirth, body.DateOfBirth)
	set(&live.Notes, body.Notes)
	set(&live.PreferredLocationID, body.PreferredLocationID)
	set(&live.CompanyID, body.CompanyID)
	if body.MarketingConsent != nil {
		live.MarketingConsent = new(*body.MarketingConsent)
	}
	if a := body.Address; a != nil {
		var merged tiquo.Address
		if live.Address != nil {
			merged = *live.Address
		}
		set(&merged.Line1, a.Line1)
		set(&merged.Line2, a.Line2)
		set(&merged.City, a.City)
		set(&merged.State, a.State)
		set(&merged.PostalCode, a.PostalCode)
		set(&merged.Country, a.Country)
		live.Address = &merged
	}
	if body.Tags != nil {
		live.Tags = slices.Clone(*body.Tags)
	}
	return live
}

// specOf returns a spec that manages every field with the record's own values. Only
// marketingConsent stays absent when the record does not report it: a spec cannot ask for
// "unknown".
func specOf(c *tiquo.Customer) *crmv1alpha1.CustomerSpec {
	var a tiquo.Address
	if c.Address != nil {
		a = *c.Address
	}
	s := &crmv1alpha1.CustomerSpec{
		CustomerID: c.ID, FirstName: new(c.FirstName), LastName: new(c.LastName), Email: new(c.Email),
		Phone: new(c.Phone), DateOfBirth: new(c.DateOfBirth),
		Address: &crmv1alpha1.Address{
			Line1: new(a.Line1), Line2: new(a.Line2), City: new(a.City), State: new(a.State),
			PostalCode: new(a.PostalCode), Country: new(a.Country),
		},
		Tags:                new(slices.Clone(c.Tags)),
		Notes:               new(c.Notes),
		PreferredLocationID: new(c.PreferredLocationID),
		CompanyID:           new(c.CompanyID),
	}
	if c.MarketingConsent != nil {
		s.MarketingConsent = new(*c.MarketingConsent)
	}
	return s
}

// Bits of the fuzzer's present mask: which spec fields are present, and the shape of the
// live record.
const (
	bitFirstName uint32 = 1 << iota
	bitLastName
	bitEmail
	bitPhone
	bitDateOfBirth
	bitNotes
	bitPreferredLocationID
	bitCompanyID
	bitMarketingConsent
	bitTags
	bitLine1
	bitLine2
	bitCity
	bitState
	bitPostalCode
	bitCountry
	bitConsentValue     // the spec's marketingConsent
	bitLiveConsentKnown // the live record reports marketingConsent
	bitLiveConsentValue // and its value
	bitLiveAddressNil   // the live record has no address
)

// texts splits a fuzzed string on | into values for the text fields, reused cyclically.
type texts []string

func (t texts) at(i int) string { return t[i%len(t)] }

// fuzzSpec builds a spec from fuzzed inputs, bounded as admission bounds it: tags are
// unique (listType=set) and, as the brief for this test asks, non-empty after trimming.
func fuzzSpec(present uint32, text, email, phone, tags string) *crmv1alpha1.CustomerSpec {
	v := texts(strings.Split(text, "|"))
	pick := func(bit uint32, i int) *string {
		if present&bit == 0 {
			return nil
		}
		return new(v.at(i))
	}
	s := &crmv1alpha1.CustomerSpec{
		CustomerID:          id,
		FirstName:           pick(bitFirstName, 0),
		LastName:            pick(bitLastName, 1),
		DateOfBirth:         pick(bitDateOfBirth, 2),
		Notes:               pick(bitNotes, 3),
		PreferredLocationID: pick(bitPreferredLocationID, 4),
		CompanyID:           pick(bitCompanyID, 5),
	}
	if present&bitEmail != 0 {
		s.Email = new(email)
	}
	if present&bitPhone != 0 {
		s.Phone = new(phone)
	}
	if present&bitMarketingConsent != 0 {
		s.MarketingConsent = new(present&bitConsentValue != 0)
	}
	if present&(bitLine1|bitLine2|bitCity|bitState|bitPostalCode|bitCountry) != 0 {
		s.Address = &crmv1alpha1.Address{
			Line1: pick(bitLine1, 6), Line2: pick(bitLine2, 7), City: pick(bitCity, 8),
			State: pick(bitState, 9), PostalCode: pick(bitPostalCode, 10), Country: pick(bitCountry, 11),
		}
	}
	if present&bitTags != 0 {
		list := []string{}
		for _, tag := range strings.Split(tags, ",") {
			if strings.TrimSpace(tag) != "" && !slices.Contains(list, tag) {
				list = append(list, tag)
			}
		}
		s.Tags = &list
	}
	return s
}

// fuzzLive builds a live record from fuzzed inputs. The server's values are not bounded by
// admission, so tags may repeat or be empty.
func fuzzLive(present uint32, text, email, phone, tags string) *tiquo.Customer {
	v := texts(strings.Split(text, "|"))
	c := &tiquo.Customer{
		ID: id, FirstName: v.at(0), LastName: v.at(1), Email: email, Phone: phone, DateOfBirth: v.at(2),
		Notes: v.at(3), PreferredLocationID: v.at(4), CompanyID: v.at(5),
	}
	if present&bitLiveAddressNil == 0 {
		c.Address = &tiquo.Address{
			Line1: v.at(6), Line2: v.at(7), City: v.at(8), State: v.at(9), PostalCode: v.at(10), Country: v.at(11),
		}
	}
	if present&bitLiveConsentKnown != 0 {
		c.MarketingConsent = new(present&bitLiveConsentValue != 0)
	}
	if tags != "" {
		c.Tags = strings.Split(tags, ",")
	}
	return c
}

// managedFields returns the wire names of the fields spec manages, as Patch.Fields names them.
func managedFields(s *crmv1alpha1.CustomerSpec) []string {
	var names []string
	add := func(name string, present bool) {
		if present {
			names = append(names, name)
		}
	}
	add("firstName", s.FirstName != nil)
	add("lastName", s.LastName != nil)
	add("email", s.Email != nil)
	add("phone", s.Phone != nil)
	add("dateOfBirth", s.DateOfBirth != nil)
	add("notes", s.Notes != nil)
	add("preferredLocationId", s.PreferredLocationID != nil)
	add("companyId", s.CompanyID != nil)
	add("marketingConsent", s.MarketingConsent != nil)
	add("tags", s.Tags != nil)
	if a := s.Address; a != nil {
		add("address.line1", a.Line1 != nil)
		add("address.line2", a.Line2 != nil)
		add("address.city", a.City != nil)
		add("address.state", a.State != nil)
		add("address.postalCode", a.PostalCode != nil)
		add("address.country", a.Country != nil)
	}
	return names
}

// bodyFields returns the sorted names the JSON body of p carries, address subfields as
// address.line1 and so on.
func bodyFields(t *testing.T, p tiquo.Patch) []string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("json.Marshal(patch): %v", err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("patch body %s is not a JSON object: %v", b, err)
	}
	var names []string
	for k, v := range body {
		if k != "address" {
			names = append(names, k)
			continue
		}
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(v, &sub); err != nil {
			t.Fatalf("address in patch body %s is not a JSON object: %v", b, err)
		}
		for sk := range sub {
			names = append(names, "address."+sk)
		}
	}
	slices.Sort(names)
	return names
}

// checkAsWritten reports every value of p that is not exactly the spec's value.
func checkAsWritten(t *testing.T, s *crmv1alpha1.CustomerSpec, p tiquo.Patch) {
	t.Helper()
	str := func(name string, got, want *string) {
		if got != nil && (want == nil || *got != *want) {
			t.Errorf("patch sends %s %q, want it as the spec writes it", name, *got)
		}
	}
	str("firstName", p.FirstName, s.FirstName)
	str("lastName", p.LastName, s.LastName)
	str("email", p.Email, s.Email)
	str("phone", p.Phone, s.Phone)
	str("dateOfBirth", p.DateOfBirth, s.DateOfBirth)
	str("notes", p.Notes, s.Notes)
	str("preferredLocationId", p.PreferredLocationID, s.PreferredLocationID)
	str("companyId", p.CompanyID, s.CompanyID)
	if pa := p.Address; pa != nil {
		sa := s.Address
		if sa == nil {
			sa = &crmv1alpha1.Address{}
		}
		str("address.line1", pa.Line1, sa.Line1)
		str("address.line2", pa.Line2, sa.Line2)
		str("address.city", pa.City, sa.City)
		str("address.state", pa.State, sa.State)
		str("address.postalCode", pa.PostalCode, sa.PostalCode)
		str("address.country", pa.Country, sa.Country)
	}
	if p.MarketingConsent != nil && (s.MarketingConsent == nil || *p.MarketingConsent != *s.MarketingConsent) {
		t.Errorf("patch sends marketingConsent %v, want the spec's value", *p.MarketingConsent)
	}
	if p.Tags != nil {
		if s.Tags == nil {
			t.Errorf("patch sends tags the spec does not manage")
		} else if d := cmp.Diff(*s.Tags, *p.Tags, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("patch tags are not the spec's list as written: -spec, +patch:\n%s", d)
		}
	}
}

// FuzzComputeConverges checks, for specs and live records built from fuzzed inputs, that
//
//  1. applying the patch with the API's semantics (fields set, address merged, tags
//     replaced) leaves a record against which the same spec computes an empty patch;
//  2. a record never differs from itself: a spec holding a record's own values, every field
//     present, computes an empty patch, for the live record and the patched one;
//  3. the patch names only fields the spec manages, its JSON body carries exactly the names
//     Fields returns, and it sends the spec's values as written;
//
// and, along the way, that Compute leaves its inputs alone, that the patch shares no storage
// with the spec, and that Omit removes exactly the names it is given.
//
// Inputs are bounded as the API server bounds them: strings are valid UTF-8 (Kubernetes and
// JSON carry nothing else) and spec tags are unique and non-empty after trimming.
func FuzzComputeConverges(f *testing.F) {
	const all = uint32(1<<16 - 1)
	full := "John|Doe|1990-05-15|Prefers email communication|loc_xyz789|comp_def456|456 Oak Avenue|Apt 4|New York|NY|10001|US"
	f.Add(all|bitConsentValue|bitLiveConsentKnown|bitLiveConsentValue, uint16(0),
		" John |Doe\t|1990-05-15|Prefers email communication|loc_xyz789|comp_def456|456 Oak Avenue|Apt 4|New York|NY|10001|US",
		full, "John@Example.COM", "john@example.com", "+1 (555) 456-7890", "+15554567890", "longtime, VIP", "VIP,longtime,VIP")
	f.Add(all|bitLiveConsentKnown|bitLiveConsentValue, uint16(0xAAAA),
		"Jane|Roe|1991-06-16|Prefers SMS|loc_new|comp_new|1 Elm St||Toronto|ON|M5V|CA",
		full, "jane@example.com", "john@example.com", "+1 555 000 1111", "+15554567890", "new,VIP", "VIP,longtime")
	f.Add(uint32(0), uint16(0), "Jane", full, "jane@example.com", "john@example.com", "", "+15554567890", "", "VIP")
	f.Add(all, uint16(0xFFFF), "", full, "", "john@example.com", "", "+15554567890", "", "VIP,longtime")
	f.Add(bitLine1|bitLine2|bitCountry|bitTags|bitMarketingConsent|bitLiveAddressNil, uint16(1),
		"x|x|x|x|x|x|456 Oak Avenue||x|x|x|US", "", "", "", "", "", "VIP", "")

	f.Fuzz(func(t *testing.T, present uint32, omit uint16,
		specText, liveText, specEmail, liveEmail, specPhone, livePhone, specTags, liveTags string) {
		for _, s := range []string{specText, liveText, specEmail, liveEmail, specPhone, livePhone, specTags, liveTags} {
			if !utf8.ValidString(s) {
				t.Skip("Kubernetes and the API carry only valid UTF-8")
			}
		}
		newSpec := func() *crmv1alpha1.CustomerSpec { return fuzzSpec(present, specText, specEmail, specPhone, specTags) }
		newLive := func() *tiquo.Customer { return fuzzLive(present, liveText, liveEmail, livePhone, liveTags) }
		spec, live := newSpec(), newLive()

		p := diff.Compute(spec, live)
		names := p.Fields()

		// Compute is pure: it changes neither argument.
		if d := cmp.Diff(newSpec(), spec); d != "" {
			t.Fatalf("Compute changed the spec: -before, +after:\n%s", d)
		}
		if d := cmp.Diff(newLive(), live); d != "" {
			t.Fatalf("Compute changed the live record: -before, +after:\n%s", d)
		}

		// (3) Only managed fields, the body carries what Fields names, values as written.
		managed := managedFields(spec)
		for _, n := range names {
			if !slices.Contains(managed, n) {
				t.Errorf("patch names %s, which the spec does not manage (managed: %v)", n, managed)
			}
		}
		if d := cmp.Diff(names, bodyFields(t, p), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("Fields and the JSON body disagree: -Fields, +body:\n%s", d)
		}
		checkAsWritten(t, spec, p)

		// (1) Applying the patch converges.
		applied := apply(*live, p)
		if again := diff.Compute(spec, &applied); !again.IsEmpty() {
			t.Errorf("after applying the patch %v, Compute still sends %v", names, again.Fields())
		}

		// (2) A record never differs from itself.
		for what, rec := range map[string]*tiquo.Customer{"live": live, "patched": &applied} {
			if self := diff.Compute(specOf(rec), rec); !self.IsEmpty() {
				t.Errorf("the %s record differs from itself in %v", what, self.Fields())
			}
		}

		// Omit removes exactly the names it is given and leaves its argument alone.
		var drop, keep []string
		for i, n := range names {
			if omit&(1<<(i%16)) != 0 {
				drop = append(drop, n)
			} else {
				keep = append(keep, n)
			}
		}
		if d := cmp.Diff(keep, diff.Omit(p, drop).Fields(), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("Omit(%v): -want, +got:\n%s", drop, d)
		}
		if d := cmp.Diff(names, p.Fields()); d != "" {
			t.Errorf("Omit changed its argument: -before, +after:\n%s", d)
		}

		// The patch shares no storage with the spec.
		if p.Tags != nil && len(*p.Tags) > 0 {
			(*p.Tags)[0] += "!"
		}
		if d := cmp.Diff(newSpec(), spec); d != "" {
			t.Errorf("editing the patch changed the spec: -before, +after:\n%s", d)
		}
	})
}

// TestCreate: the POST body carries every field the spec sets, as written, and nothing the
// spec leaves out; empty values (a new record has none) and the operator's own fields are
// not sent. A record created from it matches the spec.
func TestCreate(t *testing.T) {
	spec := &crmv1alpha1.CustomerSpec{
		FirstName: new("Ann"), LastName: new("Lee"), Email: new("Ann@Example.com"), Phone: new("+1 555"),
		Notes: new(""), Tags: &[]string{"vip", "new"}, MarketingConsent: new(false),
		Address:        &crmv1alpha1.Address{City: new("Oslo"), Line2: new("")},
		DeletionPolicy: crmv1alpha1.DeletionPolicyArchive, Suspend: false,
	}
	b, err := json.Marshal(diff.Create(spec))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"firstName":"Ann","lastName":"Lee","email":"Ann@Example.com","phone":"+1 555","address":{"city":"Oslo"},"tags":["vip","new"],"marketingConsent":false}`
	if string(b) != want {
		t.Errorf("POST body\n got %s\nwant %s", b, want)
	}
	var created tiquo.Customer
	if err := json.Unmarshal(b, &created); err != nil {
		t.Fatal(err)
	}
	if p := diff.Compute(spec, &created); !p.IsEmpty() {
		t.Errorf("a record created from the body differs from the spec in %v", p.Fields())
	}
	if b, _ := json.Marshal(diff.Create(&crmv1alpha1.CustomerSpec{Tags: &[]string{}})); string(b) != `{"firstName":"","lastName":"","email":""}` {
		t.Errorf("empty spec: %s", b)
	}
}

// TestSameEmail: a lookup by email matches without case and surrounding space, and nothing
// else: the operator and kubectl tiquo diff take only a record with that very address.
func TestSameEmail(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"Ann@Example.com", "ann@example.com", true},
		{" ann@example.com", "ann@example.com ", true},
		{"ann@example.com", "ann+crm@example.com", false},
		{"ann@example.com", "", false},
	} {
		if got := diff.SameEmail(tc.a, tc.b); got != tc.want {
			t.Errorf("SameEmail(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
