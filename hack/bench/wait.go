package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// pollEvery is how often the benchmark looks at its watch and at the sandbox's counters.
const pollEvery = 50 * time.Millisecond

// waitCount waits until n Customers named with prefix satisfy pred, the manager exits, ctx
// ends or timeout passes.
func (b *bench) waitCount(ctx context.Context, m *managerProcess, prefix string, n int,
	pred func(*objState) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		got := b.tracker.count(prefix, pred)
		if got >= n {
			return nil
		}
		if err := m.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("only %d of %d Customers %s* got there within %s; see %s", got, n, prefix, timeout, m.LogPath)
			if _, watchErr := b.tracker.activity(); watchErr != nil {
				return fmt.Errorf("%s (last watch error: %w)", msg, watchErr)
			}
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// waitIdle waits until the manager is idle: it has finished at least minReconciles
// reconciles (or grace has passed), and for cfg.quiet neither the sandbox received a request
// nor the watch saw an event. It returns when the last activity was.
func (b *bench) waitIdle(ctx context.Context, m *managerProcess, minReconciles int, grace, timeout time.Duration) (time.Time, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	lastReqs, lastEvents, lastChange := -1, -1, start
	// The manager's metrics are read less often than the sandbox and the watch, so as not
	// to weigh on it.
	reconciled, lastScrape := minReconciles <= 0, time.Time{}
	for {
		reqs := b.sb.Stats().Requests
		events, _ := b.tracker.activity()
		now := time.Now()
		if reqs != lastReqs || events != lastEvents {
			lastReqs, lastEvents, lastChange = reqs, events, now
		}
		if !reconciled && now.Sub(lastScrape) >= 10*pollEvery {
			lastScrape = now
			if st, err := m.stats(ctx); err == nil {
				reconciled = st.reconciles >= minReconciles
			}
		}
		if (reconciled || now.Sub(start) >= grace) && now.Sub(lastChange) >= b.cfg.quiet {
			return lastChange, nil
		}
		if err := m.exited(); err != nil {
			return time.Time{}, err
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("the manager was not idle within %s (%d Tiquo requests); see %s",
				timeout, reqs, m.LogPath)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// sleepOrExit waits for d unless the manager exits or ctx ends first.
func sleepOrExit(ctx context.Context, m *managerProcess, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-m.Done():
		return m.exited()
	case <-t.C:
		return nil
	}
}
