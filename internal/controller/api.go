package controller

import (
	"context"
	"iter"

	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// CustomerAPI is what the reconciler needs from Tiquo. Every call but CreateCustomer is
// idempotent: reads have no effect, a PATCH sets fields to values and a second DELETE finds
// nothing, so they may be retried. A create is never retried blindly: see bind.
type CustomerAPI interface {
	// GetCustomer returns the live record with the given id.
	GetCustomer(ctx context.Context, apiKey, id string) (*tiquo.Customer, error)
	// UpdateCustomer sends the fields set in p and returns the record as Tiquo stored it.
	UpdateCustomer(ctx context.Context, apiKey, id string, p tiquo.Patch) (*tiquo.Customer, error)
	// CreateCustomer sends POST /v1/customers and returns the record Tiquo created.
	CreateCustomer(ctx context.Context, apiKey string, req tiquo.CreateRequest) (*tiquo.Customer, error)
	// SetArchived archives or restores a record.
	SetArchived(ctx context.Context, apiKey, id string, archived bool) (*tiquo.Customer, error)
	// DeleteCustomer deletes a record for good.
	DeleteCustomer(ctx context.Context, apiKey, id string) error
	// ListCustomers pages through the account's customers; the drift scan uses it.
	ListCustomers(ctx context.Context, apiKey string, opts tiquo.ListOptions) iter.Seq2[*tiquo.Customer, error]
	// RetainKeys drops what is kept about every key but those still in use.
	RetainKeys(inUse []string)
}

var _ CustomerAPI = (*tiquo.Client)(nil)
