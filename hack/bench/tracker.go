package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// objState is what the benchmark keeps of one Customer.
type objState struct {
	// ready is Ready=True for the current generation.
	ready bool
	// patched is status.lastPatchedFields joined with commas.
	patched string
	// readyAt is when the benchmark first saw the current generation Ready.
	readyAt time.Time
	// modified counts the MODIFIED events seen: every status write is one.
	modified int
}

// tracker follows the Customers of one namespace through a watch, so that waiting for N of
// them costs the API server one watch instead of repeated lists.
type tracker struct {
	c  client.WithWatch
	ns string

	mu        sync.Mutex
	objs      map[string]*objState
	events    int
	lastEvent time.Time
	err       error
}

func newTracker(c client.WithWatch, ns string) *tracker {
	return &tracker{c: c, ns: ns, objs: map[string]*objState{}}
}

// run lists and watches until ctx ends, listing again whenever the watch breaks (at most
// maxRestarts times).
func (t *tracker) run(ctx context.Context) {
	const maxRestarts = 1000
	for restarts := 0; restarts < maxRestarts && ctx.Err() == nil; restarts++ {
		if err := t.listAndWatch(ctx); err != nil && ctx.Err() == nil {
			t.setErr(err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

func (t *tracker) setErr(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err
}

func (t *tracker) listAndWatch(ctx context.Context) error {
	var list crmv1alpha1.CustomerList
	if err := t.c.List(ctx, &list, client.InNamespace(t.ns)); err != nil {
		return fmt.Errorf("list Customers: %w", err)
	}
	now := time.Now()
	t.mu.Lock()
	seen := map[string]bool{}
	for i := range list.Items {
		t.applyLocked(&list.Items[i], now, false)
		seen[list.Items[i].Name] = true
	}
	for name := range t.objs {
		if !seen[name] {
			delete(t.objs, name)
		}
	}
	t.mu.Unlock()

	w, err := t.c.Watch(ctx, &crmv1alpha1.CustomerList{}, client.InNamespace(t.ns),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true}})
	if err != nil {
		return fmt.Errorf("watch Customers: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			if err := t.handle(ev); err != nil {
				return err
			}
		}
	}
}

func (t *tracker) handle(ev watch.Event) error {
	switch ev.Type {
	case watch.Error:
		return fmt.Errorf("watch Customers: %v", apierrorFrom(ev.Object))
	case watch.Bookmark:
		return nil
	}
	c, ok := ev.Object.(*crmv1alpha1.Customer)
	if !ok {
		return fmt.Errorf("watch Customers: unexpected %T", ev.Object)
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events++
	t.lastEvent = now
	if ev.Type == watch.Deleted {
		delete(t.objs, c.Name)
		return nil
	}
	t.applyLocked(c, now, ev.Type == watch.Modified)
	return nil
}

func (t *tracker) applyLocked(c *crmv1alpha1.Customer, now time.Time, modified bool) {
	s := t.objs[c.Name]
	if s == nil {
		s = &objState{}
		t.objs[c.Name] = s
	}
	if modified {
		s.modified++
	}
	cond := apimeta.FindStatusCondition(c.Status.Conditions, crmv1alpha1.ConditionReady)
	ready := cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == c.Generation
	if ready && !s.ready {
		s.readyAt = now
	}
	s.ready = ready
	fields := slices.Clone(c.Status.LastPatchedFields)
	slices.Sort(fields)
	s.patched = strings.Join(fields, ",")
}

// count returns how many Customers whose name starts with prefix satisfy pred.
func (t *tracker) count(prefix string, pred func(*objState) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for name, s := range t.objs {
		if strings.HasPrefix(name, prefix) && pred(s) {
			n++
		}
	}
	return n
}

// modifications returns the MODIFIED events seen for Customers whose name starts with prefix.
func (t *tracker) modifications(prefix string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for name, s := range t.objs {
		if strings.HasPrefix(name, prefix) {
			n += s.modified
		}
	}
	return n
}

// readyAt returns when the named Customer was first seen Ready for its current generation.
func (t *tracker) readyAt(name string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.objs[name]
	if !ok || !s.ready {
		return time.Time{}, false
	}
	return s.readyAt, true
}

// activity returns the number of watch events seen so far and the last error of the watch.
func (t *tracker) activity() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.events, t.err
}

func isReady(s *objState) bool { return s.ready }

func apierrorFrom(o any) string {
	if st, ok := o.(*metav1.Status); ok {
		return st.Message
	}
	return fmt.Sprintf("%v", o)
}
