package sandbox

import (
	"sync"
	"time"
)

// windowLimiter counts requests per key in fixed windows aligned to
// multiples of the window length (whole minutes by default), as a plan's
// "requests per minute" budget.
type windowLimiter struct {
	mu        sync.Mutex
	perWindow int // 0 = unlimited
	window    time.Duration
	buckets   map[string]*bucket
}

type bucket struct {
	start time.Time
	count int
}

// budget is the outcome of one request against the limiter.
type budget struct {
	limit     int
	remaining int
	reset     time.Time // end of the current window
	allowed   bool
}

func newWindowLimiter(perWindow int, window time.Duration) *windowLimiter {
	if window <= 0 {
		window = time.Minute
	}
	return &windowLimiter{perWindow: perWindow, window: window, buckets: map[string]*bucket{}}
}

// setLimit changes the budget per window; counts in the current window are
// kept.
func (l *windowLimiter) setLimit(perWindow int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.perWindow = perWindow
}

// take spends one request of key's budget at time now. ok is false when the
// limiter is unlimited, in which case no headers are due.
func (l *windowLimiter) take(key string, now time.Time) (b budget, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perWindow <= 0 {
		return budget{allowed: true}, false
	}
	start := now.Truncate(l.window)
	bk := l.buckets[key]
	if bk == nil || !bk.start.Equal(start) {
		bk = &bucket{start: start}
		l.buckets[key] = bk
	}
	bk.count++
	return budget{
		limit:     l.perWindow,
		remaining: max(0, l.perWindow-bk.count),
		reset:     start.Add(l.window),
		allowed:   bk.count <= l.perWindow,
	}, true
}
