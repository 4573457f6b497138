package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/metadata"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

const (
	// indexCustomerID indexes Customers by the id of the record they are bound to
	// (spec.customerId, or status.customerId for one found by email or created), to find two
	// that manage one record.
	indexCustomerID = "customerId"
	// indexSecret indexes Customers by the namespace/name of the Secret their key comes
	// from, to reconcile them when it changes.
	indexSecret = "apiKeySecret"
	// lowPriority is the priority of routine rechecks in the controller's priority queue.
	lowPriority = handler.LowPriority
)

// SetupWithManager registers the reconciler, its field indexes and its watches: Customers
// (spec changes only, not the operator's own status writes), other Customers naming the same
// record, and the metadata of each Secret that holds an API key in use.
func (r *CustomerReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := r.setDefaults(mgr); err != nil {
		return err
	}
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &crmv1alpha1.Customer{}, indexCustomerID, func(o client.Object) []string {
		if id := o.(*crmv1alpha1.Customer).BoundID(); id != "" {
			return []string{id}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Customers by customerId: %w", err)
	}
	if err := indexer.IndexField(ctx, &crmv1alpha1.Customer{}, indexSecret, func(o client.Object) []string {
		if sel, ok := secretFor(o.(*crmv1alpha1.Customer), r.DefaultSecret); ok {
			return []string{sel.Namespace + "/" + sel.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Customers by Secret: %w", err)
	}

	b := ctrl.NewControllerManagedBy(mgr).
		Named("customer").
		For(&crmv1alpha1.Customer{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, reconcileRequested()))).
		Watches(&crmv1alpha1.Customer{}, handler.EnqueueRequestsFromMapFunc(r.customersSharingID),
			builder.WithPredicates(boundOrGone())).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles})
	b = b.WatchesRawSource(source.Channel(r.secrets.events, handler.EnqueueRequestsFromMapFunc(r.customersUsingSecret)))
	if err := mgr.Add(r.secrets); err != nil {
		return fmt.Errorf("add Secret watches: %w", err)
	}
	r.writer = newStatusWriter(r, writersPerWorker*r.MaxConcurrentReconciles)
	if err := mgr.Add(r.writer); err != nil {
		return fmt.Errorf("add status writer: %w", err)
	}
	b = b.WatchesRawSource(source.Channel(r.writer.retries, r.writer.retryHandler()))
	if r.DriftScan {
		r.scanner = newDriftScanner(r, r.ResyncInterval)
		if err := mgr.Add(r.scanner); err != nil {
			return fmt.Errorf("add drift scanner: %w", err)
		}
		b = b.WatchesRawSource(source.Channel(r.scanner.events, &handler.EnqueueRequestForObject{}))
	}
	if r.Webhook != nil {
		r.receiver = newWebhookReceiver(r, *r.Webhook)
		if err := mgr.Add(r.receiver); err != nil {
			return fmt.Errorf("add webhook receiver: %w", err)
		}
		b = b.WatchesRawSource(source.Channel(r.receiver.events, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

func (r *CustomerReconciler) setDefaults(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("tiquo-operator")
	}
	defaults := []struct {
		d *time.Duration
		v time.Duration
	}{
		{&r.ResyncInterval, 10 * time.Minute},
		{&r.TerminalRecheckInterval, 30 * time.Minute},
		{&r.RetryBaseDelay, time.Second},
		{&r.RetryMaxDelay, 5 * time.Minute},
		{&r.TransientGracePeriod, 10 * time.Minute},
		{&r.APICallTimeout, 30 * time.Second},
	}
	for _, d := range defaults {
		if *d.d <= 0 {
			*d.d = d.v
		}
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 1
	}
	meta, err := metadata.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("metadata client: %w", err)
	}
	r.secrets = newSecretWatches(meta, r.customersNaming)
	r.keys = newKeyStore(r.secrets, r.APIReader, r.API.RetainKeys)
	r.secrets.stopped = r.keys.forget
	r.secrets.swept = r.keys.release
	r.schedule = newSchedule()
	r.fleet = newFleet()
	r.hints = newHints()
	if r.now == nil {
		r.now = time.Now
	}
	return nil
}

// WebhookAddress returns the address the webhook receiver listens on, or "" when it is off
// or not listening yet.
func (r *CustomerReconciler) WebhookAddress() string {
	if r.receiver == nil {
		return ""
	}
	return r.receiver.address()
}

// customersSharingID maps a Customer that appeared, went or was bound to a record to the
// other Customers bound to the same record, so that a DuplicateCustomerId is reported, or
// lifted, at once.
func (r *CustomerReconciler) customersSharingID(ctx context.Context, o client.Object) []reconcile.Request {
	c := o.(*crmv1alpha1.Customer)
	if c.BoundID() == "" {
		return nil
	}
	var list crmv1alpha1.CustomerList
	if err := r.List(ctx, &list, client.MatchingFields{indexCustomerID: c.BoundID()}, readOnly); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, other := range list.Items {
		if other.UID != c.UID {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&other)})
		}
	}
	return reqs
}

// customersUsingSecret maps a Secret to the Customers whose API key it holds.
func (r *CustomerReconciler) customersUsingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list crmv1alpha1.CustomerList
	if err := r.List(ctx, &list, client.MatchingFields{indexSecret: o.GetNamespace() + "/" + o.GetName()}, readOnly); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, c := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
	}
	return reqs
}

// reconcileRequested passes updates that change the requestedAt annotation.
func reconcileRequested() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			key := crmv1alpha1.ReconcileRequestAnnotation
			return e.ObjectNew.GetAnnotations()[key] != e.ObjectOld.GetAnnotations()[key]
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// boundOrGone passes the creation and deletion of Customers, the start of their deletion,
// and the update that binds one to a record.
func boundOrGone() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return true },
		DeleteFunc: func(event.DeleteEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			before, after := e.ObjectOld.(*crmv1alpha1.Customer), e.ObjectNew.(*crmv1alpha1.Customer)
			return before.BoundID() != after.BoundID() ||
				before.DeletionTimestamp.IsZero() != after.DeletionTimestamp.IsZero()
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
