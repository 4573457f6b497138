package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// check is one named check.
type check struct {
	name sandbox.Assumption
	run  func(context.Context, *runner) outcome
}

// checks are run in this order; RateLimitHeaders comes late to judge every answer before it,
// RateLimited429 last before cleanup as it spends the window.
var checks = []check{
	{sandbox.AbsentFieldsUntouched, checkAbsentFields},
	{sandbox.AddressMerges, checkAddressMerges},
	{sandbox.TagsReplace, checkTagsReplace},
	{sandbox.EmptyStringClears, checkEmptyClears},
	{sandbox.RequiredFieldsRefuseEmpty, checkRequiredRefuseEmpty},
	{sandbox.EmailConflict, checkEmailConflict},
	{sandbox.EmailWithoutCase, checkEmailWithoutCase},
	{sandbox.EmailStoredAsSent, checkEmailStoredAsSent},
	{sandbox.PhoneStoredAsSent, checkPhoneStoredAsSent},
	{sandbox.NoopPatchKeepsUpdatedAt, checkNoopPatch},
	{sandbox.PatchMovesUpdatedAt, checkPatchMovesUpdatedAt},
	{sandbox.GetMatchesPatch, checkGetMatchesPatch},
	{sandbox.ListPaging, checkListPaging},
	{sandbox.ListEmailFilter, checkListEmailFilter},
	{sandbox.NotFoundBody, checkNotFound},
	{sandbox.CreateAndDelete, checkCreateAndDelete},
	{sandbox.ArchiveHidesAndRestores, checkArchive},
	{sandbox.RateLimitHeaders, checkRateLimitHeaders},
	{sandbox.RateLimited429, checkRateLimited},
}

// Wire names used more than once.
const (
	keyEmail       = "email"
	keyDateOfBirth = "dateOfBirth"
	keyAddress     = "address"
	keyTags        = "tags"
	keyLimit       = "limit"
	keyNotes       = "notes"
	keyFirstName   = "firstName"
	keyCity        = "city"
	keyLastName    = "lastName"
	keyPhone       = "phone"
	keyLine2       = "line2"
	keyArchived    = "archived"
)

// Scratch values. Every scratch customer has these unless a check says otherwise.
const (
	scratchPhone = "+15550100"
	scratchNotes = "contract scratch"
)

// email returns a fresh scratch email address, e.g.
// tiquo-contract-1a2b3c4d-7-tag@example.com.
func (r *runner) email(tag string) string {
	r.n++
	return fmt.Sprintf("%s-%d-%s@example.com", r.prefix, r.n, tag)
}

// fullBody is the create body of a scratch customer with every field the suite can make up.
func fullBody(email string) map[string]any {
	return map[string]any{
		keyFirstName: "Contract", keyLastName: "Scratch", keyEmail: email,
		keyPhone: scratchPhone, keyDateOfBirth: "1990-05-15", keyNotes: scratchNotes,
		keyAddress: map[string]any{"line1": "1 Contract Street", keyLine2: "Unit 2", keyCity: "Testville",
			"postalCode": "00001", "country": "US"},
		keyTags: []string{"contract-a", "contract-b"},
	}
}

// record is a customer as an answer showed it, with its raw updatedAt.
type record struct {
	c         tiquo.Customer
	updatedAt string
}

func decodeRecord(data json.RawMessage) (record, error) {
	var rec record
	if err := json.Unmarshal(data, &rec.c); err != nil {
		return rec, fmt.Errorf("decode customer: %w", err)
	}
	var raw struct {
		UpdatedAt any `json:"updatedAt"`
	}
	_ = json.Unmarshal(data, &raw) // The first decode succeeded, so this one does.
	if raw.UpdatedAt != nil {
		rec.updatedAt = fmt.Sprint(raw.UpdatedAt)
	}
	return rec, nil
}

// create POSTs body and registers the new customer for cleanup.
func (r *runner) create(ctx context.Context, body map[string]any) (string, answer, error) {
	a, err := r.call(ctx, http.MethodPost, "", nil, body)
	if err != nil {
		if email, ok := body[keyEmail].(string); ok {
			r.lost = append(r.lost, email) // It may have been created.
		}
		return "", a, err
	}
	if a.status/100 != 2 {
		return "", a, fmt.Errorf("POST /v1/customers answered %s", a.describe())
	}
	var c struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(a.env.Data, &c); err != nil || c.ID == "" {
		if email, ok := body[keyEmail].(string); ok {
			r.lost = append(r.lost, email)
		}
		return "", a, fmt.Errorf("POST /v1/customers answered %d without data.id", a.status)
	}
	r.scratch = append(r.scratch, c.ID)
	return c.ID, a, nil
}

// get reads a customer; any status but 200 is an error.
func (r *runner) get(ctx context.Context, id string) (record, error) {
	a, err := r.call(ctx, http.MethodGet, id, nil, nil)
	if err != nil {
		return record{}, err
	}
	if a.status != http.StatusOK {
		return record{}, fmt.Errorf("GET /v1/customers/{id} answered %s", a.describe())
	}
	return decodeRecord(a.env.Data)
}

// fresh creates a full scratch customer and returns its id and record as a GET shows it.
func (r *runner) fresh(ctx context.Context, tag string) (string, record, error) {
	id, _, err := r.create(ctx, fullBody(r.email(tag)))
	if err != nil {
		return "", record{}, err
	}
	rec, err := r.get(ctx, id)
	return id, rec, err
}

// patch sends a PATCH; any status is returned.
func (r *runner) patch(ctx context.Context, id string, body any) (answer, error) {
	return r.call(ctx, http.MethodPatch, id, nil, body)
}

// patchOK sends a PATCH that must succeed.
func (r *runner) patchOK(ctx context.Context, id string, body any) (answer, error) {
	a, err := r.patch(ctx, id, body)
	if err == nil && a.status != http.StatusOK {
		err = fmt.Errorf("PATCH /v1/customers/{id} answered %s", a.describe())
	}
	return a, err
}

// fields flattens the writable fields of c by wire name; tags are sorted, as the operator
// compares them as a set.
func fields(c tiquo.Customer) map[string]string {
	m := map[string]string{
		keyFirstName: c.FirstName, keyLastName: c.LastName, keyEmail: c.Email, keyPhone: c.Phone,
		keyDateOfBirth: c.DateOfBirth, keyNotes: c.Notes, "preferredLocationId": c.PreferredLocationID,
		"companyId": c.CompanyID, "marketingConsent": "",
	}
	if c.MarketingConsent != nil {
		m["marketingConsent"] = strconv.FormatBool(*c.MarketingConsent)
	}
	a := tiquo.Address{}
	if c.Address != nil {
		a = *c.Address
	}
	for k, v := range map[string]string{"line1": a.Line1, keyLine2: a.Line2, keyCity: a.City,
		"state": a.State, "postalCode": a.PostalCode, "country": a.Country} {
		m["address."+k] = v
	}
	tags := slices.Clone(c.Tags)
	slices.Sort(tags)
	m[keyTags] = "[" + strings.Join(tags, " ") + "]"
	return m
}

// changed returns the sorted names of the fields that differ between a and b, except skip.
func changed(a, b map[string]string, skip ...string) []string {
	var out []string
	for k := range a {
		if a[k] != b[k] && !slices.Contains(skip, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// show quotes the fields named from m, e.g. `address.line1="1 Contract Street"`.
func show(m map[string]string, names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%q", n, m[n])
	}
	return strings.Join(parts, ", ")
}

func checkAbsentFields(ctx context.Context, r *runner) outcome {
	id, before, err := r.fresh(ctx, "absent")
	if err != nil {
		return failed(err)
	}
	if _, err := r.patchOK(ctx, id, map[string]any{keyNotes: "contract changed"}); err != nil {
		return failed(err)
	}
	after, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	if diff := changed(fields(before.c), fields(after.c), keyNotes); len(diff) > 0 {
		return differs("PATCH {notes} also changed %s: now %s", strings.Join(diff, ", "), show(fields(after.c), diff))
	}
	return holds("PATCH {notes} left every other field as it was")
}

func checkAddressMerges(ctx context.Context, r *runner) outcome {
	id, before, err := r.fresh(ctx, "address")
	if err != nil {
		return failed(err)
	}
	if _, err := r.patchOK(ctx, id, map[string]any{keyAddress: map[string]any{keyCity: "Mergetown"}}); err != nil {
		return failed(err)
	}
	after, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	f := fields(after.c)
	if f["address.city"] != "Mergetown" {
		return differs("PATCH {address:{city}} did not set the city: %s", show(f, []string{"address.city"}))
	}
	if diff := changed(fields(before.c), f, "address.city"); len(diff) > 0 {
		return differs("PATCH {address:{city}} also changed %s", show(f, diff))
	}
	return holds("PATCH {address:{city}} kept line1, line2, postalCode, country")
}

func checkTagsReplace(ctx context.Context, r *runner) outcome {
	id, _, err := r.fresh(ctx, "tags")
	if err != nil {
		return failed(err)
	}
	if _, err := r.patchOK(ctx, id, map[string]any{keyTags: []string{"contract-c"}}); err != nil {
		return failed(err)
	}
	after, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	if got := fields(after.c)[keyTags]; got != "[contract-c]" {
		return differs("tags [contract-a contract-b] then PATCH [contract-c] gave %s", got)
	}
	if _, err := r.patchOK(ctx, id, map[string]any{keyTags: []string{}}); err != nil {
		return failed(err)
	}
	if after, err = r.get(ctx, id); err != nil {
		return failed(err)
	}
	if len(after.c.Tags) != 0 {
		return differs("PATCH {tags: []} left %v", after.c.Tags)
	}
	return holds("PATCH [contract-c] over [contract-a contract-b] gave [contract-c]; [] removed every tag")
}

func checkEmptyClears(ctx context.Context, r *runner) outcome {
	id, _, err := r.fresh(ctx, "clear")
	if err != nil {
		return failed(err)
	}
	bodies := []struct {
		name string
		body map[string]any
	}{
		{keyPhone, map[string]any{keyPhone: ""}},
		{keyDateOfBirth, map[string]any{keyDateOfBirth: ""}},
		{keyNotes, map[string]any{keyNotes: ""}},
		{"address.line2", map[string]any{keyAddress: map[string]any{keyLine2: ""}}},
	}
	var refused []string
	for _, b := range bodies {
		a, err := r.patch(ctx, id, b.body)
		if err != nil {
			return failed(err)
		}
		if a.status != http.StatusOK {
			refused = append(refused, b.name+" ("+a.describe()+")")
		}
	}
	after, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	f := fields(after.c)
	var kept []string
	for _, b := range bodies {
		if f[b.name] != "" {
			kept = append(kept, b.name)
		}
	}
	if len(refused) > 0 || len(kept) > 0 {
		return differs(`"" refused for %s; kept %s`, orNone(refused), orNone(kept))
	}
	return holds(`"" cleared phone, dateOfBirth, notes, address.line2`)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func checkRequiredRefuseEmpty(ctx context.Context, r *runner) outcome {
	id, before, err := r.fresh(ctx, "required")
	if err != nil {
		return failed(err)
	}
	var bad []string
	var seen []string
	for _, name := range []string{keyFirstName, keyLastName, keyEmail} {
		a, err := r.patch(ctx, id, map[string]any{name: ""})
		if err != nil {
			return failed(err)
		}
		seen = append(seen, name+": "+a.describe())
		if a.status != http.StatusBadRequest || a.field() != name {
			bad = append(bad, name)
		}
	}
	after, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	if diff := changed(fields(before.c), fields(after.c)); len(diff) > 0 {
		bad = append(bad, "stored "+strings.Join(diff, ", "))
	}
	if len(bad) > 0 {
		return differs("%s", strings.Join(seen, "; "))
	}
	return holds("%s", strings.Join(seen, "; "))
}

func checkEmailConflict(ctx context.Context, r *runner) outcome {
	emailA := r.email("taken")
	if _, _, err := r.create(ctx, fullBody(emailA)); err != nil {
		return failed(err)
	}
	idB, _, err := r.fresh(ctx, "taker")
	if err != nil {
		return failed(err)
	}
	pa, err := r.patch(ctx, idB, map[string]any{keyEmail: emailA})
	if err != nil {
		return failed(err)
	}
	body := fullBody(emailA)
	ca, err := r.call(ctx, http.MethodPost, "", nil, body)
	if err != nil {
		r.lost = append(r.lost, emailA)
		return failed(err)
	}
	if ca.status/100 == 2 {
		var c struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(ca.env.Data, &c) == nil && c.ID != "" {
			r.scratch = append(r.scratch, c.ID)
		}
	}
	seen := fmt.Sprintf("PATCH %s; POST %s", pa.describe(), ca.describe())
	envelopeOK := func(a answer) bool {
		return a.env.Success != nil && !*a.env.Success && a.code() != ""
	}
	if pa.status != http.StatusConflict || ca.status != http.StatusConflict || !envelopeOK(pa) || !envelopeOK(ca) {
		return differs("%s (want 409 with the error envelope)", seen)
	}
	return holds("%s", seen)
}

func checkEmailWithoutCase(ctx context.Context, r *runner) outcome {
	emailA := r.email("case")
	idA, _, err := r.create(ctx, fullBody(emailA))
	if err != nil {
		return failed(err)
	}
	idB, _, err := r.fresh(ctx, "case-taker")
	if err != nil {
		return failed(err)
	}
	upper := strings.ToUpper(emailA)
	pa, err := r.patch(ctx, idB, map[string]any{keyEmail: upper})
	if err != nil {
		return failed(err)
	}
	la, err := r.call(ctx, http.MethodGet, "", url.Values{keyEmail: {upper}}, nil)
	if err != nil {
		return failed(err)
	}
	ids := listIDs(la)
	seen := fmt.Sprintf("PATCH to the upper-cased email of another: %s; ?email=UPPER found %d", pa.describe(), len(ids))
	if pa.status != http.StatusConflict || la.status != http.StatusOK || !slices.Equal(ids, []string{idA}) {
		return differs("%s", seen)
	}
	return holds("%s", seen)
}

// listIDs returns the ids of a list answer's items.
func listIDs(a answer) []string {
	var items []struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(a.env.Data, &items) // A body that is no list has no ids.
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

func checkEmailStoredAsSent(ctx context.Context, r *runner) outcome {
	r.n++
	sent := fmt.Sprintf("Contract.%s-%d@Example.COM", strings.ToUpper(r.prefix), r.n)
	id, _, err := r.create(ctx, fullBody(sent))
	if err != nil {
		return failed(err)
	}
	rec, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	if rec.c.Email != sent {
		return differs("sent %s, stored %s", sent, rec.c.Email)
	}
	return holds("stored %s as sent", sent)
}

func checkPhoneStoredAsSent(ctx context.Context, r *runner) outcome {
	id, _, err := r.fresh(ctx, "phone")
	if err != nil {
		return failed(err)
	}
	const sent = "+1 (555) 010-0199"
	if _, err := r.patchOK(ctx, id, map[string]any{keyPhone: sent}); err != nil {
		return failed(err)
	}
	rec, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	if rec.c.Phone != sent {
		return differs("sent %q, stored %q", sent, rec.c.Phone)
	}
	return holds("stored %q as sent", sent)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func checkNoopPatch(ctx context.Context, r *runner) outcome {
	id, before, err := r.fresh(ctx, "noop")
	if err != nil {
		return failed(err)
	}
	if err := sleep(ctx, r.cfg.Settle); err != nil {
		return failed(err)
	}
	if _, err := r.patchOK(ctx, id, map[string]any{keyNotes: scratchNotes, keyPhone: scratchPhone}); err != nil {
		return failed(err)
	}
	after, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	if after.updatedAt != before.updatedAt {
		return differs("PATCH of the stored notes and phone moved updatedAt %s -> %s", before.updatedAt, after.updatedAt)
	}
	return holds("PATCH of the stored notes and phone kept updatedAt %s", after.updatedAt)
}

// precision names the fractional-second precision of an ISO 8601 timestamp.
func precision(ts string) string {
	_, frac, ok := strings.Cut(ts, ".")
	if !ok {
		return "whole seconds"
	}
	digits := 0
	for _, c := range frac {
		if c < '0' || c > '9' {
			break
		}
		digits++
	}
	switch {
	case digits <= 3:
		return "milliseconds"
	case digits <= 6:
		return "microseconds"
	default:
		return "nanoseconds"
	}
}

func checkPatchMovesUpdatedAt(ctx context.Context, r *runner) outcome {
	id, before, err := r.fresh(ctx, "moves")
	if err != nil {
		return failed(err)
	}
	if err := sleep(ctx, r.cfg.Settle); err != nil {
		return failed(err)
	}
	if _, err := r.patchOK(ctx, id, map[string]any{keyNotes: "contract moved"}); err != nil {
		return failed(err)
	}
	after, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	t0, t1 := before.c.UpdatedAt, after.c.UpdatedAt
	if t0 == nil || t1 == nil {
		return differs("updatedAt missing (%q, %q)", before.updatedAt, after.updatedAt)
	}
	if !t1.After(*t0) {
		return differs("a changing PATCH left updatedAt at %s (was %s)", after.updatedAt, before.updatedAt)
	}
	return holds("a changing PATCH moved updatedAt forward; precision %s", precision(after.updatedAt))
}

func checkGetMatchesPatch(ctx context.Context, r *runner) outcome {
	id, _, err := r.fresh(ctx, "echo")
	if err != nil {
		return failed(err)
	}
	pa, err := r.patchOK(ctx, id, map[string]any{keyNotes: "contract echo", keyAddress: map[string]any{keyCity: "Echoville"}})
	if err != nil {
		return failed(err)
	}
	patched, err := decodeRecord(pa.env.Data)
	if err != nil {
		return failed(err)
	}
	got, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	diff := changed(fields(got.c), fields(patched.c))
	if got.updatedAt != patched.updatedAt {
		diff = append(diff, "updatedAt")
	}
	if len(diff) > 0 {
		return differs("the PATCH answer differs from the GET after it in %s", strings.Join(diff, ", "))
	}
	return holds("the PATCH answer equals the GET after it in every writable field and updatedAt")
}

func checkListPaging(ctx context.Context, r *runner) outcome {
	notes, ok, err := checkLimitBounds(ctx, r)
	if err != nil {
		return failed(err)
	}
	w, err := walkList(ctx, r)
	if err != nil {
		return failed(err)
	}
	if w.broken != "" {
		return differs("%s", w.broken)
	}
	if w.oversized > 0 {
		ok = false
		notes = append(notes, fmt.Sprintf("%d pages longer than limit %d", w.oversized, listPageSize))
	}
	if twice := len(w.order) - len(w.seen); twice > 0 {
		ok = false
		notes = append(notes, fmt.Sprintf("%d records listed twice", twice))
	}
	if w.complete {
		if w.missed > 0 {
			ok = false
			notes = append(notes, fmt.Sprintf("%d scratch records never listed", w.missed))
		}
		notes = append(notes, fmt.Sprintf("walked %d pages of %d to the end while writing", w.pages, listPageSize))
	} else {
		notes = append(notes, fmt.Sprintf("walked the first %d pages of %d while writing (account larger)", w.pages, listPageSize))
	}
	if slices.IsSorted(w.order) {
		notes = append(notes, "order: id ascending")
	} else {
		notes = append(notes, "order: not by id")
	}
	if !ok {
		return differs("%s", strings.Join(notes, "; "))
	}
	return holds("%s", strings.Join(notes, "; "))
}

// checkLimitBounds asks for pages of 0, 101 and 100: the first two must be refused or
// capped, the last served.
func checkLimitBounds(ctx context.Context, r *runner) (notes []string, ok bool, err error) {
	ok = true
	for _, limit := range []string{"0", "101"} {
		a, err := r.call(ctx, http.MethodGet, "", url.Values{keyLimit: {limit}}, nil)
		if err != nil {
			return nil, false, err
		}
		switch n := len(listIDs(a)); {
		case a.status == http.StatusBadRequest:
			notes = append(notes, "limit="+limit+": 400")
		case a.status == http.StatusOK && n <= 100:
			notes = append(notes, fmt.Sprintf("limit=%s: 200 with %d", limit, n))
		default:
			ok = false
			notes = append(notes, fmt.Sprintf("limit=%s: %s with %d items", limit, a.describe(), n))
		}
	}
	a, err := r.call(ctx, http.MethodGet, "", url.Values{keyLimit: {"100"}}, nil)
	if err != nil {
		return nil, false, err
	}
	if a.status != http.StatusOK || len(listIDs(a)) > 100 {
		ok = false
		notes = append(notes, "limit=100: "+a.describe())
	}
	return notes, ok, nil
}

// walk is what a list walk saw.
type walk struct {
	seen      map[string]int
	order     []string
	pages     int
	oversized int
	complete  bool
	missed    int    // scratch records that existed before the walk and were not listed
	broken    string // why the walk could not go on, if it could not
}

// walkList walks pages of listPageSize, writing between the first and second pages: a new
// record, and a change to one already listed. When the walk ends, every scratch record that
// existed before it must have been listed, and none twice.
func walkList(ctx context.Context, r *runner) (walk, error) {
	existing := slices.Clone(r.scratch)
	w := walk{seen: map[string]int{}}
	cursor := ""
	for w.pages < maxListPages {
		q := url.Values{keyLimit: {strconv.Itoa(listPageSize)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		a, err := r.call(ctx, http.MethodGet, "", q, nil)
		if err != nil {
			return w, err
		}
		if a.status != http.StatusOK || a.env.Pagination == nil {
			w.broken = fmt.Sprintf("page %d: %s, pagination %v", w.pages+1, a.describe(), a.env.Pagination != nil)
			return w, nil
		}
		w.pages++
		ids := listIDs(a)
		if len(ids) > listPageSize {
			w.oversized++
		}
		for _, id := range ids {
			w.seen[id]++
			w.order = append(w.order, id)
		}
		if !a.env.Pagination.HasMore {
			w.complete = true
			break
		}
		next := a.env.Pagination.NextCursor
		if next == "" || next == cursor {
			w.broken = fmt.Sprintf("hasMore with nextCursor %q after %q", next, cursor)
			return w, nil
		}
		cursor = next
		if w.pages == 1 {
			if err := writeDuringWalk(ctx, r, ids); err != nil {
				return w, err
			}
		}
	}
	if w.complete {
		for _, id := range existing {
			if w.seen[id] == 0 {
				w.missed++
			}
		}
	}
	return w, nil
}

// writeDuringWalk creates a scratch record and changes the first listed one if it is scratch.
func writeDuringWalk(ctx context.Context, r *runner, listed []string) error {
	if _, _, err := r.create(ctx, fullBody(r.email("paging"))); err != nil {
		return err
	}
	if len(listed) > 0 && slices.Contains(r.scratch, listed[0]) {
		if _, err := r.patchOK(ctx, listed[0], map[string]any{keyNotes: "contract paging"}); err != nil {
			return err
		}
	}
	return nil
}

func checkListEmailFilter(ctx context.Context, r *runner) outcome {
	email := r.email("filter")
	id, _, err := r.create(ctx, fullBody(email))
	if err != nil {
		return failed(err)
	}
	a, err := r.call(ctx, http.MethodGet, "", url.Values{keyEmail: {email}}, nil)
	if err != nil {
		return failed(err)
	}
	none, err := r.call(ctx, http.MethodGet, "", url.Values{keyEmail: {r.email("nobody")}}, nil)
	if err != nil {
		return failed(err)
	}
	got, gotNone := listIDs(a), listIDs(none)
	seen := fmt.Sprintf("?email=<scratch> found %d, ?email=<unused> found %d", len(got), len(gotNone))
	if a.status != http.StatusOK || none.status != http.StatusOK || !slices.Equal(got, []string{id}) || len(gotNone) != 0 {
		return differs("%s (want 1 and 0)", seen)
	}
	return holds("%s", seen)
}

func checkNotFound(ctx context.Context, r *runner) outcome {
	id := "cust_" + strings.ReplaceAll(r.prefix, "-", "_") + "_absent"
	var seen []string
	ok := true
	for _, method := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
		var body any
		if method == http.MethodPatch {
			body = map[string]any{keyNotes: "contract"}
		}
		a, err := r.call(ctx, method, id, nil, body)
		if err != nil {
			return failed(err)
		}
		seen = append(seen, method+" "+a.describe())
		if a.status != http.StatusNotFound || a.code() != tiquo.CodeNotFound ||
			a.env.Success == nil || *a.env.Success {
			ok = false
		}
	}
	if !ok {
		return differs("unknown id: %s (want 404 not_found in the error envelope)", strings.Join(seen, "; "))
	}
	return holds("unknown id: %s", strings.Join(seen, "; "))
}

func checkCreateAndDelete(ctx context.Context, r *runner) outcome {
	id, ca, err := r.create(ctx, fullBody(r.email("lifecycle")))
	if err != nil {
		return failed(err)
	}
	created, err := decodeRecord(ca.env.Data)
	if err != nil {
		return failed(err)
	}
	got, err := r.get(ctx, id)
	if err != nil {
		return failed(err)
	}
	var bad []string
	if diff := changed(fields(got.c), fields(created.c)); len(diff) > 0 {
		bad = append(bad, "the POST answer differs from the GET in "+strings.Join(diff, ", "))
	}
	da, err := r.call(ctx, http.MethodDelete, id, nil, nil)
	if err != nil {
		return failed(err)
	}
	ga, err := r.call(ctx, http.MethodGet, id, nil, nil)
	if err != nil {
		return failed(err)
	}
	again, err := r.call(ctx, http.MethodDelete, id, nil, nil)
	if err != nil {
		return failed(err)
	}
	seen := fmt.Sprintf("POST %d; DELETE %d; GET after %d; DELETE again %d", ca.status, da.status, ga.status, again.status)
	if da.status/100 != 2 || ga.status != http.StatusNotFound || again.status != http.StatusNotFound {
		bad = append(bad, "want DELETE 2xx, then 404 for GET and DELETE")
	}
	if len(bad) > 0 {
		return differs("%s: %s", seen, strings.Join(bad, "; "))
	}
	return holds("%s", seen)
}

// archivedOf reads data.archived of an answer; absent (or no record) is false.
func archivedOf(a answer) bool {
	var c struct {
		Archived bool `json:"archived"`
	}
	_ = json.Unmarshal(a.env.Data, &c) // A body without a record is not archived.
	return c.Archived
}

func checkArchive(ctx context.Context, r *runner) outcome {
	email := r.email("archive")
	id, _, err := r.create(ctx, fullBody(email))
	if err != nil {
		return failed(err)
	}
	archive, err := r.patch(ctx, id, map[string]any{keyArchived: true})
	if err != nil {
		return failed(err)
	}
	if archive.status != http.StatusOK {
		return differs("PATCH {archived:true} answered %s (want 200)", archive.describe())
	}
	byEmail := url.Values{keyEmail: {email}}
	got, err := r.call(ctx, http.MethodGet, id, nil, nil)
	if err != nil {
		return failed(err)
	}
	hidden, err := r.call(ctx, http.MethodGet, "", byEmail, nil)
	if err != nil {
		return failed(err)
	}
	restore, err := r.patch(ctx, id, map[string]any{keyArchived: false})
	if err != nil {
		return failed(err)
	}
	back, err := r.call(ctx, http.MethodGet, "", byEmail, nil)
	if err != nil {
		return failed(err)
	}
	// The PATCH answers are not judged: whether they show every field is get-matches-patch.
	seen := fmt.Sprintf("PATCH {archived:true} 200; GET %d (archived %t); ?email= found %d; "+
		"PATCH {archived:false} %d; ?email= found %d",
		got.status, archivedOf(got), len(listIDs(hidden)), restore.status, len(listIDs(back)))
	var bad []string
	if got.status != http.StatusOK || !archivedOf(got) {
		bad = append(bad, "want a GET to show archived: true")
	}
	if hidden.status != http.StatusOK || len(listIDs(hidden)) != 0 {
		bad = append(bad, "want the archived record left out of ?email=")
	}
	if restore.status != http.StatusOK || back.status != http.StatusOK || !slices.Equal(listIDs(back), []string{id}) {
		bad = append(bad, "want {archived:false} to bring it back")
	}
	if len(bad) > 0 {
		return differs("%s: %s", seen, strings.Join(bad, "; "))
	}
	return holds("%s", seen)
}

func checkRateLimitHeaders(_ context.Context, r *runner) outcome {
	var missing, badReset int
	limits := map[string]bool{}
	var window time.Duration
	for _, a := range r.answers {
		l, rem, reset := a.header.Get("X-RateLimit-Limit"), a.header.Get("X-RateLimit-Remaining"), a.header.Get("X-RateLimit-Reset")
		if l == "" || rem == "" || reset == "" {
			missing++
			continue
		}
		limits[l] = true
		n, err := strconv.ParseInt(reset, 10, 64)
		at := time.Unix(n, 0)
		// Epoch seconds: not before the answer (a second of slack) nor more than a day on.
		if err != nil || at.Before(a.at.Add(-2*time.Second)) || at.After(a.at.Add(24*time.Hour)) {
			badReset++
			continue
		}
		window = max(window, at.Sub(a.at))
	}
	seen := fmt.Sprintf("%d answers: %d without all three headers, %d with a reset that is not a near Unix time; limit %s; reset at most %s ahead",
		len(r.answers), missing, badReset, strings.Join(slices.Sorted(maps.Keys(limits)), ","), window.Round(time.Second))
	if len(r.answers) == 0 || missing > 0 || badReset > 0 {
		return differs("%s", seen)
	}
	return holds("%s", seen)
}

func checkRateLimited(ctx context.Context, r *runner) outcome {
	if r.limit <= 0 {
		return differs("no X-RateLimit-Limit seen, so no budget to exceed")
	}
	id, _, err := r.create(ctx, fullBody(r.email("ratelimit")))
	if err != nil {
		return failed(err)
	}
	r.budget += ProbeBudget(r.limit)
	r.probing = true
	defer func() { r.probing = false }()
	for range ProbeBudget(r.limit) {
		a, err := r.call(ctx, http.MethodGet, id, nil, nil)
		if err != nil {
			return failed(err)
		}
		if a.status != http.StatusTooManyRequests {
			continue
		}
		until, ok := retryTime(a)
		seen := fmt.Sprintf("429 %s after %d requests; Retry-After %q; X-RateLimit-Reset %s ahead",
			a.code(), r.requests, a.header.Get("Retry-After"), time.Until(until).Round(time.Second))
		r.probing = false
		if err := r.waitOut(ctx, a); err != nil {
			return failed(err)
		}
		if !ok || until.Before(a.at.Add(-time.Second)) {
			return differs("%s: no usable time to retry", seen)
		}
		return holds("%s", seen)
	}
	return differs("no 429 within %d requests for a limit of %d", ProbeBudget(r.limit), r.limit)
}
