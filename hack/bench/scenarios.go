package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// results are the figures of one run.
type results struct {
	cfg config
	// statusWriteRate is W, the Customer status writes per second the API server completed
	// for C concurrent writers: the larger of statusWriteRates, measured before the cold
	// start and after it.
	statusWriteRate  float64
	statusWriteRates []float64
	// createRate is how many Customers per second the benchmark created (for information).
	createRate float64

	cold, limited coldResult
	restart       restartResult
	// steady is the steady state with the drift scan (the default) and steadyPerCustomer
	// without it (--drift-scan=false).
	steady, steadyPerCustomer steadyResult
	// respStartup and respResync are new Customers timed during the startup pass and a
	// periodic resync pass.
	respStartup, respResync responsiveness
	// drift is the time from an out-of-band edit to its correction, with webhooks and without.
	drift driftResult
	// peakRSS and heapInuse are the largest of any manager run; memory has each run's.
	peakRSS, heapInuse uint64
	memory             []managerMemory
}

// managerMemory is the memory of one manager run, read just before it was stopped.
type managerMemory struct {
	purpose            string
	peakRSS, heapInuse uint64
}

// coldResult is a fresh manager over N drifted records.
type coldResult struct {
	ran bool
	// rate is R per minute, in the manager's flag and in the sandbox.
	rate int
	// duration is from starting the manager to every Customer Ready with the record patched.
	duration time.Duration
	// firstCall is from starting the manager to the first Tiquo request.
	firstCall time.Duration
	// requests, gets, patches and tooMany count the Tiquo requests by kind; tooMany the 429s.
	requests, gets, patches, tooMany int
	// statusWrites and eventWrites are the Customer status writes and Event writes the API
	// server completed; meanStatusWrite is the mean time it took over a status write.
	statusWrites, eventWrites int
	meanStatusWrite           time.Duration
	// manager is what the manager's own metrics say.
	manager managerStats
	// cpu is the CPU time used from starting the manager until every Customer was Ready.
	cpu cpuUse
	// bound is T_min and its terms.
	bound bound
}

// bound is T_min = max(N*k*L/C, N*k/R, S/W) and its terms.
type bound struct {
	latency, rate, apiServer time.Duration
}

func (b bound) tMin() time.Duration { return max(b.latency, b.rate, b.apiServer) }

// binding names the term that sets T_min.
func (b bound) binding() string {
	switch b.tMin() {
	case b.latency:
		return "N·k·L/C"
	case b.rate:
		return "N·k/R"
	default:
		return "S/W"
	}
}

// restartResult is a fresh manager over N Customers already in sync.
type restartResult struct {
	ran                                   bool
	requests, gets, patches, statusWrites int
	// lists is the list calls among the requests.
	lists int
	// duration is from starting the manager to its last activity.
	duration time.Duration
}

// measureStatusWriteRate measures W: C writers each patching the status of a throwaway
// Customer of their own as fast as the API server answers, for cfg.statusWriteProbe. Each
// patch sets a status like the one the manager writes. No manager runs meanwhile, and the
// throwaway Customers are deleted before one starts. On a shared machine one probe may catch
// a busy moment, so W is measured twice and the larger figure, the tighter bound, counts.
func (b *bench) measureStatusWriteRate(ctx context.Context) error {
	if err := b.stopManager(ctx); err != nil {
		return err
	}
	writers := b.cfg.workers
	objs := make([]*crmv1alpha1.Customer, writers)
	for i := range objs {
		objs[i] = customer(benchNamespace, fmt.Sprintf("w-%02d", i))
		if err := b.kc.Create(ctx, objs[i]); err != nil {
			return err
		}
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := time.Now()
	deadline := start.Add(b.cfg.statusWriteProbe)
	for i, obj := range objs {
		wg.Go(func() {
			for j := 0; time.Now().Before(deadline) && ctx.Err() == nil; j++ {
				patch := client.RawPatch(types.MergePatchType, statusPatch(j))
				if err := b.kc.Status().Patch(ctx, obj, patch); err != nil {
					errs[i] = err
					return
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, obj := range objs {
		if err := b.kc.Delete(ctx, obj); err != nil {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	rate := float64(total.Load()) / elapsed.Seconds()
	b.res.statusWriteRates = append(b.res.statusWriteRates, rate)
	b.res.statusWriteRate = max(b.res.statusWriteRate, rate)
	b.logf("W = %.0f status writes/s (%d writes by %d writers in %s)", rate, total.Load(), writers,
		elapsed.Round(time.Millisecond))
	return nil
}

// statusPatch is a merge patch of a status like the one the manager writes after a PATCH,
// different each time so that every write reaches etcd.
func statusPatch(j int) []byte {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	cond := func(t string, s metav1.ConditionStatus, msg string) metav1.Condition {
		return metav1.Condition{Type: t, Status: s, Reason: crmv1alpha1.ReasonSynced, Message: msg,
			ObservedGeneration: 1, LastTransitionTime: now}
	}
	points := int64(j)
	body, _ := json.Marshal(map[string]any{"status": crmv1alpha1.CustomerStatus{
		ObservedGeneration: 1,
		Conditions: []metav1.Condition{
			cond(crmv1alpha1.ConditionReady, metav1.ConditionTrue, fmt.Sprintf("The Tiquo record matches the spec (%d)", j)),
			cond(crmv1alpha1.ConditionReconciling, metav1.ConditionFalse, ""),
			cond(crmv1alpha1.ConditionStalled, metav1.ConditionFalse, ""),
		},
		LoyaltyPoints: &points, TotalSpent: "2500.00", VisitCount: &points,
		CreatedAt: &now, UpdatedAt: now.UTC().Format(time.RFC3339Nano), LastSyncTime: &now, LastPatchedFields: []string{"notes"},
	}})
	return body
}

// prepare seeds N drifted records and creates their N Customers, before any manager runs.
func (b *bench) prepare(ctx context.Context) error {
	n := b.cfg.n
	for i := range n {
		b.sb.PutCustomer(record(baseName(i), driftNotes))
	}
	start := time.Now()
	if err := createAll(ctx, b.kc, n, b.cfg.createWorkers, func(i int) client.Object {
		return customer(benchNamespace, baseName(i))
	}); err != nil {
		return err
	}
	elapsed := time.Since(start)
	b.res.createRate = float64(n) / elapsed.Seconds()
	b.logf("Created %d Customers in %s (%.0f/s)", n, elapsed.Round(time.Millisecond), b.res.createRate)
	// The watch must have seen them all before a manager starts.
	deadline := time.Now().Add(time.Minute)
	for b.tracker.count(basePrefix, func(*objState) bool { return true }) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("the benchmark's watch saw only %d of %d Customers",
				b.tracker.count(basePrefix, func(*objState) bool { return true }), n)
		}
		time.Sleep(pollEvery)
	}
	return ctx.Err()
}

// cold starts a fresh manager over the N Customers, whose records all drifted (notes).
func (b *bench) cold(ctx context.Context) error {
	r, err := b.coldStart(ctx, driftNotes, b.cfg.rateLimit, secretName)
	b.res.cold = r
	return err
}

// limitedCold drifts every record again (phone) and starts a fresh manager with a rate limit
// that binds. The manager uses an API key of its own, whose budget the scenarios before have
// not spent: the sandbox counts each key's requests in fixed one-minute windows.
func (b *bench) limitedCold(ctx context.Context) error {
	if err := b.stopManager(ctx); err != nil {
		return err
	}
	for i := range b.cfg.n {
		b.sb.PutCustomer(record(baseName(i), driftPhone))
	}
	rate := b.cfg.limitedRate
	if rate <= 0 {
		var coldRate float64
		if c := b.res.cold; c.ran && c.duration > 0 {
			coldRate = float64(c.requests) / c.duration.Seconds()
		}
		rate = bindingRate(b.cfg.n, b.cfg.limitedTarget, coldRate)
	}
	r, err := b.coldStart(ctx, driftPhone, rate, limitedSecretName)
	b.res.limited = r
	return err
}

// coldStart starts a fresh manager with rate limit rate over N Customers whose records
// drifted by d, waits until every one is Ready with d patched and the manager is idle, and
// counts what it took.
func (b *bench) coldStart(ctx context.Context, d drift, rate int, secret string) (coldResult, error) {
	cfg := b.cfg
	r := coldResult{ran: true, rate: rate}
	r.bound = b.bound(callsPerDriftedCustomer, rate, cfg.n)
	if err := b.stopManager(ctx); err != nil {
		return r, err
	}
	b.sb.SetRateLimit(rate)
	b.sb.ClearRequests()
	api0, err := b.apiServer.counts(ctx)
	if err != nil {
		return r, err
	}
	cpu0, err := sampleCPU()
	if err != nil {
		return r, err
	}
	purpose := "cold start"
	if secret == limitedSecretName {
		purpose = "rate-limited cold start"
	}
	m, err := b.startManager(ctx, purpose, rate, longResync, secret)
	if err != nil {
		return r, err
	}
	done := func(s *objState) bool { return s.ready && s.patched == d.field() }
	if err := b.waitCount(ctx, m, basePrefix, cfg.n, done, 2*time.Minute+20*r.bound.tMin()); err != nil {
		return r, err
	}
	r.duration = time.Since(m.started)
	cpu1, err := sampleCPU()
	if err != nil {
		return r, err
	}
	r.cpu = cpu1.since(cpu0)
	b.logf("CPU seconds: %s", r.cpu)
	b.logf("All %d Customers Ready with %s patched after %s (T_min %s so far)", cfg.n, d.field(),
		r.duration.Round(time.Millisecond), r.bound.tMin().Round(time.Millisecond))
	if _, err := b.waitIdle(ctx, m, 0, 0, 2*time.Minute); err != nil {
		return r, err
	}
	st := b.sb.Stats()
	r.requests, r.gets, r.patches, r.tooMany = st.Requests, st.ByMethod["GET"], st.ByMethod["PATCH"], st.ByStatus[429]
	if reqs := b.sb.Requests(); len(reqs) > 0 {
		r.firstCall = reqs[0].Time.Sub(m.started)
	}
	api1, err := b.apiServer.counts(ctx)
	if err != nil {
		return r, err
	}
	api := api1.sub(api0)
	r.statusWrites, r.eventWrites, r.meanStatusWrite = api.statusWrites, api.eventWrites, api.meanStatusWrite()
	if r.manager, err = m.stats(ctx); err != nil {
		return r, err
	}
	b.logf("%d Tiquo requests (%d GET, %d PATCH, %d answered 429), %d status writes (mean %s in the API server) "+
		"and %d Event writes; the manager counted %d PATCHes and %d reconciles (mean %s)",
		r.requests, r.gets, r.patches, r.tooMany, r.statusWrites, r.meanStatusWrite.Round(100*time.Microsecond),
		r.eventWrites, r.manager.patches, r.manager.reconciles, r.manager.meanReconcile.Round(100*time.Microsecond))
	return r, nil
}

// bound returns the terms of T_min for n Customers needing k Tiquo calls and one status
// write each, at rate R per minute.
func (b *bench) bound(k, rate, n int) bound {
	cfg := b.cfg
	var bd bound
	bd.latency = time.Duration(n*k) * cfg.latency / time.Duration(cfg.workers)
	bd.rate = time.Duration(float64(n*k) / (float64(rate) / 60) * float64(time.Second))
	if b.res.statusWriteRate > 0 {
		bd.apiServer = time.Duration(float64(n) / b.res.statusWriteRate * float64(time.Second))
	}
	return bd
}

// finishBounds computes T_min of the cold starts with the final W.
func (b *bench) finishBounds() {
	for _, r := range []*coldResult{&b.res.cold, &b.res.limited} {
		if r.ran {
			r.bound = b.bound(callsPerDriftedCustomer, r.rate, b.cfg.n)
		}
	}
}

// restartInSync starts a fresh manager over the N Customers, all in sync, and counts its
// calls and status writes until it is idle.
func (b *bench) restartInSync(ctx context.Context) error {
	cfg := b.cfg
	if err := b.stopManager(ctx); err != nil {
		return err
	}
	b.sb.SetRateLimit(cfg.rateLimit)
	b.sb.ClearRequests()
	api0, err := b.apiServer.counts(ctx)
	if err != nil {
		return err
	}
	m, err := b.startManager(ctx, "restart in sync", cfg.rateLimit, longResync, secretName)
	if err != nil {
		return err
	}
	pass := cfg.passDuration()
	last, err := b.waitIdle(ctx, m, cfg.n, 30*time.Second+5*pass, 2*time.Minute+20*pass)
	if err != nil {
		return err
	}
	api1, err := b.apiServer.counts(ctx)
	if err != nil {
		return err
	}
	st := b.sb.Stats()
	lists := 0
	for _, r := range b.sb.Requests() {
		if r.Path == listPath && r.Method == "GET" {
			lists++
		}
	}
	b.res.restart = restartResult{ran: true, requests: st.Requests, gets: st.ByMethod["GET"], lists: lists,
		patches: st.ByMethod["PATCH"], statusWrites: api1.sub(api0).statusWrites, duration: last.Sub(m.started)}
	b.logf("Restart in sync: %d Tiquo requests (%d GET, of which %d lists, %d PATCH), %d status writes, idle after %s",
		st.Requests, st.ByMethod["GET"], lists, st.ByMethod["PATCH"], b.res.restart.statusWrites,
		b.res.restart.duration.Round(time.Millisecond))
	return nil
}

// percentile returns the q-quantile of ds by the nearest-rank method.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}
