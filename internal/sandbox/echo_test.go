package sandbox_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

func TestFaultEchoValues(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	// Set through the admin API, as the tiquo-sandbox command's users do.
	var f sandbox.Faults
	if code := admin(t, s, "PUT", "/_sandbox/faults", `{"echoValuesRate":1}`, &f); code != 200 || f.EchoValuesRate != 1 {
		t.Fatalf("PUT faults = %d %+v", code, f)
	}
	body := `{"firstName":"Zebulon","email":"Canary.Person@Example.com","phone":"+1 (555) 456-7890",
		"address":{"line1":"77 Canary  Lane","postalCode":"SW1A 1AA"},"tags":["VIP"]}`
	r := call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", body)
	if r.Status != 400 || r.Env.Error == nil {
		t.Fatalf("PATCH = %d %s, want a 400 error", r.Status, r.Raw)
	}
	type echoed struct{ Code, Field string }
	if diff := cmp.Diff(echoed{"invalid_15554567890", "canary.person@example.com"}, echoed{r.code(), r.field()}); diff != "" {
		t.Errorf("code and field (-want +got):\n%s", diff)
	}
	for _, v := range []string{"Zebulon", "zebulon", "Canary.Person@Example.com", "canary.person@example.com",
		"+1 (555) 456-7890", "+15554567890", "15554567890", "77 Canary  Lane", "77canarylane", "SW1A 1AA", "sw1a1aa"} {
		if !strings.Contains(r.Env.Error.Message, v) {
			t.Errorf("message %q does not echo %q", r.Env.Error.Message, v)
		}
	}
	if c, _ := s.Customer("cust_abc123"); c.FirstName != "John" {
		t.Errorf("the refused PATCH changed the record: firstName %q", c.FirstName)
	}

	// No personal value, nothing to echo: the request is served.
	if r := call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", `{"tags":["VIP"]}`); r.Status != 200 {
		t.Errorf("PATCH of tags only = %d %s, want 200", r.Status, r.Raw)
	}
	if r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", ""); r.Status != 200 {
		t.Errorf("GET = %d, want 200", r.Status)
	}

	// Another status, and the code from the last value when no phone was sent.
	s.SetFaults(sandbox.Faults{EchoValuesRate: 1, EchoValuesStatus: 503})
	r = call(t, s, keyRW, "POST", "/v1/customers", `{"firstName":"Al","lastName":"Quaffertyx","email":"al@example.com"}`)
	if r.Status != 503 || r.code() != "invalid_quaffertyx" || r.field() != "al@example.com" {
		t.Errorf("POST = %d %s, want 503 invalid_quaffertyx on field al@example.com", r.Status, r.Raw)
	}

	for _, bad := range []string{`{"echoValuesRate":2}`, `{"echoValuesRate":1,"echoValuesStatus":302}`} {
		if code := admin(t, s, "PUT", "/_sandbox/faults", bad, nil); code != 400 {
			t.Errorf("PUT faults %s = %d, want 400", bad, code)
		}
	}
	b, _ := json.Marshal(sandbox.Faults{EchoValuesRate: 0.5, EchoValuesStatus: 422})
	var back sandbox.Faults
	if err := json.Unmarshal(b, &back); err != nil || back.EchoValuesRate != 0.5 || back.EchoValuesStatus != 422 {
		t.Errorf("round trip of %s = %+v, %v", b, back, err)
	}
}
