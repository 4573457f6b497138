package main

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/controller"
)

// parsed binds the operator's flags to a flag set of its own, parses args and validates them.
func parsed(t *testing.T, args []string) (*operatorFlags, *controller.SecretKeySelector, error) {
	t.Helper()
	var f operatorFlags
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	f.bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	secret, _, err := f.validate()
	return &f, secret, err
}

// wantErrors fails the test unless err holds each part of want.
func wantErrors(t *testing.T, args []string, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%v accepted", args)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// Flag values that cannot work are refused before anything starts, each with a message
// naming the flag; the defaults pass.
func TestOperatorFlagsAreValidated(t *testing.T) {
	cases := map[string]struct {
		args []string
		// want are the parts the error must hold; none means the flags are accepted.
		want   []string
		secret *controller.SecretKeySelector
	}{
		"defaults": {},
		"default Secret with its default entry": {args: []string{"--default-api-key-secret", "tiquo-system/tiquo-api-key"},
			secret: &controller.SecretKeySelector{Namespace: "tiquo-system", Name: "tiquo-api-key", Key: "apiKey"}},
		"default Secret with an entry": {args: []string{"--default-api-key-secret", "ops/keys:tiquo"},
			secret: &controller.SecretKeySelector{Namespace: "ops", Name: "keys", Key: "tiquo"}},
		"default Secret without a namespace": {args: []string{"--default-api-key-secret", "tiquo-api-key"},
			want: []string{"--default-api-key-secret", "namespace/name"}},
		"zero rate limit": {args: []string{"--tiquo-rate-limit", "0"}, want: []string{"--tiquo-rate-limit must be positive"}},
		"no workers":      {args: []string{"--max-concurrent-reconciles", "0"}, want: []string{"--max-concurrent-reconciles"}},
		"negative interval": {args: []string{"--resync-interval", "-1s", "--transient-error-grace-period", "0s"},
			want: []string{"--resync-interval must be a positive duration", "--transient-error-grace-period"}},
		"bad watched namespace": {args: []string{"--watch-namespaces", "shop,Not_A_Namespace,shop"},
			want: []string{"--watch-namespaces", "Not_A_Namespace"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, secret, err := parsed(t, tc.args)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				if diff := cmp.Diff(tc.secret, secret); diff != "" {
					t.Errorf("default Secret (-want +got):\n%s", diff)
				}
				return
			}
			wantErrors(t, tc.args, err, tc.want)
		})
	}
}

// The webhook flags: off by default, both or neither, the Secret's entry defaulting to
// "secret", and a tolerance that makes sense.
func TestWebhookFlags(t *testing.T) {
	cases := map[string]struct {
		args []string
		want *controller.WebhookOptions
		errs []string
	}{
		"off by default": {},
		"on": {args: []string{"--webhook-bind-address", ":9443", "--webhook-secret", "tiquo-system/hook"},
			want: &controller.WebhookOptions{BindAddress: ":9443", Tolerance: controller.DefaultWebhookTolerance,
				Secret: controller.SecretKeySelector{Namespace: "tiquo-system", Name: "hook", Key: "secret"}}},
		"on with an entry and a tolerance": {args: []string{"--webhook-bind-address", "127.0.0.1:9000",
			"--webhook-secret", "ops/hooks:tiquo", "--webhook-timestamp-tolerance", "1m"},
			want: &controller.WebhookOptions{BindAddress: "127.0.0.1:9000", Tolerance: time.Minute,
				Secret: controller.SecretKeySelector{Namespace: "ops", Name: "hooks", Key: "tiquo"}}},
		"no secret": {args: []string{"--webhook-bind-address", ":9443"},
			errs: []string{"--webhook-bind-address needs --webhook-secret"}},
		"secret without address": {args: []string{"--webhook-secret", "ops/hooks"},
			errs: []string{"--webhook-secret is set but --webhook-bind-address is not"}},
		"bad address and secret": {args: []string{"--webhook-bind-address", "9443", "--webhook-secret", "hooks"},
			errs: []string{"--webhook-bind-address \"9443\" is not host:port", "--webhook-secret", "namespace/name"}},
		"zero tolerance": {args: []string{"--webhook-timestamp-tolerance", "0s"},
			errs: []string{"--webhook-timestamp-tolerance must be between 0 and 1h"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f, _, err := parsed(t, tc.args)
			if len(tc.errs) > 0 {
				wantErrors(t, tc.args, err, tc.errs)
				return
			}
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, err := f.webhook()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("webhook options (-want +got):\n%s", diff)
			}
		})
	}
}

// --allowed-deletion-policies: every policy by default, Orphan always, and a policy the
// operator does not know stops it at flag parsing, naming the flag and the value.
func TestAllowedDeletionPoliciesFlag(t *testing.T) {
	all := []crmv1alpha1.DeletionPolicy{crmv1alpha1.DeletionPolicyOrphan, crmv1alpha1.DeletionPolicyArchive,
		crmv1alpha1.DeletionPolicyDelete}
	cases := map[string]struct {
		args []string
		want []crmv1alpha1.DeletionPolicy
		errs []string
	}{
		"default allows all": {want: all},
		"no Delete": {args: []string{"--allowed-deletion-policies", "Orphan,Archive"},
			want: all[:2]},
		"Orphan is always allowed": {args: []string{"--allowed-deletion-policies", "Delete"},
			want: []crmv1alpha1.DeletionPolicy{crmv1alpha1.DeletionPolicyOrphan, crmv1alpha1.DeletionPolicyDelete}},
		"spaces, repeats and any order": {args: []string{"--allowed-deletion-policies", " Delete, Archive,Delete "},
			want: all},
		"unknown policy": {args: []string{"--allowed-deletion-policies=Purge"},
			errs: []string{`--allowed-deletion-policies: unknown deletion policy "Purge": use Orphan, Archive or Delete`}},
		"policy in lower case": {args: []string{"--allowed-deletion-policies", "Orphan,archive"},
			errs: []string{`--allowed-deletion-policies: unknown deletion policy "archive"`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f, _, err := parsed(t, tc.args)
			if len(tc.errs) > 0 {
				wantErrors(t, tc.args, err, tc.errs)
				return
			}
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, err := controller.ParseDeletionPolicies(f.deletionPolicies)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("allowed policies (-want +got):\n%s", diff)
			}
		})
	}
}
