package controller

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// schedule remembers, per Customer, what the reconciler must not do again too soon, so that
// no trigger (a Secret event, a stale timer, a watch of another Customer) can make it call
// Tiquo faster than the outcome allows:
//   - after a terminal outcome, no call for the same generation and credentials until the
//     slow recheck is due;
//   - after a transient failure, no call until the backoff (or the announced rate-limit
//     reset) has passed, and the failure escalates only after the grace period;
//   - after a field proved non-convergent, that field is not patched again for the same
//     generation.
//
// It lives in memory and forgets a Customer when it is deleted: a restarted operator
// observes every Customer afresh (with the drift scan, an unchanged record costs no call).
type schedule struct {
	mu    sync.Mutex
	items map[types.NamespacedName]*entry
}

type entry struct {
	// generation and credentials identify the attempt; a change to either lifts any hold.
	generation  int64
	credentials string
	// notBefore is when the next call to Tiquo may be made.
	notBefore time.Time
	// held is the terminal outcome a hold until notBefore stands for; a reconcile during
	// the hold reports it again instead of calling Tiquo.
	held *outcome
	// failures counts consecutive transient failures; firstFailure is when they began.
	failures     int
	firstFailure time.Time
	// nonConvergent names the fields Tiquo would not store as sent, for this generation.
	nonConvergent []string
	// unreported names the fields a PATCH of this generation changed whose status write
	// failed; the next sync finds the record matching and reports them.
	unreported []string
}

func newSchedule() *schedule {
	return &schedule{items: map[types.NamespacedName]*entry{}}
}

// get returns the entry for key at this generation and credentials, resetting it when
// either changed.
func (s *schedule) get(key types.NamespacedName, generation int64, credentials string) entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := *s.current(key, generation, credentials)
	e.nonConvergent = slices.Clone(e.nonConvergent)
	return e
}

// current returns the entry for key at this generation and credentials, resetting it when
// either changed. Empty credentials stand for "not known yet" (the key could not be read):
// they keep the entry, so that a failure before Tiquo was called neither lifts a hold nor
// forgets what this generation learned.
func (s *schedule) current(key types.NamespacedName, generation int64, credentials string) *entry {
	e, ok := s.items[key]
	if !ok || e.generation != generation || (credentials != "" && e.credentials != credentials) {
		e = &entry{generation: generation, credentials: credentials}
		s.items[key] = e
	}
	return e
}

// holdUntil forbids calls for this generation and credentials until t, after the terminal
// outcome out, which a reconcile during the hold reports again.
func (s *schedule) holdUntil(key types.NamespacedName, generation int64, credentials string, t time.Time, out outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.current(key, generation, credentials)
	out.live, out.patched, out.retryAt = nil, nil, t
	e.notBefore, e.held = t, &out
}

// failed records a transient failure and returns how long to back off and when the run of
// failures began. The delay doubles from base, with jitter of ±10%, up to maxDelay, and is
// at least until retryAt when the API announced when to come back.
//
// Empty credentials mark a failure before Tiquo was called (the key or the list of
// Customers could not be read): it counts towards the backoff and the grace period, but
// keeps the entry and does not shorten a terminal hold, which is about calls to Tiquo.
func (s *schedule) failed(key types.NamespacedName, generation int64, credentials string,
	now, retryAt time.Time, base, maxDelay time.Duration) (time.Duration, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.current(key, generation, credentials)
	if e.failures == 0 {
		e.firstFailure = now
	}
	e.failures++
	delay := backoffDelay(e.failures, base, maxDelay)
	if until := min(retryAt.Sub(now), maxAnnouncedWait); until > delay {
		// A little past the reset, never before it, spread (by 2.5% to 7.5% of the wait) so
		// the waiting workers do not all return at once.
		delay = until + 100*time.Millisecond + jitter(until/20, 1)
	}
	if credentials == "" && e.notBefore.After(now.Add(delay)) {
		return delay, e.firstFailure
	}
	e.notBefore, e.held = now.Add(delay), nil
	return delay, e.firstFailure
}

// backoffDelay is the delay after the given number of consecutive failures: base doubled
// for each failure after the first, spread by ±10%, and never more than maxDelay.
func backoffDelay(failures int, base, maxDelay time.Duration) time.Duration {
	delay := base << min(failures-1, 30)
	if delay <= 0 || delay > maxDelay {
		delay = maxDelay
	}
	return min(jitter(delay, 0.2), maxDelay)
}

// maxAnnouncedWait caps how long a rate-limit reset announced by the API can hold a Customer
// back, against clock skew and nonsense headers; the client caps its own pause the same way.
const maxAnnouncedWait = 15 * time.Minute

// succeeded clears the backoff after a call that got an answer.
func (s *schedule) succeeded(key types.NamespacedName, generation int64, credentials string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.current(key, generation, credentials)
	e.failures, e.firstFailure, e.notBefore, e.held = 0, time.Time{}, time.Time{}, nil
}

// addNonConvergent remembers fields not to patch again for this generation. It holds each
// field once, however often a recheck finds it still differing.
func (s *schedule) addNonConvergent(key types.NamespacedName, generation int64, credentials string, fields []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.current(key, generation, credentials)
	for _, f := range fields {
		if !slices.Contains(e.nonConvergent, f) {
			e.nonConvergent = append(e.nonConvergent, f)
		}
	}
}

// setUnreported remembers the fields a PATCH of this generation changed, when the status
// that reports them could not be written.
func (s *schedule) setUnreported(key types.NamespacedName, generation int64, fields []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[key]; ok && e.generation == generation {
		e.unreported = fields
	}
}

// takeUnreported returns and forgets the fields set by setUnreported for this generation.
func (s *schedule) takeUnreported(key types.NamespacedName, generation int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if !ok || e.generation != generation {
		return nil
	}
	fields := e.unreported
	e.unreported = nil
	return fields
}

// forget drops everything known about a Customer that is gone.
func (s *schedule) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.items, key)
}

// jitter returns d spread by up to ±fraction/2, so that requeues of many objects created
// together do not stay in lockstep.
func jitter(d time.Duration, fraction float64) time.Duration {
	if d <= 0 {
		return d
	}
	//nolint:gosec // G404: jitter needs no cryptographic randomness.
	return d + time.Duration((rand.Float64()-0.5)*fraction*float64(d))
}
