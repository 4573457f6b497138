package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
	"github.com/tiquo-operator/tiquo-operator/internal/version"
)

// defaultSecretKey is the Secret entry that holds the key when none is named, as the
// operator's --default-api-key-secret and spec.apiKeySecretRef.key default to.
const defaultSecretKey = "apiKey"

// errDoctorWarnings and errDoctorFailures end doctor with exit code 1 or 2 and no further
// message: the report already says what is wrong.
var (
	errDoctorWarnings = errors.New("doctor found warnings")
	errDoctorFailures = errors.New("doctor found failures")
)

// secretRef names one entry of one Secret.
type secretRef struct{ namespace, name, key string }

func (s secretRef) String() string { return "Secret " + s.namespace + "/" + s.name + ":" + s.key }

// parseSecretRef parses namespace/name[:key], the form of the operator's
// --default-api-key-secret.
func parseSecretRef(s string) (secretRef, error) {
	ref, key, hasKey := strings.Cut(s, ":")
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") || (hasKey && key == "") {
		return secretRef{}, fmt.Errorf("--secret %q is not namespace/name or namespace/name:key", s)
	}
	if !hasKey {
		key = defaultSecretKey
	}
	return secretRef{ns, name, key}, nil
}

func newDoctorCommand(getenv func(string) string) *cobra.Command {
	var (
		api                 apiFlags
		kube                = plugin.KubeOptions{Getenv: getenv}
		namespace, customer string
		secret, output      string
		opts                plugin.DoctorOptions
	)
	cmd := &cobra.Command{
		Use:   "doctor [--secret NS/NAME[:KEY] | --customer NAME [-n NS]] [-o json]",
		Short: "Check that the operator can work with a Tiquo API and key, changing nothing",
		Long: `Check the setup the operator would run with: the Tiquo API is reachable and its TLS
certificate trusted (with --ca-file, what the operator's --tiquo-ca-file names), the key is
accepted and has customers:read and customers:write, the plan's limit (X-RateLimit-Limit)
is not below --tiquo-rate-limit, this clock agrees with the API's, how long a call takes, and
how many calls noticing drift on --customers Customers costs per --resync-interval.

Write scope is tested without writing: an empty PATCH of an id no record has. The API checks
the key's scope before it looks the record up, so 404 means the key may write and 403 that it
may not; an empty PATCH would change nothing even if the record existed.

The key comes from TIQUO_API_KEY (or --api-key); or, through the kubeconfig, from --secret
(the operator's --default-api-key-secret) or from the Secret a Customer's apiKeySecretRef
names (--customer). It is never printed; the fingerprint shown is the one the operator's logs
and metrics use.

Exit status: 0 when every check passed, 1 on warnings, 2 on failures or errors.`,
		Example: `  TIQUO_API_KEY=sk_test_... kubectl tiquo doctor --tiquo-rate-limit 100
  kubectl tiquo doctor --secret tiquo-system/tiquo-api-key --ca-file corp-ca.pem
  kubectl tiquo doctor --customer jane-smith -n shop -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" {
				return fmt.Errorf("-o must be json or left out, not %q", output)
			}
			if opts.RateLimit <= 0 || opts.ResyncInterval <= 0 || opts.Customers < 0 {
				return errors.New("--tiquo-rate-limit and --resync-interval must be positive, --customers not negative")
			}
			key, source, users, err := doctorKey(cmd, &api, kube, namespace, customer, secret, getenv)
			if err != nil {
				return err
			}
			if users >= 0 && !cmd.Flags().Changed("customers") {
				opts.Customers, opts.CustomersCounted = users, true
			}
			if !cmd.Flags().Changed("account-records") {
				opts.AccountRecords = opts.Customers
			}
			opts.APIKey, opts.KeySource = key, source
			opts.BaseURL = api.baseURL
			if opts.BaseURL == "" {
				opts.BaseURL = getenv(envBaseURL)
			}
			if opts.BaseURL == "" {
				opts.BaseURL = defaultBaseURL
			}
			opts.CAFile, opts.Timeout = api.caFile, api.timeout
			opts.UserAgent = "kubectl-tiquo/" + version.Version
			rep := plugin.Doctor(cmd.Context(), opts)
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if err := rep.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			switch rep.Exit {
			case 1:
				return errDoctorWarnings
			case 2:
				return errDoctorFailures
			}
			return nil
		},
	}
	api.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&secret, "secret", "", "read the key from this Secret, namespace/name[:key] (the operator's --default-api-key-secret)")
	fs.StringVar(&customer, "customer", "", "read the key from the Secret this Customer uses (its apiKeySecretRef, else --secret)")
	fs.StringVarP(&namespace, "namespace", "n", "", "namespace of --customer (default: the context's, else default)")
	fs.StringVar(&kube.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&kube.Context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.IntVar(&opts.RateLimit, "tiquo-rate-limit", 1000, "the operator's --tiquo-rate-limit, requests per minute per key")
	fs.DurationVar(&opts.ResyncInterval, "resync-interval", 10*time.Minute, "the operator's --resync-interval")
	fs.BoolVar(&opts.DriftScan, "drift-scan", true, "the operator's --drift-scan")
	fs.IntVar(&opts.Customers, "customers", 1000, "how many Customers use this key, for the cost estimate (default: counted in the cluster when the key comes from it, else 1000)")
	fs.IntVar(&opts.AccountRecords, "account-records", 0, "how many records the Tiquo account holds, which the drift scan lists (default --customers)")
	fs.StringVarP(&output, "output", "o", "", "output format: json (default: text)")
	return cmd
}

// customerSecret returns the Secret entry a Customer's key comes from, as the operator
// resolves it: its apiKeySecretRef in its namespace, else the default.
func customerSecret(ctx context.Context, c client.Client, key types.NamespacedName, def *secretRef) (*secretRef, error) {
	var cu crmv1alpha1.Customer
	if err := c.Get(ctx, key, &cu); apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("customer %q not found in namespace %q", key.Name, key.Namespace)
	} else if err != nil {
		return nil, fmt.Errorf("get customer %s: %w", key, err)
	}
	if r := cu.Spec.APIKeySecretRef; r != nil {
		k := r.Key
		if k == "" {
			k = defaultSecretKey
		}
		return &secretRef{key.Namespace, r.Name, k}, nil
	}
	if def == nil {
		return nil, fmt.Errorf("customer %s has no apiKeySecretRef, so the operator uses its --default-api-key-secret: pass it as --secret NAMESPACE/NAME[:KEY]", key)
	}
	return def, nil
}

// doctorKey finds the API key and says where it came from. When the key comes from the
// cluster, users is how many Customers use it (-1 when they cannot be listed).
func doctorKey(cmd *cobra.Command, api *apiFlags, kube plugin.KubeOptions, namespace, customer, secret string,
	getenv func(string) string) (key, source string, users int, err error) {
	if customer == "" && secret == "" {
		switch {
		case api.apiKey != "":
			return api.apiKey, "--api-key", -1, nil
		case getenv(envAPIKey) != "":
			return getenv(envAPIKey), envAPIKey, -1, nil
		}
		return "", "", -1, errors.New("no Tiquo API key: set " + envAPIKey + ", or read it from the cluster with --secret NS/NAME or --customer NAME")
	}
	var def *secretRef
	if secret != "" {
		ref, err := parseSecretRef(secret)
		if err != nil {
			return "", "", -1, err
		}
		def = &ref
	}
	cfg, ns, err := plugin.KubeConfig(kube)
	if err != nil {
		return "", "", -1, fmt.Errorf("load kubeconfig: %w", err)
	}
	if namespace != "" {
		ns = namespace
	}
	scheme := runtime.NewScheme()
	if err := crmv1alpha1.AddToScheme(scheme); err != nil {
		return "", "", -1, err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return "", "", -1, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return "", "", -1, err
	}
	ref := def
	if customer != "" {
		if ref, err = customerSecret(cmd.Context(), c, types.NamespacedName{Namespace: ns, Name: customer}, def); err != nil {
			return "", "", -1, err
		}
	}
	var s corev1.Secret
	if err := c.Get(cmd.Context(), types.NamespacedName{Namespace: ref.namespace, Name: ref.name}, &s); apierrors.IsNotFound(err) {
		return "", "", -1, fmt.Errorf("%s not found: the operator would report CredentialsNotFound", ref)
	} else if err != nil {
		return "", "", -1, fmt.Errorf("read %s: %w", ref, err)
	}
	v := strings.TrimSpace(string(s.Data[ref.key]))
	if v == "" {
		return "", "", -1, fmt.Errorf("%s has no entry %q (or it is empty): the operator would report CredentialsNotFound", ref, ref.key)
	}
	return v, ref.String(), countUsers(cmd.Context(), c, *ref, def), nil
}

// countUsers returns how many Customers in the cluster take their key from ref, as the
// operator resolves it (their apiKeySecretRef, else def), or -1 when they cannot be listed.
func countUsers(ctx context.Context, c client.Client, ref secretRef, def *secretRef) int {
	var list crmv1alpha1.CustomerList
	if err := c.List(ctx, &list); err != nil {
		return -1
	}
	n := 0
	for _, cu := range list.Items {
		r := def
		if sr := cu.Spec.APIKeySecretRef; sr != nil {
			k := sr.Key
			if k == "" {
				k = defaultSecretKey
			}
			r = &secretRef{cu.Namespace, sr.Name, k}
		}
		if r != nil && *r == ref {
			n++
		}
	}
	return n
}
