package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
)

func newImportCommand(getenv func(string) string) *cobra.Command {
	var (
		api       apiFlags
		opts      plugin.ImportOptions
		all       bool
		outDir    string
		namespace string
	)
	cmd := &cobra.Command{
		Use:   "import (--email EMAIL | --all) [--namespace NS] [--out DIR] [--secret-ref NAME]",
		Short: "Write Customer manifests for existing Tiquo records",
		Long: `Write one Customer manifest per Tiquo customer record.

Each manifest manages every writable field the record has a value for, with the value as
stored; empty fields are left out, so they stay unmanaged. Applied, the manifests make the
operator send no PATCH: the plugin checks this with the operator's own diff before writing.

metadata.name derives from the customer id (cust_abc123 becomes cust-abc123). With --out,
each manifest goes to DIR/<name>.yaml; otherwise all go to stdout as one YAML stream.`,
		Example: `  # One customer, to stdout
  kubectl tiquo import --email jane@example.com

  # The whole account, one file per customer, for the shop namespace
  kubectl tiquo import --all --namespace shop --secret-ref tiquo-api-key --out customers/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all == (opts.Email != "") {
				return errors.New("pass exactly one of --email and --all")
			}
			opts.Namespace = namespace
			if namespace != "" {
				if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
					return fmt.Errorf("--namespace %q: %s", namespace, errs[0])
				}
			}
			if opts.SecretRef != "" {
				if errs := validation.IsDNS1123Subdomain(opts.SecretRef); len(errs) > 0 {
					return fmt.Errorf("--secret-ref %q: %s", opts.SecretRef, errs[0])
				}
			}
			remote, err := api.remote(getenv, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			emit := streamTo(cmd.OutOrStdout())
			if outDir != "" {
				if err := os.MkdirAll(outDir, 0o750); err != nil {
					return err
				}
				emit = filesIn(outDir, cmd.ErrOrStderr())
			}
			n, err := remote.Import(cmd.Context(), opts, emit)
			if err != nil {
				if n > 0 {
					return fmt.Errorf("%w (after importing %d customers)", err, n)
				}
				return err
			}
			switch {
			case n == 0 && opts.Email != "":
				return errors.New("no Tiquo customer has that email address")
			case n == 1:
				fmt.Fprintln(cmd.ErrOrStderr(), "Imported 1 customer")
			default:
				fmt.Fprintf(cmd.ErrOrStderr(), "Imported %d customers\n", n)
			}
			return nil
		},
	}
	api.register(cmd)
	cmd.Flags().StringVar(&opts.Email, "email", "", "import the customer with this email address")
	cmd.Flags().BoolVar(&all, "all", false, "import every customer of the account")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "metadata.namespace of the manifests (default: none)")
	cmd.Flags().StringVar(&outDir, "out", "", "directory to write <name>.yaml files to (default: stdout)")
	cmd.Flags().StringVar(&opts.SecretRef, "secret-ref", "",
		"spec.apiKeySecretRef.name of the manifests: the Secret holding the API key (default: the operator's)")
	return cmd
}

// streamTo writes the manifests to w as one multi-document YAML stream.
func streamTo(w io.Writer) func(*crmv1alpha1.Customer) error {
	first := true
	return func(c *crmv1alpha1.Customer) error {
		b, err := plugin.EncodeManifest(c)
		if err != nil {
			return err
		}
		if !first {
			b = append([]byte("---\n"), b...)
		}
		first = false
		_, err = w.Write(b)
		return err
	}
}

// filesIn writes each manifest to dir/<name>.yaml. It overwrites a file that holds the same
// customer (a re-import) and refuses to overwrite one that holds another.
func filesIn(dir string, log io.Writer) func(*crmv1alpha1.Customer) error {
	return func(c *crmv1alpha1.Customer) error {
		path := filepath.Join(dir, c.Name+".yaml")
		if err := checkOverwrite(path, c.Spec.CustomerID); err != nil {
			return err
		}
		b, err := plugin.EncodeManifest(c)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(path, b); err != nil {
			return err
		}
		fmt.Fprintf(log, "Wrote %s (%s)\n", path, c.Spec.CustomerID)
		return nil
	}
}

func checkOverwrite(path, id string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var existing struct {
		Spec struct {
			CustomerID string `json:"customerId"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &existing); err != nil || existing.Spec.CustomerID != id {
		return fmt.Errorf("%s exists and is not the manifest of customer %s; not overwriting it", path, id)
	}
	return nil
}

// writeFileAtomic replaces path with b, so that an interrupted import leaves no half file.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".kubectl-tiquo-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
