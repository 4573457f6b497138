package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

func TestDemoSeedLoads(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	n, err := loadSeed(sb, "../../hack/demo/customers.json")
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("seeded %d customers, want 6", n)
	}
	c, ok := sb.Customer("cust_abc123")
	if !ok || c.FirstName != "John" || c.LastName != "Doe" || c.Address == nil || c.Address.Line1 != "123 Main Street" ||
		c.CreatedAt.IsZero() || c.LoyaltyPoints != 150 {
		t.Errorf("cust_abc123 = %+v", c)
	}
}

func TestKeyFlag(t *testing.T) {
	k := keyFlag{}
	for _, v := range []string{"sk_test_demo=customers:read,customers:write", "sk_ro=customers:read", "sk_none="} {
		if err := k.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	want := keyFlag{"sk_test_demo": {"customers:read", "customers:write"}, "sk_ro": {"customers:read"}, "sk_none": nil}
	if diff := cmp.Diff(want, k); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"nokey", "=customers:read"} {
		if err := k.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestBehaviourFlags(t *testing.T) {
	fs := flag.NewFlagSet("tiquo-sandbox", flag.ContinueOnError)
	var b sandbox.Behaviour
	behaviourFlags(fs, &b)
	if err := fs.Parse([]string{"--normalize-phone", "--merge-tags=true", "--lowercase-email", "--lowercase-email=false"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sandbox.Behaviour{NormalizePhone: true, MergeTags: true}, b); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Every option has its flag.
	for _, d := range sandbox.Deviations {
		if fs.Lookup(d.Flag) == nil {
			t.Errorf("no flag --%s", d.Flag)
		}
	}
	if err := fs.Parse([]string{"--replace-address=maybe"}); err == nil {
		t.Error("--replace-address=maybe accepted")
	}
}

func TestFaultFlags(t *testing.T) {
	fs := flag.NewFlagSet("tiquo-sandbox", flag.ContinueOnError)
	var f sandbox.Faults
	faultFlags(fs, &f)
	err := fs.Parse([]string{"--error-rate", "0.1", "--hang-rate=0.2",
		"--store-then-fail-rate", "0.5", "--store-then-fail-status", "503",
		"--store-then-hang-rate", "0.25", "--store-then-reset-rate", "1"})
	if err != nil {
		t.Fatal(err)
	}
	want := sandbox.Faults{ErrorRate: 0.1, HangRate: 0.2,
		StoreThenFailRate: 0.5, StoreThenFailStatus: 503, StoreThenHangRate: 0.25, StoreThenResetRate: 1}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := fs.Parse([]string{"--store-then-hang-rate", "often"}); err == nil {
		t.Error("--store-then-hang-rate often accepted")
	}
}

// Nonsensical fault flags end the command before it listens, naming the fault.
func TestRunRejectsBadFaults(t *testing.T) {
	for _, tc := range []struct {
		flag, value, want string
	}{
		{"--store-then-fail-rate", "1.5", "storeThenFailRate 1.5 outside [0, 1]"},
		{"--store-then-hang-rate", "-0.1", "storeThenHangRate -0.1 outside [0, 1]"},
		{"--store-then-reset-rate", "2", "storeThenResetRate 2 outside [0, 1]"},
		{"--store-then-fail-status", "409", "storeThenFailStatus 409 is not a 5xx status"},
	} {
		// An address nobody can listen on: reaching Listen would fail with another error.
		err := run([]string{"--api-key", "k=customers:read", "--listen", "127.0.0.1:no-port", tc.flag, tc.value})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err %v, want %q", tc.flag, tc.value, err, tc.want)
		}
	}
}

func TestWebhookFlagsAreValidated(t *testing.T) {
	for _, args := range [][]string{
		{"--webhook-url", "http://127.0.0.1:1/webhooks/tiquo"},
		{"--webhook-url", "ftp://127.0.0.1/x", "--webhook-secret", "s"},
		{"--webhook-url", "http://127.0.0.1:1/x", "--webhook-secret", "s", "--webhook-drop-rate", "1.5"},
	} {
		err := run(append([]string{"--listen", "127.0.0.1:0", "--api-key", "k=customers:read"}, args...))
		if err == nil || !strings.Contains(err.Error(), "webhooks:") {
			t.Errorf("run %v = %v, want a webhooks error before serving", args, err)
		}
	}
}
