package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// scanFixture is an account of `records` customers in the sandbox, the first `managed` of
// them declared by in-sync Customers (in a fake client: the scanner only reads the cache).
type scanFixture struct {
	sb      *sandbox.Server
	scanner *driftScanner
	sel     SecretKeySelector
	byName  map[string]*crmv1alpha1.Customer
}

func newScanFixture(t *testing.T, records, managed int) *scanFixture {
	t.Helper()
	const key = "sk_test_scan"
	sb := sandbox.NewServer(sandbox.Options{Keys: map[string][]string{key: {sandbox.ScopeRead, sandbox.ScopeWrite}}})
	t.Cleanup(sb.Close)
	updated := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = crmv1alpha1.AddToScheme(scheme)
	objs := []client.Object{&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tiquo", Name: "key", ResourceVersion: "1"},
		Data:       map[string][]byte{"apiKey": []byte(key)},
	}}
	f := &scanFixture{sb: sb, sel: SecretKeySelector{Namespace: "tiquo", Name: "key", Key: "apiKey"},
		byName: map[string]*crmv1alpha1.Customer{}}
	for i := range records {
		id := fmt.Sprintf("cust_%04d", i)
		sb.PutCustomer(sandbox.Customer{ID: id, FirstName: "A", LastName: "B", Email: id + "@example.com",
			CreatedAt: updated, UpdatedAt: updated})
		if i >= managed {
			continue
		}
		c := &crmv1alpha1.Customer{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("c%04d", i), Generation: 1},
			Spec:       crmv1alpha1.CustomerSpec{CustomerID: id},
			Status: crmv1alpha1.CustomerStatus{ObservedGeneration: 1, UpdatedAt: updated.Format(time.RFC3339Nano),
				Conditions: []metav1.Condition{{Type: crmv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
					Reason: crmv1alpha1.ReasonSynced, ObservedGeneration: 1, LastTransitionTime: metav1.Now()}}},
		}
		f.byName[c.Name] = c
		objs = append(objs, c)
	}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&crmv1alpha1.Customer{}).Build()
	api, err := tiquo.New(tiquo.Config{BaseURL: sb.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := &CustomerReconciler{Client: cl, APIReader: cl, API: api, DefaultSecret: &f.sel}
	r.keys = newKeyStore(readerVersions{cl}, cl, nil)
	f.scanner = newDriftScanner(r, time.Minute)
	return f
}

// credentials returns the version of the key Secret, as a reconcile reads it.
func (f *scanFixture) credentials(t *testing.T) string {
	t.Helper()
	_, version, err := f.scanner.r.keys.apiKey(context.Background(), f.sel)
	if err != nil {
		t.Fatal(err)
	}
	return version
}

// scan runs one scan and returns the names of the Customers it asked to reconcile and the
// number of list calls it made.
func (f *scanFixture) scan(t *testing.T) (names []string, listCalls int) {
	t.Helper()
	f.sb.ClearRequests()
	f.scanner.scanAll(context.Background(), true)
	for {
		select {
		case e := <-f.scanner.events:
			names = append(names, e.Object.GetName())
		default:
			for _, r := range f.sb.Requests() {
				if r.Method == "GET" && r.Path == "/v1/customers" {
					listCalls++
				}
			}
			slices.Sort(names)
			return names, listCalls
		}
	}
}

func TestDriftScanReconcilesOnlyChangedRecords(t *testing.T) {
	f := newScanFixture(t, 250, 230)
	for _, id := range []string{"cust_0007", "cust_0150"} { // Edited in the Tiquo dashboard.
		rec, _ := f.sb.Customer(id)
		rec.Notes, rec.UpdatedAt = "edited", rec.UpdatedAt.Add(time.Hour)
		f.sb.PutCustomer(rec)
	}
	names, calls := f.scan(t)
	if want := []string{"c0007", "c0150"}; !slices.Equal(names, want) {
		t.Errorf("reconciling %v; want only the changed records %v", names, want)
	}
	if calls != 3 {
		t.Errorf("%d list calls for 250 records; want 3 pages of 100", calls)
	}
	if !f.scanner.covers(f.sel) {
		t.Error("a scan cheaper than 230 GETs does not cover the key")
	}
	if got := float64(calls) / 230; got > 0.05 {
		t.Errorf("%.3f calls per Customer per interval, want at most 0.05", got)
	}

	// A reconcile needs no call for a record the scan saw unchanged, and does for one it
	// saw changed. (The first scan is done: the fixture ran it.)
	f.scanner.once.Do(func() { close(f.scanner.firstDone) })
	ctx := context.Background()
	if !f.scanner.unchanged(ctx, f.sel, f.credentials(t), f.byName["c0001"]) {
		t.Error("an unchanged record is not reported unchanged")
	}
	if f.scanner.unchanged(ctx, f.sel, f.credentials(t), f.byName["c0007"]) {
		t.Error("a record edited in Tiquo is reported unchanged")
	}
	if f.scanner.unchanged(ctx, f.sel, "rotated", f.byName["c0001"]) {
		t.Error("a scan with one version of the key vouches for a reconcile with another: a rotated key is not shown to work")
	}
	other := SecretKeySelector{Namespace: "other", Name: "key", Key: "apiKey"}
	if f.scanner.unchanged(ctx, other, f.credentials(t), f.byName["c0001"]) {
		t.Error("a scan of one account vouches for a record under another key")
	}
}

func TestDriftScanGivesWayWhenGetsAreCheaper(t *testing.T) {
	f := newScanFixture(t, 450, 2)
	names, calls := f.scan(t)
	if len(names) != 2 {
		t.Errorf("reconciling %v; a scan that gave up must reconcile every Customer of the key", names)
	}
	if calls > 3 {
		t.Errorf("%d list calls before giving up; want at most 3 (the 2 GETs it had to beat, plus the page that told)", calls)
	}
	if f.scanner.covers(f.sel) {
		t.Error("the scanner covers a key whose account costs more to page than to GET")
	}
	// Next interval: per-Customer resyncs run on their timers, the scan is not tried again.
	if names, calls := f.scan(t); calls != 0 || len(names) != 0 {
		t.Errorf("second interval: %d list calls, reconciling %v; want none", calls, names)
	}
}

func TestDriftScanFallsBackWhenTheListFails(t *testing.T) {
	f := newScanFixture(t, 120, 110)
	f.sb.SetFaults(sandbox.Faults{ErrorRate: 1, ErrorStatus: 503})
	names, _ := f.scan(t)
	if len(names) != 110 {
		t.Errorf("reconciling %d Customers after a failed scan; want all 110", len(names))
	}
	if f.scanner.covers(f.sel) {
		t.Error("a failed scan still covers the key")
	}
	f.sb.SetFaults(sandbox.Faults{})
	if names, calls := f.scan(t); len(names) != 0 || calls != 2 || !f.scanner.covers(f.sel) {
		t.Errorf("after recovery: reconciling %d, %d list calls, covering %v; want 0, 2, true", len(names), calls, f.scanner.covers(f.sel))
	}
}

// The first scan after startup reconciles nobody: the controller queued every Customer at
// startup, and their reconciles wait for it to say which records changed. Reconciling the
// changed ones again would cost each an extra GET.
func TestDriftScanAtStartupLeavesChangedRecordsToTheQueuedReconciles(t *testing.T) {
	f := newScanFixture(t, 150, 150)
	rec, _ := f.sb.Customer("cust_0042")
	rec.Notes, rec.UpdatedAt = "edited", rec.UpdatedAt.Add(time.Hour)
	f.sb.PutCustomer(rec)

	f.scanner.scanAll(context.Background(), false)
	f.scanner.once.Do(func() { close(f.scanner.firstDone) })
	if n := len(f.scanner.events); n != 0 {
		t.Errorf("the startup scan asked for %d reconciles; want none", n)
	}
	if !f.scanner.covers(f.sel) {
		t.Error("the startup scan does not cover the key")
	}
	ctx := context.Background()
	if f.scanner.unchanged(ctx, f.sel, f.credentials(t), f.byName["c0042"]) {
		t.Error("the queued reconcile of a record edited in Tiquo is told it is unchanged")
	}
	if !f.scanner.unchanged(ctx, f.sel, f.credentials(t), f.byName["c0041"]) {
		t.Error("the queued reconcile of an unchanged record is not told so")
	}
}

// readerVersions reads Secret metadata through a client.Reader, in place of the watches of
// a running manager.
type readerVersions struct{ client.Reader }

func (r readerVersions) resourceVersion(ctx context.Context, name types.NamespacedName) (string, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Get(ctx, name, m); err != nil {
		return "", err
	}
	return m.ResourceVersion, nil
}

// An edit within the same second as the last observation is still a change: the scan
// compares updatedAt to the precision Tiquo gives (milliseconds in the sandbox). On 7ddbc6a
// both sides were cut to whole seconds, and such an edit went unseen until the next one.
func TestDriftScanSeesAnEditWithinTheSameSecond(t *testing.T) {
	f := newScanFixture(t, 20, 20)
	rec, _ := f.sb.Customer("cust_0003")
	rec.Notes, rec.UpdatedAt = "edited", rec.UpdatedAt.Add(5*time.Millisecond)
	f.sb.PutCustomer(rec)
	names, _ := f.scan(t)
	if want := []string{"c0003"}; !slices.Equal(names, want) {
		t.Errorf("reconciling %v; want %v, whose record changed 5ms after it was observed", names, want)
	}
}

// A key the scan cannot read stops covering its Customers at once, and they are reconciled,
// so that they report CredentialsNotFound; once the key is back, the next scan covers them
// again. (On 7ddbc6a the scan kept covering with its old listing, and the Customers stayed
// Synced for good.)
func TestDriftScanStopsCoveringAKeyItCannotRead(t *testing.T) {
	f := newScanFixture(t, 30, 30)
	if _, _ = f.scan(t); !f.scanner.covers(f.sel) {
		t.Fatal("the scan does not cover the key")
	}
	credentials := f.credentials(t)
	cl := f.scanner.r.Client
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tiquo", Name: "key"}}
	if err := cl.Delete(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	names, calls := f.scan(t)
	if len(names) != 30 || calls != 0 {
		t.Errorf("without its key the scan made %d list calls and reconciles %d Customers; want 0 and all 30", calls, len(names))
	}
	f.scanner.once.Do(func() { close(f.scanner.firstDone) })
	if f.scanner.covers(f.sel) || f.scanner.unchanged(context.Background(), f.sel, credentials, f.byName["c0001"]) {
		t.Error("a scan without its key still vouches for the key's records")
	}

	secret.Data = map[string][]byte{"apiKey": []byte("sk_test_scan")}
	secret.ResourceVersion = ""
	if err := cl.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	if names, calls := f.scan(t); len(names) != 0 || calls != 1 || !f.scanner.covers(f.sel) {
		t.Errorf("with the key back: reconciling %d, %d list calls, covering %v; want 0, 1, true", len(names), calls, f.scanner.covers(f.sel))
	}
}

// What the scan learned about a key goes once no Customer it could scan uses the key.
func TestDriftScanForgetsKeysNoLongerUsed(t *testing.T) {
	f := newScanFixture(t, 10, 10)
	f.scan(t)
	if !f.scanner.covers(f.sel) {
		t.Fatal("the scan does not cover the key")
	}
	for _, c := range f.byName {
		if err := f.scanner.r.Delete(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	f.scan(t)
	f.scanner.mu.Lock()
	defer f.scanner.mu.Unlock()
	if len(f.scanner.modes) != 0 || len(f.scanner.seen) != 0 {
		t.Errorf("after the last Customer went the scanner keeps %d modes and %d listings", len(f.scanner.modes), len(f.scanner.seen))
	}
}
