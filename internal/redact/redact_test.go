package redact_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/redact"
)

func TestRedact(t *testing.T) {
	var r redact.Redactor
	r.Text("Zebulon", "77 Canary Lane", "SW1A 1AA", "José", "Al", "NY", "İİsecret")
	r.Email("Canary.Person@Leak-Test.example")
	r.Phone("+1 (555) 456-7890")
	r.Date("1971-07-19")

	cases := map[string]struct {
		in, want string
	}{
		"literal":                {"first name Zebulon is taken", "first name [redacted] is taken"},
		"other case":             {"ZEBULON and zebulon", "[redacted] and [redacted]"},
		"inside a word":          {"xZebulonx", "x[redacted]x"},
		"whitespace collapsed":   {"line1 77  Canary   Lane.", "line1 [redacted]."},
		"whitespace removed":     {"postcode SW1A1AA invalid", "postcode [redacted] invalid"},
		"accent stripped":        {"name Jose", "name [redacted]"},
		"decomposed accent":      {"name Jose\u0301!", "name [redacted]!"},
		"full-width":             {"name ｚｅｂｕｌｏｎ", "name [redacted]"},
		"email lower-cased":      {"email canary.person@leak-test.example used", "email [redacted] used"},
		"email local part":       {"user canary.person unknown", "user [redacted] unknown"},
		"phone E.164":            {"phone +15554567890 invalid", "phone +[redacted] invalid"},
		"phone digits":           {"phone=15554567890", "phone=[redacted]"},
		"phone national":         {"phone (555) 456-7890", "phone ([redacted]"},
		"phone in a code":        {"bad_phone_15554567890", "bad_phone_[redacted]"},
		"phone 00 prefix":        {"0015554567890", "00[redacted]"},
		"date":                   {"born 1971-07-19", "born [redacted]"},
		"date digits":            {"born 19710719", "born [redacted]"},
		"date day first":         {"born 19/07/1971", "born [redacted]"},
		"date month first":       {"born 07.19.1971", "born [redacted]"},
		"short value whole word": {"state NY unknown", "state [redacted] unknown"},
		"short value in a word":  {"ANYONE may", "ANYONE may"},
		"short value lower":      {"al is short", "[redacted] is short"},
		// A text whose lower-case form has the same byte length as the text, though runes
		// before the value change length ("İ" grows, the Kelvin sign shrinks).
		"case folding changes rune lengths": {"ȺİİsecretİK", "Ⱥ[redacted]İK"},
		"value after such runes":            {"KKİİİİİİ zebulon", "KKİİİİİİ [redacted]"},
		// Values nobody gave the redactor, in the shape of an email or a phone number.
		"any email":         {"owner is someone.else@example.org.", "owner is [redacted]."},
		"any phone":         {"call 020 7946 0958 now", "call [redacted] now"},
		"short numbers":     {"at most 1000 characters, HTTP 400", "at most 1000 characters, HTTP 400"},
		"ip address kept":   {"dial tcp 10.100.200.123:443: i/o timeout", "dial tcp 10.100.200.123:443: i/o timeout"},
		"nothing to redact": {"Customer not found", "Customer not found"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := r.Redact(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Redact(%q) (-want +got):\n%s", tc.in, diff)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Redact(%q) = %q is not valid UTF-8", tc.in, got)
			}
		})
	}
}

// TestRedactNeverCutsRunes redacts a value between runes whose case folding changes their
// length ("Ⱥ" grows, "İ" and the Kelvin sign shrink), in every pair, and checks that the value
// is gone and every other rune kept.
func TestRedactNeverCutsRunes(t *testing.T) {
	odd := []string{"İ", "K", "ẞ", "Ⱥ", "ı", "ſ", "é", "e\u0301", "ﬁ", "x"}
	for _, a := range odd {
		for _, b := range odd {
			var r redact.Redactor
			r.Text("secret")
			in := a + "SeCrEt" + b
			got := r.Redact(in)
			if want := a + redact.Mark + b; got != want {
				t.Errorf("Redact(%q) = %q, want %q", in, got, want)
			}
		}
	}
}

func TestZeroRedactor(t *testing.T) {
	var r redact.Redactor
	in := "Zebulon at zeb@example.com, +44 20 7946 0958"
	if got, want := r.Redact(in), "Zebulon at [redacted], [redacted]"; got != want {
		t.Errorf("Redact(%q) = %q, want %q", in, got, want)
	}
	var nilR *redact.Redactor
	if got := nilR.Redact("x@y.z"); strings.Contains(got, "@") {
		t.Errorf("a nil Redactor kept an email: %q", got)
	}
}
