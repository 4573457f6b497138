package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// fieldError is a 400 validation_error naming the offending field.
type fieldError struct {
	field string
	msg   string
}

// jsonNull is the JSON null literal.
const jsonNull = "null"

// Names of the customer fields with rules of their own.
const (
	fieldFirstName   = "firstName"
	fieldLastName    = "lastName"
	fieldEmail       = "email"
	fieldPhone       = "phone"
	fieldDateOfBirth = "dateOfBirth"
	fieldArchived    = "archived"
)

// Field kinds of the writable top-level customer fields. The string fields
// of a customer and of its address map to where each is stored.
var (
	stringFields = map[string]func(*Customer) *string{
		fieldFirstName:        func(c *Customer) *string { return &c.FirstName },
		fieldLastName:         func(c *Customer) *string { return &c.LastName },
		fieldEmail:            func(c *Customer) *string { return &c.Email },
		fieldPhone:            func(c *Customer) *string { return &c.Phone },
		fieldDateOfBirth:      func(c *Customer) *string { return &c.DateOfBirth },
		"notes":               func(c *Customer) *string { return &c.Notes },
		"preferredLocationId": func(c *Customer) *string { return &c.PreferredLocationID },
		"companyId":           func(c *Customer) *string { return &c.CompanyID },
	}
	addressFields = map[string]func(*Address) *string{
		"line1":      func(a *Address) *string { return &a.Line1 },
		"line2":      func(a *Address) *string { return &a.Line2 },
		"city":       func(a *Address) *string { return &a.City },
		"state":      func(a *Address) *string { return &a.State },
		"postalCode": func(a *Address) *string { return &a.PostalCode },
		"country":    func(a *Address) *string { return &a.Country },
	}
	readOnlyFields = map[string]bool{
		"id": true, "loyaltyPoints": true, "totalSpent": true, "visitCount": true,
		"createdAt": true, "updatedAt": true, "lastVisit": true,
	}
)

// patch is a parsed and validated PATCH or POST body. It records only the
// fields that were present.
//
// Choices where the docs are silent: "" and JSON null both clear a string
// field or an address subfield; [] and null both remove every tag; null on
// marketingConsent unsets it; null on address removes the whole address.
// firstName, lastName and email cannot be cleared (400). archived takes
// true or false only, and only on PATCH.
type patch struct {
	strs        map[string]string // top-level string fields; "" clears
	tagsSet     bool
	tags        []string
	consentSet  bool
	consent     *bool             // nil with consentSet clears
	addressNull bool              // "address": null
	address     map[string]string // address subfields; "" clears
	archivedSet bool              // "archived" was sent (PATCH only)
	archived    bool
}

// parseBody decodes and validates a request body. With create set, the
// fields POST requires must be present and non-empty.
func parseBody(body []byte, create bool) (patch, *fieldError) {
	p := patch{strs: map[string]string{}, address: map[string]string{}}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return p, &fieldError{msg: "Request body must be a JSON object"}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if fe := p.parseField(k, raw[k]); fe != nil {
			return p, fe
		}
	}
	if create && p.archivedSet {
		// The docs name archived only as a PATCH field; a create stays as it was.
		return p, &fieldError{field: fieldArchived, msg: "Unknown field " + fieldArchived}
	}
	if create {
		for _, f := range []string{fieldFirstName, fieldLastName, fieldEmail} {
			if _, ok := p.strs[f]; !ok {
				return p, &fieldError{field: f, msg: f + " is required"}
			}
		}
	}
	return p, nil
}

// parseField decodes one top-level field of a body into p.
func (p *patch) parseField(k string, v json.RawMessage) *fieldError {
	null := string(bytes.TrimSpace(v)) == jsonNull
	switch {
	case readOnlyFields[k]:
		return &fieldError{field: k, msg: k + " is read-only"}
	case stringFields[k] != nil:
		var s string
		if !null {
			if err := json.Unmarshal(v, &s); err != nil {
				return &fieldError{field: k, msg: k + " must be a string"}
			}
		}
		if fe := validateString(k, s); fe != nil {
			return fe
		}
		p.strs[k] = s
	case k == "tags":
		var tags []string
		if !null {
			if err := json.Unmarshal(v, &tags); err != nil {
				return &fieldError{field: k, msg: "tags must be an array of strings"}
			}
		}
		p.tagsSet, p.tags = true, tags
	case k == "marketingConsent":
		p.consentSet = true
		if !null {
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return &fieldError{field: k, msg: "marketingConsent must be a boolean"}
			}
			p.consent = &b
		}
	case k == "address":
		if null {
			p.addressNull = true
			return nil
		}
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(v, &sub); err != nil {
			return &fieldError{field: k, msg: "address must be an object"}
		}
		subKeys := make([]string, 0, len(sub))
		for sk := range sub {
			subKeys = append(subKeys, sk)
		}
		slices.Sort(subKeys)
		for _, sk := range subKeys {
			name := "address." + sk
			if addressFields[sk] == nil {
				return &fieldError{field: name, msg: "Unknown field " + name}
			}
			var s string
			if string(bytes.TrimSpace(sub[sk])) != jsonNull {
				if err := json.Unmarshal(sub[sk], &s); err != nil {
					return &fieldError{field: name, msg: name + " must be a string"}
				}
			}
			p.address[sk] = s
		}
	default:
		return p.parseArchived(k, v)
	}
	return nil
}

// parseArchived decodes archived, which must be true or false; any other field k is unknown.
func (p *patch) parseArchived(k string, v json.RawMessage) *fieldError {
	if k != fieldArchived {
		return &fieldError{field: k, msg: "Unknown field " + k}
	}
	if err := json.Unmarshal(v, &p.archived); err != nil || string(bytes.TrimSpace(v)) == jsonNull {
		return &fieldError{field: k, msg: "archived must be a boolean"}
	}
	p.archivedSet = true
	return nil
}

// validateString checks the format rules of one string field.
func validateString(field, s string) *fieldError {
	switch field {
	case fieldFirstName, fieldLastName:
		if strings.TrimSpace(s) == "" {
			return &fieldError{field: field, msg: field + " cannot be empty"}
		}
	case fieldEmail:
		if !validEmail(s) {
			return &fieldError{field: field, msg: "email must be a valid email address"}
		}
	case fieldDateOfBirth:
		if s != "" && !validDate(s) {
			return &fieldError{field: field, msg: "dateOfBirth must be a date in YYYY-MM-DD format"}
		}
	}
	if len(s) > 1000 {
		return &fieldError{field: field, msg: fmt.Sprintf("%s must be at most 1000 characters", field)}
	}
	return nil
}

// validDate reports whether s is a real calendar date in YYYY-MM-DD form.
func validDate(s string) bool {
	if len(s) != len(time.DateOnly) {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// validEmail reports whether s is a bare addr-spec with a dotted domain.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	return strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// normalize applies the server-side rewrites the behaviour options ask for.
func (p *patch) normalize(b Behaviour) {
	if v, ok := p.strs[fieldPhone]; ok && b.NormalizePhone {
		p.strs[fieldPhone] = normalizePhone(v)
	}
	if v, ok := p.strs[fieldEmail]; ok && b.LowercaseEmail {
		p.strs[fieldEmail] = strings.ToLower(v)
	}
	if b.IgnoreEmptyString {
		maps.DeleteFunc(p.strs, func(_, v string) bool { return v == "" })
		maps.DeleteFunc(p.address, func(_, v string) bool { return v == "" })
	}
}

// normalizePhone removes spaces, dashes, dots and parentheses and turns a
// leading international 00 into +, e.g. "+1 (987) 654-321" -> "+1987654321".
func normalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case ' ', '-', '.', '(', ')':
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if strings.HasPrefix(out, "00") {
		out = "+" + out[2:]
	}
	return out
}

// applyTo writes the fields of p into c: strings and tags replace, address
// subfields merge into the stored address (unless b says otherwise).
func (p *patch) applyTo(c *Customer, b Behaviour) {
	for k, v := range p.strs {
		if field := stringFields[k]; field != nil {
			*field(c) = v
		}
	}
	if p.tagsSet && b.MergeTags {
		for _, t := range p.tags {
			if !slices.Contains(c.Tags, t) {
				c.Tags = append(c.Tags, t)
			}
		}
	} else if p.tagsSet {
		c.Tags = slices.Clone(p.tags)
		if c.Tags == nil {
			c.Tags = []string{}
		}
	}
	if p.consentSet {
		c.MarketingConsent = p.consent
	}
	if p.archivedSet {
		c.Archived = p.archived
	}
	if p.addressNull {
		c.Address = nil
	}
	if len(p.address) > 0 && b.ReplaceAddress {
		c.Address = p.mergeAddress(nil)
	} else if len(p.address) > 0 {
		c.Address = p.mergeAddress(c.Address)
	}
}

// mergeAddress returns a copy of stored (nil for none) with the address
// subfields of p written over it, or nil when that leaves every subfield
// empty.
func (p *patch) mergeAddress(stored *Address) *Address {
	a := Address{}
	if stored != nil {
		a = *stored
	}
	for k, v := range p.address {
		if field := addressFields[k]; field != nil {
			*field(&a) = v
		}
	}
	if a.isZero() {
		return nil
	}
	return &a
}
