package main

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
)

func newDiffCommand(getenv func(string) string) *cobra.Command {
	var (
		api   apiFlags
		files []string
	)
	cmd := &cobra.Command{
		Use:   "diff -f FILE_OR_DIR...",
		Short: "Print the PATCH the operator would send for Customer manifests",
		Long: `Read Customer manifests, GET each live Tiquo record, and print the PATCH body the
operator would send, computed by the operator's own diff. No cluster is needed, so it
suits pull-request checks.

Files may hold several YAML documents; directories are searched recursively for .yaml,
.yml and .json files; "-" reads stdin. Documents of other kinds are skipped.

The preview uses one API key for every manifest (spec.apiKeySecretRef is not read). A
Customer with suspend: true or managementPolicy: Observe is shown with the PATCH the
operator would send once it may write.

Exit status: 0 when every Customer is in sync, 1 when any has a PATCH pending, 2 on any
error (an unreadable manifest, a record not found, a rejected key, an unreachable API).`,
		Example: `  kubectl tiquo diff -f customers/
  kustomize build overlays/prod | kubectl tiquo diff -f -`,
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
			var pending, failed int
			for _, m := range manifests {
				c := m.Customer
				label := fmt.Sprintf("customer/%s (%s)", c.Name, c.Spec.CustomerID)
				patch, err := remote.Preview(cmd.Context(), c)
				if err != nil {
					failed++
					fmt.Fprintf(errOut, "%s: error: %v [%s]\n", label, err, m.Source)
					continue
				}
				if patch.IsEmpty() {
					fmt.Fprintf(out, "%s: in sync\n", label)
					continue
				}
				body, err := patch.MarshalJSON()
				if err != nil {
					return err
				}
				pending++
				fmt.Fprintf(out, "%s: PATCH /v1/customers/%s %s%s\n", label, url.PathEscape(c.Spec.CustomerID), body, notSent(c))
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d Customers could not be compared", failed, len(manifests))
			}
			if pending > 0 {
				return errChanges
			}
			return nil
		},
	}
	api.register(cmd)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file or directory, or - for stdin (repeatable)")
	return cmd
}

// notSent explains why the operator would hold back the PATCH for now.
func notSent(c *crmv1alpha1.Customer) string {
	switch {
	case c.Spec.Suspend:
		return " (not sent while spec.suspend is true)"
	case c.Spec.ManagementPolicy == crmv1alpha1.ManagementPolicyObserve:
		return " (not sent: managementPolicy is Observe)"
	}
	return ""
}
