package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheTransform trims what the manager's cache keeps of each object to what the operator
// reads: managedFields go, and so does the kubectl.kubernetes.io/last-applied-configuration
// annotation, a second copy of the whole spec that `kubectl apply` leaves on every object.
// The operator never writes metadata, so nothing it sends depends on either.
func CacheTransform() cache.TransformFunc {
	stripManagedFields := crcache.TransformStripManagedFields()
	return func(in any) (any, error) {
		out, err := stripManagedFields(in)
		if err != nil {
			return out, err
		}
		if obj, err := meta.Accessor(out); err == nil {
			if a := obj.GetAnnotations(); a != nil {
				if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
					delete(a, corev1.LastAppliedConfigAnnotation)
					obj.SetAnnotations(a)
				}
			}
		}
		return out, nil
	}
}

// readOnly lists Customers from the cache without copying each one: the lists the reconciler
// and the drift scan make only read names, ids and status. At 10000 Customers a deep copy
// of the cache for each drift scan cost tens of MiB of garbage (docs/benchmarks.md). What is
// listed this way must not be modified.
var readOnly = client.UnsafeDisableDeepCopy
