// Package v1alpha1 contains the v1alpha1 API of the crm.tiquo.co group: the Customer resource,
// which declares the desired fields of one existing customer record in Tiquo.
// +kubebuilder:object:generate=true
// +groupName=crm.tiquo.co
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "crm.tiquo.co", Version: "v1alpha1"}

	// SchemeBuilder collects the functions that add this group-version's types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the Customer kinds with a scheme. It depends only on apimachinery,
// so that the API package stays cheap to import.
func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &Customer{}, &CustomerList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
