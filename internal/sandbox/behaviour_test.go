package sandbox_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// Every option of Behaviour is one Deviation, with its own flag, breaking a known assumption.
func TestDeviationsCoverBehaviour(t *testing.T) {
	var all sandbox.Behaviour
	flags := map[string]bool{}
	for _, d := range sandbox.Deviations {
		if flags[d.Flag] {
			t.Errorf("flag %s twice", d.Flag)
		}
		flags[d.Flag] = true
		if !slices.Contains(sandbox.Assumptions, d.Breaks) {
			t.Errorf("%s breaks unknown assumption %q", d.Flag, d.Breaks)
		}
		var one sandbox.Behaviour
		d.Set(&one, true)
		if !d.On(one) || d.On(sandbox.Behaviour{}) {
			t.Errorf("%s: Set and On disagree", d.Flag)
		}
		if got := one.Deviating(); !slices.Equal(got, []sandbox.Assumption{d.Breaks}) {
			t.Errorf("%s: Deviating() = %v", d.Flag, got)
		}
		d.Set(&all, true)
	}
	v := reflect.ValueOf(all)
	for i := range v.NumField() {
		if !v.Field(i).Bool() {
			t.Errorf("Behaviour.%s has no Deviation", v.Type().Field(i).Name)
		}
	}
}

func TestBehaviourAdmin(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{NormalizePhone: true}})
	var got sandbox.Behaviour
	if code := admin(t, s, "GET", "/_sandbox/behaviour", "", &got); code != 200 || !got.NormalizePhone {
		t.Errorf("GET behaviour = %d %+v: want the faults' normalizePhone shown", code, got)
	}
	if code := admin(t, s, "PUT", "/_sandbox/behaviour", `{"mergeTags":true}`, &got); code != 200 {
		t.Fatalf("PUT behaviour = %d", code)
	}
	if code := admin(t, s, "PUT", "/_sandbox/behaviour", `{"mergeTagz":true}`, nil); code != 400 {
		t.Errorf("PUT with an unknown option = %d, want 400", code)
	}
	r := call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", `{"tags":["new"]}`)
	if r.Status != 200 {
		t.Fatalf("PATCH = %d %s", r.Status, r.Raw)
	}
	if diff := cmp.Diff([]string{"VIP", "frequent", "new"}, r.customer(t).Tags); diff != "" {
		t.Errorf("tags with mergeTags (-want +got):\n%s", diff)
	}
}
