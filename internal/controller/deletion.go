package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// deletionPolicies are every spec.deletionPolicy, in the order of how much they change.
var deletionPolicies = []crmv1alpha1.DeletionPolicy{
	crmv1alpha1.DeletionPolicyOrphan, crmv1alpha1.DeletionPolicyArchive, crmv1alpha1.DeletionPolicyDelete,
}

// ParseDeletionPolicies parses the --allowed-deletion-policies flag: a comma-separated list
// of Orphan, Archive and Delete. Orphan, which changes nothing, is always allowed, so it may
// be left out.
func ParseDeletionPolicies(s string) ([]crmv1alpha1.DeletionPolicy, error) {
	allowed := []crmv1alpha1.DeletionPolicy{crmv1alpha1.DeletionPolicyOrphan}
	var errs []error
	for part := range strings.SplitSeq(s, ",") {
		p := crmv1alpha1.DeletionPolicy(strings.TrimSpace(part))
		switch {
		case p == "":
			continue
		case !slices.Contains(deletionPolicies, p):
			errs = append(errs, fmt.Errorf("unknown deletion policy %q: use Orphan, Archive or Delete, such as Orphan,Archive", p))
		case !slices.Contains(allowed, p):
			allowed = append(allowed, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(allowed, func(a, b crmv1alpha1.DeletionPolicy) int {
		return slices.Index(deletionPolicies, a) - slices.Index(deletionPolicies, b)
	})
	return allowed, nil
}
