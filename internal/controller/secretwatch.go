package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// secretVersions tells the resourceVersion of a Secret, which changes whenever the Secret
// does, or returns a NotFound error.
type secretVersions interface {
	resourceVersion(ctx context.Context, name types.NamespacedName) (string, error)
}

// secretWatches watches the metadata of the Secrets Customers take their API key from, each
// Secret on its own (a watch of one name in one namespace), so that the manager holds nothing
// about the cluster's other Secrets: a cluster-wide watch would cache the metadata of every
// Secret there is, Helm releases and service account tokens included. A Secret's watch starts
// when a reconcile first needs it and stops when no Customer names it any more.
//
// A change to a watched Secret (created, its data changed, deleted) reconciles the Customers
// that use it. The Secret as it was when its watch started is no change: the reconcile that
// started the watch reads it, and so does every other Customer's own reconcile.
type secretWatches struct {
	client metadata.Interface
	// inUse reports whether a Customer names the Secret.
	inUse func(ctx context.Context, name types.NamespacedName) (bool, error)
	// events carries the Secrets that changed to the controller, which reconciles the
	// Customers using them.
	events chan event.GenericEvent
	// stopped is called with each Secret whose watch stopped, so that its value goes too;
	// swept after each sweep, so that what is kept about keys no longer held goes too.
	stopped func(types.NamespacedName)
	swept   func()
	// poke asks for a sweep soon, after a Customer went.
	poke chan struct{}

	// syncTimeout bounds how long a reconcile waits for a new watch to list its Secret.
	syncTimeout time.Duration

	// started is closed once Start has set ctx, which every watch runs under.
	started chan struct{}
	ctx     context.Context

	mu      sync.Mutex
	watches map[types.NamespacedName]*secretWatch
}

type secretWatch struct {
	informer cache.SharedIndexInformer
	stop     context.CancelFunc

	// denied is closed when the API server first forbids the watch's list or watch (RBAC
	// does not grant the Secret); forbidden is that error. The informer keeps retrying.
	denied    chan struct{}
	forbidden error
}

// sweepInterval is how often watches of Secrets no Customer names are stopped.
const sweepInterval = time.Minute

// sweepDelay is how soon after a Customer went the watches are swept, so that the deletes
// of many Customers at once cost one sweep, and the cache has seen them go.
const sweepDelay = time.Second

// secretSyncTimeout is how long a reconcile waits for a new watch to list its Secret. A
// watch whose list keeps failing (the API server is down, or RBAC forbids the namespace)
// retries on its own; meanwhile the reconcile reports a transient failure and backs off
// instead of holding a worker.
const secretSyncTimeout = 30 * time.Second

var secretsResource = corev1.SchemeGroupVersion.WithResource("secrets")

func newSecretWatches(c metadata.Interface, inUse func(context.Context, types.NamespacedName) (bool, error)) *secretWatches {
	return &secretWatches{client: c, inUse: inUse, events: make(chan event.GenericEvent, 64),
		stopped: func(types.NamespacedName) {}, swept: func() {}, poke: make(chan struct{}, 1),
		syncTimeout: secretSyncTimeout, started: make(chan struct{}),
		watches: map[types.NamespacedName]*secretWatch{}}
}

// sweepSoon asks for a sweep within sweepDelay: a Customer went, and may have been the last
// to name its Secret.
func (s *secretWatches) sweepSoon() {
	select {
	case s.poke <- struct{}{}:
	default: // A sweep is already due.
	}
}

// NeedLeaderElection makes the watches run on the leader only, where the reconciles are.
func (s *secretWatches) NeedLeaderElection() bool { return true }

// Start lets watches start, and stops those of Secrets no Customer names, until ctx ends.
func (s *secretWatches) Start(ctx context.Context) error {
	s.ctx = ctx
	close(s.started)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.sweep(ctx)
		case <-s.poke:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(sweepDelay):
				s.sweep(ctx)
			}
		}
	}
}

// sweep stops the watches of the Secrets no Customer names. It holds the lock while it
// looks, so that a reconcile of a Customer that names a Secret (and is therefore in the
// cache, and counted) either keeps its watch or starts it again.
func (s *secretWatches) sweep(ctx context.Context) {
	defer s.swept()
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, w := range s.watches {
		used, err := s.inUse(ctx, name)
		if err != nil || used {
			continue
		}
		w.stop()
		delete(s.watches, name)
		s.stopped(name)
		log.FromContext(ctx).V(1).Info("Stopped watching a Secret no Customer names", "secret", name.String())
	}
}

// resourceVersion returns the resourceVersion of the Secret name, from its watch, which it
// starts (and waits to have listed) if it is not running.
func (s *secretWatches) resourceVersion(ctx context.Context, name types.NamespacedName) (string, error) {
	select {
	case <-s.started:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	w := s.watch(name)
	timeout := time.NewTimer(s.syncTimeout)
	defer timeout.Stop()
	select {
	case <-w.informer.HasSyncedChecker().Done():
	case <-w.denied:
		if !w.informer.HasSynced() {
			// A permission problem, not a slow API server: say so at once.
			return "", fmt.Errorf("watch Secret %s: %w", name, w.forbidden)
		}
	case <-timeout.C:
		return "", fmt.Errorf("the watch of Secret %s has not listed it within %s", name, s.syncTimeout)
	case <-ctx.Done():
		return "", fmt.Errorf("watch Secret %s: %w", name, ctx.Err())
	}
	obj, exists, err := w.informer.GetStore().GetByKey(name.String())
	if err != nil {
		return "", err
	}
	if !exists {
		return "", apierrors.NewNotFound(secretsResource.GroupResource(), name.Name)
	}
	return obj.(metav1.Object).GetResourceVersion(), nil
}

// watch returns the watch of name, starting it if need be.
func (s *secretWatches) watch(name types.NamespacedName) *secretWatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.watches[name]; ok {
		return w
	}
	informer := metadatainformer.NewFilteredMetadataInformer(s.client, secretsResource, name.Namespace, 0,
		cache.Indexers{}, func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name.Name).String()
		}).Informer()
	changed := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if o, ok := obj.(client.Object); ok {
			select {
			case s.events <- event.GenericEvent{Object: o}:
			case <-s.ctx.Done():
			}
		}
	}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, isInInitialList bool) {
			if !isInInitialList {
				changed(obj)
			}
		},
		UpdateFunc: func(old, obj any) {
			if old.(metav1.Object).GetResourceVersion() != obj.(metav1.Object).GetResourceVersion() {
				changed(obj)
			}
		},
		DeleteFunc: changed,
	})
	ctx, stop := context.WithCancel(s.ctx)
	w := &secretWatch{informer: informer, stop: stop, denied: make(chan struct{})}
	_ = informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if apierrors.IsForbidden(err) {
			select {
			case <-w.denied:
			default:
				w.forbidden = err
				close(w.denied)
				log.FromContext(ctx).Info("The operator may not watch a Secret a Customer names; "+
					"its Customers report CredentialsNotFound until it is granted", "secret", name.String())
			}
			return
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
	go informer.RunWithContext(ctx)
	go func() {
		// Once a Secret that was denied is granted, its Customers are reconciled: the
		// reconciles that reported the permission problem wait for no other change.
		select {
		case <-informer.HasSyncedChecker().Done():
		case <-ctx.Done():
			return
		}
		select {
		case <-w.denied:
		default:
			return
		}
		granted := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name}}
		granted.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		select {
		case s.events <- event.GenericEvent{Object: granted}:
		case <-ctx.Done():
		}
	}()
	s.watches[name] = w
	return w
}

// watching returns the Secrets being watched, for tests.
func (s *secretWatches) watching() []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]types.NamespacedName, 0, len(s.watches))
	for name := range s.watches {
		names = append(names, name)
	}
	return names
}

// customersNaming reports whether a Customer takes its API key from the Secret name.
func (r *CustomerReconciler) customersNaming(ctx context.Context, name types.NamespacedName) (bool, error) {
	var list crmv1alpha1.CustomerList
	if err := r.List(ctx, &list, client.MatchingFields{indexSecret: name.String()}, readOnly); err != nil {
		return false, err
	}
	return len(list.Items) > 0, nil
}
