package controller

import (
	"context"
	"iter"
	"net/http"
	"slices"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// scriptedAPI answers the reconciler's calls from functions, for tests of one step of the
// pipeline. Calls it has no function for fail the test.
type scriptedAPI struct {
	t     *testing.T
	get   []func() (*tiquo.Customer, error) // one per GET, in order
	patch func(tiquo.Patch) (*tiquo.Customer, error)
	gets  int
}

func (a *scriptedAPI) GetCustomer(context.Context, string, string) (*tiquo.Customer, error) {
	if a.gets >= len(a.get) {
		a.t.Fatalf("unexpected GET number %d", a.gets+1)
	}
	a.gets++
	return a.get[a.gets-1]()
}

func (a *scriptedAPI) UpdateCustomer(_ context.Context, _, _ string, p tiquo.Patch) (*tiquo.Customer, error) {
	if a.patch == nil {
		a.t.Fatal("unexpected PATCH")
	}
	return a.patch(p)
}

func (a *scriptedAPI) ListCustomers(context.Context, string, tiquo.ListOptions) iter.Seq2[*tiquo.Customer, error] {
	a.t.Fatal("unexpected list")
	return nil
}

func (a *scriptedAPI) RetainKeys([]string) {}

func (a *scriptedAPI) CreateCustomer(context.Context, string, tiquo.CreateRequest) (*tiquo.Customer, error) {
	a.t.Fatal("unexpected POST")
	return nil, nil
}

func (a *scriptedAPI) SetArchived(context.Context, string, string, bool) (*tiquo.Customer, error) {
	a.t.Fatal("unexpected archive")
	return nil, nil
}

func (a *scriptedAPI) DeleteCustomer(context.Context, string, string) error {
	a.t.Fatal("unexpected DELETE")
	return nil
}

// When the GET that confirms a PATCH fails, whether the record now matches is unknown: the
// outcome is the GET's failure, not Synced, and the PATCH is reported once a later sync
// finds the record matching. (On 7ddbc6a the reconcile fell through to Synced although the
// PATCH answer showed the phone differing.)
func TestFailedConfirmingGetIsNotSynced(t *testing.T) {
	stored := &tiquo.Customer{ID: "cust_1", Phone: "+1000"}
	unavailable := &tiquo.APIError{StatusCode: http.StatusServiceUnavailable, Code: "unavailable", Message: "down"}
	api := &scriptedAPI{t: t,
		get: []func() (*tiquo.Customer, error){
			func() (*tiquo.Customer, error) { return nil, unavailable }, // The confirming GET.
		},
		// The PATCH answer shows the phone still differing (Tiquo rewrote it, or left it out).
		patch: func(tiquo.Patch) (*tiquo.Customer, error) { return &tiquo.Customer{ID: "cust_1", Phone: "+1 000"}, nil },
	}
	r := &CustomerReconciler{API: api, APICallTimeout: time.Second, schedule: newSchedule(), now: time.Now}
	c := &crmv1alpha1.Customer{Spec: crmv1alpha1.CustomerSpec{CustomerID: "cust_1", Phone: ptr.To("+1987654321")}}
	c.Namespace, c.Name, c.Generation = "shop", "a", 1
	key := types.NamespacedName{Namespace: "shop", Name: "a"}
	r.schedule.get(key, 1, "v1")

	out := r.act(context.Background(), c, "cust_1", observation{live: stored}, "k", SecretKeySelector{}, nil)
	if out.kind != transient || out.reason != crmv1alpha1.ReasonAPIUnavailable {
		t.Fatalf("outcome %v/%s after the confirming GET failed; want transient APIUnavailable", out.kind, out.reason)
	}
	if got := r.schedule.takeUnreported(key, 1); !slices.Equal(got, []string{"phone"}) {
		t.Errorf("unreported PATCH %v, want [phone]", got)
	}
}

// A non-convergent field found again at every slow recheck is kept once.
func TestNonConvergentFieldsAreKeptOnce(t *testing.T) {
	s := newSchedule()
	key := types.NamespacedName{Namespace: "shop", Name: "a"}
	for range 100 {
		s.addNonConvergent(key, 1, "v1", []string{"phone", "email"})
	}
	if got := s.get(key, 1, "v1").nonConvergent; !slices.Equal(got, []string{"phone", "email"}) {
		t.Errorf("non-convergent fields %v after 100 rechecks, want [phone email]", got)
	}
}

// A failure before Tiquo is called (the key Secret or the list of Customers could not be
// read) counts towards the backoff, but neither lifts a terminal hold nor forgets the fields
// found non-convergent for the generation. (On 7ddbc6a it reset the entry: an extra GET and
// PATCH followed.)
func TestFailureBeforeTiquoKeepsTheHold(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	s := newSchedule()
	key := types.NamespacedName{Namespace: "shop", Name: "a"}
	hold := now.Add(30 * time.Minute)
	s.addNonConvergent(key, 1, "v1", []string{"phone"})
	s.holdUntil(key, 1, "v1", hold, stalled(crmv1alpha1.ReasonNonConvergent, "phone"))

	delay, since := s.failed(key, 1, "", now, time.Time{}, time.Second, 5*time.Minute)
	if delay <= 0 || delay > 5*time.Minute || !since.Equal(now) {
		t.Errorf("failure before Tiquo: delay %s since %s", delay, since)
	}
	e := s.get(key, 1, "v1")
	if !e.notBefore.Equal(hold) || e.held == nil || e.held.reason != crmv1alpha1.ReasonNonConvergent {
		t.Errorf("hold after a failure before Tiquo: until %s, held %+v; want until %s, NonConvergent", e.notBefore, e.held, hold)
	}
	if !slices.Equal(e.nonConvergent, []string{"phone"}) {
		t.Errorf("non-convergent fields %v after a failure before Tiquo, want [phone]", e.nonConvergent)
	}
	if e.failures != 1 {
		t.Errorf("%d failures counted, want 1", e.failures)
	}

	// A failure of a call to Tiquo ends the hold: it was a call.
	s.failed(key, 1, "v1", hold, time.Time{}, time.Second, 5*time.Minute)
	if e := s.get(key, 1, "v1"); e.held != nil {
		t.Errorf("a failed call to Tiquo leaves the hold of %s", e.held.reason)
	}
}

// The backoff never exceeds its cap, jitter included (docs/conditions.md promises 5 minutes).
func TestBackoffNeverExceedsTheCap(t *testing.T) {
	for failures := 1; failures <= 40; failures++ {
		for range 200 {
			if d := backoffDelay(failures, time.Second, 5*time.Minute); d > 5*time.Minute || d <= 0 {
				t.Fatalf("delay %s after %d failures; want within (0, 5m]", d, failures)
			}
		}
	}
	if d := backoffDelay(3, time.Second, 5*time.Minute); d < 3600*time.Millisecond || d > 4400*time.Millisecond {
		t.Errorf("third delay %s, want 4s ±10%%", d)
	}
}

// A transient failure of a routine resync leaves a Ready Customer Ready until the grace
// period has passed; after it, Ready turns False with the failure's reason.
func TestTransientFailureEscalatesAfterTheGracePeriod(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	r := &CustomerReconciler{TransientGracePeriod: time.Minute, now: func() time.Time { return now }}
	c := &crmv1alpha1.Customer{}
	c.Generation = 3
	r.setStatus(c, inSync(nil, nil))
	failing := outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable, message: "Tiquo is unavailable"}

	failing.failingSince = now.Add(-59 * time.Second)
	r.setStatus(c, failing)
	if !isReadyAt(c, 3) {
		t.Fatalf("Ready turned %s/%s within the grace period", readyStatus(c), readyReason(c))
	}
	failing.failingSince = now.Add(-61 * time.Second)
	r.setStatus(c, failing)
	if isReadyAt(c, 3) || readyReason(c) != crmv1alpha1.ReasonAPIUnavailable {
		t.Fatalf("Ready is %s/%s past the grace period; want False/APIUnavailable", readyStatus(c), readyReason(c))
	}
	if cond := apimeta.FindStatusCondition(c.Status.Conditions, crmv1alpha1.ConditionReconciling); cond == nil ||
		cond.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling is %+v past the grace period; want True", cond)
	}
}

func readyStatus(c *crmv1alpha1.Customer) metav1.ConditionStatus {
	if cond := apimeta.FindStatusCondition(c.Status.Conditions, crmv1alpha1.ConditionReady); cond != nil {
		return cond.Status
	}
	return ""
}
