package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

func TestCacheTransformKeepsOnlyWhatTheOperatorReads(t *testing.T) {
	c := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{
		Name: "c",
		Annotations: map[string]string{
			corev1.LastAppliedConfigAnnotation:     `{"spec":{"customerId":"cust_abc123"}}`,
			crmv1alpha1.ReconcileRequestAnnotation: "2026-11-29T10:00:00Z",
			"argocd.argoproj.io/tracking-id":       "app:crm.tiquo.co/Customer:shop/c",
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	out, err := CacheTransform()(c)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*crmv1alpha1.Customer)
	if len(got.ManagedFields) != 0 {
		t.Errorf("managedFields kept: %v", got.ManagedFields)
	}
	if _, ok := got.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("last-applied-configuration kept")
	}
	if got.Annotations[crmv1alpha1.ReconcileRequestAnnotation] == "" || len(got.Annotations) != 2 {
		t.Errorf("annotations the operator reads, or others, were dropped: %v", got.Annotations)
	}
}
