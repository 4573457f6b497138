package controller

import (
	"context"
	"iter"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// driftScanner finds records changed outside Git more cheaply than a GET per Customer. Once
// per resync interval, for each API key, it pages through the account's customer list (100 a
// page) and compares each record's updatedAt with the one in the Customer's status; only the
// Customers whose record changed are reconciled. A key whose account is so large that paging
// costs more calls than reading each managed record is left to per-Customer resyncs: the
// scanner stops paging as soon as it has spent as many calls as a resync would, and remembers.
type driftScanner struct {
	r        *CustomerReconciler
	interval time.Duration
	events   chan event.GenericEvent

	mu    sync.Mutex
	modes map[SecretKeySelector]scanMode
	// seen holds, per key, what its last covering scan listed.
	seen map[SecretKeySelector]listing
	// firstDone is closed when the first scan after startup has finished.
	firstDone chan struct{}
	once      sync.Once
}

// listing is what one scan of an account saw: each record's updatedAt, and the version of the
// key Secret it listed with. It vouches only for reconciles that use that same version: a
// rotated key has not been shown to work until a call with it answered.
type listing struct {
	credentials string
	updatedAt   map[string]time.Time
}

// scanMode is what the scanner learned about one key's account.
type scanMode struct {
	// covering means the last scan succeeded and was cheaper than per-Customer resyncs, so
	// the Customers of this key need no resync timer of their own.
	covering bool
	// pages is how many list calls the last scan took (or had taken when it gave up).
	pages int
}

func newDriftScanner(r *CustomerReconciler, interval time.Duration) *driftScanner {
	return &driftScanner{r: r, interval: interval,
		events: make(chan event.GenericEvent, 1024), modes: map[SecretKeySelector]scanMode{},
		seen: map[SecretKeySelector]listing{}, firstDone: make(chan struct{})}
}

// NeedLeaderElection makes only the leader scan, as only the leader reconciles.
func (s *driftScanner) NeedLeaderElection() bool { return true }

// Start scans at once, then once per interval until ctx ends. The first scan runs at
// startup so that the Customers reconciled by the startup pass already find their key
// covered and keep no resync timer of their own. It reconciles nobody itself: at startup
// the controller queues every Customer, and their reconciles wait for it (see unchanged).
func (s *driftScanner) Start(ctx context.Context) error {
	for first := true; ; first = false {
		s.scanAll(ctx, !first)
		s.once.Do(func() { close(s.firstDone) })
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(jitter(s.interval, 0.1)):
		}
	}
}

// covers reports whether the scanner watches the records of Customers using sel, so that
// they need no resync timer of their own.
func (s *driftScanner) covers(sel SecretKeySelector) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modes[sel].covering
}

// uncover stops the scan from vouching for the records of Customers using sel, until a scan
// lists them again: their key could not be read.
func (s *driftScanner) uncover(sel SecretKeySelector) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.modes, sel)
	delete(s.seen, sel)
}

// maxFirstScanWait bounds how long a reconcile waits for the first scan after startup.
const maxFirstScanWait = time.Minute

// unchanged reports whether the scan found the record of a scannable Customer unchanged
// since the operator last observed it, so that reconciling it needs no call to Tiquo. Right
// after startup it waits (boundedly) for the first scan, so that a restart costs the list
// pages and not a read of every record.
func (s *driftScanner) unchanged(ctx context.Context, sel SecretKeySelector, credentials string, c *crmv1alpha1.Customer) bool {
	if s == nil || !scannable(c) {
		return false
	}
	select {
	case <-s.firstDone:
	case <-ctx.Done():
		return false
	case <-time.After(maxFirstScanWait):
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.seen[sel]
	at, ok := l.updatedAt[c.BoundID()]
	return s.modes[sel].covering && l.credentials == credentials && ok && sameTime(at, c.Status.UpdatedAt)
}

// sameTime reports whether the updatedAt Tiquo listed is the one a status holds, to the
// precision Tiquo gives.
func sameTime(listed time.Time, status string) bool {
	t, err := time.Parse(time.RFC3339Nano, status)
	return err == nil && t.Equal(listed)
}

// scanAll scans every key that in-sync Customers use; with notify, it reconciles the
// Customers whose record changed.
func (s *driftScanner) scanAll(ctx context.Context, notify bool) {
	var list crmv1alpha1.CustomerList
	if err := s.r.List(ctx, &list, readOnly); err != nil {
		log.FromContext(ctx).Error(err, "Listing Customers for the drift scan failed")
		return
	}
	groups := map[SecretKeySelector][]*crmv1alpha1.Customer{}
	for i := range list.Items {
		c := &list.Items[i]
		if sel, ok := secretFor(c, s.r.DefaultSecret); ok && scannable(c) {
			groups[sel] = append(groups[sel], c)
		}
	}
	s.forgetUnused(groups)
	for sel, customers := range groups {
		s.scan(ctx, sel, customers, notify)
	}
}

// forgetUnused drops what the scanner learned about keys no scannable Customer uses any more.
func (s *driftScanner) forgetUnused(groups map[SecretKeySelector][]*crmv1alpha1.Customer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sel := range s.modes {
		if _, used := groups[sel]; !used {
			delete(s.modes, sel)
			delete(s.seen, sel)
		}
	}
}

// scannable reports whether a Customer's drift can be found by the scan: it settled in sync
// (or in observed drift) for its current generation with a known updatedAt, is not suspended,
// and does not ask for an interval of its own.
func scannable(c *crmv1alpha1.Customer) bool {
	reason := readyReason(c)
	return !c.Spec.Suspend && c.Spec.SyncInterval == nil && c.Status.UpdatedAt != "" &&
		c.Status.ObservedGeneration == c.Generation &&
		(reason == crmv1alpha1.ReasonSynced || reason == crmv1alpha1.ReasonDrifted)
}

// scan pages through one key's account and, with notify, reconciles the Customers whose
// record changed. When the scan fails, or costs as many calls as per-Customer resyncs
// would, every Customer of the key is reconciled instead, and the key falls back to
// per-Customer resyncs.
func (s *driftScanner) scan(ctx context.Context, sel SecretKeySelector, customers []*crmv1alpha1.Customer, notify bool) {
	logger := log.FromContext(ctx).WithValues("secret", sel.String())
	s.mu.Lock()
	mode, known := s.modes[sel]
	s.mu.Unlock()
	if known && !mode.covering && mode.pages >= len(customers) {
		return // Per-Customer resyncs are cheaper for this account; they run on their own timers.
	}

	seen := listing{updatedAt: make(map[string]time.Time, len(customers))}
	pages, items := 0, 0
	budget := len(customers) // A GET per Customer is what the scan must beat.
	apiKey, credentials, err := s.r.keys.apiKey(ctx, sel)
	seen.credentials = credentials
	haveKey := err == nil
	ok := haveKey
	if !haveKey {
		// The scan cannot vouch for records it has no key to list; each Customer reconciles
		// and reports the key itself (CredentialsNotFound).
		logger.Info("Drift scan cannot read its API key; reconciling each Customer instead")
	}
	for rec, err := range s.listing(ctx, apiKey, haveKey) {
		if err != nil {
			logger.Info("Drift scan failed; reconciling each Customer instead", "error", tiquoErrorSummary(err))
			ok = false
			break
		}
		if items%tiquo.MaxListLimit == 0 {
			if pages++; pages > budget {
				ok = false // Paging on costs more than per-Customer resyncs would.
				break
			}
		}
		items++
		if rec.UpdatedAt != nil {
			seen.updatedAt[rec.ID] = *rec.UpdatedAt
		}
	}
	s.mu.Lock()
	switch {
	case !haveKey:
		// Nothing was learned about the account; scan it again once the key is back.
		delete(s.modes, sel)
		delete(s.seen, sel)
	case ok:
		s.modes[sel] = scanMode{covering: true, pages: max(pages, 1)}
		s.seen[sel] = seen
	default:
		s.modes[sel] = scanMode{pages: max(pages, 1)}
		delete(s.seen, sel)
	}
	s.mu.Unlock()

	if !notify {
		logger.V(1).Info("Drift scan done", "pages", pages, "customers", len(customers), "covering", ok)
		return
	}
	changed := 0
	for _, c := range customers {
		at, listed := seen.updatedAt[c.BoundID()]
		if ok && listed && sameTime(at, c.Status.UpdatedAt) {
			continue
		}
		changed++
		select {
		case s.events <- event.GenericEvent{Object: c}:
		case <-ctx.Done():
			return
		}
	}
	logger.V(1).Info("Drift scan done", "pages", pages, "customers", len(customers), "reconciling", changed,
		"covering", ok)
}

// listing pages through the account of apiKey, or yields nothing when there is no key.
func (s *driftScanner) listing(ctx context.Context, apiKey string, haveKey bool) iter.Seq2[*tiquo.Customer, error] {
	if !haveKey {
		return func(func(*tiquo.Customer, error) bool) {}
	}
	return s.r.API.ListCustomers(ctx, apiKey, tiquo.ListOptions{Limit: tiquo.MaxListLimit})
}
