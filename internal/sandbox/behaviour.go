package sandbox

import (
	"slices"
	"strings"
)

// Assumption names one thing the operator's Tiquo client (internal/tiquo), its diff
// (internal/diff) or its drift scan relies on about the Tiquo API. The contract suite
// (internal/contract) names each of its checks by one, and each Deviation names the one it
// breaks, so that a difference found against a live Tiquo becomes a sandbox option and a
// test under the same name.
type Assumption string

// The assumptions, in the order the contract suite reports them.
const (
	// AbsentFieldsUntouched: a PATCH leaves every field it does not carry as it was.
	AbsentFieldsUntouched Assumption = "patch-leaves-absent-fields"
	// AddressMerges: a PATCH of some address subfields keeps the others.
	AddressMerges Assumption = "address-merges"
	// TagsReplace: a PATCH of tags replaces the whole list, and [] removes every tag.
	TagsReplace Assumption = "tags-replace"
	// EmptyStringClears: "" clears phone, dateOfBirth, notes and an address subfield.
	EmptyStringClears Assumption = "empty-string-clears"
	// RequiredFieldsRefuseEmpty: "" for firstName, lastName or email is a 400 naming the
	// field.
	RequiredFieldsRefuseEmpty Assumption = "required-fields-refuse-empty"
	// EmailConflict: taking another customer's email is a 409 with the error envelope.
	EmailConflict Assumption = "email-conflict-409"
	// EmailWithoutCase: email uniqueness and the list's email filter ignore case.
	EmailWithoutCase Assumption = "email-compared-without-case"
	// EmailStoredAsSent: an email is stored with the case it was sent in.
	EmailStoredAsSent Assumption = "email-stored-as-sent"
	// PhoneStoredAsSent: a phone number is stored with the separators it was sent with.
	PhoneStoredAsSent Assumption = "phone-stored-as-sent"
	// NoopPatchKeepsUpdatedAt: a PATCH that changes nothing leaves updatedAt alone.
	NoopPatchKeepsUpdatedAt Assumption = "noop-patch-keeps-updated-at"
	// PatchMovesUpdatedAt: a PATCH that changes something moves updatedAt forward, with
	// sub-second precision.
	PatchMovesUpdatedAt Assumption = "patch-moves-updated-at"
	// GetMatchesPatch: a GET after a PATCH returns what the PATCH answered.
	GetMatchesPatch Assumption = "get-matches-patch"
	// ListPaging: limit is bounded 1..100, pages hold at most limit items, nextCursor and
	// hasMore walk the whole list once, even while records are written.
	ListPaging Assumption = "list-paging"
	// ListEmailFilter: ?email= returns exactly the customer with that address.
	ListEmailFilter Assumption = "list-email-filter"
	// NotFoundBody: an unknown id is a 404 with error.code not_found.
	NotFoundBody Assumption = "not-found-body"
	// RateLimitHeaders: every answer to a known key carries X-RateLimit-Limit, -Remaining
	// and -Reset, the reset in Unix epoch seconds.
	RateLimitHeaders Assumption = "rate-limit-headers"
	// RateLimited429: past the budget the answer is 429 and says when to retry.
	RateLimited429 Assumption = "rate-limited-429"
	// CreateAndDelete: POST creates (201, with an id) and DELETE removes (then 404).
	CreateAndDelete Assumption = "create-and-delete"
	// ArchiveHidesAndRestores: PATCH {"archived": true} hides a record from lists (the
	// email filter included) while GET shows "archived": true, and {"archived": false}
	// brings it back.
	ArchiveHidesAndRestores Assumption = "archive-hides-and-restores"
)

// Assumptions lists every Assumption in report order.
var Assumptions = []Assumption{
	AbsentFieldsUntouched, AddressMerges, TagsReplace, EmptyStringClears, RequiredFieldsRefuseEmpty,
	EmailConflict, EmailWithoutCase, EmailStoredAsSent, PhoneStoredAsSent,
	NoopPatchKeepsUpdatedAt, PatchMovesUpdatedAt, GetMatchesPatch,
	ListPaging, ListEmailFilter, NotFoundBody, CreateAndDelete, ArchiveHidesAndRestores,
	RateLimitHeaders, RateLimited429,
}

// Behaviour selects where the sandbox departs from the operator's assumptions, to simulate a
// Tiquo that behaves otherwise. The zero value holds every Assumption. Each field is one
// entry of Deviations, which gives its flag name and the Assumption it breaks.
type Behaviour struct {
	// NormalizePhone stores phone numbers without spaces, dashes, dots and parentheses, and
	// with a leading 00 turned into +.
	NormalizePhone bool `json:"normalizePhone,omitempty"`
	// LowercaseEmail stores email addresses lower-cased.
	LowercaseEmail bool `json:"lowercaseEmail,omitempty"`
	// CaseSensitiveEmail makes email uniqueness and the list's email filter match case.
	CaseSensitiveEmail bool `json:"caseSensitiveEmail,omitempty"`
	// IgnoreEmptyString makes "" leave a field as it was instead of clearing it.
	IgnoreEmptyString bool `json:"ignoreEmptyString,omitempty"`
	// ReplaceAddress makes a PATCH of address replace the whole address.
	ReplaceAddress bool `json:"replaceAddress,omitempty"`
	// MergeTags makes a PATCH of tags add to the stored tags instead of replacing them.
	MergeTags bool `json:"mergeTags,omitempty"`
	// NoopPatchTouchesUpdatedAt moves updatedAt on every PATCH, even one that changes
	// nothing.
	NoopPatchTouchesUpdatedAt bool `json:"noopPatchTouchesUpdatedAt,omitempty"`
	// PartialPatchResponse answers a PATCH with the list item's subset of fields (no
	// address, dateOfBirth, notes, ...), like the docs' example response.
	PartialPatchResponse bool `json:"partialPatchResponse,omitempty"`
	// ListArchived keeps archived records in lists and in the list's email filter.
	ListArchived bool `json:"listArchived,omitempty"`
}

// Deviation is one option of Behaviour: the command-line flag that turns it on and the
// Assumption it breaks.
type Deviation struct {
	// Flag is the tiquo-sandbox flag, e.g. "normalize-phone".
	Flag string
	// Breaks is the Assumption that no longer holds with the option on.
	Breaks Assumption
	// Usage is the flag's help text.
	Usage string

	field func(*Behaviour) *bool
}

// Set turns the deviation on or off in b.
func (d Deviation) Set(b *Behaviour, on bool) { *d.field(b) = on }

// On reports whether the deviation is on in b.
func (d Deviation) On(b Behaviour) bool { return *d.field(&b) }

// Deviations lists every option of Behaviour.
var Deviations = []Deviation{
	{"normalize-phone", PhoneStoredAsSent, "store phone numbers without separators",
		func(b *Behaviour) *bool { return &b.NormalizePhone }},
	{"lowercase-email", EmailStoredAsSent, "store email addresses lower-cased",
		func(b *Behaviour) *bool { return &b.LowercaseEmail }},
	{"case-sensitive-email", EmailWithoutCase, "compare emails with case (uniqueness, list filter)",
		func(b *Behaviour) *bool { return &b.CaseSensitiveEmail }},
	{"ignore-empty-string", EmptyStringClears, `treat "" as "leave alone" instead of "clear"`,
		func(b *Behaviour) *bool { return &b.IgnoreEmptyString }},
	{"replace-address", AddressMerges, "replace the whole address on PATCH instead of merging subfields",
		func(b *Behaviour) *bool { return &b.ReplaceAddress }},
	{"merge-tags", TagsReplace, "add PATCHed tags to the stored ones instead of replacing them",
		func(b *Behaviour) *bool { return &b.MergeTags }},
	{"noop-patch-touches-updated-at", NoopPatchKeepsUpdatedAt, "move updatedAt on a PATCH that changes nothing",
		func(b *Behaviour) *bool { return &b.NoopPatchTouchesUpdatedAt }},
	{"partial-patch-response", GetMatchesPatch, "answer PATCH with the list item's subset of fields",
		func(b *Behaviour) *bool { return &b.PartialPatchResponse }},
	{"list-archived", ArchiveHidesAndRestores, "keep archived records in lists and the email filter",
		func(b *Behaviour) *bool { return &b.ListArchived }},
}

// Deviating returns the Assumptions b breaks, in report order.
func (b Behaviour) Deviating() []Assumption {
	var out []Assumption
	for _, a := range Assumptions {
		for _, d := range Deviations {
			if d.Breaks == a && d.On(b) && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// emailEqual compares two email addresses as b says the server does.
func (b Behaviour) emailEqual(x, y string) bool {
	if b.CaseSensitiveEmail {
		return x == y
	}
	return strings.EqualFold(x, y)
}

// Behaviour returns the behaviour options in force, including those the faults' older
// NormalizePhone and LowercaseEmail switches turn on.
func (s *Sandbox) Behaviour() Behaviour { return s.behaviourWith(s.Faults()) }

// behaviourWith returns the behaviour options in force with the faults f of a request.
func (s *Sandbox) behaviourWith(f Faults) Behaviour {
	s.faultsMu.RLock()
	b := s.behaviour
	s.faultsMu.RUnlock()
	b.NormalizePhone = b.NormalizePhone || f.NormalizePhone
	b.LowercaseEmail = b.LowercaseEmail || f.LowercaseEmail
	return b
}

// SetBehaviour replaces the behaviour options.
func (s *Sandbox) SetBehaviour(b Behaviour) {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	s.behaviour = b
}

// partial returns the subset of c a list item (and the docs' PATCH example) shows.
func (c Customer) partial() Customer {
	return Customer{
		ID: c.ID, FirstName: c.FirstName, LastName: c.LastName, Email: c.Email, Phone: c.Phone,
		Tags: slices.Clone(c.Tags), LoyaltyPoints: c.LoyaltyPoints,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}
