// Package redact removes personal values from text that Tiquo wrote (an error message), before
// the operator quotes that text in a condition, an event or a log line.
//
// Tiquo may echo a value in a form other than the one it was sent: it normalises phones
// (`+15554567890` for `+1 (555) 456-7890`), may lower-case an email, collapse whitespace or
// strip accents. So a value is matched on its letters and digits only, compared without case,
// accents or compatibility forms: `+1 (555) 456-7890`, `+15554567890` and `1-555-456-7890` are
// one value, as are `John@Example.com` and `john@example.com`. A phone is also matched without
// its first one to three digits (a country code Tiquo may drop) and a date of birth in the
// day-month-year and month-day-year orders.
//
// Values of three or more letters and digits are removed wherever they occur, even inside a
// longer word; values of one or two (an initial, a state such as "NY") only where they stand as
// a whole word, so that "a" does not eat every word holding that letter. On top of the values it
// is given, a Redactor removes whatever looks like an email address or a phone number (seven or
// more digits), since Tiquo's text may quote values the operator never sent.
package redact

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Mark replaces every value removed from a text.
const Mark = "[redacted]"

// Redactor removes a set of personal values from texts. The zero Redactor removes only what
// looks like an email address or a phone number.
type Redactor struct {
	keys [][]rune // folded values, longest first
}

// minAnywhere is the folded length from which a value is removed wherever it occurs; shorter
// values are removed only as whole words.
const minAnywhere = 3

// Text adds values that are free text: a name, an address line, notes.
func (r *Redactor) Text(values ...string) {
	for _, v := range values {
		r.add(v)
	}
}

// Email adds email addresses, and the part of each before the @.
func (r *Redactor) Email(values ...string) {
	for _, v := range values {
		r.add(v)
		if local, _, ok := strings.Cut(v, "@"); ok {
			r.add(local)
		}
	}
}

// Phone adds phone numbers, also without their first one to three digits (a country code) as
// long as seven digits remain.
func (r *Redactor) Phone(values ...string) {
	for _, v := range values {
		r.add(v)
		digits := strings.Map(func(c rune) rune {
			if c >= '0' && c <= '9' {
				return c
			}
			return -1
		}, v)
		for cut := 1; cut <= 3 && len(digits)-cut >= 7; cut++ {
			r.add(digits[cut:])
		}
	}
}

// Date adds dates of birth; one written YYYY-MM-DD is also added as DD-MM-YYYY and MM-DD-YYYY.
func (r *Redactor) Date(values ...string) {
	for _, v := range values {
		r.add(v)
		if d, err := time.Parse(time.DateOnly, strings.TrimSpace(v)); err == nil {
			r.add(d.Format("02-01-2006"))
			r.add(d.Format("01-02-2006"))
		}
	}
}

func (r *Redactor) add(v string) {
	k := fold(v)
	if len(k) == 0 {
		return
	}
	for _, have := range r.keys {
		if slices.Equal(have, k) {
			return
		}
	}
	r.keys = append(r.keys, k)
	slices.SortStableFunc(r.keys, func(a, b []rune) int { return len(b) - len(a) })
}

// Redact returns s with every value of r, and everything that looks like an email address or a
// phone number, replaced by Mark.
func (r *Redactor) Redact(s string) string {
	if r != nil && len(r.keys) > 0 {
		s = r.values(s)
	}
	return Patterns(s)
}

// values replaces the values of r in s.
func (r *Redactor) values(s string) string {
	text := foldWithSpans(s)
	var spans []span
	for _, k := range r.keys {
		for i := 0; i+len(k) <= len(text); i++ {
			if !matchAt(text, i, k) {
				continue
			}
			sp := span{text[i].start, text[i+len(k)-1].end}
			for sp.end < len(s) { // Take the accents that follow along.
				c, n := utf8.DecodeRuneInString(s[sp.end:])
				if !unicode.Is(unicode.M, c) {
					break
				}
				sp.end += n
			}
			if len(k) < minAnywhere && !wholeWord(s, sp) {
				continue
			}
			spans = append(spans, sp)
			i += len(k) - 1
		}
	}
	return replaceSpans(s, spans)
}

func matchAt(text []foldedRune, i int, k []rune) bool {
	for j, c := range k {
		if text[i+j].r != c {
			return false
		}
	}
	return true
}

// wholeWord reports whether the span of s is neither preceded nor followed by a letter or digit.
func wholeWord(s string, sp span) bool {
	before := []rune(s[:sp.start])
	after := []rune(s[sp.end:])
	return (len(before) == 0 || !isAlnum(before[len(before)-1])) && (len(after) == 0 || !isAlnum(after[0]))
}

// span is a byte range [start, end) of a text.
type span struct{ start, end int }

// replaceSpans replaces each span of s, and each union of overlapping spans, by Mark.
func replaceSpans(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	at := 0
	for i := 0; i < len(spans); {
		cur := spans[i]
		for i++; i < len(spans) && spans[i].start < cur.end; i++ {
			cur.end = max(cur.end, spans[i].end)
		}
		b.WriteString(s[at:cur.start])
		b.WriteString(Mark)
		at = cur.end
	}
	b.WriteString(s[at:])
	return b.String()
}

// foldedRune is one letter or digit of a folded text and the bytes of the original rune it
// comes from.
type foldedRune struct {
	r          rune
	start, end int
}

// foldWithSpans folds s as fold does and remembers where each folded rune came from.
func foldWithSpans(s string) []foldedRune {
	var out []foldedRune
	for i, c := range s {
		end := i + len(string(c))
		for _, d := range norm.NFKD.String(string(c)) {
			if isAlnum(d) {
				out = append(out, foldedRune{canonical(d), i, end})
			}
		}
	}
	return out
}

// fold returns the letters and digits of s, decomposed (NFKD, so accents and compatibility
// forms fall away) and each mapped to one representative of its case-folding orbit.
func fold(s string) []rune {
	var out []rune
	for _, c := range norm.NFKD.String(s) {
		if isAlnum(c) {
			out = append(out, canonical(c))
		}
	}
	return out
}

func isAlnum(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }

// canonical returns the smallest rune that folds to the same letter as c, so that "K", "k" and
// the Kelvin sign compare equal.
func canonical(c rune) rune {
	m := c
	for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

var (
	emailLike = regexp.MustCompile(`[\p{L}\p{N}._%+\-']+@[\p{L}\p{N}\-]+(\.[\p{L}\p{N}\-]+)*`)
	// phoneLike is a run of digits and the separators of phone numbers; Patterns removes the
	// runs with seven digits or more.
	phoneLike = regexp.MustCompile(`\+?[(\d][\d\s().\-/]*\d`)
	ipv4      = regexp.MustCompile(`^\d{1,3}(\.\d{1,3}){3}$`)
)

// Patterns returns s with everything that looks like an email address, or like a phone number
// (seven digits or more, with or without separators; an IPv4 address is kept), replaced by Mark.
func Patterns(s string) string {
	s = emailLike.ReplaceAllString(s, Mark)
	return phoneLike.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, c := range m {
			if c >= '0' && c <= '9' {
				digits++
			}
		}
		if digits < 7 || ipv4.MatchString(m) {
			return m
		}
		return Mark
	})
}
