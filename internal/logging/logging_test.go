package logging_test

import (
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/tiquo-operator/tiquo-operator/internal/logging"
)

func TestCapVerbosity(t *testing.T) {
	var lines []string
	base := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: 10})
	l := logging.CapVerbosity(base).WithName("x").WithValues("k", "v")

	l.Info("zero")
	l.V(logging.MaxVerbosity).Info("at the cap")
	l.V(logging.MaxVerbosity + 1).Info("above the cap")
	l.V(8).Info("Response Body", "body", "personal data")
	if l.V(8).Enabled() {
		t.Error("V(8) reports enabled")
	}
	if len(lines) != 2 {
		t.Fatalf("logged %d lines %q; want the two at or below the cap", len(lines), lines)
	}
}
