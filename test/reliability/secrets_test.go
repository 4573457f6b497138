package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/child"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// Canary keys: distinctive, so that a leak anywhere is found by a plain search.
const (
	canaryKey        = "sk_live_CANARYkey_7c1e9a24b5d3f680"
	canaryUnknownKey = "sk_live_CANARYrevoked_31337c0ffee"
)

// TestSecretsAndPersonalDataStayOut runs the manager binary at the highest log verbosity a user
// can ask for, drives Customers holding canary personal values through a PATCH, an email
// conflict, a validation error, a revoked key, a missing record and a Tiquo that echoes the API
// key in its error messages, and searches the manager's output, the events, the Customers'
// status and the /metrics text for the canaries and the keys. It also shows that a Customer
// cannot use a Secret of another namespace.
func TestSecretsAndPersonalDataStayOut(t *testing.T) {
	ctx := context.Background()
	f := newFront(t, sandbox.Options{Keys: map[string][]string{
		keyRW:     {sandbox.ScopeRead, sandbox.ScopeWrite},
		canaryKey: {sandbox.ScopeRead, sandbox.ScopeWrite},
	}})
	ns := newNamespace(t)
	other := newNamespace(t)
	for _, s := range []*corev1.Secret{apiKeySecret(ns, "tiquo-key", canaryKey), apiKeySecret(ns, "revoked-key", canaryUnknownKey)} {
		if err := k8sClient.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	metricsAddr := freeAddr(t)
	m := startManager(t, "privacy", "--tiquo-base-url", f.base("privacy"), "--zap-log-level=10",
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false")

	canaries := map[string]string{
		"firstName": "Zebulonqx", "lastName": "Quaffertonqx", "email": "canary.person@leak-test.example",
		"phone": "+1 (444) 987-0042", "dateOfBirth": "1971-07-19", "notes": "canary-notes-9d2b",
		"line1": "77 Canary Lane", "city": "Leakingtonqx", "postalCode": "CAN-4242",
	}
	personal := func(id string) crmv1alpha1.CustomerSpec {
		return crmv1alpha1.CustomerSpec{
			CustomerID: id, FirstName: ptr.To(canaries["firstName"]), LastName: ptr.To(canaries["lastName"]),
			Email: ptr.To(canaries["email"]), Phone: ptr.To(canaries["phone"]), DateOfBirth: ptr.To(canaries["dateOfBirth"]),
			Notes: ptr.To(canaries["notes"]),
			Address: &crmv1alpha1.Address{Line1: ptr.To(canaries["line1"]), City: ptr.To(canaries["city"]),
				PostalCode: ptr.To(canaries["postalCode"])},
			APIKeySecretRef: &crmv1alpha1.SecretKeyReference{Name: "tiquo-key"},
		}
	}
	ids := map[string]string{}
	for _, name := range []string{"patched", "conflict", "invalid", "revoked", "missing", "echo", "elsewhere"} {
		ids[name] = uniqueID("privacy_"+name, 0)
	}
	for _, name := range []string{"patched", "conflict", "invalid", "revoked", "echo", "elsewhere"} {
		seed(f, ids[name], nil)
	}
	seed(f, ids["conflict"]+"_owner", func(c *sandbox.Customer) { c.Email = "canary.taken@leak-test.example" })

	createCustomer(t, ns, "patched", personal(ids["patched"]))
	conflict := personal(ids["conflict"])
	conflict.Email = ptr.To("canary.taken@leak-test.example")
	createCustomer(t, ns, "conflict", conflict)
	invalid := personal(ids["invalid"])
	invalid.Notes = ptr.To(canaries["notes"] + strings.Repeat("x", 1200)) // Over Tiquo's limit.
	createCustomer(t, ns, "invalid", invalid)
	revoked := personal(ids["revoked"])
	revoked.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: "revoked-key"}
	createCustomer(t, ns, "revoked", revoked)
	createCustomer(t, ns, "missing", personal(ids["missing"]))
	f.setFault(frontFault{echoKey: true, only: itemPath(ids["echo"])})
	createCustomer(t, ns, "echo", personal(ids["echo"]))

	// A Secret named tiquo-key exists, in ns; a Customer of another namespace naming it must not
	// get it.
	elsewhere := personal(ids["elsewhere"])
	elsewhere.FirstName, elsewhere.LastName, elsewhere.Email = nil, nil, nil
	createCustomer(t, other, "elsewhere", elsewhere)

	waitAll(t, ns, 90*time.Second, synced("patched"), stalledAs("conflict", crmv1alpha1.ReasonEmailConflict),
		stalledAs("invalid", crmv1alpha1.ReasonInvalidSpec), stalledAs("revoked", crmv1alpha1.ReasonUnauthorized),
		stalledAs("missing", crmv1alpha1.ReasonNotFound),
		want{"echo", metav1.ConditionFalse, crmv1alpha1.ReasonAPIUnavailable})
	waitAll(t, other, 30*time.Second, stalledAs("elsewhere", crmv1alpha1.ReasonCredentialsNotFound))
	if msg := condition(getCustomer(t, other, "elsewhere"), crmv1alpha1.ConditionReady).Message; !strings.Contains(msg, other+"/tiquo-key") {
		t.Errorf("the CredentialsNotFound message %q does not name the Secret looked for, %s/tiquo-key", msg, other)
	}
	if n := len(where(f.log(), forID(ids["elsewhere"]))); n != 0 {
		t.Errorf("%d requests to Tiquo for a Customer whose Secret is in another namespace; want none", n)
	}
	// Let the echoing Tiquo be retried a few times, then make sure the output holds V(1) lines:
	// otherwise the search below proves nothing.
	eventually(t, 30*time.Second, func() error {
		if n := len(where(f.log(), forID(ids["echo"]))); n < 3 {
			return fmt.Errorf("%d calls for the echo Customer", n)
		}
		return nil
	})
	output := m.out.String()
	for _, line := range []string{`"msg":"Tiquo request"`, `"msg":"Patching Tiquo customer"`} {
		if !strings.Contains(output, line) {
			t.Fatalf("the manager's output lacks %s: the logs were not captured at high verbosity", line)
		}
	}
	metricsText, err := child.Metrics(context.Background(), metricsAddr)
	if err != nil {
		t.Fatal(err)
	}

	texts := map[string]string{"the manager's output": output, "the metrics": metricsText}
	for _, n := range []string{ns, other} {
		var evs eventsv1.EventList
		if err := k8sClient.List(ctx, &evs, client.InNamespace(n)); err != nil {
			t.Fatal(err)
		}
		var core corev1.EventList
		if err := k8sClient.List(ctx, &core, client.InNamespace(n)); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(evs.Items)
		c, _ := json.Marshal(core.Items)
		texts["the events"] += string(b) + string(c)
		var list crmv1alpha1.CustomerList
		if err := k8sClient.List(ctx, &list, client.InNamespace(n)); err != nil {
			t.Fatal(err)
		}
		for _, cu := range list.Items {
			s, _ := json.Marshal(cu.Status)
			texts["the status and conditions"] += string(s)
		}
	}
	if !strings.Contains(texts["the events"], crmv1alpha1.ReasonEmailConflict) {
		t.Fatalf("no events were read; the search below would prove nothing")
	}
	keys := map[string]string{"the canary key": canaryKey, "the revoked canary key": canaryUnknownKey, "the default key": keyRW}
	for where, text := range texts {
		lower := strings.ToLower(text)
		for field, v := range canaries {
			if strings.Contains(lower, strings.ToLower(v)) {
				t.Errorf("%s hold the customer's %s (%q)", where, field, v)
			}
		}
		for name, k := range keys {
			if strings.Contains(text, k) {
				t.Errorf("%s hold %s", where, name)
			}
		}
	}
	// Metric labels name routes, fields and reasons, never a customer.
	for name, id := range ids {
		if strings.Contains(metricsText, id) {
			t.Errorf("the metrics hold the customer id of %s", name)
		}
	}

	// The same Secret name in the Customer's own namespace is used.
	if err := k8sClient.Create(ctx, apiKeySecret(other, "tiquo-key", keyRW)); err != nil {
		t.Fatal(err)
	}
	waitAll(t, other, 60*time.Second, synced("elsewhere"))
	t.Logf("privacy: searched %d bytes of output at --zap-log-level=10, %d bytes of events, %d of status, %d of metrics",
		len(output), len(texts["the events"]), len(texts["the status and conditions"]), len(metricsText))
}

// TestManagerRBACIsMinimal reads the ClusterRole and Role generated from the RBAC markers and
// checks they grant the manager only what it uses: read Customers, write their status, record
// events, read the default API key Secret by name (never write it, never read another); no
// wildcard anywhere. The webhook signing Secret is granted only by the opt-in component that
// creates it (config/components/webhook). test/rbac proves the grants suffice.
func TestManagerRBACIsMinimal(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimPrefix(string(raw), "---\n"), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("config/rbac/role.yaml holds %d objects; want the ClusterRole and the Role manager-role", len(docs))
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	var secretRole rbacv1.Role
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &secretRole); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	wantSecretRule := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
		ResourceNames: []string{"api-key"}, Verbs: []string{"get", "list", "watch"}}}
	if secretRole.Kind != "Role" || secretRole.Namespace != "system" || !equality.Semantic.DeepEqual(secretRole.Rules, wantSecretRule) {
		t.Errorf("the Role of config/rbac/role.yaml is %s %s/%s with rules %+v; want a Role in the operator's "+
			"namespace with only %+v", secretRole.Kind, secretRole.Namespace, secretRole.Name, secretRole.Rules, wantSecretRule)
	}
	if role.Kind != "ClusterRole" || role.Name != "manager-role" || role.AggregationRule != nil {
		t.Fatalf("config/rbac/role.yaml holds %s %q (aggregation %v); want the ClusterRole manager-role", role.Kind, role.Name, role.AggregationRule)
	}
	// What the manager may do, by group/resource. customers/status allows update beside patch
	// (controller-gen's habit; the manager only patches): either lets it set any status. An
	// update of customers adds and removes the deletion finalizer.
	allowed := map[string][]string{
		"crm.tiquo.co/customers":        {"get", "list", "watch", "update"},
		"crm.tiquo.co/customers/status": {"get", "patch", "update"},
		"events.k8s.io/events":          {"create", "patch"},
	}
	needed := map[string][]string{
		"crm.tiquo.co/customers":        {"list", "watch", "update"},
		"crm.tiquo.co/customers/status": {"patch"},
		"events.k8s.io/events":          {"create"},
	}
	granted := map[string][]string{}
	for _, r := range role.Rules {
		if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			t.Errorf("unexpected rule %+v", r)
		}
		for _, v := range slices.Concat(r.APIGroups, r.Resources, r.Verbs) {
			if strings.Contains(v, "*") {
				t.Errorf("a rule holds the wildcard %q: %+v", v, r)
			}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				key := g + "/" + res
				granted[key] = append(granted[key], r.Verbs...)
				ok, known := allowed[key]
				if !known {
					t.Errorf("the manager may %v %s, which it never uses", r.Verbs, key)
					continue
				}
				for _, v := range r.Verbs {
					if !slices.Contains(ok, v) {
						t.Errorf("the manager may %s %s; it may only %v", v, key, ok)
					}
				}
			}
		}
	}
	for key, verbs := range needed {
		for _, v := range verbs {
			if !slices.Contains(granted[key], v) {
				t.Errorf("the manager may not %s %s, which it needs", v, key)
			}
		}
	}
	// Leader election needs Leases, in the manager's own namespace only.
	raw, err = os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "leader_election_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var le rbacv1.Role
	if err := yaml.Unmarshal(raw, &le); err != nil {
		t.Fatal(err)
	}
	if le.Kind != "Role" {
		t.Errorf("the leader election role is a %s; want a namespaced Role", le.Kind)
	}
}
