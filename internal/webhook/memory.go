package webhook

import (
	"container/list"
	"sync"
	"time"
)

// ReplayGuard remembers the ids of the events a receiver accepted, for as long as a replay
// of them could pass the timestamp check, and at most capacity of them: when full, the oldest
// id is forgotten first (a replay of it then costs what a new event does, a bounded hint).
type ReplayGuard struct {
	ttl      time.Duration
	capacity int

	mu    sync.Mutex
	order *list.List // of seenID, oldest first
	ids   map[string]*list.Element
}

type seenID struct {
	id string
	at time.Time
}

// NewReplayGuard returns a guard that remembers up to capacity ids for ttl each.
func NewReplayGuard(capacity int, ttl time.Duration) *ReplayGuard {
	return &ReplayGuard{ttl: ttl, capacity: max(capacity, 1), order: list.New(), ids: map[string]*list.Element{}}
}

// Seen reports whether id was accepted within the last ttl; if not, it is remembered now.
func (g *ReplayGuard) Seen(id string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	if _, ok := g.ids[id]; ok {
		return true
	}
	for g.order.Len() >= g.capacity {
		g.drop(g.order.Front())
	}
	g.ids[id] = g.order.PushBack(seenID{id: id, at: now})
	return false
}

// Forget drops id, so that a redelivery of an event that could not be handled is handled.
func (g *ReplayGuard) Forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.ids[id]; ok {
		g.drop(e)
	}
}

// Len returns how many ids the guard holds.
func (g *ReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.order.Len()
}

func (g *ReplayGuard) expire(now time.Time) {
	for e := g.order.Front(); e != nil && now.Sub(e.Value.(seenID).at) > g.ttl; e = g.order.Front() {
		g.drop(e)
	}
}

func (g *ReplayGuard) drop(e *list.Element) {
	delete(g.ids, e.Value.(seenID).id)
	g.order.Remove(e)
}

// HintLimiter lets at most one hint per record through per interval. A hint that comes too
// soon is deferred to the end of the interval, once: however many more come meanwhile, the
// record costs one more read, which sees every change they announced. It holds at most
// capacity records, each only until its interval has passed.
type HintLimiter struct {
	interval time.Duration
	capacity int

	mu        sync.Mutex
	last      map[string]hintSlot
	lastSweep time.Time
}

type hintSlot struct {
	// at is when the last hint let through (or the deferred one) is queued.
	at time.Time
	// deferred is true while a deferred hint is pending.
	deferred bool
}

// NewHintLimiter returns a limiter of one hint per interval per record, for up to capacity
// records at a time.
func NewHintLimiter(interval time.Duration, capacity int) *HintLimiter {
	return &HintLimiter{interval: interval, capacity: max(capacity, 1), last: map[string]hintSlot{}}
}

// Allow decides about a hint for id at now. now: queue it now. Otherwise, a positive after
// says to queue it after that long (the caller must); zero says a hint is already pending
// or the limiter is full, and this one costs nothing.
func (l *HintLimiter) Allow(id string, now time.Time) (ok bool, after time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.interval {
		l.sweep(now)
	}
	s, known := l.last[id]
	if known && s.deferred && !now.Before(s.at) {
		s.deferred = false // The deferred hint has been queued; it counts as the last one.
	}
	switch {
	case !known || now.Sub(s.at) >= l.interval:
		if !known && len(l.last) >= l.capacity {
			l.sweep(now)
			if len(l.last) >= l.capacity {
				return false, 0 // Too many records hinted at once; the drift scan is the backstop.
			}
		}
		l.last[id] = hintSlot{at: now}
		return true, 0
	case s.deferred:
		return false, 0
	default:
		next := s.at.Add(l.interval)
		l.last[id] = hintSlot{at: next, deferred: true}
		return false, next.Sub(now)
	}
}

// Len returns how many records the limiter holds.
func (l *HintLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.last)
}

// sweep forgets the records whose interval has passed.
func (l *HintLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for id, s := range l.last {
		if now.Sub(s.at) >= l.interval {
			delete(l.last, id)
		}
	}
}
