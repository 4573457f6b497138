package tiquo

import (
	"bytes"
	"encoding/json"
	"slices"
)

// AddressPatch is the address part of a Patch. For every subfield nil
// leaves it out of the request, a pointer to "" clears it and a pointer to
// any other string sets it. The API merges address, so subfields left out
// keep their stored values.
type AddressPatch struct {
	Line1      *string
	Line2      *string
	City       *string
	State      *string
	PostalCode *string
	Country    *string
}

// fields returns the wire names and values of the set subfields, in wire
// order.
func (a *AddressPatch) fields() object {
	if a == nil {
		return nil
	}
	var out object
	for _, f := range []struct {
		name string
		v    *string
	}{
		{"line1", a.Line1}, {"line2", a.Line2}, {"city", a.City},
		{"state", a.State}, {"postalCode", a.PostalCode}, {"country", a.Country},
	} {
		if f.v != nil {
			out = append(out, patchField{f.name, *f.v})
		}
	}
	return out
}

// Patch is the body of PATCH /v1/customers/{id}. For every field nil leaves
// it out of the request (the API keeps the stored value), a pointer to the
// empty value clears it, and a pointer to any other value sets it. Tags
// replace the stored list as a whole; a non-nil Tags pointing at an empty or
// nil slice removes every tag. The zero Patch is empty.
type Patch struct {
	FirstName           *string
	LastName            *string
	Email               *string
	Phone               *string
	DateOfBirth         *string
	Notes               *string
	PreferredLocationID *string
	CompanyID           *string
	MarketingConsent    *bool
	Address             *AddressPatch
	Tags                *[]string
}

// patchField is one member of a JSON object under construction.
type patchField struct {
	name  string
	value any
}

// object is a JSON object whose members keep their order.
type object []patchField

// MarshalJSON encodes o with its members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(f.name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// object returns the set fields in the order the docs list them, with
// address as a nested object of its set subfields, left out when it has
// none.
func (p Patch) object() object {
	var out object
	str := func(name string, v *string) {
		if v != nil {
			out = append(out, patchField{name, *v})
		}
	}
	str("firstName", p.FirstName)
	str("lastName", p.LastName)
	str("email", p.Email)
	str("phone", p.Phone)
	str("dateOfBirth", p.DateOfBirth)
	if sub := p.Address.fields(); len(sub) > 0 {
		out = append(out, patchField{"address", sub})
	}
	if p.Tags != nil {
		tags := *p.Tags
		if tags == nil {
			tags = []string{} // Encode "tags":[], never null.
		}
		out = append(out, patchField{"tags", tags})
	}
	str("notes", p.Notes)
	str("preferredLocationId", p.PreferredLocationID)
	if p.MarketingConsent != nil {
		out = append(out, patchField{"marketingConsent", *p.MarketingConsent})
	}
	str("companyId", p.CompanyID)
	return out
}

// MarshalJSON encodes only the set fields, in the order the docs list them.
// An Address with no set subfield is left out.
func (p Patch) MarshalJSON() ([]byte, error) {
	return p.object().MarshalJSON()
}

// IsEmpty reports whether the patch sets no field, so that sending it would
// change nothing.
func (p Patch) IsEmpty() bool {
	return len(p.object()) == 0
}

// Fields returns the sorted wire names of the set fields, with address
// subfields as "address.line1" and so on. It names fields, never values, so
// it is safe to log and to record in status.
func (p Patch) Fields() []string {
	var out []string
	for _, f := range p.object() {
		if sub, ok := f.value.(object); ok {
			for _, sf := range sub {
				out = append(out, f.name+"."+sf.name)
			}
			continue
		}
		out = append(out, f.name)
	}
	slices.Sort(out)
	return out
}
