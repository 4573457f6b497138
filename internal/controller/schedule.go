package controller

import (
	"math/rand/v2"
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
// It lives in memory: a restarted operator makes one fresh attempt per Customer.
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
	return *s.current(key, generation, credentials)
}

func (s *schedule) current(key types.NamespacedName, generation int64, credentials string) *entry {
	e, ok := s.items[key]
	if !ok || e.generation != generation || e.credentials != credentials {
		e = &entry{generation: generation, credentials: credentials}
		s.items[key] = e
	}
	return e
}

// holdUntil forbids calls for this generation and credentials until t.
func (s *schedule) holdUntil(key types.NamespacedName, generation int64, credentials string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current(key, generation, credentials).notBefore = t
}

// failed records a transient failure and returns how long to back off and when the run of
// failures began. The delay doubles from base up to max, with jitter, and is at least until
// retryAt when the API announced when to come back.
func (s *schedule) failed(key types.NamespacedName, generation int64, credentials string,
	now, retryAt time.Time, base, maxDelay time.Duration) (time.Duration, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.current(key, generation, credentials)
	if e.failures == 0 {
		e.firstFailure = now
	}
	e.failures++
	delay := base << min(e.failures-1, 30)
	if delay <= 0 || delay > maxDelay {
		delay = maxDelay
	}
	delay = jitter(delay, 0.2)
	if until := min(retryAt.Sub(now), maxAnnouncedWait); until > delay {
		// A little past the reset, never before it, spread (by 2.5% to 7.5% of the wait) so
		// the waiting workers do not all return at once.
		delay = until + 100*time.Millisecond + jitter(until/20, 1)
	}
	e.notBefore = now.Add(delay)
	return delay, e.firstFailure
}

// maxAnnouncedWait caps how long a rate-limit reset announced by the API can hold a Customer
// back, against clock skew and nonsense headers; the client caps its own pause the same way.
const maxAnnouncedWait = 15 * time.Minute

// succeeded clears the backoff after a call that got an answer.
func (s *schedule) succeeded(key types.NamespacedName, generation int64, credentials string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.current(key, generation, credentials)
	e.failures, e.firstFailure, e.notBefore = 0, time.Time{}, time.Time{}
}

// addNonConvergent remembers fields not to patch again for this generation.
func (s *schedule) addNonConvergent(key types.NamespacedName, generation int64, credentials string, fields []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.current(key, generation, credentials)
	e.nonConvergent = append(e.nonConvergent, fields...)
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
