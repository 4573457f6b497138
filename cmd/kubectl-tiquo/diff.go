package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
)

func newDiffCommand(getenv func(string) string) *cobra.Command {
	var (
		api      apiFlags
		files    []string
		deleting bool
	)
	cmd := &cobra.Command{
		Use:   "diff -f FILE_OR_DIR...",
		Short: "Print what the operator would send to Tiquo for Customer manifests",
		Long: `Read Customer manifests, read what Tiquo holds for each, and print what the operator
would send, computed by the operator's own functions. No cluster is needed, so it suits
pull-request checks.

  customer/NAME (ID): in sync
  customer/NAME (ID): PATCH /v1/customers/ID BODY
  customer/NAME (unbound): would create: POST /v1/customers BODY
  customer/NAME (unbound): would adopt ID, found by spec.email[, then PATCH ...]
  customer/NAME (unbound): would refuse to adopt ID (adoptionPolicy Refuse)
  customer/NAME (ID): would archive: PATCH /v1/customers/ID {"archived":true}
  customer/NAME (ID): would delete: DELETE /v1/customers/ID

A Customer with spec.customerId, or with status.customerId (a copy saved from the cluster
with kubectl get -o yaml), is compared with that record. One without either is looked up by
spec.email, as the operator does before it creates anything.

Deletion: a manifest whose metadata.deletionTimestamp is set (a Customer being deleted, as
kubectl get -o yaml shows it), or every manifest with --deleted (for example the manifests
a change removes from Git, which Argo CD or Flux would prune), is shown with what its
deletionPolicy does to the record: Orphan (the default) leaves it, Archive archives it,
Delete deletes it for good.

Files may hold several YAML documents; directories are searched recursively for .yaml,
.yml and .json files; "-" reads stdin. Documents of other kinds are skipped. The bodies
printed hold the manifests' personal data, as the manifests do.

The preview uses one API key for every manifest (spec.apiKeySecretRef is not read). A
Customer with suspend: true or managementPolicy: Observe is shown with what the operator
would send once it may write.

Exit status: 0 when nothing would be sent, 1 when anything would (a PATCH, a create, an
adoption, an archive, a delete), 2 on any error (an unreadable manifest, a record not
found, an adoption refused, a rejected key, an unreachable API).`,
		Example: `  kubectl tiquo diff -f customers/
  kustomize build overlays/prod | kubectl tiquo diff -f -
  kubectl get customer ann -o yaml | kubectl tiquo diff -f -
  git show main:customers/ann.yaml | kubectl tiquo diff --deleted -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("pass the manifests to compare with -f FILE_OR_DIR")
			}
			manifests, err := plugin.ReadManifests(files, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if len(manifests) == 0 {
				return errors.New("no Customer manifests found")
			}
			remote, err := api.remote(getenv, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			var pending, failed, refused int
			for _, m := range manifests {
				c := m.Customer
				id := c.BoundID()
				if id == "" {
					id = "unbound"
				}
				label := fmt.Sprintf("customer/%s (%s)", c.Name, id)
				plan, err := remote.Plan(cmd.Context(), c, deleting)
				if err != nil {
					failed++
					fmt.Fprintf(errOut, "%s: error: %v [%s]\n", label, err, m.Source)
					continue
				}
				switch plan.Action {
				case plugin.ActionNone:
				case plugin.ActionRefuse:
					refused++
				default:
					pending++
				}
				if err := printPlan(out, label, c, plan); err != nil {
					return err
				}
			}
			switch {
			case failed > 0:
				return fmt.Errorf("%d of %d Customers could not be compared", failed, len(manifests))
			case refused > 0:
				return fmt.Errorf("%d of %d Customers would not be bound: their email belongs to a record "+
					"they may not adopt; set spec.customerId, or adoptionPolicy: Adopt, or change spec.email", refused, len(manifests))
			case pending > 0:
				return errChanges
			}
			return nil
		},
	}
	api.register(cmd)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file or directory, or - for stdin (repeatable)")
	cmd.Flags().BoolVar(&deleting, "deleted", false,
		"show what deleting these Customers would do to their records (their deletionPolicy), instead of their diff")
	return cmd
}

// printPlan writes one line saying what the operator would do for c.
func printPlan(out io.Writer, label string, c *crmv1alpha1.Customer, plan plugin.Plan) error {
	path := "/v1/customers/" + url.PathEscape(plan.ID)
	var line string
	switch plan.Action {
	case plugin.ActionNone:
		line = "in sync"
		if plan.Note != "" {
			line = plan.Note
		}
	case plugin.ActionPatch:
		body, err := plan.Patch.MarshalJSON()
		if err != nil {
			return err
		}
		line = fmt.Sprintf("PATCH %s %s%s", path, body, notSent(c))
	case plugin.ActionCreate:
		body, err := json.Marshal(plan.Create)
		if err != nil {
			return err
		}
		line = fmt.Sprintf("would create: POST /v1/customers %s%s", body, notSent(c))
	case plugin.ActionAdopt:
		var b strings.Builder
		if plan.Pending {
			fmt.Fprintf(&b, "would bind %s, the record its earlier POST created", plan.ID)
		} else {
			fmt.Fprintf(&b, "would adopt %s, found by spec.email", plan.ID)
		}
		if plan.Patch.IsEmpty() {
			b.WriteString(", in sync")
		} else {
			body, err := plan.Patch.MarshalJSON()
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, ", then PATCH %s %s", path, body)
		}
		line = b.String() + notSent(c)
	case plugin.ActionRefuse:
		line = fmt.Sprintf("would refuse to adopt %s (adoptionPolicy Refuse): it would stall with reason %s",
			plan.ID, crmv1alpha1.ReasonAdoptionRefused)
	case plugin.ActionArchive:
		line = fmt.Sprintf(`would archive: PATCH %s {"archived":true}%s`, path, notSent(c))
	case plugin.ActionDelete:
		line = fmt.Sprintf("would delete: DELETE %s%s", path, notSent(c))
	default:
		return fmt.Errorf("unknown plan %q", plan.Action)
	}
	_, err := fmt.Fprintf(out, "%s: %s\n", label, line)
	return err
}

// notSent explains why the operator would hold back what it would send for now.
func notSent(c *crmv1alpha1.Customer) string {
	switch {
	case c.Spec.Suspend:
		return " (not sent while spec.suspend is true)"
	case c.Spec.ManagementPolicy == crmv1alpha1.ManagementPolicyObserve:
		return " (not sent: managementPolicy is Observe)"
	}
	return ""
}
