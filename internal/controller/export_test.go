package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
)

// WatchedSecrets returns the Secrets whose metadata r watches, for the tests of package
// controller_test.
func WatchedSecrets(r *CustomerReconciler) []types.NamespacedName { return r.secrets.watching() }

// SweepSecretWatches stops r's watches of Secrets no Customer names now, as the periodic
// sweep does.
func SweepSecretWatches(ctx context.Context, r *CustomerReconciler) { r.secrets.sweep(ctx) }

// EmailDigest is the digest status.pendingCreate records of the email of a POST.
var EmailDigest = emailDigest
