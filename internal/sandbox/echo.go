package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
)

// echoedField is a personal field of a PATCH or POST body, in the order the
// echo-values fault quotes them.
type echoedField struct {
	name   string
	forms  func(string) []string // the forms Tiquo may store the value in
	inAddr bool
}

func lower(v string) []string { return []string{strings.ToLower(v)} }

func phoneForms(v string) []string {
	e164 := normalizePhone(v)
	return []string{e164, strings.TrimPrefix(e164, "+")}
}

func textForms(v string) []string {
	l := strings.ToLower(v)
	return []string{l, strings.Join(strings.Fields(l), "")}
}

var echoedFields = []echoedField{
	{name: fieldEmail, forms: lower},
	{name: fieldPhone, forms: phoneForms},
	{name: fieldFirstName, forms: textForms},
	{name: fieldLastName, forms: textForms},
	{name: fieldDateOfBirth, forms: func(v string) []string { return []string{strings.ReplaceAll(v, "-", "")} }},
	{name: "notes", forms: textForms},
	{name: "line1", forms: textForms, inAddr: true},
	{name: "line2", forms: textForms, inAddr: true},
	{name: "city", forms: textForms, inAddr: true},
	{name: "state", forms: textForms, inAddr: true},
	{name: "postalCode", forms: textForms, inAddr: true},
	{name: "country", forms: textForms, inAddr: true},
}

// echoStatus returns the status of the echo-values fault's answers.
func (f Faults) echoStatus() int {
	if f.EchoValuesStatus != 0 {
		return f.EchoValuesStatus
	}
	return http.StatusBadRequest
}

// echoValues returns the answer of the echo-values fault to a PATCH or POST
// body: an error whose message quotes every personal value of the body as
// sent and in its stored forms, whose field is the first value's stored form
// (the email lower-cased, else the phone as +digits) and whose code holds
// the phone as digits only, else the last value's stored form. It returns
// false when the body holds no personal value (or is no JSON object).
func echoValues(body []byte, status int) (response, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return response{}, false
	}
	var addr map[string]json.RawMessage
	_ = json.Unmarshal(top["address"], &addr) // Absent or not an object: no subfields.

	var quotes, stored []string
	var digits string
	for _, f := range echoedFields {
		src := top
		if f.inAddr {
			src = addr
		}
		var v string
		if json.Unmarshal(src[f.name], &v) != nil || strings.TrimSpace(v) == "" {
			continue
		}
		forms := f.forms(v)
		quoted := make([]string, len(forms))
		for i, form := range forms {
			quoted[i] = strconv.Quote(form)
		}
		quotes = append(quotes, fmt.Sprintf("%s %q (stored as %s)", f.name, v, strings.Join(quoted, ", ")))
		stored = append(stored, forms[0])
		if f.name == fieldPhone {
			digits = forms[1]
		}
	}
	if len(quotes) == 0 {
		return response{}, false
	}
	code := digits
	if code == "" {
		code = stored[len(stored)-1]
	}
	code = "invalid_" + strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return '_'
	}, code)
	return errorResponse(status, code, "Rejected "+strings.Join(quotes, "; "), stored[0]), true
}
