package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

const readOnlyKey = "sk_test_plugin_readonly_fedcba9876"

// newDoctorSandbox starts a TLS sandbox with a plan of rateLimit requests per minute (0 for
// none) that accepts testKey (read and write) and readOnlyKey, and writes its CA to a file.
func newDoctorSandbox(t *testing.T, rateLimit int) (*sandbox.Server, string) {
	t.Helper()
	sb := sandbox.NewTLSServer(sandbox.Options{
		Keys: map[string][]string{
			testKey:     {sandbox.ScopeRead, sandbox.ScopeWrite},
			readOnlyKey: {sandbox.ScopeRead},
		},
		RateLimitPerMinute: rateLimit,
	})
	t.Cleanup(sb.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, sb.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return sb, ca
}

// lines returns the report's lines with runs of spaces collapsed to one.
func lines(out string) []string {
	space := regexp.MustCompile(` {2,}`)
	var ls []string
	for l := range strings.Lines(out) {
		ls = append(ls, space.ReplaceAllString(strings.TrimRight(l, "\n"), " "))
	}
	return ls
}

// assertLines checks that each wanted line prefix starts some line of the output.
func assertLines(t *testing.T, r result, want ...string) {
	t.Helper()
	got := lines(r.stdout)
	for _, w := range want {
		found := false
		for _, l := range got {
			if strings.HasPrefix(l, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no line starting %q in:\n%s", w, r.stdout)
		}
	}
}

func TestDoctorHealthy(t *testing.T) {
	sb, ca := newDoctorSandbox(t, 1000)
	seed(sb)
	r := runPlugin(t, map[string]string{envAPIKey: testKey, envBaseURL: sb.URL}, nil,
		"doctor", "--ca-file", ca, "--customers", "500", "--account-records", "2000")
	t.Logf("\n%s", r.stdout)
	if r.code != exitOK {
		t.Fatalf("doctor: want exit 0: %s", r)
	}
	assertLines(t, r,
		"Tiquo at "+sb.URL+", key from TIQUO_API_KEY (fingerprint ",
		"OK endpoint reachable over TLS; certificate trusted with the CA file",
		"OK key accepted",
		"OK read scope GET /v1/customers answered 200",
		"OK write scope PATCH {} of a nonexistent id answered 404 not_found, so the key passed the customers:write check; nothing changed",
		"OK rate limit the plan allows 1000/min, as --tiquo-rate-limit says",
		"OK clock within 2s of the Date header; X-RateLimit-Reset ",
		"OK latency 2 calls, average ",
		"OK cost 500 Customers every 10m0s: drift scan: 20 list calls for 2000 records (cheaper than 500 GETs) = 2.0/min, 0.2% of 1000/min",
		"All checks passed.",
	)
	// Nothing changed: the only write was the empty PATCH of an id no record has.
	for _, req := range sb.Requests() {
		if req.Method != "GET" && (req.Method != "PATCH" || req.Path != "/v1/customers/"+plugin.ProbeID ||
			string(req.Body) != "{}" || req.Status != 404) {
			t.Errorf("doctor sent %s %s %s -> %d", req.Method, req.Path, req.Body, req.Status)
		}
	}

	// The same as JSON.
	r = runPlugin(t, map[string]string{envAPIKey: testKey, envBaseURL: sb.URL}, nil, "doctor", "--ca-file", ca, "-o", "json")
	var rep plugin.DoctorReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitOK || rep.Exit != 0 || len(rep.Findings) != 8 {
		t.Errorf("doctor -o json: %v: %s", err, r)
	}
}

func TestDoctorFailures(t *testing.T) {
	sb, ca := newDoctorSandbox(t, 1000)
	slowPlan, slowCA := newDoctorSandbox(t, 100)
	noHeaders, noHeadersCA := newDoctorSandbox(t, 0)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + closed.Addr().String()
	_ = closed.Close()

	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		code int
		want []string
	}{
		"bad key": {map[string]string{envAPIKey: "sk_test_wrong", envBaseURL: sb.URL}, []string{"--ca-file", ca}, exitError, []string{
			"OK endpoint reachable over TLS",
			"FAIL key rejected (401 unauthorized): the key is wrong, revoked or not a key of this Tiquo; put a current key in the Secret",
			"SKIP write scope not checked: the key was rejected",
			"Failures: the operator will not work as configured; fix the FAIL lines.",
		}},
		"read-only key": {map[string]string{envAPIKey: readOnlyKey, envBaseURL: sb.URL}, []string{"--ca-file", ca}, exitError, []string{
			"OK read scope GET /v1/customers answered 200",
			"FAIL write scope PATCH answered 403 insufficient_scope: the operator cannot correct drift; give the key customers:write",
		}},
		"wrong base URL": {map[string]string{envAPIKey: testKey, envBaseURL: closedURL}, nil, exitError, []string{
			"FAIL endpoint unreachable (",
			"SKIP key not checked: the API cannot be reached",
		}},
		"wrong base path": {map[string]string{envAPIKey: testKey, envBaseURL: sb.URL + "/api"}, []string{"--ca-file", ca}, exitError, []string{
			"FAIL endpoint no customers API at " + sb.URL + "/api/v1/customers (404 not_found): check --base-url",
		}},
		"TLS without the CA": {map[string]string{envAPIKey: testKey, envBaseURL: sb.URL}, nil, exitError, []string{
			"FAIL endpoint TLS: the certificate is signed by an unknown authority: pass --ca-file with the CA the operator's --tiquo-ca-file names",
		}},
		"plan limit below --tiquo-rate-limit": {map[string]string{envAPIKey: testKey, envBaseURL: slowPlan.URL}, []string{"--ca-file", slowCA}, exitError, []string{
			"OK write scope",
			"FAIL rate limit the plan allows 100/min but --tiquo-rate-limit is 1000: the operator would run into 429s; set --tiquo-rate-limit=100",
		}},
		"costly resyncs": {map[string]string{envAPIKey: testKey, envBaseURL: sb.URL}, []string{"--ca-file", ca, "--customers", "8000",
			"--drift-scan=false", "--resync-interval", "10m"}, exitChanges, []string{
			"WARN cost 8000 Customers every 10m0s: resync: 8000 GETs = 800.0/min, 80.0% of 1000/min: little room left",
			"Warnings: the operator will work, but read the WARN lines.",
		}},
		"no rate-limit headers": {map[string]string{envAPIKey: testKey, envBaseURL: noHeaders.URL}, []string{"--ca-file", noHeadersCA}, exitChanges, []string{
			"WARN rate limit the API sent no X-RateLimit-Limit, so --tiquo-rate-limit 1000 cannot be checked",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			r := runPlugin(t, tc.env, nil, append([]string{"doctor"}, tc.args...)...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d: %s", r.code, tc.code, r)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
			assertLines(t, r, tc.want...)
		})
	}
}

// A server whose clock runs five minutes slow announces a rate-limit reset in the past: the
// operator would retry too early after a 429.
func TestDoctorClockSkew(t *testing.T) {
	sb := sandbox.NewTLSServer(sandbox.Options{
		Keys:               map[string][]string{testKey: {sandbox.ScopeRead, sandbox.ScopeWrite}},
		RateLimitPerMinute: 1000,
		Now:                func() time.Time { return time.Now().Add(-5 * time.Minute) },
	})
	t.Cleanup(sb.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, sb.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runPlugin(t, map[string]string{envAPIKey: testKey, envBaseURL: sb.URL}, nil, "doctor", "--ca-file", ca)
	if r.code != exitChanges {
		t.Errorf("want exit 1: %s", r)
	}
	assertLines(t, r, "WARN clock within 2s of the Date header; X-RateLimit-Reset is 4m")
}

func TestDoctorUsageErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"no key":     {nil, nil, "no Tiquo API key: set TIQUO_API_KEY, or read it from the cluster with --secret NS/NAME or --customer NAME"},
		"bad secret": {nil, []string{"--secret", "just-a-name"}, `--secret "just-a-name" is not namespace/name or namespace/name:key`},
		"bad output": {map[string]string{envAPIKey: testKey}, []string{"-o", "yaml"}, `-o must be json or left out, not "yaml"`},
		"bad limit":  {map[string]string{envAPIKey: testKey}, []string{"--tiquo-rate-limit", "0"}, "--tiquo-rate-limit and --resync-interval must be positive"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runPlugin(t, tc.env, nil, append([]string{"doctor"}, tc.args...)...)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q: %s", tc.want, r)
			}
		})
	}
}

func TestDoctorKeyFromCluster(t *testing.T) {
	startControlPlane(t)
	sb, ca := newDoctorSandbox(t, 1000)
	kubeconfig := writeKubeconfig(t, "")
	ctx := context.Background()
	for _, ns := range []string{"tiquo-system", "doctor"} {
		if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "tiquo-system", Name: "default-key"}, Data: map[string][]byte{"apiKey": []byte(testKey + "\n")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "doctor", Name: "shop-key"}, Data: map[string][]byte{"token": []byte(readOnlyKey)}},
	} {
		if err := k8sClient.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for name, ref := range map[string]*crmv1alpha1.SecretKeyReference{
		"uses-ref": {Name: "shop-key", Key: "token"}, "uses-default": nil,
	} {
		c := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{Namespace: "doctor", Name: name},
			Spec: crmv1alpha1.CustomerSpec{CustomerID: "cust_" + strings.ReplaceAll(name, "-", "_"), APIKeySecretRef: ref}}
		if err := k8sClient.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{envBaseURL: sb.URL}
	base := []string{"doctor", "--kubeconfig", kubeconfig, "--ca-file", ca}

	r := runPlugin(t, env, nil, append(base, "--secret", "tiquo-system/default-key")...)
	if r.code != exitOK {
		t.Errorf("--secret: %s", r)
	}
	assertLines(t, r, "Tiquo at "+sb.URL+", key from Secret tiquo-system/default-key:apiKey (fingerprint ")

	r = runPlugin(t, env, nil, append(base, "--customer", "uses-ref", "-n", "doctor")...)
	if r.code != exitError {
		t.Errorf("--customer with a read-only key: %s", r)
	}
	assertLines(t, r, "Tiquo at "+sb.URL+", key from Secret doctor/shop-key:token (fingerprint ", "FAIL write scope",
		"OK cost 1 Customer (counted in the cluster) every 10m0s: resync: 1 GET (cheaper than a drift scan of 1 record)")
	if strings.Contains(r.stdout, readOnlyKey) {
		t.Error("printed the key")
	}

	r = runPlugin(t, env, nil, append(base, "--customer", "uses-default", "-n", "doctor", "--secret", "tiquo-system/default-key")...)
	if r.code != exitOK {
		t.Errorf("--customer falling back to --secret: %s", r)
	}

	for args, want := range map[string]string{
		"--customer uses-default -n doctor":           "has no apiKeySecretRef, so the operator uses its --default-api-key-secret: pass it as --secret",
		"--customer nobody -n doctor":                 `customer "nobody" not found in namespace "doctor"`,
		"--secret tiquo-system/absent":                "Secret tiquo-system/absent:apiKey not found: the operator would report CredentialsNotFound",
		"--secret tiquo-system/default-key:wrong-key": `Secret tiquo-system/default-key:wrong-key has no entry "wrong-key"`,
	} {
		r := runPlugin(t, env, nil, append(base, strings.Fields(args)...)...)
		if r.code != exitError || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: want exit 2 and %q: %s", args, want, r)
		}
	}
}
