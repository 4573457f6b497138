package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The manager's RBAC, generated into config/rbac/role.yaml. Each rule is what RequiredPermissions
// checks at startup, and docs/install.md says what each is for.
//
// Customers: the cache lists and watches them; an update adds and removes the finalizer of a
// Customer whose deletionPolicy is Archive or Delete; status reports each outcome; events
// record them. In cluster mode these rules form a ClusterRole; config/namespaced grants the same in
// a Role per watched namespace.
// +kubebuilder:rbac:groups=crm.tiquo.co,resources=customers,verbs=list;watch;update
// +kubebuilder:rbac:groups=crm.tiquo.co,resources=customers/status,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
//
// The default API key Secret (config/manager/api_key_secret.yaml), by name, in the operator's
// own namespace: its metadata is watched (a list and a watch with the field selector
// metadata.name=<name>, which the API server authorizes as a request for that name) and its
// data read with a get. The Secrets Customers name are granted by their own namespaces'
// Roles (docs/install.md).
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,resourceNames=api-key,verbs=get;list;watch
//
// The webhook signing Secret is granted, by name and with get only, by the opt-in component
// config/components/webhook (and the chart's webhook.enabled), which also creates it: an
// install without the receiver grants nothing for it.

// resourceCustomers is the resource of Customers, as RBAC names it.
const resourceCustomers = "customers"

// Permission is one request the manager must be allowed to make, and what it is for.
type Permission struct {
	// Verb, Group, Resource and Subresource are the request, as RBAC sees it.
	Verb, Group, Resource, Subresource string
	// Namespace is where; empty is every namespace.
	Namespace string
	// Name limits the request to one object, as a rule's resourceNames does.
	Name string
	// For says what the manager needs it for.
	For string
	// Essential is true when the manager cannot work at all without it; otherwise only
	// some Customers are affected, and say so in their status.
	Essential bool
}

// String names the request, e.g. "list customers.crm.tiquo.co in namespace shop".
func (p Permission) String() string {
	res := p.Resource
	if p.Group != "" {
		res += "." + p.Group
	}
	if p.Subresource != "" {
		res += "/" + p.Subresource
	}
	if p.Name != "" {
		res += " named " + p.Name
	}
	if p.Namespace == "" {
		return p.Verb + " " + res + " in all namespaces"
	}
	return p.Verb + " " + res + " in namespace " + p.Namespace
}

// RequiredPermissions lists what the manager does with the Kubernetes API: read Customers
// and write their status and events in each namespace of namespaces (nil: every namespace),
// read the default API key Secret by name, get the webhook signing Secret by name (webhook
// nil: no receiver), and hold the leader election Lease in leaseNamespace (empty: no leader
// election). The Secrets Customers name themselves are not
// listed: which they are is known only from the Customers, and a Customer whose Secret the
// manager may not read says so in its status.
func RequiredPermissions(namespaces []string, def, webhook *SecretKeySelector, leaseNamespace string) []Permission {
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	var perms []Permission
	for _, ns := range namespaces {
		for _, verb := range []string{"list", "watch"} {
			perms = append(perms, Permission{Verb: verb, Group: crmv1alpha1Group, Resource: resourceCustomers, Namespace: ns,
				For: "the cache of Customers", Essential: true})
		}
		perms = append(perms, Permission{Verb: "update", Group: crmv1alpha1Group, Resource: resourceCustomers, Namespace: ns,
			For: "the finalizer of Customers whose deletionPolicy is Archive or Delete"})
		perms = append(perms, Permission{Verb: "patch", Group: crmv1alpha1Group, Resource: resourceCustomers,
			Subresource: "status", Namespace: ns, For: "reporting each Customer's outcome", Essential: true})
		for _, verb := range []string{"create", "patch"} {
			perms = append(perms, Permission{Verb: verb, Group: "events.k8s.io", Resource: "events", Namespace: ns,
				For: "the events recorded on Customers"})
		}
	}
	if def != nil {
		for _, verb := range []string{verbGet, "list", "watch"} {
			perms = append(perms, Permission{Verb: verb, Resource: "secrets", Namespace: def.Namespace, Name: def.Name,
				For: "the default API key Secret (--default-api-key-secret)"})
		}
	}
	if webhook != nil {
		perms = append(perms, Permission{Verb: verbGet, Resource: "secrets", Namespace: webhook.Namespace, Name: webhook.Name,
			For: "the webhook signing Secret (--webhook-secret); without it every delivery is refused"})
	}
	if leaseNamespace != "" {
		for _, verb := range []string{verbGet, "create", "update"} {
			perms = append(perms, Permission{Verb: verb, Group: "coordination.k8s.io", Resource: "leases",
				Namespace: leaseNamespace, For: "leader election", Essential: true})
		}
	}
	return perms
}

const crmv1alpha1Group = "crm.tiquo.co"

// verbGet is the verb of a read of one object.
const verbGet = "get"

// MissingPermissions asks the API server, with one SelfSubjectAccessReview each, which of
// perms the manager's own identity lacks. Every authenticated identity may create them.
func MissingPermissions(ctx context.Context, c client.Client, perms []Permission) ([]Permission, error) {
	var missing []Permission
	for _, p := range perms {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource,
				Namespace: p.Namespace, Name: p.Name,
			},
		}}
		if err := c.Create(ctx, review); err != nil {
			return nil, fmt.Errorf("ask whether the manager may %s: %w", p, err)
		}
		if !review.Status.Allowed {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// errSecretForbidden is errCredentials for a Secret the manager may not read: a permission
// problem, not a missing Secret. The message names the grant that is missing and carries the
// API server's reason, which names the manager's identity (never the Secret's data).
func errSecretForbidden(name types.NamespacedName, err error) error {
	reason := err.Error()
	if status := (apierrors.APIStatus)(nil); errors.As(err, &status) {
		reason = status.Status().Message
	}
	return fmt.Errorf("%w: the operator may not read Secret %s, a permission problem (%s). Grant the operator's "+
		"ServiceAccount get, list and watch on this Secret by name: a Role in namespace %s with the rule "+
		"{apiGroups: [\"\"], resources: [secrets], resourceNames: [%s], verbs: [get, list, watch]} and a "+
		"RoleBinding to it (docs/install.md, \"API key Secrets\")",
		errCredentials, name, strings.TrimSpace(reason), name.Namespace, name.Name)
}
