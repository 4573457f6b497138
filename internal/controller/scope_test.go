package controller

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestParseWatchNamespaces(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    []string
		wantErr string
	}{
		"empty watches every namespace": {in: "", want: nil},
		"blank watches every namespace": {in: "  ", want: nil},
		"one":                           {in: "shop", want: []string{"shop"}},
		"several, spaces trimmed":       {in: "shop, team-b ,c1", want: []string{"shop", "team-b", "c1"}},
		"duplicate":                     {in: "shop,team-b,shop", wantErr: `namespace "shop" is listed twice`},
		"empty entry":                   {in: "shop,,b", wantErr: "entry 2 is empty"},
		"trailing comma":                {in: "shop,", wantErr: "entry 2 is empty"},
		"upper case":                    {in: "Shop", wantErr: `"Shop" is not a namespace name`},
		"slash, as in namespace/name":   {in: "shop/key", wantErr: `"shop/key" is not a namespace name`},
		"too long":                      {in: strings.Repeat("a", 64), wantErr: "is not a namespace name"},
		"every error reported at once":  {in: "A,b,b", wantErr: `"A" is not a namespace name`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseWatchNamespaces(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseWatchNamespaces(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWatchNamespaces(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseWatchNamespaces(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	if _, err := ParseWatchNamespaces("A,b,b"); err == nil || !strings.Contains(err.Error(), `"b" is listed twice`) {
		t.Errorf("ParseWatchNamespaces reports only the first problem: %v", err)
	}
}

// TestSecretForbiddenNamesTheGrant checks that a Secret the operator may not read is reported
// as CredentialsNotFound with a message that says it is a permission problem and which grant
// is missing.
func TestSecretForbiddenNamesTheGrant(t *testing.T) {
	name := types.NamespacedName{Namespace: "shop", Name: "tiquo-key"}
	denied := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "tiquo-key",
		errors.New(`User "system:serviceaccount:ops:op" cannot list resource "secrets" in the namespace "shop"`))
	err := errSecretForbidden(name, denied)
	if !errors.Is(err, errCredentials) {
		t.Fatalf("%v is not errCredentials: it would not be reported as CredentialsNotFound", err)
	}
	for _, want := range []string{
		"may not read Secret shop/tiquo-key", "permission problem", `system:serviceaccount:ops:op`,
		"a Role in namespace shop", "resourceNames: [tiquo-key]", "verbs: [get, list, watch]", "docs/install.md",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message %q does not contain %q", err, want)
		}
	}
}

func TestRequiredPermissions(t *testing.T) {
	def := &SecretKeySelector{Namespace: "ops", Name: "tiquo-default", Key: "apiKey"}
	var got []string
	for _, p := range RequiredPermissions([]string{"shop"}, def, &SecretKeySelector{Namespace: "ops", Name: "hook", Key: "secret"}, "ops") {
		got = append(got, p.String())
	}
	want := []string{
		"list customers.crm.tiquo.co in namespace shop",
		"watch customers.crm.tiquo.co in namespace shop",
		"update customers.crm.tiquo.co in namespace shop",
		"patch customers.crm.tiquo.co/status in namespace shop",
		"create events.events.k8s.io in namespace shop",
		"patch events.events.k8s.io in namespace shop",
		"get secrets named tiquo-default in namespace ops",
		"list secrets named tiquo-default in namespace ops",
		"watch secrets named tiquo-default in namespace ops",
		"get secrets named hook in namespace ops",
		"get leases.coordination.k8s.io in namespace ops",
		"create leases.coordination.k8s.io in namespace ops",
		"update leases.coordination.k8s.io in namespace ops",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RequiredPermissions (-want +got):\n%s", diff)
	}
	all := RequiredPermissions(nil, nil, nil, "")
	if len(all) != 6 || all[0].String() != "list customers.crm.tiquo.co in all namespaces" {
		t.Errorf("RequiredPermissions with no namespaces, Secret or Lease = %v", all)
	}
}
