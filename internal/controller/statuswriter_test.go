package controller

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// writerFixture is a status writer over a fake client whose status patches go through patch.
type writerFixture struct {
	w        *statusWriter
	recorder *events.FakeRecorder
	cl       client.Client
	// patch is called for every status patch; nil passes it on.
	patch atomic.Pointer[func(ctx context.Context) error]
}

func newWriterFixture(t *testing.T, writers int, names ...string) *writerFixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := crmv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f := &writerFixture{recorder: events.NewFakeRecorder(16)}
	var objs []client.Object
	for _, name := range names {
		objs = append(objs, &crmv1alpha1.Customer{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 1},
			Spec:       crmv1alpha1.CustomerSpec{CustomerID: "cust_" + name},
		})
	}
	f.cl = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&crmv1alpha1.Customer{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client,
			sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if hook := f.patch.Load(); hook != nil {
				if err := (*hook)(ctx); err != nil {
					return err
				}
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		}}).Build()
	r := &CustomerReconciler{Client: f.cl, Recorder: f.recorder, TransientGracePeriod: time.Minute}
	r.schedule, r.fleet, r.now = newSchedule(), newFleet(), time.Now
	f.w = newStatusWriter(r, writers)
	return f
}

func (f *writerFixture) onPatch(hook func(ctx context.Context) error) { f.patch.Store(&hook) }

// start runs the writers until the test ends, or until the returned stop is called; stop
// returns when Start has.
func (f *writerFixture) start(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var err error
	go func() {
		err = f.w.Start(ctx)
		close(done)
	}()
	stop = func() {
		cancel()
		<-done
		if err != nil {
			t.Errorf("Start returned %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// patchedWrite is the status write of a reconcile that PATCHed fields of Customer a and
// found it in sync.
func (f *writerFixture) patchedWrite(t *testing.T, fields ...string) *statusWrite {
	t.Helper()
	var c crmv1alpha1.Customer
	key := types.NamespacedName{Namespace: "shop", Name: "a"}
	if err := f.cl.Get(context.Background(), key, &c); err != nil {
		t.Fatal(err)
	}
	out := inSync(nil, fields)
	before := c.DeepCopy()
	f.w.r.setStatus(&c, out)
	return &statusWrite{key: key, before: before, after: &c, out: out}
}

func (f *writerFixture) status(t *testing.T, name string) crmv1alpha1.CustomerStatus {
	t.Helper()
	var c crmv1alpha1.Customer
	if err := f.cl.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: name}, &c); err != nil {
		t.Fatal(err)
	}
	return c.Status
}

// waitDone fails the test unless the write is done within a few seconds.
func waitDone(t *testing.T, sw *statusWrite) {
	t.Helper()
	select {
	case <-sw.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the status write of %s is not done", sw.key)
	}
}

// A reconcile of a Customer waits for the write the previous one handed over, and only for
// that Customer's; the write is stored and followed by its event.
func TestStatusWriterOrdersWritesOfOneCustomer(t *testing.T) {
	f := newWriterFixture(t, 2, "a", "b")
	release := make(chan struct{})
	f.onPatch(func(context.Context) error { <-release; return nil })
	f.start(t)

	sw := f.patchedWrite(t, "phone")
	if err := f.w.submit(context.Background(), sw); err != nil {
		t.Fatal(err)
	}
	if err := f.w.wait(context.Background(), types.NamespacedName{Namespace: "shop", Name: "b"}); err != nil {
		t.Fatalf("a reconcile of another Customer waited: %v", err)
	}
	waiting, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := f.w.wait(waiting, sw.key); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a reconcile of the same Customer went on (%v) while its previous status write was in flight", err)
	}
	if len(f.recorder.Events) != 0 {
		t.Fatalf("an event was emitted before the status saying so was stored: %q", <-f.recorder.Events)
	}

	close(release)
	if err := f.w.wait(context.Background(), sw.key); err != nil {
		t.Fatal(err)
	}
	if got := f.status(t, "a").LastPatchedFields; !slices.Equal(got, []string{"phone"}) {
		t.Errorf("status.lastPatchedFields = %v once the write is done, want [phone]", got)
	}
	select {
	case e := <-f.recorder.Events:
		if e != "Normal Patched Patched phone" {
			t.Errorf("event %q, want the Patched event", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("no Patched event after the status was stored")
	}
}

// A failed write keeps the PATCH it reported for the next write, brings the Customer back
// through the controller's queue, and emits nothing; the write after it reports the PATCH.
func TestStatusWriterBringsBackCustomerWhoseWriteFailed(t *testing.T) {
	f := newWriterFixture(t, 1, "a")
	f.onPatch(func(context.Context) error {
		return apierrors.NewServiceUnavailable("etcd is down")
	})
	f.start(t)

	sw := f.patchedWrite(t, "phone", "notes")
	f.w.r.schedule.succeeded(sw.key, 1, "") // As the sync that sent the PATCH did.
	if err := f.w.submit(context.Background(), sw); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sw)
	select {
	case e := <-f.w.retries:
		if e.Object.GetName() != "a" {
			t.Errorf("retry of %s, want a", e.Object.GetName())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Customer whose status write failed was not brought back")
	}
	if got := f.w.r.schedule.takeUnreported(sw.key, 1); !slices.Equal(got, []string{"phone", "notes"}) {
		t.Errorf("unreported fields after the failed write = %v, want [phone notes]", got)
	}
	if len(f.recorder.Events) != 0 {
		t.Errorf("an event was emitted for a status that was not stored: %q", <-f.recorder.Events)
	}
	// The backoff grows with each failure of the same Customer, as a reconcile's would.
	first, second := f.w.backoff.When(sw.key), f.w.backoff.When(sw.key)
	if second <= first {
		t.Errorf("backoff %s then %s: it does not grow", first, second)
	}

	f.onPatch(func(context.Context) error { return nil })
	sw = f.patchedWrite(t, "phone", "notes")
	if err := f.w.submit(context.Background(), sw); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sw)
	if got := f.w.backoff.NumRequeues(sw.key); got != 0 {
		t.Errorf("%d failures still counted after a write succeeded, want 0", got)
	}
}

// A Customer deleted while its write was in flight is not brought back.
func TestStatusWriterForgetsDeletedCustomer(t *testing.T) {
	f := newWriterFixture(t, 1, "a")
	f.onPatch(func(context.Context) error {
		return apierrors.NewNotFound(schema.GroupResource{Group: crmv1alpha1.GroupVersion.Group, Resource: "customers"}, "a")
	})
	f.start(t)
	sw := f.patchedWrite(t, "phone")
	if err := f.w.submit(context.Background(), sw); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sw)
	select {
	case e := <-f.w.retries:
		t.Errorf("deleted Customer %s brought back", e.Object.GetName())
	case <-time.After(200 * time.Millisecond):
	}
}

// A write handed over before the manager stops is still made, with a context the stop did
// not cancel, and Start returns only once it is done.
func TestStatusWriterFinishesWritesOnStop(t *testing.T) {
	f := newWriterFixture(t, 1, "a")
	started, release := make(chan struct{}), make(chan struct{})
	var ctxErr atomic.Value
	f.onPatch(func(ctx context.Context) error {
		close(started)
		<-release
		if err := ctx.Err(); err != nil {
			ctxErr.Store(err)
		}
		return nil
	})
	stop := f.start(t)
	sw := f.patchedWrite(t, "phone")
	if err := f.w.submit(context.Background(), sw); err != nil {
		t.Fatal(err)
	}
	<-started
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Start returned while a status write was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-stopped
	if err := ctxErr.Load(); err != nil {
		t.Errorf("the write in flight at the stop ran with a cancelled context: %v", err)
	}
	if got := f.status(t, "a").LastPatchedFields; !slices.Equal(got, []string{"phone"}) {
		t.Errorf("status.lastPatchedFields = %v after the stop, want [phone]", got)
	}
}

// A worker that cannot hand its write over before its context ends gives up, and the next
// reconcile of the Customer does not wait for that write.
func TestStatusWriterHandOverGivesUpWithContext(t *testing.T) {
	f := newWriterFixture(t, 1, "a") // Not started: nobody takes the write.
	sw := f.patchedWrite(t, "phone")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.w.submit(ctx, sw); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("submit = %v, want the context's error", err)
	}
	if err := f.w.wait(context.Background(), sw.key); err != nil {
		t.Fatal(err)
	}
}

// A write that times out brings its Customer back every time: the wait for room in the retry
// queue must not race the write's own expired deadline (on 7ddbc6a about half the retries
// were dropped, and under the drift scan such a Customer had no timer left).
func TestStatusWriterBringsBackCustomerWhoseWriteTimedOut(t *testing.T) {
	f := newWriterFixture(t, 1, "a")
	f.w.timeout = 5 * time.Millisecond
	f.onPatch(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	f.start(t)
	for i := range 40 {
		sw := f.patchedWrite(t, "phone")
		if err := f.w.submit(context.Background(), sw); err != nil {
			t.Fatal(err)
		}
		waitDone(t, sw)
		select {
		case <-f.w.retries:
		case <-time.After(2 * time.Second):
			t.Fatalf("write %d timed out and its Customer was not brought back", i+1)
		}
	}
}

// What the writer keeps about a Customer goes with it: its backoff and the version of its
// last stored status.
func TestStatusWriterForgetsWhatItKeptOfACustomer(t *testing.T) {
	f := newWriterFixture(t, 1, "a")
	failing := atomic.Bool{}
	failing.Store(true)
	f.onPatch(func(context.Context) error {
		if failing.Load() {
			return apierrors.NewServiceUnavailable("etcd is down")
		}
		return nil
	})
	f.start(t)
	sw := f.patchedWrite(t, "phone")
	if err := f.w.submit(context.Background(), sw); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sw)
	<-f.w.retries
	f.w.backoff.When(sw.key)
	if f.w.backoff.NumRequeues(sw.key) == 0 {
		t.Fatal("no backoff kept after a failed write")
	}
	failing.Store(false)
	sw = f.patchedWrite(t, "notes")
	if err := f.w.submit(context.Background(), sw); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sw)
	f.w.mu.Lock()
	kept := len(f.w.written)
	f.w.mu.Unlock()
	if kept != 1 {
		t.Fatalf("%d stored versions kept after a write, want 1", kept)
	}
	f.w.backoff.When(sw.key)
	f.w.forget(sw.key)
	if n := f.w.backoff.NumRequeues(sw.key); n != 0 {
		t.Errorf("backoff of a deleted Customer kept: %d failures", n)
	}
	if rv := f.w.takeWritten(sw.key); rv != "" {
		t.Errorf("stored version %q of a deleted Customer kept", rv)
	}
}
