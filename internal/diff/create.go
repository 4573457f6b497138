package diff

import (
	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// CreateRequest returns the body of the POST /v1/customers that creates the record a
// Customer without customerId declares: firstName, lastName and email, and every other
// field the spec sets, with the spec's values as written. An empty value (notes: "",
// tags: []) is left out: a new record has none anyway. Nothing that is not a record field
// (suspend, the policies, the key reference) is sent.
//
// The controller sends it and kubectl tiquo diff prints it, so a preview is exactly what
// the operator sends.
func CreateRequest(spec *crmv1alpha1.CustomerSpec) tiquo.CreateRequest {
	req := tiquo.CreateRequest{
		FirstName:           deref(spec.FirstName),
		LastName:            deref(spec.LastName),
		Email:               deref(spec.Email),
		Phone:               deref(spec.Phone),
		DateOfBirth:         deref(spec.DateOfBirth),
		Notes:               deref(spec.Notes),
		PreferredLocationID: deref(spec.PreferredLocationID),
		CompanyID:           deref(spec.CompanyID),
	}
	if spec.MarketingConsent != nil {
		req.MarketingConsent = new(*spec.MarketingConsent)
	}
	if a := spec.Address; a != nil {
		addr := tiquo.Address{
			Line1:      deref(a.Line1),
			Line2:      deref(a.Line2),
			City:       deref(a.City),
			State:      deref(a.State),
			PostalCode: deref(a.PostalCode),
			Country:    deref(a.Country),
		}
		if addr != (tiquo.Address{}) {
			req.Address = &addr
		}
	}
	if spec.Tags != nil && len(*spec.Tags) > 0 {
		req.Tags = append([]string(nil), *spec.Tags...)
	}
	return req
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
