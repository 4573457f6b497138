package controller

import (
	"context"
	"iter"

	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// CustomerAPI is what the reconciler needs from Tiquo. Every call is idempotent: reads have no
// effect and a PATCH sets fields to values, so any may be retried.
type CustomerAPI interface {
	// GetCustomer returns the live record with the given id.
	GetCustomer(ctx context.Context, apiKey, id string) (*tiquo.Customer, error)
	// UpdateCustomer sends the fields set in p and returns the record as Tiquo stored it.
	UpdateCustomer(ctx context.Context, apiKey, id string, p tiquo.Patch) (*tiquo.Customer, error)
	// ListCustomers pages through the account's customers; the drift scan uses it.
	ListCustomers(ctx context.Context, apiKey string, opts tiquo.ListOptions) iter.Seq2[*tiquo.Customer, error]
	// RetainKeys drops what is kept about every key but those still in use.
	RetainKeys(inUse []string)
}

var _ CustomerAPI = (*tiquo.Client)(nil)
