package controller

import (
	"context"

	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// CustomerAPI is what the reconciler needs from Tiquo. Both calls are idempotent: a GET has no
// effect and a PATCH sets fields to values, so either may be retried.
type CustomerAPI interface {
	// GetCustomer returns the live record with the given id.
	GetCustomer(ctx context.Context, apiKey, id string) (*tiquo.Customer, error)
	// UpdateCustomer sends the fields set in p and returns the record as Tiquo stored it.
	UpdateCustomer(ctx context.Context, apiKey, id string, p tiquo.Patch) (*tiquo.Customer, error)
}

var _ CustomerAPI = (*tiquo.Client)(nil)
