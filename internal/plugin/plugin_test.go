package plugin

import (
	"context"
	"iter"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

func TestObjectName(t *testing.T) {
	long := strings.Repeat("x", 70)
	for id, want := range map[string]string{
		"cust_abc123":                         "cust-abc123",
		"Cust_ABC.123":                        "cust-abc-123",
		"_cust_":                              "cust",
		"cust-" + long:                        "cust-" + long[:58],
		"x_" + strings.Repeat("y", 60) + "_z": "x-" + strings.Repeat("y", 60),
		"___":                                 "customer-" + idHash("___"),
		"ü":                                   "customer-" + idHash("ü"),
	} {
		got := ObjectName(id)
		if got != want {
			t.Errorf("ObjectName(%q) = %q, want %q", id, got, want)
		}
		for _, name := range []string{got, uniqueName(id)} {
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
				t.Errorf("name %q of %q: %v", name, id, errs)
			}
		}
	}
	if a, b := uniqueName("cust_abc"), uniqueName("cust_ABC"); a == b || !strings.HasPrefix(a, "cust-abc-") {
		t.Errorf("uniqueName: %q and %q", a, b)
	}
}

// flakyAPI fails GetCustomer with err the first failures times.
type flakyAPI struct {
	failures int
	err      error
	calls    int
}

func (f *flakyAPI) GetCustomer(_ context.Context, _, id string) (*tiquo.Customer, error) {
	f.calls++
	if f.calls <= f.failures {
		return nil, f.err
	}
	return &tiquo.Customer{ID: id}, nil
}

func (f *flakyAPI) ListCustomers(context.Context, string, tiquo.ListOptions) iter.Seq2[*tiquo.Customer, error] {
	return func(func(*tiquo.Customer, error) bool) {}
}

func TestGetRetries(t *testing.T) {
	unavailable := &tiquo.APIError{StatusCode: 503, Message: "Service Unavailable"}
	notFound := &tiquo.APIError{StatusCode: 404, Code: tiquo.CodeNotFound}
	for name, tc := range map[string]struct {
		api       *flakyAPI
		wantErr   bool
		wantCalls int
	}{
		"recovers":       {&flakyAPI{failures: 3, err: unavailable}, false, 4},
		"gives up":       {&flakyAPI{failures: 4, err: unavailable}, true, 4},
		"not retryable":  {&flakyAPI{failures: 1, err: notFound}, true, 1},
		"first time":     {&flakyAPI{}, false, 1},
		"rate limited 2": {&flakyAPI{failures: 2, err: &tiquo.APIError{StatusCode: 429}}, false, 3},
	} {
		t.Run(name, func(t *testing.T) {
			r := Remote{API: tc.api, APIKey: "k", Attempts: 4}
			_, err := r.get(context.Background(), "cust_1")
			if (err != nil) != tc.wantErr || tc.api.calls != tc.wantCalls {
				t.Errorf("err %v after %d calls; want error %v after %d", err, tc.api.calls, tc.wantErr, tc.wantCalls)
			}
		})
	}
}
