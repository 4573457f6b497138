// Package diff decides what the operator sends to Tiquo: it compares the fields a Customer's
// spec manages with the live Tiquo record and builds the smallest PATCH that makes them match.
//
// It is a pure function of (spec, live record), shared by the controller and the tools that
// preview what the controller would send, so a preview is exactly what the operator does.
//
// The rules follow the API contract in design.md:
//   - a field absent from the spec is not managed and never appears in a patch;
//   - a present field is desired state, including the empty value ("" clears, [] removes
//     every tag);
//   - values are compared after normalisation: surrounding whitespace is ignored, email is
//     compared without case, phone numbers without separators;
//   - address is compared and sent subfield by subfield, because the API merges it;
//   - tags are compared as a set and, when they differ, sent whole, because the API
//     replaces them.
package diff

import (
	"slices"
	"strings"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// Compute returns the patch that makes live match every field spec manages. The patch
// carries the spec's values as written; it is empty when live already matches.
func Compute(spec *crmv1alpha1.CustomerSpec, live *tiquo.Customer) tiquo.Patch {
	var p tiquo.Patch
	p.FirstName = differs(spec.FirstName, live.FirstName, normText)
	p.LastName = differs(spec.LastName, live.LastName, normText)
	p.Email = differs(spec.Email, live.Email, normEmail)
	p.Phone = differs(spec.Phone, live.Phone, normPhone)
	p.DateOfBirth = differs(spec.DateOfBirth, live.DateOfBirth, normText)
	p.Notes = differs(spec.Notes, live.Notes, normText)
	p.PreferredLocationID = differs(spec.PreferredLocationID, live.PreferredLocationID, normText)
	p.CompanyID = differs(spec.CompanyID, live.CompanyID, normText)
	if spec.MarketingConsent != nil &&
		(live.MarketingConsent == nil || *live.MarketingConsent != *spec.MarketingConsent) {
		p.MarketingConsent = new(*spec.MarketingConsent)
	}
	if spec.Address != nil {
		p.Address = addressPatch(spec.Address, live.Address)
	}
	if spec.Tags != nil && !sameSet(*spec.Tags, live.Tags) {
		tags := slices.Clone(*spec.Tags)
		if tags == nil {
			tags = []string{}
		}
		p.Tags = &tags
	}
	return p
}

// addressPatch compares each managed subfield; it returns nil when none differs.
func addressPatch(want *crmv1alpha1.Address, live *tiquo.Address) *tiquo.AddressPatch {
	if live == nil {
		live = &tiquo.Address{}
	}
	a := tiquo.AddressPatch{
		Line1:      differs(want.Line1, live.Line1, normText),
		Line2:      differs(want.Line2, live.Line2, normText),
		City:       differs(want.City, live.City, normText),
		State:      differs(want.State, live.State, normText),
		PostalCode: differs(want.PostalCode, live.PostalCode, normText),
		Country:    differs(want.Country, live.Country, normText),
	}
	if a == (tiquo.AddressPatch{}) {
		return nil
	}
	return &a
}

// differs returns the desired value when it is managed and differs from live after
// normalisation, and nil otherwise.
func differs(want *string, live string, norm func(string) string) *string {
	if want == nil || norm(*want) == norm(live) {
		return nil
	}
	return new(*want)
}

// sameSet reports whether two tag lists hold the same tags, ignoring order, duplicates and
// surrounding whitespace.
func sameSet(a, b []string) bool {
	return slices.Equal(tagSet(a), tagSet(b))
}

func tagSet(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		out = append(out, normText(t))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func normText(s string) string { return strings.TrimSpace(s) }

// normEmail compares addresses without case: Tiquo treats them as one for uniqueness.
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// SameEmail reports whether two addresses are one for Tiquo, which compares them without case
// (and the operator ignores surrounding space), as a lookup by email does.
func SameEmail(a, b string) bool { return normEmail(a) == normEmail(b) }

// normPhone drops the separators people write in phone numbers (spaces, dashes, dots,
// parentheses), so "+1 (555) 456-7890" equals "+15554567890". Everything else counts:
// "+1-800-FLOWERS" does not equal "+1800".
func normPhone(s string) string {
	return phoneSeparators.Replace(strings.TrimSpace(s))
}

var phoneSeparators = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "")

// Omit removes the named fields (wire names as tiquo.Patch.Fields returns them, address
// subfields as address.line1) from p and returns what is left.
func Omit(p tiquo.Patch, names []string) tiquo.Patch {
	for _, name := range names {
		switch name {
		case "firstName":
			p.FirstName = nil
		case "lastName":
			p.LastName = nil
		case "email":
			p.Email = nil
		case "phone":
			p.Phone = nil
		case "dateOfBirth":
			p.DateOfBirth = nil
		case "notes":
			p.Notes = nil
		case "preferredLocationId":
			p.PreferredLocationID = nil
		case "companyId":
			p.CompanyID = nil
		case "marketingConsent":
			p.MarketingConsent = nil
		case "tags":
			p.Tags = nil
		default:
			if sub, ok := strings.CutPrefix(name, "address."); ok {
				p.Address = omitAddress(p.Address, sub)
			}
		}
	}
	return p
}

func omitAddress(a *tiquo.AddressPatch, sub string) *tiquo.AddressPatch {
	if a == nil {
		return nil
	}
	c := *a
	switch sub {
	case "line1":
		c.Line1 = nil
	case "line2":
		c.Line2 = nil
	case "city":
		c.City = nil
	case "state":
		c.State = nil
	case "postalCode":
		c.PostalCode = nil
	case "country":
		c.Country = nil
	}
	if c == (tiquo.AddressPatch{}) {
		return nil
	}
	return &c
}

// Create returns the body of the POST /v1/customers that creates the customer spec declares:
// every field the spec sets, as written. A field set to its empty value ("" or []) is left
// out, since a new record has none.
func Create(spec *crmv1alpha1.CustomerSpec) tiquo.CreateRequest {
	val := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	req := tiquo.CreateRequest{
		FirstName: val(spec.FirstName), LastName: val(spec.LastName), Email: val(spec.Email),
		Phone: val(spec.Phone), DateOfBirth: val(spec.DateOfBirth), Notes: val(spec.Notes),
		PreferredLocationID: val(spec.PreferredLocationID), CompanyID: val(spec.CompanyID),
		MarketingConsent: spec.MarketingConsent,
	}
	if a := spec.Address; a != nil {
		addr := tiquo.Address{Line1: val(a.Line1), Line2: val(a.Line2), City: val(a.City), State: val(a.State),
			PostalCode: val(a.PostalCode), Country: val(a.Country)}
		if addr != (tiquo.Address{}) {
			req.Address = &addr
		}
	}
	if spec.Tags != nil && len(*spec.Tags) > 0 {
		req.Tags = slices.Clone(*spec.Tags)
	}
	return req
}
