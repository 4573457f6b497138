package tiquo

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

const (
	// defaultRetryPause is how long a key pauses after a 429 that does not
	// say when to retry.
	defaultRetryPause = time.Second
	// maxRetryPause caps the pause a server can impose, against clock skew
	// and nonsense headers.
	maxRetryPause = 15 * time.Minute
)

// RateLimit is the rate-limit state an answer announced in its headers.
type RateLimit struct {
	// Limit is X-RateLimit-Limit, the budget per window; -1 when absent.
	Limit int
	// Remaining is X-RateLimit-Remaining; -1 when absent.
	Remaining int
	// Reset is X-RateLimit-Reset, when the window ends; zero when absent.
	Reset time.Time
	// RetryAfter is Retry-After as a time; zero when absent.
	RetryAfter time.Time
}

// parseRateLimit reads the X-RateLimit-* and Retry-After headers of an
// answer received at now. ok is false when none was present.
//
// X-RateLimit-Reset is read as Unix epoch seconds (the docs' example). As
// a defence against other conventions, a value below 10^9 is read as
// seconds from now and one above 10^12 as epoch milliseconds. Retry-After is
// either delay seconds or an HTTP date.
func parseRateLimit(h http.Header, now time.Time) (rl RateLimit, ok bool) {
	rl = RateLimit{Limit: -1, Remaining: -1}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit"))); err == nil && n >= 0 {
		rl.Limit, ok = n, true
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining"))); err == nil && n >= 0 {
		rl.Remaining, ok = n, true
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64); err == nil && n >= 0 {
		switch {
		case n < 1e9:
			rl.Reset = now.Add(time.Duration(n) * time.Second)
		case n > 1e12:
			rl.Reset = time.UnixMilli(n)
		default:
			rl.Reset = time.Unix(n, 0)
		}
		ok = true
	}
	if t, found := parseRetryAfter(h.Get("Retry-After"), now); found {
		rl.RetryAfter, ok = t, true
	}
	return rl, ok
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return time.Time{}, false
		}
		// Longer than maxRetryPause is capped anyway; capping first keeps a huge value from
		// overflowing the Duration into the past, which would end the pause at once.
		n = min(n, int64(maxRetryPause/time.Second))
		return now.Add(time.Duration(n) * time.Second), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// retryTime returns when an answer with the given status and headers asks
// to be retried: Retry-After first, then on a 429 X-RateLimit-Reset.
func (rl RateLimit) retryTime(status int) time.Time {
	if !rl.RetryAfter.IsZero() {
		return rl.RetryAfter
	}
	if status == http.StatusTooManyRequests {
		return rl.Reset
	}
	return time.Time{}
}

// keyLimiters holds the client-side limiter of every API key seen, keyed by
// the key's SHA-256 so that raw keys are not kept.
type keyLimiters struct {
	rpm int // requests per minute per key; 0 = no token bucket

	mu sync.Mutex
	m  map[[sha256.Size]byte]*keyLimiter
}

func newKeyLimiters(rpm int) *keyLimiters {
	return &keyLimiters{rpm: rpm, m: map[[sha256.Size]byte]*keyLimiter{}}
}

// get returns the limiter of apiKey, creating it on first use.
func (l *keyLimiters) get(apiKey string) *keyLimiter {
	sum := sha256.Sum256([]byte(apiKey))
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.m[sum]
	if k == nil {
		k = &keyLimiter{fingerprint: fingerprintOf(sum)}
		if l.rpm > 0 {
			// A burst of one second's worth keeps a fixed server window
			// from being overrun by a full bucket plus a minute of refill.
			k.bucket = rate.NewLimiter(rate.Limit(float64(l.rpm)/60), max(1, l.rpm/60))
		}
		l.m[sum] = k
	}
	return k
}

// peek returns the limiter of apiKey if it exists.
func (l *keyLimiters) peek(apiKey string) *keyLimiter {
	sum := sha256.Sum256([]byte(apiKey))
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[sum]
}

// retain drops the limiters of every key but those in keep, and returns the ones dropped.
func (l *keyLimiters) retain(keep []string) []*keyLimiter {
	kept := make(map[[sha256.Size]byte]bool, len(keep))
	for _, k := range keep {
		kept[sha256.Sum256([]byte(k))] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var dropped []*keyLimiter
	for sum, k := range l.m {
		if kept[sum] {
			continue
		}
		delete(l.m, sum)
		k.mu.Lock()
		k.forgotten = true
		k.mu.Unlock()
		dropped = append(dropped, k)
	}
	return dropped
}

// keyLimiter paces the requests of one API key: a token bucket sized in
// requests per minute, and a pause, shared by every caller of the key, until
// the time a 429 (or a spent budget) announced.
type keyLimiter struct {
	fingerprint string
	bucket      *rate.Limiter // nil = no client-side limit

	mu          sync.Mutex
	pausedUntil time.Time
	last        RateLimit
	seen        bool
	// forgotten is set once the key is forgotten, so that an answer still in flight does
	// not bring its metric series back.
	forgotten bool
}

// setRemaining sets the key's tiquo_rate_limit_remaining series, unless it was forgotten.
func (k *keyLimiter) setRemaining(remaining *prometheus.GaugeVec, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.forgotten {
		remaining.WithLabelValues(k.fingerprint).Set(float64(n))
	}
}

// wait blocks until the key may send a request. When that time lies past
// ctx's deadline it returns at once a 429 APIError with code
// CodeClientRateLimited and RetryAfter set, so that callers can requeue
// instead of blocking.
func (k *keyLimiter) wait(ctx context.Context) error {
	for {
		k.mu.Lock()
		until := k.pausedUntil
		k.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			break
		}
		if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
			return localRateLimited(until)
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if k.bucket == nil {
		return nil
	}
	r := k.bucket.Reserve()
	d := r.Delay()
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.Cancel()
		return localRateLimited(time.Now().Add(d))
	}
	if err := sleep(ctx, d); err != nil {
		r.Cancel()
		return err
	}
	return nil
}

// observe records the rate-limit state of an answer. After a 429 every
// caller of the key pauses until the announced retry time (or for
// defaultRetryPause); when an answer says the budget is spent they pause
// until the window resets.
func (k *keyLimiter) observe(rl RateLimit, status int, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.last, k.seen = rl, true
	var until time.Time
	switch {
	case status == http.StatusTooManyRequests:
		until = rl.retryTime(status)
		if !until.After(now) {
			until = now.Add(defaultRetryPause)
		}
	case rl.Remaining == 0 && rl.Reset.After(now):
		until = rl.Reset
	default:
		return
	}
	until = minTime(until, now.Add(maxRetryPause))
	if until.After(k.pausedUntil) {
		k.pausedUntil = until
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func localRateLimited(until time.Time) *APIError {
	return &APIError{
		StatusCode: http.StatusTooManyRequests,
		Code:       CodeClientRateLimited,
		Message:    "client-side rate limit: the key's budget is spent until the retry time",
		RetryAfter: until,
	}
}

// sleep waits for d or until ctx ends, returning ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
