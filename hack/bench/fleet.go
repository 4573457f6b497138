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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
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
	r := sandbox.Customer{
		ID: id, FirstName: "John", LastName: "Doe", Email: id + "@example.com",
		Phone: "+1987654321", DateOfBirth: "1990-05-15",
		Address: &sandbox.Address{Line1: "456 Oak Avenue", City: "New York", PostalCode: "10001", Country: "US"},
		Tags:    []string{"VIP", "longtime"}, Notes: "Prefers email communication",
		MarketingConsent: ptr.To(true), LoyaltyPoints: 150, TotalSpent: 2500, VisitCount: 12,
		CreatedAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		UpdatedAt: time.Date(2024, 1, 20, 14, 0, 0, 0, time.UTC),
	}
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
		Spec: crmv1alpha1.CustomerSpec{
			CustomerID: id, FirstName: ptr.To("John"), LastName: ptr.To("Doe"), Email: ptr.To(id + "@example.com"),
			Phone: ptr.To("+1987654321"), DateOfBirth: ptr.To("1990-05-15"),
			Address: &crmv1alpha1.Address{Line1: ptr.To("456 Oak Avenue"), City: ptr.To("New York"),
				PostalCode: ptr.To("10001"), Country: ptr.To("US")},
			Tags: &[]string{"VIP", "longtime"}, Notes: ptr.To("Prefers email communication"),
			MarketingConsent: ptr.To(true),
		},
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
