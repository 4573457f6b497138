package plugin

import (
	"context"
	"encoding/json"
	"os/user"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// RequestReconcile sets the reconcile.crm.tiquo.co/requestedAt annotation of the Customer
// key names to at (RFC 3339 with nanoseconds) with a JSON merge patch that touches nothing
// else, and returns the value set. A Customer that does not exist is a NotFound error.
func RequestReconcile(ctx context.Context, c client.Client, key types.NamespacedName, at time.Time) (string, error) {
	value := at.UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"annotations": map[string]string{crmv1alpha1.ReconcileRequestAnnotation: value},
		},
	})
	if err != nil {
		return "", err
	}
	obj := &crmv1alpha1.Customer{}
	obj.Name, obj.Namespace = key.Name, key.Namespace
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return "", err
	}
	return value, nil
}

// KubeOptions locates the cluster the way kubectl does.
type KubeOptions struct {
	// Kubeconfig is the --kubeconfig flag: the one file to read. Empty falls back to the
	// KUBECONFIG variable (a list of files), then ~/.kube/config, then the in-cluster
	// service account.
	Kubeconfig string
	// Context is the --context flag; empty means the current context.
	Context string
	// Getenv reads KUBECONFIG and HOME.
	Getenv func(string) string
}

// KubeConfig returns the REST config of the selected context and its namespace (the
// context's namespace, or "default").
func KubeConfig(opts KubeOptions) (*rest.Config, string, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: opts.Kubeconfig}
	if env := opts.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		rules.Precedence = filepath.SplitList(env)
		rules.WarnIfAllMissing = true
	} else {
		rules.Precedence = []string{homeKubeconfig(opts.Getenv)}
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: opts.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", err
	}
	return cfg, ns, nil
}

func homeKubeconfig(getenv func(string) string) string {
	home := getenv("HOME")
	if home == "" {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	return filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
}
