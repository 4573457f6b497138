package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tiquo-operator/tiquo-operator/internal/contract"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr, func(k string) string { return env[k] })
	r := result{code, stdout.String(), stderr.String()}
	if key := env[envAPIKey]; key != "" && strings.Contains(r.stdout+r.stderr, key) {
		t.Fatalf("output holds the API key:\n%s\n%s", r.stdout, r.stderr)
	}
	return r
}

func newSandbox(t *testing.T, key string, tls bool, b sandbox.Behaviour) *sandbox.Server {
	t.Helper()
	opts := sandbox.Options{
		Keys:               map[string][]string{key: {sandbox.ScopeRead, sandbox.ScopeWrite}},
		RateLimitPerMinute: 1000, Behaviour: b,
	}
	sb := sandbox.NewServer(opts)
	if tls {
		sb = sandbox.NewTLSServer(opts)
	}
	t.Cleanup(sb.Close)
	return sb
}

func TestRefusesALiveKey(t *testing.T) {
	const live = "sk_live_contract_secret_42"
	sb := newSandbox(t, live, false, sandbox.Behaviour{})
	env := map[string]string{envBaseURL: sb.URL, envAPIKey: live}
	for _, allow := range []string{"", "yes", "true"} {
		env[envAllowLive] = allow
		r := runCmd(t, env)
		if r.code != exitError || !strings.Contains(r.stderr, "is not a test-mode key") ||
			!strings.Contains(r.stderr, envAllowLive+"="+allowLiveValue) {
			t.Errorf("%s=%q: want exit 2 and the way to allow it: %+v", envAllowLive, allow, r)
		}
	}
	if n := len(sb.Requests()); n != 0 {
		t.Errorf("a refused run sent %d requests", n)
	}

	// Told in so many words, it runs; every assumption the sandbox can check holds.
	env[envAllowLive] = allowLiveValue
	r := runCmd(t, env, "--settle", "10ms")
	if r.code != exitHolds {
		t.Fatalf("with %s: %+v", envAllowLive, r)
	}
	if !regexp.MustCompile(`(?m)^Checking http://127\.0\.0\.1:\d+: budget \d+ requests; scratch customers tiquo-contract-[0-9a-f]{8}-\*@example\.com`).
		MatchString(r.stderr) {
		t.Errorf("the budget is not printed first: %s", r.stderr)
	}
	if !regexp.MustCompile(`(?m)^rate-limited-429 +not checked +not asked for`).MatchString(r.stdout) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^%d hold, 0 differ, 0 failed, 1 not checked; \d+ requests of a budget of \d+$`,
			len(sandbox.Assumptions)-1)).MatchString(r.stdout) {
		t.Errorf("table:\n%s", r.stdout)
	}
}

func TestDiffersOverTLSAsJSON(t *testing.T) {
	const key = "sk_test_contract_tls"
	sb := newSandbox(t, key, true, sandbox.Behaviour{LowercaseEmail: true})
	env := map[string]string{envBaseURL: sb.URL, envAPIKey: key}
	if r := runCmd(t, env, "--settle", "10ms"); r.code != exitError || !strings.Contains(r.stdout, "failed") ||
		!strings.Contains(r.stdout, "certificate") {
		t.Errorf("without the CA: want exit 2 and the certificate error: %+v", r)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, sb.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, env, "--ca-file", ca, "--settle", "10ms", "-o", "json")
	if r.code != exitDiffers || !strings.Contains(r.stderr, "docs/contract.md") {
		t.Fatalf("want exit 1: %+v", r)
	}
	var rep contract.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var differing []sandbox.Assumption
	for _, res := range rep.Results {
		if res.Status == contract.Differs {
			differing = append(differing, res.Assumption)
		}
	}
	if len(differing) != 1 || differing[0] != sandbox.EmailStoredAsSent {
		t.Errorf("differing %v, want only %s", differing, sandbox.EmailStoredAsSent)
	}
}

func TestUsageErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"no base URL": {map[string]string{envAPIKey: "sk_test_x"}, nil, "no base URL: set TIQUO_BASE_URL"},
		"no key":      {map[string]string{envBaseURL: "http://127.0.0.1:1"}, nil, "no API key: set TIQUO_API_KEY"},
		"bad output":  {nil, []string{"-o", "yaml"}, "-o must be table or json"},
		"bad CA": {map[string]string{envBaseURL: "http://127.0.0.1:1", envAPIKey: "sk_test_x"},
			[]string{"--ca-file", "/nonexistent/ca.pem"}, "read CA file"},
	} {
		t.Run(name, func(t *testing.T) {
			if r := runCmd(t, tc.env, tc.args...); r.code != exitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q: %+v", tc.want, r)
			}
		})
	}
}
