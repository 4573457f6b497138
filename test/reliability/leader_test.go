package reliability

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// Lease settings of the managers under test: short, so that a failover happens within seconds.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
	leaseName     = "tiquo-operator.crm.tiquo.co"
)

// holder is one leader as the Lease recorded it.
type holder struct {
	identity string
	acquired time.Time // spec.acquireTime, written by the new leader
	renewed  time.Time // the last spec.renewTime the test saw
	seen     time.Time // when the test first saw it
}

// leaseWatch polls the leader election Lease and records every new holder.
type leaseWatch struct {
	mu      sync.Mutex
	holders []holder
}

func watchLease(t *testing.T, ns string) *leaseWatch {
	t.Helper()
	w := &leaseWatch{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var l coordinationv1.Lease
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaseName}, &l); err == nil {
				id := ptr.Deref(l.Spec.HolderIdentity, "")
				w.mu.Lock()
				if n := len(w.holders); n == 0 || w.holders[n-1].identity != id {
					h := holder{identity: id, seen: time.Now()}
					if l.Spec.AcquireTime != nil {
						h.acquired = l.Spec.AcquireTime.Time
					}
					w.holders = append(w.holders, h)
				}
				if l.Spec.RenewTime != nil {
					w.holders[len(w.holders)-1].renewed = l.Spec.RenewTime.Time
				}
				w.mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return w
}

// last returns what the watch knows of a holder.
func (w *leaseWatch) last(identity string) holder {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.holders) - 1; i >= 0; i-- {
		if w.holders[i].identity == identity {
			return w.holders[i]
		}
	}
	return holder{}
}

// next waits for a holder other than not (and other than none), and returns it.
func (w *leaseWatch) next(t *testing.T, timeout time.Duration, not string) holder {
	t.Helper()
	var h holder
	eventually(t, timeout, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if n := len(w.holders); n > 0 && w.holders[n-1].identity != "" && w.holders[n-1].identity != not {
			h = w.holders[n-1]
			return nil
		}
		return fmt.Errorf("the Lease holders so far: %+v", w.holders)
	})
	return h
}

func (w *leaseWatch) all() []holder {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]holder(nil), w.holders...)
}

// TestLeaderElectionFailover runs two managers with leader election against one API server:
// only the Lease holder calls Tiquo; on SIGTERM the leader hands the Lease over at once and the
// standby takes over; on SIGKILL the next standby takes over once the lease runs out. Every
// request to Tiquo comes from the manager holding the Lease at that moment.
func TestLeaderElectionFailover(t *testing.T) {
	f := newFront(t, sandbox.Options{})
	ns := newNamespace(t)
	leaseNS := newNamespace(t)
	leases := watchLease(t, leaseNS)
	args := func(name string) []string {
		return []string{"--tiquo-base-url", f.base(name), "--resync-interval", "1s",
			"--leader-elect", "--leader-election-namespace", leaseNS,
			"--leader-elect-lease-duration", leaseDuration.String(), "--leader-elect-renew-deadline", renewDeadline.String(),
			"--leader-elect-retry-period", retryPeriod.String()}
	}
	standby := func(m *managerProc) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			if !strings.Contains(strings.ToLower(m.out.String()), "attempting to acquire leader lease") {
				return fmt.Errorf("manager %s has not tried to acquire the Lease yet", m.name)
			}
			return nil
		})
	}

	a := startManager(t, "a", args("a")...)
	leaderA := leases.next(t, 60*time.Second, "")
	b := startManager(t, "b", args("b")...)
	standby(b)

	names := []string{"x0", "x1", "x2", "x3"}
	ids := map[string]string{}
	wants := make([]want, 0, len(names))
	for i, name := range names {
		id := uniqueID("leader", i)
		if i%2 == 0 {
			seed(f, id, drifted)
		} else {
			seed(f, id, nil)
		}
		ids[name] = id
		createCustomer(t, ns, name, matchingSpec(id))
		wants = append(wants, synced(name))
	}
	waitAll(t, ns, 60*time.Second, wants...)
	time.Sleep(2 * time.Second) // Routine resyncs, by the leader only.
	before := f.log()
	if n := len(where(before, func(c call) bool { return c.Manager != "a" })); n != 0 || len(before) == 0 {
		t.Errorf("before the failover %d requests came from a and %d from the standby; want only the leader's",
			len(where(before, func(c call) bool { return c.Manager == "a" })), n)
	}

	// SIGTERM: the leader stops its workers, then gives the Lease up; the standby takes it.
	terminated := time.Now()
	a.stop(t)
	leaderB := leases.next(t, leaseDuration+retryPeriod+30*time.Second, leaderA.identity)
	termFailover := leaderB.acquired.Sub(terminated)
	if limit := leaseDuration + retryPeriod + 10*time.Second; termFailover > limit {
		t.Errorf("failover after SIGTERM took %s; the lease settings allow %s", termFailover, limit)
	}
	// b took the Lease before a's last renewal had run out: a released it on SIGTERM.
	if expiry := leases.last(leaderA.identity).renewed.Add(leaseDuration); !leaderB.acquired.Before(expiry) {
		t.Errorf("b acquired the Lease at %s, after a's lease ran out at %s: a did not release it on SIGTERM",
			leaderB.acquired.Format("15:04:05.000"), expiry.Format("15:04:05.000"))
	}
	// The new leader works: a change made now is patched by b.
	c := getCustomer(t, ns, "x1")
	c.Spec.Notes = ptr.To("Changed after the failover")
	if err := k8sClient.Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	waitAll(t, ns, 60*time.Second, wants...)
	if n := len(where(f.log(), func(c call) bool { return c.Manager == "b" && patches(true)(c) && forID(ids["x1"])(c) })); n != 1 {
		t.Errorf("b sent %d PATCHes for the change made after the failover, want 1", n)
	}

	// SIGKILL: the leader cannot hand over; the next standby waits for the lease to run out.
	c3 := startManager(t, "c", args("c")...)
	standby(c3)
	killed := time.Now()
	b.kill()
	leaderC := leases.next(t, leaseDuration+retryPeriod+30*time.Second, leaderB.identity)
	killFailover := leaderC.acquired.Sub(killed)
	if limit := leaseDuration + retryPeriod + 10*time.Second; killFailover > limit {
		t.Errorf("failover after SIGKILL took %s; the lease settings allow %s", killFailover, limit)
	}
	// The lease was honoured: the standby waited for it to run out since the last renewal.
	if low := leaseDuration - renewDeadline; killFailover < low {
		t.Errorf("failover after SIGKILL took %s: the standby took the Lease before it could have expired (%s)", killFailover, low)
	}
	eventually(t, 30*time.Second, func() error {
		if len(where(f.log(), func(c call) bool { return c.Manager == "c" })) == 0 {
			return fmt.Errorf("the new leader c has not called Tiquo")
		}
		return nil
	})
	c3.requireRunning(t)

	// Every request came from the manager that held the Lease at that moment.
	terms := map[string][2]time.Time{
		"a": {leaderA.acquired, a.exited},
		"b": {leaderB.acquired, b.exited},
		"c": {leaderC.acquired, time.Now().Add(time.Hour)},
	}
	calls := f.log()
	for _, cl := range calls {
		term, ok := terms[cl.Manager]
		if !ok || cl.Start.Before(term[0]) || cl.Start.After(term[1]) {
			t.Errorf("%s %s from %s at %s, outside its term as leader %s to %s", cl.Method, cl.Path, cl.Manager,
				cl.Start.Format("15:04:05.000"), term[0].Format("15:04:05.000"), term[1].Format("15:04:05.000"))
		}
	}
	first := func(name string) time.Time {
		for _, cl := range calls {
			if cl.Manager == name {
				return cl.Start
			}
		}
		return time.Time{}
	}
	t.Logf("leader election (lease %s, renew %s, retry %s): holders %d; SIGTERM failover %s (first Tiquo call by b %s after SIGTERM); "+
		"SIGKILL failover %s (first call by c %s after SIGKILL); requests by a %d, b %d, c %d",
		leaseDuration, renewDeadline, retryPeriod, len(leases.all()), termFailover.Round(time.Millisecond),
		first("b").Sub(terminated).Round(time.Millisecond), killFailover.Round(time.Millisecond),
		first("c").Sub(killed).Round(time.Millisecond),
		len(where(calls, func(c call) bool { return c.Manager == "a" })),
		len(where(calls, func(c call) bool { return c.Manager == "b" })),
		len(where(calls, func(c call) bool { return c.Manager == "c" })))
}
