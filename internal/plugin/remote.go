package plugin

import (
	"context"
	"fmt"
	"iter"
	"time"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// CustomerAPI is the part of the Tiquo client the plugin uses.
type CustomerAPI interface {
	GetCustomer(ctx context.Context, apiKey, id string) (*tiquo.Customer, error)
	ListCustomers(ctx context.Context, apiKey string, opts tiquo.ListOptions) iter.Seq2[*tiquo.Customer, error]
}

var _ CustomerAPI = (*tiquo.Client)(nil)

// Remote reads Tiquo records with one API key.
type Remote struct {
	API    CustomerAPI
	APIKey string
	// Attempts is how many times a GET that failed in a way worth retrying (429, 5xx,
	// timeout, reset) is tried in all; 0 means 1. After a 429 the client itself waits for
	// the reset the API announced.
	Attempts int
	// RetryDelay is the pause before the second attempt, doubled for each further one.
	RetryDelay time.Duration
	// Retrying, when set, hears of each failure that is about to be retried, so that a
	// user waiting out a rate-limit window knows why. err never holds the API key.
	Retrying func(id string, err error)
}

// get reads one record, retrying failures worth retrying.
func (r Remote) get(ctx context.Context, id string) (*tiquo.Customer, error) {
	var c *tiquo.Customer
	err := r.retry(ctx, id, func() error {
		var err error
		c, err = r.API.GetCustomer(ctx, r.APIKey, id)
		return err
	})
	return c, err
}

// retry calls f until it succeeds, fails in a way not worth retrying, or has been tried
// r.Attempts times, and returns its last error. what names the record for r.Retrying.
func (r Remote) retry(ctx context.Context, what string, f func() error) error {
	delay := r.RetryDelay
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt >= r.Attempts || !tiquo.IsRetryable(err) {
			return err
		}
		if r.Retrying != nil {
			r.Retrying(what, err)
		}
		if !tiquo.IsRateLimited(err) {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(delay):
			}
			delay *= 2
		}
	}
}

// ImportOptions selects the records to import and shapes the manifests.
type ImportOptions struct {
	// Email, when set, imports only the customer with that address; otherwise every
	// customer of the account is imported.
	Email string
	// Namespace is metadata.namespace of every manifest; empty leaves it out.
	Namespace string
	// SecretRef, when set, is spec.apiKeySecretRef.name of every manifest.
	SecretRef string
}

// Import lists the account's customers (100 a page), reads each in full (list items lack
// fields such as address), and calls emit with a Customer for each, in the order of the
// list. Each Customer manages exactly the fields its record has a value for, and Import
// checks that diff.Compute of its spec against the record is empty before emitting it:
// applied, it makes the operator send no PATCH. Names derive from the ids (ObjectName);
// two ids that map to one name get a hash suffix. Import stops at the first error and
// returns the number of Customers emitted.
func (r Remote) Import(ctx context.Context, opts ImportOptions,
	emit func(*crmv1alpha1.Customer) error) (int, error) {
	names := map[string]string{} // name -> customer id
	n := 0
	for item, err := range r.API.ListCustomers(ctx, r.APIKey, tiquo.ListOptions{Limit: tiquo.MaxListLimit, Email: opts.Email}) {
		if err != nil {
			return n, fmt.Errorf("list customers: %w", err)
		}
		rec, err := r.get(ctx, item.ID)
		if err != nil {
			return n, fmt.Errorf("get customer %s: %w", item.ID, err)
		}
		c, err := customerFor(rec, opts)
		if err != nil {
			return n, err
		}
		if other, taken := names[c.Name]; taken {
			c.Name = uniqueName(rec.ID)
			if _, taken := names[c.Name]; taken {
				return n, fmt.Errorf("customers %s and %s map to the same name %s", other, rec.ID, c.Name)
			}
		}
		names[c.Name] = rec.ID
		if err := emit(c); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// customerFor builds the Customer for a record and proves it in sync with it.
func customerFor(rec *tiquo.Customer, opts ImportOptions) (*crmv1alpha1.Customer, error) {
	c := &crmv1alpha1.Customer{Spec: SpecFromRecord(rec)}
	c.APIVersion = crmv1alpha1.GroupVersion.String()
	c.Kind = customerKind
	c.Name = ObjectName(rec.ID)
	c.Namespace = opts.Namespace
	if opts.SecretRef != "" {
		c.Spec.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: opts.SecretRef}
	}
	if p := diff.Compute(&c.Spec, rec); !p.IsEmpty() {
		// A bug in SpecFromRecord, not in the data: refuse to write a manifest that would
		// change the record.
		return nil, fmt.Errorf("customer %s: the imported spec would still patch %v; please report this", rec.ID, p.Fields())
	}
	return c, nil
}

// Preview reads the record c is bound to (Customer.BoundID: spec.customerId, else
// status.customerId) and returns the PATCH the operator would send for it: diff.Compute of
// c's spec against the live record, the function the controller calls. Plan also handles
// a Customer that is not bound yet, or is being deleted.
func (r Remote) Preview(ctx context.Context, c *crmv1alpha1.Customer) (tiquo.Patch, error) {
	id := c.BoundID()
	if id == "" {
		return tiquo.Patch{}, fmt.Errorf("customer/%s is not bound to a Tiquo record yet", c.Name)
	}
	live, err := r.get(ctx, id)
	if err != nil {
		return tiquo.Patch{}, err
	}
	return diff.Compute(&c.Spec, live), nil
}
