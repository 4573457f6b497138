package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
)

func newSyncCommand(getenv func(string) string) *cobra.Command {
	var kube = plugin.KubeOptions{Getenv: getenv}
	var namespace string
	cmd := &cobra.Command{
		Use:   "sync NAME [-n NAMESPACE]",
		Short: "Ask the operator to reconcile a Customer now",
		Long: `Set the ` + crmv1alpha1.ReconcileRequestAnnotation + ` annotation of a Customer to the
current time, which asks the operator to read the Tiquo record and correct any drift now
instead of at the next resync. Nothing else of the object changes.

The cluster comes from --kubeconfig, else $KUBECONFIG, else ~/.kube/config; the namespace
from -n, else the context's namespace, else "default".`,
		Example: `  kubectl tiquo sync jane-smith -n shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ns, err := plugin.KubeConfig(kube)
			if err != nil {
				return fmt.Errorf("load kubeconfig: %w", err)
			}
			if namespace != "" {
				ns = namespace
			}
			scheme := runtime.NewScheme()
			if err := crmv1alpha1.AddToScheme(scheme); err != nil {
				return err
			}
			c, err := client.New(cfg, client.Options{Scheme: scheme})
			if err != nil {
				return err
			}
			key := types.NamespacedName{Namespace: ns, Name: args[0]}
			value, err := plugin.RequestReconcile(cmd.Context(), c, key, time.Now())
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("customer %q not found in namespace %q", key.Name, key.Namespace)
			} else if err != nil {
				return fmt.Errorf("annotate customer %s/%s: %w", key.Namespace, key.Name, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "customer/%s annotated %s=%s\n", key.Name,
				crmv1alpha1.ReconcileRequestAnnotation, value)
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of the Customer (default: the context's, else default)")
	cmd.Flags().StringVar(&kube.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
	cmd.Flags().StringVar(&kube.Context, "context", "", "kubeconfig context to use (default: the current context)")
	return cmd
}
