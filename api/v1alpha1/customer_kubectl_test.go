package v1alpha1_test

import (
	"context"
	"io"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// kubectl runs the kubectl built beside the test control plane against it.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	user, err := testEnv.ControlPlane.AddUser(envtest.User{Name: "explain", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("add kubectl user: %v", err)
	}
	k, err := user.Kubectl()
	if err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	stdout, stderr, err := k.Run(args...)
	out, _ := io.ReadAll(stdout)
	errOut, _ := io.ReadAll(stderr)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return string(out)
}

// TestKubectlExplainDocumentsEveryField asserts that every field of the installed schema has a
// description, so `kubectl explain` teaches the semantics, and spot-checks what it prints.
func TestKubectlExplainDocumentsEveryField(t *testing.T) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: "customers.crm.tiquo.co"}, &crd); err != nil {
		t.Fatalf("get CRD: %v", err)
	}
	schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	var undocumented []string
	var walk func(path string, s apiextensionsv1.JSONSchemaProps)
	walk = func(path string, s apiextensionsv1.JSONSchemaProps) {
		for name, prop := range s.Properties {
			p := path + "." + name
			// Kubernetes documents object metadata itself; controller-gen leaves it bare.
			if p == ".metadata" {
				continue
			}
			if strings.TrimSpace(prop.Description) == "" {
				undocumented = append(undocumented, p)
			}
			walk(p, prop)
			if prop.Items != nil && prop.Items.Schema != nil {
				walk(p+"[]", *prop.Items.Schema)
			}
		}
	}
	walk("", *schema)
	sort.Strings(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("fields without a description: %v", undocumented)
	}

	for field, want := range map[string]string{
		"customer.spec":                 "A field that is absent is not managed",
		"customer.spec.tags":            "compared without regard to order",
		"customer.spec.address":         "each subfield is managed on its own",
		"customer.spec.customerId":      "cannot be changed or removed once set",
		"customer.spec.deletionPolicy":  "Orphan (the default) leaves it as it is",
		"customer.status.customerId":    "Once set it never changes",
		"customer.spec.apiKeySecretRef": "in this Customer's namespace",
		"customer.status":               "never holds personal data",
	} {
		if out := kubectl(t, "explain", field); !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("kubectl explain %s does not say %q:\n%s", field, want, out)
		}
	}
}

// TestKubectlGetShowsReadinessColumns checks the printer columns and the short name.
func TestKubectlGetShowsReadinessColumns(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	obj := customer(ns, "john-doe", crmv1alpha1.CustomerSpec{CustomerID: "cust_abc123", FirstName: ptr.To("John")})
	if err := k8sClient.Create(ctx, obj); err != nil {
		t.Fatalf("create: %v", err)
	}
	now := metav1.Now()
	obj.Status.LastSyncTime = &now
	// The column shows the record the Customer is bound to, which the operator writes.
	obj.Status.CustomerID = "cust_abc123"
	obj.Status.Conditions = []metav1.Condition{{
		Type: crmv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: crmv1alpha1.ReasonNotFound,
		Message: "Tiquo has no customer with this id", ObservedGeneration: obj.Generation, LastTransitionTime: now,
	}}
	if err := k8sClient.Status().Update(ctx, obj); err != nil {
		t.Fatalf("status update: %v", err)
	}

	out := kubectl(t, "get", "cust", "-n", ns)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get cust printed %d lines, want a header and one row:\n%s", len(lines), out)
	}
	if got, want := strings.Fields(lines[0]), []string{"NAME", "READY", "STATUS", "CUSTOMER-ID", "LAST-SYNC", "AGE"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("columns %v, want %v", got, want)
	}
	row := strings.Fields(lines[1])
	if len(row) < 4 || row[0] != "john-doe" || row[1] != "False" || row[2] != "NotFound" || row[3] != "cust_abc123" {
		t.Errorf("row %v, want john-doe False NotFound cust_abc123 ...", row)
	}
}
