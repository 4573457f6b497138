// Package reliability holds the operator's reliability tests: Tiquo faults, Kubernetes faults
// (status patch conflicts, an API server restart, a manager killed mid-reconcile), leader
// election failover, hostile input, secrets and personal data, and TLS.
//
// They run the real manager binary (built once by TestMain) or, where a test needs settings the
// binary does not expose, the same reconciler in-process, against a real kube-apiserver and etcd
// (envtest) and the Tiquo sandbox over HTTP on loopback, and assert on what the sandbox and the
// API server saw.
package reliability

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/child"
)

const (
	// keyRW is the API key of the default Secret: read and write.
	keyRW = "sk_test_reliability_rw_0123456789"

	defaultSecretNamespace = "tiquo-system"
	defaultSecretName      = "tiquo-default"
)

var (
	// repoRoot is the repository's top directory; the tests run in test/reliability.
	repoRoot string
	// managerBin is bin/manager, built from this tree into a temporary directory.
	managerBin string
	// env is the control plane; tests may stop and start its API server.
	env *envtest.Environment
	// restCfg is an admin configuration of the control plane.
	restCfg *rest.Config
	// kubeconfig is a kubeconfig file for an admin of the control plane, for the manager binary.
	kubeconfig string
	k8sClient  client.Client
	scheme     = runtime.NewScheme()
	// inProcessLogs collects the logs of the in-process managers.
	inProcessLogs = &child.Output{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KUBEBUILDER_ASSETS is not set: run the tests with `make test`, "+
			"which builds kube-apiserver and etcd and points the tests at them")
		return 1
	}
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, crmv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(inProcessLogs)))

	var err error
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "tiquo-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	// Build the manager while the control plane starts.
	managerBin = filepath.Join(tmp, "manager")
	built := make(chan error, 1)
	go func() {
		build := exec.Command("go", "build", "-o", managerBin, "./cmd/manager")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			built <- fmt.Errorf("build the manager: %w\n%s", err, out)
			return
		}
		built <- nil
	}()

	// The API server keeps its certificates in a directory of the test's, so that it can be
	// stopped and started again with the same serving certificate and port (the manager's
	// kubeconfig stays valid across the restart).
	certDir := filepath.Join(tmp, "apiserver")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certDir}
	if restCfg, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "start the control plane: %v\n", err)
		if err := <-built; err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		return 1
	}
	defer func() { _ = env.Stop() }()

	if err := <-built; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := setUp(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// setUp writes the admin kubeconfig and creates the default API key Secret.
func setUp(tmp string) error {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "reliability-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add the admin user: %w", err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		return err
	}
	if k8sClient, err = client.New(restCfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: defaultSecretNamespace}}); err != nil {
		return err
	}
	return k8sClient.Create(ctx, apiKeySecret(defaultSecretNamespace, defaultSecretName, keyRW))
}
