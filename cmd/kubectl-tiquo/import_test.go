package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// fillers is the number of plain records seeded besides the interesting ones, so that the
// import needs two pages of 100.
const fillers = 105

// seed stores records that cover every field, empty fields, names that collide and enough
// records for paging.
func seed(sb *sandbox.Server) {
	sb.PutCustomer(sandbox.Customer{
		ID: "cust_abc123", FirstName: "John", LastName: "Doe", Email: "john@example.com",
		Phone: "+1987654321", DateOfBirth: "1990-05-15",
		Address: &sandbox.Address{Line1: "456 Oak Avenue", Line2: "Apt 4", City: "New York", State: "NY",
			PostalCode: "10001", Country: "US"},
		Tags: []string{"VIP", "longtime"}, Notes: "Prefers email communication",
		PreferredLocationID: "loc_xyz789", MarketingConsent: new(true), CompanyID: "comp_def456",
		LoyaltyPoints: 1200, TotalSpent: 2500,
	})
	// Only the required fields: everything else must stay unmanaged.
	sb.PutCustomer(sandbox.Customer{ID: "cust_def456", FirstName: "Jane", LastName: "Smith", Email: "Jane@Example.com"})
	// Maps to the same name as cust_def456, and sorts before it.
	sb.PutCustomer(sandbox.Customer{ID: "cust_DEF456", FirstName: "Janet", LastName: "Smyth", Email: "janet@example.com"})
	// Surrounding whitespace, a partial address, consent false, a duplicate tag.
	sb.PutCustomer(sandbox.Customer{
		ID: "cust_ws", FirstName: " Ann ", LastName: "Lee", Email: "ann@example.com",
		Address: &sandbox.Address{City: "Boston"}, MarketingConsent: new(false),
		Tags: []string{"a", "b", "a"},
	})
	for i := range fillers {
		sb.PutCustomer(sandbox.Customer{ID: fmt.Sprintf("cust_f%03d", i), FirstName: "F", LastName: fmt.Sprint(i),
			Email: fmt.Sprintf("f%d@example.com", i), Phone: "+1 (555) 000-0000"})
	}
}

func TestImportAll(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	dir := t.TempDir()

	r := runPlugin(t, tiquoEnv(sb), nil, "import", "--all", "--out", dir, "--namespace", "shop", "--secret-ref", "tiquo-api-key")
	if r.code != exitOK {
		t.Fatalf("import: %s", r)
	}
	want := 4 + fillers
	if !strings.Contains(r.stderr, fmt.Sprintf("Imported %d customers", want)) {
		t.Errorf("stderr lacks the summary: %s", r)
	}

	// Paged through the list, 100 at a time.
	var lists []string
	for _, req := range sb.Requests() {
		if req.Method == "GET" && req.Path == "/v1/customers" {
			lists = append(lists, req.Query)
		}
	}
	if len(lists) != 2 {
		t.Errorf("list requests = %v, want 2 pages", lists)
	}
	for _, q := range lists {
		if v, _ := url.ParseQuery(q); v.Get("limit") != "100" {
			t.Errorf("list query %q, want limit=100", q)
		}
	}

	got := readImported(t, dir)
	if len(got) != want {
		t.Fatalf("%d manifests, want %d", len(got), want)
	}
	assertInSync(t, sb, got)
	for _, c := range got {
		if c.Namespace != "shop" {
			t.Errorf("%s: namespace %q, want shop", c.Name, c.Namespace)
		}
		if ref := c.Spec.APIKeySecretRef; ref == nil || ref.Name != "tiquo-api-key" {
			t.Errorf("%s: apiKeySecretRef %+v, want name tiquo-api-key", c.Name, ref)
		}
	}

	byID := map[string]*crmv1alpha1.Customer{}
	for _, c := range got {
		byID[c.Spec.CustomerID] = c
	}
	full := byID["cust_abc123"]
	if full.Name != "cust-abc123" {
		t.Errorf("cust_abc123 named %q, want cust-abc123", full.Name)
	}
	wantFull := crmv1alpha1.CustomerSpec{
		CustomerID: "cust_abc123", FirstName: new("John"), LastName: new("Doe"), Email: new("john@example.com"),
		Phone: new("+1987654321"), DateOfBirth: new("1990-05-15"),
		Address: &crmv1alpha1.Address{Line1: new("456 Oak Avenue"), Line2: new("Apt 4"), City: new("New York"),
			State: new("NY"), PostalCode: new("10001"), Country: new("US")},
		Tags: &[]string{"VIP", "longtime"}, Notes: new("Prefers email communication"),
		PreferredLocationID: new("loc_xyz789"), MarketingConsent: new(true), CompanyID: new("comp_def456"),
		APIKeySecretRef: &crmv1alpha1.SecretKeyReference{Name: "tiquo-api-key"},
	}
	if d := cmp.Diff(wantFull, full.Spec); d != "" {
		t.Errorf("cust_abc123 spec (-want +got):\n%s", d)
	}

	// Empty fields stay unmanaged: absent, not "" or [].
	minimal := byID["cust_def456"]
	wantMinimal := crmv1alpha1.CustomerSpec{
		CustomerID: "cust_def456", FirstName: new("Jane"), LastName: new("Smith"), Email: new("Jane@Example.com"),
		APIKeySecretRef: &crmv1alpha1.SecretKeyReference{Name: "tiquo-api-key"},
	}
	if d := cmp.Diff(wantMinimal, minimal.Spec); d != "" {
		t.Errorf("cust_def456 spec (-want +got):\n%s", d)
	}
	raw, err := os.ReadFile(filepath.Join(dir, minimal.Name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"tags", "address", "notes", "marketingConsent", "status", "creationTimestamp"} {
		if strings.Contains(string(raw), absent) {
			t.Errorf("manifest of cust_def456 mentions %s:\n%s", absent, raw)
		}
	}

	// cust_DEF456 sorts first and keeps the plain name; cust_def456 gets a hash suffix.
	if byID["cust_DEF456"].Name != "cust-def456" || !strings.HasPrefix(minimal.Name, "cust-def456-") {
		t.Errorf("colliding names: cust_DEF456 -> %s, cust_def456 -> %s", byID["cust_DEF456"].Name, minimal.Name)
	}

	ws := byID["cust_ws"].Spec
	if ws.FirstName == nil || *ws.FirstName != " Ann " {
		t.Errorf("cust_ws firstName %v, want the stored value", ws.FirstName)
	}
	if d := cmp.Diff(&crmv1alpha1.Address{City: new("Boston")}, ws.Address); d != "" {
		t.Errorf("cust_ws address (-want +got):\n%s", d)
	}
	if ws.MarketingConsent == nil || *ws.MarketingConsent {
		t.Errorf("cust_ws marketingConsent %v, want false", ws.MarketingConsent)
	}
	if ws.Tags == nil || !slices.Equal(*ws.Tags, []string{"a", "b"}) {
		t.Errorf("cust_ws tags %v, want [a b] (a set, as the CRD requires)", ws.Tags)
	}

	// A re-import overwrites the same customers' files.
	if r := runPlugin(t, tiquoEnv(sb), nil, "import", "--all", "--out", dir); r.code != exitOK {
		t.Fatalf("re-import: %s", r)
	}
	// A file of another customer under an imported name is not overwritten.
	if err := os.WriteFile(filepath.Join(dir, "cust-abc123.yaml"), []byte("spec: {customerId: cust_other}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runPlugin(t, tiquoEnv(sb), nil, "import", "--all", "--out", dir)
	if r.code != exitError || !strings.Contains(r.stderr, "not overwriting") {
		t.Errorf("import over another customer's file: %s", r)
	}
}

// readImported parses every file of dir as one Customer and checks its name.
func readImported(t *testing.T, dir string) []*crmv1alpha1.Customer {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []*crmv1alpha1.Customer
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var c crmv1alpha1.Customer
		if err := yaml.UnmarshalStrict(b, &c); err != nil {
			t.Fatalf("%s: %v\n%s", e.Name(), err, b)
		}
		if c.APIVersion != "crm.tiquo.co/v1alpha1" || c.Kind != "Customer" {
			t.Errorf("%s: apiVersion %q kind %q", e.Name(), c.APIVersion, c.Kind)
		}
		if e.Name() != c.Name+".yaml" {
			t.Errorf("file %s holds customer %s", e.Name(), c.Name)
		}
		out = append(out, &c)
	}
	return out
}

// assertInSync checks that every Customer has a valid, unique name and that the operator's
// diff against the live record is empty: applied, it makes the operator send no PATCH.
func assertInSync(t *testing.T, sb *sandbox.Server, cs []*crmv1alpha1.Customer) {
	t.Helper()
	api := newClient(t, sb)
	names := map[string]bool{}
	for _, c := range cs {
		if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
			t.Errorf("name %q of %s is not a DNS-1123 label: %v", c.Name, c.Spec.CustomerID, errs)
		}
		if names[c.Name] {
			t.Errorf("name %q used twice", c.Name)
		}
		names[c.Name] = true
		// Named by id, an imported Customer is never looked up by email, adopted or created,
		// and it leaves the record alone when deleted.
		if c.Spec.CustomerID == "" {
			t.Errorf("%s: imported without spec.customerId", c.Name)
		}
		if c.Spec.AdoptionPolicy != "" || c.Spec.DeletionPolicy != "" {
			t.Errorf("%s: imported with adoptionPolicy %q, deletionPolicy %q; want neither set",
				c.Name, c.Spec.AdoptionPolicy, c.Spec.DeletionPolicy)
		}
		live, err := api.GetCustomer(context.Background(), testKey, c.Spec.CustomerID)
		if err != nil {
			t.Fatalf("get %s: %v", c.Spec.CustomerID, err)
		}
		if p := diff.Compute(&c.Spec, live); !p.IsEmpty() {
			t.Errorf("%s: imported spec would patch %v", c.Spec.CustomerID, p.Fields())
		}
	}
}

func TestImportEmail(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)

	// The filter is case-insensitive, like the API's.
	r := runPlugin(t, tiquoEnv(sb), nil, "import", "--email", "JANE@example.com")
	if r.code != exitOK {
		t.Fatalf("import --email: %s", r)
	}
	ms, err := plugin.ReadManifests([]string{"-"}, strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("read stdout back: %v\n%s", err, r.stdout)
	}
	if len(ms) != 1 || ms[0].Customer.Spec.CustomerID != "cust_def456" {
		t.Fatalf("imported %+v, want only cust_def456:\n%s", ms, r.stdout)
	}
	if ms[0].Customer.Namespace != "" || ms[0].Customer.Spec.APIKeySecretRef != nil {
		t.Errorf("namespace or secret set without the flags:\n%s", r.stdout)
	}
	assertInSync(t, sb, []*crmv1alpha1.Customer{ms[0].Customer})

	// Several customers to stdout make one multi-document stream.
	r = runPlugin(t, tiquoEnv(sb), nil, "import", "--all")
	if r.code != exitOK {
		t.Fatalf("import --all: %s", r)
	}
	ms, err = plugin.ReadManifests([]string{"-"}, strings.NewReader(r.stdout))
	if err != nil || len(ms) != 4+fillers {
		t.Fatalf("read %d manifests back from stdout, want %d: %v", len(ms), 4+fillers, err)
	}
	cs := make([]*crmv1alpha1.Customer, 0, len(ms))
	for _, m := range ms {
		cs = append(cs, m.Customer)
	}
	assertInSync(t, sb, cs)
}

func TestImportErrors(t *testing.T) {
	sb := newSandbox(t)
	seed(sb)
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"no selection":   {tiquoEnv(sb), []string{"import"}, "exactly one of --email and --all"},
		"both":           {tiquoEnv(sb), []string{"import", "--all", "--email", "a@example.com"}, "exactly one of --email and --all"},
		"unknown email":  {tiquoEnv(sb), []string{"import", "--email", "nobody@example.com"}, "no Tiquo customer has that email"},
		"no key":         {map[string]string{envBaseURL: sb.URL}, []string{"import", "--all"}, "no Tiquo API key"},
		"bad namespace":  {tiquoEnv(sb), []string{"import", "--all", "-n", "Shop_1"}, "--namespace"},
		"bad secret ref": {tiquoEnv(sb), []string{"import", "--all", "--secret-ref", "A B"}, "--secret-ref"},
		"rejected key": {map[string]string{envAPIKey: testKey + "x", envBaseURL: sb.URL},
			[]string{"import", "--all"}, "401"},
		"key flag rejected": {map[string]string{envBaseURL: sb.URL},
			[]string{"import", "--all", "--api-key", testKey + "x"}, "401"},
		"unreachable": {map[string]string{envAPIKey: testKey},
			[]string{"import", "--all", "--base-url", "http://127.0.0.1:1", "--request-timeout", "2s"}, "list customers"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runPlugin(t, tc.env, nil, tc.args...)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q: %s", tc.want, r)
			}
			if strings.Contains(r.stdout+r.stderr, testKey+"x") {
				t.Errorf("printed the API key: %s", r)
			}
		})
	}
}

// TestImportUnderRateLimit imports more records than one rate-limit window allows: the
// client waits for the window the API announces instead of failing.
func TestImportUnderRateLimit(t *testing.T) {
	sb := sandbox.NewServer(sandbox.Options{
		Keys:               map[string][]string{testKey: {sandbox.ScopeRead, sandbox.ScopeWrite}},
		RateLimitPerMinute: 3,
		RateLimitWindow:    time.Second,
	})
	t.Cleanup(sb.Close)
	for i := range 4 {
		sb.PutCustomer(sandbox.Customer{ID: fmt.Sprintf("cust_r%d", i), FirstName: "R", LastName: fmt.Sprint(i),
			Email: fmt.Sprintf("r%d@example.com", i)})
	}
	dir := t.TempDir()
	r := runPlugin(t, tiquoEnv(sb), nil, "import", "--all", "--out", dir)
	if r.code != exitOK || !strings.Contains(r.stderr, "Imported 4 customers") {
		t.Fatalf("import: %s", r)
	}
	sb.SetRateLimit(0)
	assertInSync(t, sb, readImported(t, dir))
}
