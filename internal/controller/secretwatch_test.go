package controller

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

// A watch that cannot list its Secret (here RBAC forbids it) does not hold the reconcile
// that needs the key: after the sync timeout it gets an error that is not "not found", which
// the reconciler reports as transient and backs off from.
func TestSecretWatchThatCannotListGivesUp(t *testing.T) {
	client := metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	forbidden := func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(secretsResource.GroupResource(), "", nil)
	}
	client.PrependReactor("list", "secrets", forbidden)
	client.PrependWatchReactor("secrets", func(clienttesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(secretsResource.GroupResource(), "", nil)
	})
	s := newSecretWatches(client, func(context.Context, types.NamespacedName) (bool, error) { return true, nil })
	s.syncTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Start(ctx) }()

	// Without the sync timeout only this context would end the wait.
	reconcileCtx, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	start := time.Now()
	_, err := s.resourceVersion(reconcileCtx, types.NamespacedName{Namespace: "shop", Name: "tiquo"})
	if err == nil || apierrors.IsNotFound(err) {
		t.Fatalf("resourceVersion = %v; want an error other than not found", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the reconcile waited %s for a watch that cannot list", took)
	}
}

// A watch that lists its Secret hands out its resourceVersion, and a missing Secret is
// "not found", which the reconciler reports as CredentialsNotFound.
func TestSecretWatchHandsOutResourceVersion(t *testing.T) {
	secret := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "tiquo", ResourceVersion: "42"},
	}
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	client := metadatafake.NewSimpleMetadataClient(scheme, secret)
	s := newSecretWatches(client, func(context.Context, types.NamespacedName) (bool, error) { return true, nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Start(ctx) }()

	rv, err := s.resourceVersion(ctx, types.NamespacedName{Namespace: "shop", Name: "tiquo"})
	if err != nil || rv != "42" {
		t.Errorf("resourceVersion = %q, %v; want 42", rv, err)
	}
	if _, err := s.resourceVersion(ctx, types.NamespacedName{Namespace: "shop", Name: "gone"}); !apierrors.IsNotFound(err) {
		t.Errorf("resourceVersion of a missing Secret = %v; want not found", err)
	}
}
