package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// The control plane is started by the first test that needs it and stopped by TestMain, so
// the tests that need only the sandbox run without one.
var (
	controlPlaneOnce sync.Once
	controlPlane     *envtest.Environment
	controlPlaneErr  error
	k8sClient        client.Client
)

func startControlPlane(t *testing.T) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run with KUBEBUILDER_ASSETS=$(./hack/setup-envtest.sh | tail -1) or `make test`")
	}
	controlPlaneOnce.Do(func() {
		scheme := runtime.NewScheme()
		if controlPlaneErr = clientgoscheme.AddToScheme(scheme); controlPlaneErr != nil {
			return
		}
		if controlPlaneErr = crmv1alpha1.AddToScheme(scheme); controlPlaneErr != nil {
			return
		}
		controlPlane = &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
			Scheme:                scheme,
		}
		cfg, err := controlPlane.Start()
		if err != nil {
			controlPlaneErr = err
			return
		}
		k8sClient, controlPlaneErr = client.New(cfg, client.Options{Scheme: scheme})
	})
	if controlPlaneErr != nil {
		t.Fatalf("start control plane: %v", controlPlaneErr)
	}
}

func stopControlPlane() {
	if controlPlane != nil {
		_ = controlPlane.Stop()
	}
}

// writeKubeconfig writes a kubeconfig for the control plane whose current context has the
// given namespace ("" for none) and returns its path.
func writeKubeconfig(t *testing.T, namespace string) string {
	t.Helper()
	user, err := controlPlane.AddUser(envtest.User{Name: "plugin-user", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	kc.Contexts[kc.CurrentContext].Namespace = namespace
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func createCustomer(t *testing.T, namespace, name string) *crmv1alpha1.Customer {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := k8sClient.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	c := &crmv1alpha1.Customer{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace,
			Labels:      map[string]string{"app.kubernetes.io/part-of": "shop"},
			Annotations: map[string]string{"example.com/owner": "crm-team"},
		},
		Spec: crmv1alpha1.CustomerSpec{
			CustomerID: "cust_" + strings.ReplaceAll(name, "-", "_"),
			Phone:      new("+1987654321"),
			Tags:       &[]string{"VIP"},
		},
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// assertRequested checks that sync set the annotation to a time in [before, after] and left
// everything else of the object alone.
func assertRequested(t *testing.T, was *crmv1alpha1.Customer, before, after time.Time, stdout string) string {
	t.Helper()
	var now crmv1alpha1.Customer
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(was), &now); err != nil {
		t.Fatal(err)
	}
	value := now.Annotations[crmv1alpha1.ReconcileRequestAnnotation]
	at, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		t.Fatalf("annotation %q is not RFC 3339: %v", value, err)
	}
	if at.Before(before) || at.After(after) {
		t.Errorf("annotation %s outside [%s, %s]", value, before, after)
	}
	if want := "customer/" + was.Name + " annotated " + crmv1alpha1.ReconcileRequestAnnotation + "=" + value + "\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	others := map[string]string{}
	for k, v := range now.Annotations {
		if k != crmv1alpha1.ReconcileRequestAnnotation {
			others[k] = v
		}
	}
	if d := cmp.Diff(was.Annotations, others); d != "" {
		t.Errorf("other annotations changed (-was +now):\n%s", d)
	}
	if d := cmp.Diff(was.Labels, now.Labels); d != "" {
		t.Errorf("labels changed (-was +now):\n%s", d)
	}
	if d := cmp.Diff(was.Spec, now.Spec); d != "" {
		t.Errorf("spec changed (-was +now):\n%s", d)
	}
	if now.Generation != was.Generation {
		t.Errorf("generation %d -> %d", was.Generation, now.Generation)
	}
	return value
}

func TestSync(t *testing.T) {
	startControlPlane(t)
	was := createCustomer(t, "shop", "jane-smith")
	kubeconfig := writeKubeconfig(t, "")

	before := time.Now()
	r := runPlugin(t, nil, nil, "sync", "jane-smith", "-n", "shop", "--kubeconfig", kubeconfig)
	if r.code != exitOK {
		t.Fatalf("sync: %s", r)
	}
	first := assertRequested(t, was, before, time.Now(), r.stdout)

	// Again, with the namespace from the context of a kubeconfig found through KUBECONFIG:
	// a new value, so the operator sees a new request.
	env := map[string]string{"KUBECONFIG": filepath.Join(t.TempDir(), "absent") + string(os.PathListSeparator) +
		writeKubeconfig(t, "shop")}
	before = time.Now()
	r = runPlugin(t, env, nil, "sync", "jane-smith")
	if r.code != exitOK {
		t.Fatalf("sync with the context's namespace: %s", r)
	}
	if second := assertRequested(t, was, before, time.Now(), r.stdout); second == first {
		t.Errorf("second sync kept the value %s", first)
	}
}

func TestSyncDefaultNamespace(t *testing.T) {
	startControlPlane(t)
	was := createCustomer(t, "default", "john-doe")
	before := time.Now()
	r := runPlugin(t, map[string]string{"KUBECONFIG": writeKubeconfig(t, "")}, nil, "sync", "john-doe")
	if r.code != exitOK {
		t.Fatalf("sync: %s", r)
	}
	assertRequested(t, was, before, time.Now(), r.stdout)
}

func TestSyncErrors(t *testing.T) {
	startControlPlane(t)
	kubeconfig := writeKubeconfig(t, "")
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"not found": {nil, []string{"sync", "nobody", "-n", "shop", "--kubeconfig", kubeconfig},
			`customer "nobody" not found in namespace "shop"`},
		"no name":    {nil, []string{"sync", "--kubeconfig", kubeconfig}, "accepts 1 arg(s), received 0"},
		"two names":  {nil, []string{"sync", "a", "b", "--kubeconfig", kubeconfig}, "accepts 1 arg(s), received 2"},
		"bad config": {nil, []string{"sync", "a", "--kubeconfig", filepath.Join(t.TempDir(), "absent")}, "load kubeconfig"},
		"unknown context": {map[string]string{"KUBECONFIG": kubeconfig}, []string{"sync", "a", "--context", "elsewhere"},
			`context "elsewhere" does not exist`},
	} {
		t.Run(name, func(t *testing.T) {
			r := runPlugin(t, tc.env, nil, tc.args...)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q: %s", tc.want, r)
			}
		})
	}
}
