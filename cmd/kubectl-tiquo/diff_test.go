package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
)

// drifted differs from cust_abc123 as seeded in address.city, notes (cleared) and tags
// (one removed); its phone, email and tag order differ only in ways the diff ignores.
const drifted = `# A comment-only document first, then another kind: both skipped.
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
data: {a: b}
---
apiVersion: crm.tiquo.co/v1alpha1
kind: Customer
metadata: {name: john-doe, namespace: shop}
spec:
  customerId: cust_abc123
  email: JOHN@example.com
  phone: "+1 (987) 654-321"
  address: {city: Brooklyn, country: US}
  tags: [VIP]
  notes: ""
`

const inSync = `apiVersion: crm.tiquo.co/v1alpha1
kind: Customer
metadata: {name: jane-smith}
spec:
  customerId: cust_def456
  firstName: Jane
  tags: []
`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDiffInSync(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "jane.yaml"), inSync)
	// Manifests written by import are in sync by construction.
	if r := runPlugin(t, tiquoEnv(sb), nil, "import", "--email", "john@example.com", "--out", filepath.Join(dir, "imported")); r.code != exitOK {
		t.Fatalf("import: %s", r)
	}
	writeFile(t, filepath.Join(dir, "README.md"), "not a manifest")

	sb.ClearRequests()
	r := runPlugin(t, tiquoEnv(sb), nil, "diff", "-f", dir)
	if r.code != exitOK {
		t.Fatalf("diff: %s", r)
	}
	want := "customer/cust-abc123 (cust_abc123): in sync\ncustomer/jane-smith (cust_def456): in sync\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	for _, req := range sb.Requests() {
		if req.Method != "GET" {
			t.Errorf("diff sent %s %s", req.Method, req.Path)
		}
	}
}

func TestDiffPendingIsWhatTheOperatorSends(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "nested", "deeper", "john.yaml"), drifted)
	writeFile(t, filepath.Join(dir, "jane.yml"), inSync)

	sb.ClearRequests()
	r := runPlugin(t, tiquoEnv(sb), nil, "diff", "-f", dir)
	if r.code != exitChanges {
		t.Fatalf("diff: want exit 1: %s", r)
	}
	if n := len(sb.Requests()); n != 2 {
		t.Errorf("diff sent %d requests, want 2 GETs", n)
	}
	prefix := "customer/john-doe (cust_abc123): PATCH /v1/customers/cust_abc123 "
	var printed string
	for line := range strings.Lines(r.stdout) {
		if body, ok := strings.CutPrefix(line, prefix); ok {
			printed = strings.TrimSuffix(body, "\n")
		}
	}
	if printed == "" || !strings.Contains(r.stdout, "customer/jane-smith (cust_def456): in sync\n") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}

	// The body printed is diff.Compute's, the function the controller calls.
	ms, err := plugin.ReadManifests([]string{filepath.Join(dir, "nested")}, nil)
	if err != nil || len(ms) != 1 {
		t.Fatalf("read manifest back: %v %v", ms, err)
	}
	spec := &ms[0].Customer.Spec
	api := newClient(t, sb)
	live, err := api.GetCustomer(context.Background(), testKey, "cust_abc123")
	if err != nil {
		t.Fatal(err)
	}
	patch := diff.Compute(spec, live)
	want, err := patch.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if printed != string(want) {
		t.Errorf("printed body %s, want diff.Compute's %s", printed, want)
	}
	if got := patch.Fields(); strings.Join(got, ",") != "address.city,notes,tags" {
		t.Errorf("patched fields %v, want address.city, notes and tags", got)
	}

	// Sending that patch puts exactly the printed bytes on the wire.
	sb.ClearRequests()
	if _, err := api.UpdateCustomer(context.Background(), testKey, "cust_abc123", patch); err != nil {
		t.Fatal(err)
	}
	reqs := sb.Requests()
	if len(reqs) != 1 || reqs[0].Method != "PATCH" || reqs[0].Path != "/v1/customers/cust_abc123" {
		t.Fatalf("requests %+v, want one PATCH", reqs)
	}
	var sent bytes.Buffer
	if err := json.Compact(&sent, reqs[0].Body); err != nil {
		t.Fatal(err)
	}
	if sent.String() != printed {
		t.Errorf("sandbox received %s, diff printed %s", sent.String(), printed)
	}

	// And once sent, nothing is pending.
	r = runPlugin(t, tiquoEnv(sb), nil, "diff", "-f", dir)
	if r.code != exitOK || !strings.Contains(r.stdout, "customer/john-doe (cust_abc123): in sync") {
		t.Errorf("diff after the patch: %s", r)
	}
}

func TestDiffStdinAndHeldBack(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	suspended := strings.Replace(drifted, "  customerId: cust_abc123\n", "  customerId: cust_abc123\n  suspend: true\n", 1)
	r := runPlugin(t, tiquoEnv(sb), strings.NewReader(suspended), "diff", "-f", "-")
	if r.code != exitChanges ||
		!strings.Contains(r.stdout, `customer/john-doe (cust_abc123): PATCH /v1/customers/cust_abc123 {`) ||
		!strings.Contains(r.stdout, "(not sent while spec.suspend is true)") {
		t.Errorf("diff of a suspended Customer from stdin: %s", r)
	}
	observe := strings.Replace(drifted, "  customerId: cust_abc123\n", "  customerId: cust_abc123\n  managementPolicy: "+
		string(crmv1alpha1.ManagementPolicyObserve)+"\n", 1)
	r = runPlugin(t, tiquoEnv(sb), strings.NewReader(observe), "diff", "-f", "-")
	if r.code != exitChanges || !strings.Contains(r.stdout, "(not sent: managementPolicy is Observe)") {
		t.Errorf("diff of an Observe Customer: %s", r)
	}
}

func TestDiffErrors(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	dir := t.TempDir()
	missing := strings.ReplaceAll(inSync, "cust_def456", "cust_gone")
	missing = strings.ReplaceAll(missing, "jane-smith", "gone")
	writeFile(t, filepath.Join(dir, "a.yaml"), missing)
	writeFile(t, filepath.Join(dir, "b.yaml"), drifted)

	// A 404 is an error (exit 2) even though another Customer has changes; the others are
	// still shown.
	r := runPlugin(t, tiquoEnv(sb), nil, "diff", "-f", dir)
	if r.code != exitError {
		t.Errorf("diff with a missing record: want exit 2: %s", r)
	}
	if !strings.Contains(r.stderr, "customer/gone (cust_gone): error: ") || !strings.Contains(r.stderr, "404 not_found") {
		t.Errorf("stderr does not report the 404: %s", r)
	}
	if !strings.Contains(r.stdout, "customer/john-doe (cust_abc123): PATCH") {
		t.Errorf("the other Customer's PATCH is missing: %s", r)
	}

	typo := filepath.Join(dir, "typo", "t.yaml")
	writeFile(t, typo, strings.Replace(inSync, "firstName", "fristName", 1))
	otherKinds := filepath.Join(dir, "other", "cm.yaml")
	writeFile(t, otherKinds, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	badVersion := filepath.Join(dir, "version", "v.yaml")
	writeFile(t, badVersion, strings.Replace(inSync, "v1alpha1", "v9", 1))
	noID := filepath.Join(dir, "noid", "n.yaml")
	writeFile(t, noID, strings.Replace(inSync, "customerId: cust_def456", "lastName: X", 1))
	bare := filepath.Join(dir, "bare", "b.yaml")
	writeFile(t, bare, strings.Replace(strings.Replace(inSync, "customerId: cust_def456", "", 1), "firstName: Jane", "", 1))

	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"no files":        {tiquoEnv(sb), []string{"diff"}, "-f FILE_OR_DIR"},
		"missing file":    {tiquoEnv(sb), []string{"diff", "-f", filepath.Join(dir, "nope.yaml")}, "no such file"},
		"unknown field":   {tiquoEnv(sb), []string{"diff", "-f", typo}, `unknown field "fristName"`},
		"no customers":    {tiquoEnv(sb), []string{"diff", "-f", otherKinds}, "no Customer manifests found"},
		"apiVersion":      {tiquoEnv(sb), []string{"diff", "-f", badVersion}, "unsupported apiVersion crm.tiquo.co/v9"},
		"no customerId":   {tiquoEnv(sb), []string{"diff", "-f", noID}, "customer/jane-smith: spec.email is required when spec.customerId is not set"},
		"nothing to find": {tiquoEnv(sb), []string{"diff", "-f", bare}, "spec.firstName, spec.lastName, spec.email are required when spec.customerId is not set"},
		"no key":          {map[string]string{envBaseURL: sb.URL}, []string{"diff", "-f", filepath.Join(dir, "b.yaml")}, "no Tiquo API key"},
		"rejected key":    {map[string]string{envAPIKey: testKey + "x", envBaseURL: sb.URL}, []string{"diff", "-f", filepath.Join(dir, "b.yaml")}, "401 unauthorized"},
		"bad base URL":    {map[string]string{envAPIKey: testKey, envBaseURL: "ftp://example.com"}, []string{"diff", "-f", filepath.Join(dir, "b.yaml")}, "base URL must be an absolute http or https URL"},
		"extra argument":  {tiquoEnv(sb), []string{"diff", "-f", dir, "extra"}, "unknown command"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runPlugin(t, tc.env, nil, tc.args...)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q: %s", tc.want, r)
			}
		})
	}
}
