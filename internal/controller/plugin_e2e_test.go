package controller_test

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// TestPluginImportAndPreviewMatchTheOperator proves the plugin's promises against the real
// operator: imported manifests, applied, cause no PATCH; and the body `kubectl tiquo diff`
// previews is the body the operator then sends.
func TestPluginImportAndPreviewMatchTheOperator(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	id := uniqueID(t)
	rec := seed(t, id, func(c *sandbox.Customer) {
		c.Email = "import-" + id + "@example.com"
		c.Address.Line2 = "Apt 4B"
		c.CompanyID = "comp_def456"
	})
	api, err := tiquo.New(tiquo.Config{BaseURL: sb.URL})
	if err != nil {
		t.Fatal(err)
	}
	remote := plugin.Remote{API: api, APIKey: keyReadWrite}

	var imported []*crmv1alpha1.Customer
	if _, err := remote.Import(ctx, plugin.ImportOptions{Email: rec.Email, Namespace: ns}, func(c *crmv1alpha1.Customer) error {
		imported = append(imported, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(imported) != 1 {
		t.Fatalf("imported %d manifests, want 1", len(imported))
	}
	c := imported[0]
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if b := patchBodies(t, id); len(b) != 0 {
		t.Fatalf("an imported manifest caused PATCHes %v", b)
	}

	// A pull request changes the manifest: the preview is what the operator sends.
	changed := c.DeepCopy()
	changed.Spec.Phone = ptr.To("+44 20 7946 0018")
	changed.Spec.Tags = &[]string{"VIP"}
	changed.Spec.Address.Line2 = ptr.To("")
	preview, err := remote.Preview(ctx, changed)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(preview)
	if err != nil {
		t.Fatal(err)
	}
	update(t, c, func(cur *crmv1alpha1.Customer) { cur.Spec = changed.Spec })
	eventually(t, resyncInterval*5, func() error {
		b := patchBodies(t, id)
		if len(b) != 1 {
			return errorf("PATCHes %v; want one", b)
		}
		var sent, previewed any
		_ = json.Unmarshal([]byte(b[0]), &sent)
		_ = json.Unmarshal(body, &previewed)
		if a, p := mustJSON(sent), mustJSON(previewed); a != p {
			return errorf("the operator sent %s; the preview said %s", a, p)
		}
		return nil
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
