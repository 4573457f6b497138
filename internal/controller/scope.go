package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ParseWatchNamespaces parses the --watch-namespaces flag: a comma-separated list of
// namespace names, each a DNS-1123 label, none twice. The empty string is no list: the
// operator watches every namespace. Surrounding spaces are ignored.
func ParseWatchNamespaces(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var names []string
	var errs []error
	for i, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("entry %d is empty: list namespaces as a,b with no empty entry", i+1))
		case slices.Contains(names, name):
			errs = append(errs, fmt.Errorf("namespace %q is listed twice", name))
		default:
			if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("%q is not a namespace name: %s", name, strings.Join(msgs, "; ")))
				continue
			}
			names = append(names, name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return names, nil
}
