package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// statusWrite is the status one reconcile computed, with what to report once it is stored.
type statusWrite struct {
	key types.NamespacedName
	// before is the Customer as the reconcile read it; after carries the new status.
	before, after *crmv1alpha1.Customer
	out           outcome
	// log is the logger of the reconcile that computed the status.
	log logr.Logger
	// done is closed when the write has succeeded or failed.
	done chan struct{}
}

// statusWriter writes the status a reconcile computed off the worker's path: the worker
// hands it over and goes on to the next Customer while the API server stores it. A worker
// then spends on each Customer the time of its Tiquo calls, not that plus a round trip to
// the API server, which a cold start of many drifted Customers makes wait in line.
//
// Writes of one Customer never overlap or overtake each other: a reconcile first waits for
// the write the previous reconcile of the same Customer handed over. Events and metrics follow
// a write that succeeded. A write that failed is handled as a reconcile that failed: a PATCH
// it reported is remembered for the next status write, and the Customer comes back after a
// per-Customer exponential backoff.
//
// The writers are a fixed number per worker, and a worker waits to hand over a write while
// all of them are busy, so that the writes in flight stay bounded and never pile up.
type statusWriter struct {
	r       *CustomerReconciler
	writers int
	writes  chan *statusWrite
	// retries carries the Customers whose write failed back to the controller's queue.
	retries chan event.GenericEvent
	backoff workqueue.TypedRateLimiter[types.NamespacedName]
	// timeout bounds one status write.
	timeout time.Duration

	mu      sync.Mutex
	pending map[types.NamespacedName]*statusWrite
	// written holds, per Customer, the resourceVersion of the last status stored and not yet
	// read back by a reconcile.
	written map[types.NamespacedName]string
}

// writersPerWorker is how many status writers there are per worker. Under the load of a
// cold start a status write can take as long as a Tiquo call or longer, and a worker that
// finds every writer busy waits; with one writer per worker a cold start of 1000 drifted
// Customers spent a fifth of each worker's time waiting (see docs/benchmarks.md), with four
// almost none.
const writersPerWorker = 4

// statusWriteTimeout bounds one status write, including the writes still handed over when
// the manager stops.
const statusWriteTimeout = 10 * time.Second

func newStatusWriter(r *CustomerReconciler, writers int) *statusWriter {
	return &statusWriter{
		r:       r,
		writers: max(writers, 1),
		writes:  make(chan *statusWrite),
		retries: make(chan event.GenericEvent, 1024),
		// The same backoff controller-runtime applies to a reconcile that returns an error.
		backoff: workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](5*time.Millisecond, 1000*time.Second),
		timeout: statusWriteTimeout,
		pending: map[types.NamespacedName]*statusWrite{},
		written: map[types.NamespacedName]string{},
	}
}

// NeedLeaderElection makes the writers run with the controller, on the leader only.
func (w *statusWriter) NeedLeaderElection() bool { return true }

// Start runs the writers until ctx ends. A write handed over before that is still made
// (each within statusWriteTimeout), so that the status of a PATCH already sent is not lost
// to a shutdown.
func (w *statusWriter) Start(ctx context.Context) error {
	writeCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range w.writers {
		wg.Go(func() {
			for {
				select {
				case sw := <-w.writes:
					w.write(ctx, writeCtx, sw)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// retryHandler puts a Customer whose status write failed back in the controller's queue,
// after its backoff.
func (w *statusWriter) retryHandler() handler.EventHandler {
	return handler.Funcs{GenericFunc: func(_ context.Context, e event.GenericEvent,
		q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		key := client.ObjectKeyFromObject(e.Object)
		q.AddAfter(reconcile.Request{NamespacedName: key}, w.backoff.When(key))
	}}
}

// wait returns once the write handed over by the previous reconcile of key, if any, is done.
func (w *statusWriter) wait(ctx context.Context, key types.NamespacedName) error {
	w.mu.Lock()
	sw := w.pending[key]
	w.mu.Unlock()
	if sw == nil {
		return nil
	}
	select {
	case <-sw.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submit hands a write over to the writers; it waits while all of them are busy.
func (w *statusWriter) submit(ctx context.Context, sw *statusWrite) error {
	sw.done = make(chan struct{})
	w.mu.Lock()
	w.pending[sw.key] = sw
	w.mu.Unlock()
	select {
	case w.writes <- sw:
		return nil
	case <-ctx.Done():
		w.finish(sw)
		return fmt.Errorf("hand over the status write: %w", ctx.Err())
	}
}

// write stores one status (under writeCtx, which outlives a stop, and within
// statusWriteTimeout) and reports its outcome, or schedules the Customer's return unless the
// writers are stopping (ctx is done).
func (w *statusWriter) write(ctx, writeCtx context.Context, sw *statusWrite) {
	defer w.finish(sw)
	writeCtx, cancel := context.WithTimeout(writeCtx, w.timeout)
	defer cancel()
	err := w.r.writeStatus(writeCtx, sw)
	switch {
	case err == nil:
		w.backoff.Forget(sw.key)
		w.mu.Lock()
		w.written[sw.key] = sw.after.ResourceVersion
		w.mu.Unlock()
	case apierrors.IsNotFound(err):
		// The Customer is gone; there is nothing to report it to.
		w.forget(sw.key)
	default:
		sw.log.Error(err, "Writing the status failed; the Customer comes back after a backoff")
		// Whether the write timed out or not, the Customer must come back: only a stop of the
		// writers ends the wait for room in the queue.
		select {
		case w.retries <- event.GenericEvent{Object: sw.after}:
		case <-ctx.Done():
		}
	}
}

// takeWritten returns and forgets the resourceVersion of the last status stored for key,
// or "" when none is waiting to be read back.
func (w *statusWriter) takeWritten(key types.NamespacedName) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	rv := w.written[key]
	delete(w.written, key)
	return rv
}

// stored records the resourceVersion of a write the reconcile made itself (a pending create,
// a finalizer), as a status write would.
func (w *statusWriter) stored(key types.NamespacedName, rv string) {
	w.mu.Lock()
	w.written[key] = rv
	w.mu.Unlock()
}

// forget drops what the writer keeps about a Customer that is gone: its backoff and the
// version of its last status.
func (w *statusWriter) forget(key types.NamespacedName) {
	w.backoff.Forget(key)
	w.mu.Lock()
	delete(w.written, key)
	w.mu.Unlock()
}

// finish marks a write done, so that the next reconcile of its Customer may go on.
func (w *statusWriter) finish(sw *statusWrite) {
	w.mu.Lock()
	if w.pending[sw.key] == sw {
		delete(w.pending, sw.key)
	}
	w.mu.Unlock()
	close(sw.done)
}

// writeStatus stores the status of sw and, once it is stored, emits the events and updates
// the metrics of the outcome. When the write fails, a PATCH the outcome reports is
// remembered, to be reported by the next status write of the same generation.
func (r *CustomerReconciler) writeStatus(ctx context.Context, sw *statusWrite) error {
	if err := r.Status().Patch(ctx, sw.after, client.MergeFrom(sw.before)); err != nil {
		if sw.out.kind == synced && len(sw.out.patched) > 0 {
			r.schedule.setUnreported(sw.key, sw.after.Generation, sw.out.patched)
		}
		return fmt.Errorf("patch status: %w", err)
	}
	r.report(sw)
	return nil
}

// report emits the events and updates the metrics of a stored outcome.
func (r *CustomerReconciler) report(sw *statusWrite) {
	r.emitEvents(sw.before, sw.after, sw.out)
	r.record(sw.before, sw.after, sw.out)
}
