package controller_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/controller"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// quietWindow is how long a test watches for calls that must not happen. Naive backoff
// (5ms doubling) would make about ten attempts in it; our resync would make two.
const quietWindow = 5 * time.Second

func TestTerminalOutcomesCostOneAttemptPerGeneration(t *testing.T) {
	cases := map[string]struct {
		reason   string
		seed     func(t *testing.T, id string)
		spec     func(id string) crmv1alpha1.CustomerSpec
		secret   string // API key in the Customer's own Secret; "" uses the default Secret
		noSecret bool   // apiKeySecretRef names a Secret that does not exist
		want     string
		// wantCalls is the calls one attempt makes.
		wantCalls map[string]int
		message   string
	}{
		"no such customer": {
			reason: "A 404 means the record does not exist; the operator never creates it.",
			spec:   func(id string) crmv1alpha1.CustomerSpec { return crmv1alpha1.CustomerSpec{CustomerID: id} },
			want:   crmv1alpha1.ReasonNotFound, wantCalls: map[string]int{"GET": 1}, message: "HTTP 404",
		},
		"email taken": {
			reason: "A 409 on PATCH means another customer has the email.",
			seed: func(t *testing.T, id string) {
				seed(t, id, nil)
				seed(t, id+"_other", func(c *sandbox.Customer) { c.Email = "taken-" + id + "@example.com" })
			},
			spec: func(id string) crmv1alpha1.CustomerSpec {
				s := matchingSpec(id)
				s.Email = ptr.To("taken-" + id + "@example.com")
				return s
			},
			want: crmv1alpha1.ReasonEmailConflict, wantCalls: map[string]int{"GET": 1, "PATCH": 1}, message: "HTTP 409",
		},
		"invalid value": {
			reason: "A 400 is terminal until the spec changes; Tiquo's message is quoted without personal data.",
			seed:   func(t *testing.T, id string) { seed(t, id, nil) },
			spec: func(id string) crmv1alpha1.CustomerSpec {
				return crmv1alpha1.CustomerSpec{CustomerID: id, FirstName: ptr.To("   ")}
			},
			want: crmv1alpha1.ReasonInvalidSpec, wantCalls: map[string]int{"GET": 1, "PATCH": 1}, message: "field firstName",
		},
		"revoked key": {
			reason: "A 401 waits for the Secret to change.",
			seed:   func(t *testing.T, id string) { seed(t, id, nil) },
			spec:   func(id string) crmv1alpha1.CustomerSpec { return matchingSpec(id) },
			secret: "sk_test_revoked", want: crmv1alpha1.ReasonUnauthorized, wantCalls: map[string]int{"GET": 1},
			message: "HTTP 401",
		},
		"read-only key": {
			reason: "A 403 insufficient_scope on PATCH names the scopes needed.",
			seed:   func(t *testing.T, id string) { seed(t, id, func(c *sandbox.Customer) { c.Phone = "+1555" }) },
			spec:   func(id string) crmv1alpha1.CustomerSpec { return matchingSpec(id) },
			secret: keyReadOnly, want: crmv1alpha1.ReasonForbidden, wantCalls: map[string]int{"GET": 1, "PATCH": 1},
			message: "customers:write",
		},
		"record of another organisation": {
			reason: "A 403 forbidden on the record itself.",
			seed: func(t *testing.T, id string) {
				seed(t, id, func(c *sandbox.Customer) { c.Sandbox = &sandbox.RecordState{Forbidden: true} })
			},
			spec: func(id string) crmv1alpha1.CustomerSpec { return matchingSpec(id) },
			want: crmv1alpha1.ReasonForbidden, wantCalls: map[string]int{"GET": 1}, message: "HTTP 403 forbidden",
		},
		"missing Secret": {
			reason:   "Without a key no call is made at all.",
			seed:     func(t *testing.T, id string) { seed(t, id, nil) },
			spec:     func(id string) crmv1alpha1.CustomerSpec { return matchingSpec(id) },
			noSecret: true, want: crmv1alpha1.ReasonCredentialsNotFound, wantCalls: map[string]int{},
			message: "not found",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := newNamespace(t)
			id := uniqueID(t)
			if tc.seed != nil {
				tc.seed(t, id)
			}
			spec := tc.spec(id)
			switch {
			case tc.secret != "":
				if err := k8sClient.Create(ctx, apiKeySecret(ns, "key", tc.secret)); err != nil {
					t.Fatal(err)
				}
				spec.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: "key"}
			case tc.noSecret:
				spec.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: "missing"}
			}
			c := create(t, ns, "terminal", spec)

			got := waitFor(t, c, metav1.ConditionFalse, tc.want)
			stalled := condition(t, got, crmv1alpha1.ConditionStalled)
			if stalled.Status != metav1.ConditionTrue || stalled.Reason != tc.want || stalled.ObservedGeneration != got.Generation {
				t.Errorf("%s\nStalled = %+v; want True/%s for generation %d", tc.reason, stalled, tc.want, got.Generation)
			}
			if r := condition(t, got, crmv1alpha1.ConditionReconciling); r.Status != metav1.ConditionFalse {
				t.Errorf("Reconciling = %s for a terminal outcome", r.Status)
			}
			if got.Status.ObservedGeneration != got.Generation {
				t.Errorf("observedGeneration %d, want %d for a final state", got.Status.ObservedGeneration, got.Generation)
			}
			if ready := condition(t, got, crmv1alpha1.ConditionReady); !strings.Contains(ready.Message, tc.message) {
				t.Errorf("Ready message %q does not say %q", ready.Message, tc.message)
			}

			// No further call in a window where naive backoff would have made many.
			time.Sleep(quietWindow)
			if n := calls(id); !equalCalls(n, tc.wantCalls) {
				t.Errorf("%s\ncalls %v; want exactly %v", tc.reason, n, tc.wantCalls)
			}
			if ev := eventsFor(t, c); len(ev) != 1 || ev[0] != tc.want {
				t.Errorf("events %v; want one Warning %s", ev, tc.want)
			}

			// A change to the spec is a new generation: exactly one new attempt.
			var fresh crmv1alpha1.Customer
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &fresh); err != nil {
				t.Fatal(err)
			}
			fresh.Spec.CompanyID = ptr.To("comp_1")
			if err := k8sClient.Update(ctx, &fresh); err != nil {
				t.Fatal(err)
			}
			waitFor(t, &fresh, metav1.ConditionFalse, tc.want)
			if tc.want != crmv1alpha1.ReasonCredentialsNotFound {
				eventually(t, 5*time.Second, func() error {
					if n := calls(id); n["GET"] != 2*tc.wantCalls["GET"] {
						return errorf("after a spec change: calls %v, want a second attempt", n)
					}
					return nil
				})
			}
		})
	}
}

func equalCalls(got, want map[string]int) bool {
	for _, m := range []string{"GET", "PATCH", "POST", "DELETE"} {
		if got[m] != want[m] {
			return false
		}
	}
	return true
}

func TestSecretCreatedLateAndRotated(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, func(c *sandbox.Customer) { c.Phone = "+1555" })
	spec := matchingSpec(id)
	spec.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: "tiquo", Key: "token"}
	c := create(t, ns, "late-secret", spec)
	waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonCredentialsNotFound)

	// The Secret appears, with the wrong entry first.
	secret := apiKeySecret(ns, "tiquo", keyReadWrite)
	if err := k8sClient.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		got := waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonCredentialsNotFound)
		if msg := condition(t, got, crmv1alpha1.ConditionReady).Message; !strings.Contains(msg, `has no key "token"`) {
			return errorf("message %q does not name the missing entry", msg)
		}
		return nil
	})
	if n := calls(id); len(n) != 0 {
		t.Errorf("calls %v without a key", n)
	}

	// The right entry is added: the Customer syncs at once, not at the slow recheck.
	secret.Data["token"] = []byte("sk_test_revoked")
	if err := k8sClient.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, metav1.ConditionFalse, crmv1alpha1.ReasonUnauthorized)

	// The key is rotated to a good one.
	secret.Data["token"] = []byte(keyReadWrite)
	if err := k8sClient.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if b := patchBodies(t, id); len(b) != 1 {
		t.Errorf("PATCHes %v; want one", b)
	}
	if s := condition(t, got, crmv1alpha1.ConditionStalled); s.Status != metav1.ConditionFalse {
		t.Errorf("Stalled stays %s after recovery", s.Status)
	}
}

func TestDuplicateCustomerIDs(t *testing.T) {
	ctx := context.Background()
	id := uniqueID(t)
	seed(t, id, func(c *sandbox.Customer) { c.Phone = "+1555" })
	ns1, ns2 := newNamespace(t), newNamespace(t)
	a := create(t, ns1, "first", matchingSpec(id))
	b := create(t, ns2, "second", matchingSpec(id))

	// Either may have synced before the other existed; both end up refusing.
	gotA := waitFor(t, a, metav1.ConditionFalse, crmv1alpha1.ReasonDuplicateCustomerID)
	waitFor(t, b, metav1.ConditionFalse, crmv1alpha1.ReasonDuplicateCustomerID)
	if msg := condition(t, gotA, crmv1alpha1.ConditionReady).Message; !strings.Contains(msg, ns2+"/second") {
		t.Errorf("message %q does not name the other Customer", msg)
	}
	patchesBefore := len(patchBodies(t, id))
	time.Sleep(2 * resyncInterval)
	if n := len(patchBodies(t, id)); n != patchesBefore {
		t.Errorf("%d PATCHes while the id was managed twice", n-patchesBefore)
	}

	// When one goes, the other proceeds at once.
	if err := k8sClient.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	if stored, _ := sb.Customer(id); stored.Phone != "+1987654321" {
		t.Errorf("phone %q after the duplicate went", stored.Phone)
	}
}

// The manager watches the Secrets its Customers take their key from, one by one, and nothing
// else of the cluster's Secrets; a Secret no Customer names any more is no longer watched.
func TestOnlySecretsInUseAreWatched(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	for _, s := range []*corev1.Secret{apiKeySecret(ns, "tiquo", keyReadWrite), apiKeySecret(ns, "unrelated", keyOther)} {
		if err := k8sClient.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	id := uniqueID(t)
	seed(t, id, nil)
	spec := matchingSpec(id)
	spec.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: "tiquo"}
	c := create(t, ns, "own-key", spec)
	waitFor(t, c, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

	used := types.NamespacedName{Namespace: ns, Name: "tiquo"}
	watched := controller.WatchedSecrets(reconciler)
	if !slices.Contains(watched, used) {
		t.Errorf("watched Secrets %v do not include %s, which a Customer uses", watched, used)
	}
	for _, name := range watched {
		if name.Namespace == ns && name != used {
			t.Errorf("the manager watches %s, which no Customer names", name)
		}
	}

	if err := k8sClient.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		controller.SweepSecretWatches(ctx, reconciler)
		if slices.Contains(controller.WatchedSecrets(reconciler), used) {
			return errorf("%s is still watched after its only Customer was deleted", used)
		}
		return nil
	})
}
