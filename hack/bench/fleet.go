package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/fixture"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// Names of the benchmark's Customers: the N of the scenarios, and those created during a
// full resync for the responsiveness figures.
const (
	basePrefix = "c-"
	newPrefix  = "n-"
)

// drift says which field of a record differs from its Customer's spec.
type drift int

const (
	// driftNotes: the notes were changed outside Git.
	driftNotes drift = iota + 1
	// driftPhone: the phone number was changed outside Git.
	driftPhone
)

// driftField is the name the operator reports for a drift in status.lastPatchedFields.
func (d drift) field() string {
	switch d {
	case driftNotes:
		return "notes"
	case driftPhone:
		return "phone"
	default:
		return ""
	}
}

func baseName(i int) string { return fmt.Sprintf("%s%06d", basePrefix, i) }

// customerID returns the Tiquo id of the Customer named name.
func customerID(name string) string { return "cust_bench_" + name }

// record is the Tiquo record of the Customer named name: John Doe of the docs under its own
// id and email, with one field changed by d.
func record(name string, d drift) sandbox.Customer {
	id := customerID(name)
	r := fixture.Record(id)
	switch d {
	case driftNotes:
		r.Notes = "Changed outside Git"
	case driftPhone:
		r.Phone = "+1000000000"
	}
	return r
}

// customer is the Customer named name in ns: it declares every field of its record.
func customer(ns, name string) *crmv1alpha1.Customer {
	id := customerID(name)
	return &crmv1alpha1.Customer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       fixture.Spec(id),
	}
}

// createAll creates the objects made by build(0..n-1) with at most workers creates in flight.
// A create the API server answers with a retryable error is tried up to three times.
func createAll(ctx context.Context, c client.Client, n, workers int, build func(i int) client.Object) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := createWithRetry(ctx, c, build(i)); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

func createWithRetry(ctx context.Context, c client.Client, obj client.Object) error {
	var err error
	for attempt := range 3 {
		if err = c.Create(ctx, obj); err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if !apierrors.IsTooManyRequests(err) && !apierrors.IsServerTimeout(err) && !apierrors.IsTimeout(err) &&
			!apierrors.IsInternalError(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return fmt.Errorf("create %s: %w", obj.GetName(), err)
}
