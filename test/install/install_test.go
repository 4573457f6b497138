// Package install_test proves the installer that `make build-installer` writes to
// dist/install.yaml: it renders config/default the same way, applies the result to a real
// kube-apiserver with a server-side dry run, and checks the Deployment's hardening and the
// least privilege of the manager's RBAC.
package install_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	// installNamespace is the namespace config/default puts every namespaced object in.
	installNamespace = "tiquo-operator-system"
	// managerRole is the ClusterRole controller-gen generates from the RBAC markers, after
	// config/default's namePrefix.
	managerRole = "tiquo-operator-manager-role"
)

var (
	// repoRoot is the repository's top directory; the tests run in test/install.
	repoRoot string
	// kubectlBin is the kubectl built beside the test control plane by hack/setup-envtest.sh.
	kubectlBin string
	// kubeconfig is a kubeconfig file for an admin (system:masters) user of the control plane.
	kubeconfig string
	// kubectlCache keeps kubectl's discovery cache out of the user's home directory.
	kubectlCache string
	cfg          *rest.Config
	// rendered is the installer, rendered as `make build-installer` renders it.
	rendered []byte
	// objects are the objects of rendered, in order.
	objects []*unstructured.Unstructured
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run the tests with `make test`, "+
			"which builds kube-apiserver, etcd and kubectl and points the tests at them")
		return 1
	}
	kubectlBin = filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectlBin); err != nil {
		fmt.Fprintf(os.Stderr, "no kubectl in KUBEBUILDER_ASSETS (%v): run the tests with `make test`\n", err)
		return 1
	}
	var err error
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		fmt.Fprintf(os.Stderr, "repository root: %v\n", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "tiquo-install-test-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "temp dir: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	kubectlCache = filepath.Join(tmp, "kube-cache")

	// Render first: it needs no control plane, and a broken kustomization should say so fast.
	if rendered, err = render(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if objects, err = decode(rendered); err != nil {
		fmt.Fprintf(os.Stderr, "parse rendered installer: %v\n", err)
		return 1
	}

	// No CRDs are preinstalled: the installer must bring its own.
	env := &envtest.Environment{}
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "start control plane: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop control plane: %v\n", err)
		}
	}()
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "add admin user: %v\n", err)
		return 1
	}
	kc, err := user.KubeConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "admin kubeconfig: %v\n", err)
		return 1
	}
	kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "write kubeconfig: %v\n", err)
		return 1
	}
	return m.Run()
}

// render runs `kustomize build config/default` from the repository root, as the Makefile's
// build-installer target does, with the kustomize embedded in kubectl.
func render() ([]byte, error) {
	cmd := exec.Command(kubectlBin, "kustomize", "config/default")
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize config/default: %w\n%s", err, stderr.String())
	}
	return out, nil
}

// decode splits a multi-document YAML stream into objects.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// kubectl runs the control plane's kubectl as the admin user.
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"--kubeconfig", kubeconfig, "--cache-dir", kubectlCache}, args...)
	cmd := exec.Command(kubectlBin, args...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// find returns the rendered objects of a kind.
func find(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// findOne returns the single rendered object of a kind and name, failing the test otherwise.
func findOne(t *testing.T, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range find(kind) {
		if o.GetName() == name && o.GetNamespace() == namespace {
			return o
		}
	}
	t.Fatalf("the installer has no %s %s/%s", kind, namespace, name)
	return nil
}

// convert turns a rendered object into its typed form.
func convert(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("convert %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// makefileVar returns the default value the Makefile gives a variable (`NAME ?= value`).
func makefileVar(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatalf("read Makefile: %v", err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*\?=\s*(\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("the Makefile sets no default for %s", name)
	}
	return string(m[1])
}

// TestEmbeddedKustomizeMatchesMakefile guards the premise of this package: kubectl's embedded
// kustomize renders exactly what the Makefile's pinned kustomize would.
func TestEmbeddedKustomizeMatchesMakefile(t *testing.T) {
	want := makefileVar(t, "KUSTOMIZE_VERSION")
	out, err := exec.Command(kubectlBin, "version", "--client").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl version --client: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Kustomize Version: (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("kubectl version --client prints no Kustomize Version:\n%s", out)
	}
	if got := string(m[1]); got != want {
		t.Errorf("kubectl embeds kustomize %s but the Makefile pins KUSTOMIZE_VERSION %s: this test "+
			"no longer renders what `make build-installer` does; bump one to match the other", got, want)
	}
}

// TestInstallerAppliesWithServerSideDryRun applies the installer to an empty cluster the way an
// admin would, with the API server validating every object but persisting none.
func TestInstallerAppliesWithServerSideDryRun(t *testing.T) {
	kinds := map[string]bool{}
	for _, o := range objects {
		kinds[o.GetKind()] = true
	}
	for _, kind := range []string{
		"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
		"Role", "RoleBinding", "Service", "Deployment", "NetworkPolicy", "Secret",
	} {
		if !kinds[kind] {
			t.Errorf("the installer has no %s", kind)
		}
	}

	// A dry run cannot create namespaced objects in a namespace it only pretends to create.
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: installNamespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", installNamespace, err)
	}

	file := filepath.Join(t.TempDir(), "install.yaml")
	if err := os.WriteFile(file, rendered, 0o600); err != nil {
		t.Fatalf("write installer: %v", err)
	}
	out, err := kubectl(t, "apply", "--server-side", "--dry-run=server", "-f", file)
	if err != nil {
		t.Fatalf("kubectl apply --server-side --dry-run=server: %v\n%s", err, out)
	}
	// kubectl names each object kind.group/name, the kind lowercased.
	for _, o := range objects {
		gk := o.GroupVersionKind().GroupKind()
		ref := strings.ToLower(gk.Kind)
		if gk.Group != "" {
			ref += "." + gk.Group
		}
		ref += "/" + o.GetName()
		if !strings.Contains(out, ref+" serverside-applied (server dry run)") {
			t.Errorf("kubectl did not report %s as applied:\n%s", ref, out)
		}
	}

	// And nothing was persisted.
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{
		Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition",
	})
	if err := c.Get(ctx, client.ObjectKey{Name: "customers.crm.tiquo.co"}, crd); !apierrors.IsNotFound(err) {
		t.Errorf("the dry run persisted the CRD, or getting it failed: %v", err)
	}
}

// deployment returns the manager's Deployment and its manager container.
func deployment(t *testing.T) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	deps := find("Deployment")
	if len(deps) != 1 {
		t.Fatalf("the installer has %d Deployments, want 1", len(deps))
	}
	var dep appsv1.Deployment
	convert(t, deps[0], &dep)
	if dep.Namespace != installNamespace {
		t.Errorf("the Deployment is in namespace %q, want %q", dep.Namespace, installNamespace)
	}
	for i := range dep.Spec.Template.Spec.Containers {
		if c := &dep.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return &dep, c
		}
	}
	t.Fatalf("the Deployment has no container named manager")
	return nil, nil
}

func TestDeploymentIsHardened(t *testing.T) {
	dep, c := deployment(t)
	pod := dep.Spec.Template.Spec

	if psc := pod.SecurityContext; psc == nil {
		t.Error("the pod has no securityContext")
	} else {
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Error("the pod does not set runAsNonRoot: true")
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("the pod's seccompProfile is %+v, want RuntimeDefault", psc.SeccompProfile)
		}
	}
	if sc := c.SecurityContext; sc == nil {
		t.Error("the manager container has no securityContext")
	} else {
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("the manager container does not set readOnlyRootFilesystem: true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("the manager container does not set allowPrivilegeEscalation: false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("the manager container is privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Error("the manager container does not drop ALL capabilities")
		} else if len(sc.Capabilities.Add) > 0 {
			t.Errorf("the manager container adds capabilities %v", sc.Capabilities.Add)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("the manager container requests no %s", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("the manager container has no %s limit", r)
		}
	}

	// The probes reach the health endpoints the manager serves on --health-probe-bind-address.
	if !slices.Contains(c.Args, "--health-probe-bind-address=:8081") {
		t.Errorf("the manager args %v do not include --health-probe-bind-address=:8081", c.Args)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("the manager container has no HTTP %s probe", name)
			continue
		}
		if p.HTTPGet.Port.IntValue() != 8081 {
			t.Errorf("the %s probe targets port %s, want 8081", name, p.HTTPGet.Port.String())
		}
	}

	for _, want := range []string{"--leader-elect", "--metrics-bind-address=:8443"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("the manager args %v do not include %s", c.Args, want)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--metrics-secure=") && a != "--metrics-secure=true" {
			t.Errorf("the manager serves metrics insecurely: %s", a)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == 8443 }) {
		t.Errorf("the manager container does not expose port 8443: %+v", c.Ports)
	}

	img := makefileVar(t, "IMG")
	repo := func(ref string) string {
		ref, _, _ = strings.Cut(ref, "@")
		if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			ref = ref[:i]
		}
		return ref
	}
	if repo(c.Image) != repo(img) {
		t.Errorf("the manager image is %s, want the Makefile's IMG repository %s", c.Image, repo(img))
	}

	if sa := pod.ServiceAccountName; sa == "" {
		t.Error("the pod runs as the namespace's default ServiceAccount")
	} else {
		findOne(t, "ServiceAccount", installNamespace, sa)
	}
}

// TestDefaultAPIKeySecretIsInstalled checks that the Secret --default-api-key-secret names is the
// one the installer creates: kustomize's namePrefix and namespace do not rewrite flag values.
func TestDefaultAPIKeySecretIsInstalled(t *testing.T) {
	_, c := deployment(t)
	var value string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--default-api-key-secret="); ok {
			value = v
		}
	}
	if value == "" {
		t.Fatalf("the manager args %v do not set --default-api-key-secret", c.Args)
	}
	// namespace/name or namespace/name:key, as the manager parses it; the key defaults to apiKey.
	ref, key, hasKey := strings.Cut(value, ":")
	if !hasKey {
		key = "apiKey"
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		t.Fatalf("--default-api-key-secret=%s is not namespace/name[:key]", value)
	}
	var secret corev1.Secret
	convert(t, findOne(t, "Secret", ns, name), &secret)
	// The installer carries no value for the key: re-applying it must never overwrite the
	// real key an administrator set (kubectl apply leaves fields it never applied alone).
	if len(secret.Data) != 0 || len(secret.StringData) != 0 {
		t.Errorf("Secret %s/%s carries data %v; re-applying the installer would overwrite the real %s",
			ns, name, append(slices.Collect(maps.Keys(secret.Data)), slices.Collect(maps.Keys(secret.StringData))...), key)
	}
}

// TestManagerRBACIsLeastPrivilege checks every rule granted to the manager's ServiceAccount.
func TestManagerRBACIsLeastPrivilege(t *testing.T) {
	dep, _ := deployment(t)
	sa := rbacv1.Subject{
		Kind: rbacv1.ServiceAccountKind, Name: dep.Spec.Template.Spec.ServiceAccountName, Namespace: installNamespace,
	}
	boundToManager := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == sa.Kind && s.Name == sa.Name && s.Namespace == sa.Namespace
		})
	}

	// The roles the ServiceAccount is bound to, by kind/name.
	bound := map[string]bool{}
	for _, u := range find("ClusterRoleBinding") {
		var b rbacv1.ClusterRoleBinding
		convert(t, u, &b)
		if boundToManager(b.Subjects) {
			bound[b.RoleRef.Kind+"/"+b.RoleRef.Name] = true
		}
	}
	for _, u := range find("RoleBinding") {
		var b rbacv1.RoleBinding
		convert(t, u, &b)
		if boundToManager(b.Subjects) {
			bound[b.RoleRef.Kind+"/"+b.RoleRef.Name] = true
		}
	}
	if !bound["ClusterRole/"+managerRole] {
		t.Fatalf("ClusterRole %s is not bound to ServiceAccount %s/%s", managerRole, sa.Namespace, sa.Name)
	}

	var rules []rbacv1.PolicyRule
	for _, u := range find("ClusterRole") {
		if bound["ClusterRole/"+u.GetName()] {
			var r rbacv1.ClusterRole
			convert(t, u, &r)
			rules = append(rules, r.Rules...)
			delete(bound, "ClusterRole/"+u.GetName())
		}
	}
	for _, u := range find("Role") {
		if bound["Role/"+u.GetName()] && u.GetNamespace() == installNamespace {
			var r rbacv1.Role
			convert(t, u, &r)
			rules = append(rules, r.Rules...)
			delete(bound, "Role/"+u.GetName())
		}
	}
	for ref := range bound {
		t.Errorf("the manager is bound to %s, which the installer does not define", ref)
	}

	read := []string{"get", "list", "watch"}
	for _, r := range rules {
		for field, values := range map[string][]string{
			"verbs": r.Verbs, "apiGroups": r.APIGroups, "resources": r.Resources, "nonResourceURLs": r.NonResourceURLs,
		} {
			for _, v := range values {
				if strings.Contains(v, "*") {
					t.Errorf("a rule of the manager has the wildcard %q in %s: %+v", v, field, r)
				}
			}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				allowed := read
				switch {
				case g == "" && res == "secrets":
					// The manager reads the Secrets it uses by name, and only those.
					if len(r.ResourceNames) == 0 {
						t.Errorf("the manager may %v every Secret: grant the Secrets it reads by name (resourceNames)", r.Verbs)
					}
				case g == "crm.tiquo.co" && res == "customers/status":
					allowed = []string{"get", "update", "patch"}
				case g == "crm.tiquo.co" && res == "customers":
					// An update adds and removes the deletion finalizer; nothing else writes a Customer.
					allowed = []string{"get", "list", "watch", "update"}
				case g == "crm.tiquo.co":
				default:
					continue
				}
				for _, v := range r.Verbs {
					if !slices.Contains(allowed, v) {
						t.Errorf("the manager may %s %s in group %q; it may only %v", v, res, g, allowed)
					}
				}
			}
		}
	}
}
