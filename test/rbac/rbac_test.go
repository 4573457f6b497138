// Package rbac_test runs the real manager binary under exactly the RBAC its installer grants,
// in both modes: cluster-wide (config/default) and scoped to namespaces (config/namespaced,
// extended to a second namespace the way docs/install.md says). Each test renders the
// installer, applies it to a real kube-apiserver (envtest, which authorizes with RBAC) as an
// admin would, and starts the manager with a kubeconfig that impersonates the installer's
// ServiceAccount. It proves that the operator does its whole job with no authorization error,
// and that it may not read what it must not: a Secret no Customer names, a Secret or a
// Customer in a namespace it does not watch.
package rbac_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/child"
	"github.com/tiquo-operator/tiquo-operator/internal/fixture"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

const (
	// operatorNamespace is where config/default installs the manager and its default Secret.
	operatorNamespace = "tiquo-operator-system"
	// teamNamespace holds a Customer with a Secret of its own, granted by the sample
	// config/samples/api_key_secret_grant.yaml.
	teamNamespace = "shop"
	// teamSecret is the Secret that sample grants.
	teamSecret = "tiquo-api-key"
	// defaultsNamespace holds Customers that use the default Secret.
	defaultsNamespace = "team-b"
	// outsideNamespace is watched in cluster mode only.
	outsideNamespace = "outside"
	// ungranted is a Secret a Customer names that no Role grants.
	ungranted = "ungranted-key"
	// unnamed is a Secret no Customer names.
	unnamed = "unrelated"

	keyDefault = "sk_test_rbac_default_0123456789"
	keyTeam    = "sk_test_rbac_team_0123456789"
)

var (
	repoRoot   string
	managerBin string
	kubectlBin string
	scheme     = runtime.NewScheme()
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
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, crmv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctrllog.SetLogger(logr.Discard())
	var err error
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "tiquo-rbac-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	managerBin = filepath.Join(tmp, "manager")
	build := exec.Command("go", "build", "-o", managerBin, "./cmd/manager")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the manager: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// cluster is one control plane with the installer applied.
type cluster struct {
	admin      client.Client
	adminCfg   *rest.Config
	kubeconfig string // the admin's
	kubeCache  string
	// sa is the manager's ServiceAccount as the installer's Deployment names it, and args
	// the manager container's arguments.
	sa   string
	args []string
}

// install starts a control plane, applies the rendered installer to it as an admin would,
// and sets the default API key.
func install(t *testing.T, rendered []byte) *cluster {
	t.Helper()
	env := &envtest.Environment{Scheme: scheme}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "installer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("add the admin user: %v", err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &cluster{adminCfg: cfg, kubeconfig: filepath.Join(dir, "admin.kubeconfig"), kubeCache: filepath.Join(dir, "kube-cache")}
	if err := os.WriteFile(c.kubeconfig, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.admin, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}

	dep := deploymentOf(t, rendered)
	c.sa = "system:serviceaccount:" + dep.Namespace + ":" + dep.Spec.Template.Spec.ServiceAccountName
	for _, ctr := range dep.Spec.Template.Spec.Containers {
		if ctr.Name == "manager" {
			c.args = ctr.Args
		}
	}

	ctx := context.Background()
	for _, ns := range []string{teamNamespace, defaultsNamespace, outsideNamespace} {
		if err := c.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
	file := filepath.Join(dir, "install.yaml")
	if err := os.WriteFile(file, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "--server-side", "-f", file)
	c.kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/customers.crm.tiquo.co")
	// As config/manager/api_key_secret.yaml tells the administrator to.
	c.kubectl(t, "-n", operatorNamespace, "patch", "secret", "tiquo-operator-api-key", "--type", "merge",
		"-p", `{"stringData":{"apiKey":"`+keyDefault+`"}}`)
	return c
}

// kubectl runs kubectl as the admin and fails the test when it fails.
func (c *cluster) kubectl(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(kubectlBin, append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", c.kubeCache}, args...)...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// as returns a configuration and a kubeconfig file that act as user, impersonated by the
// admin: the API server authenticates and authorizes each request as that user (with the
// groups of a ServiceAccount when user is one), exactly as for the pod's own token.
func (c *cluster) as(t *testing.T, user string) (*rest.Config, string) {
	t.Helper()
	cfg := rest.CopyConfig(c.adminCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	kc, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range kc.AuthInfos {
		auth.Impersonate = user
	}
	file := filepath.Join(t.TempDir(), "impersonating.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		t.Fatal(err)
	}
	return cfg, file
}

// render runs `kubectl kustomize dir` (the kustomize that test/install checks against the
// Makefile's pin).
func render(t *testing.T, dir string) []byte {
	t.Helper()
	cmd := exec.Command(kubectlBin, "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

// deploymentOf returns the Deployment of a rendered installer.
func deploymentOf(t *testing.T, rendered []byte) *appsv1.Deployment {
	t.Helper()
	var dep appsv1.Deployment
	objectOf(t, rendered, "Deployment", "", &dep)
	return &dep
}

// objectOf decodes the first object of a kind (and name, unless empty) of a rendered installer
// into into.
func objectOf(t *testing.T, rendered []byte, kind, name string, into any) {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatalf("the installer has no %s %s", kind, name)
			}
			t.Fatalf("parse the installer: %v", err)
		}
		meta, _ := obj["metadata"].(map[string]any)
		if obj["kind"] != kind || (name != "" && meta["name"] != name) {
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into); err != nil {
			t.Fatal(err)
		}
		return
	}
}

// manager is the manager binary running under an identity.
type manager struct {
	proc *child.Process
}

// startManager runs the manager with the installer's arguments, adjusted to run outside the
// cluster (no probe or metrics listener; the Lease namespace, which a pod would know, named)
// and to talk to tiquoURL, plus extra. kubeconfig says who it is.
func (c *cluster) startManager(t *testing.T, kubeconfig, tiquoURL string, extra ...string) *manager {
	t.Helper()
	var args []string
	for _, a := range c.args {
		if !strings.HasPrefix(a, "--metrics-bind-address") && !strings.HasPrefix(a, "--health-probe-bind-address") {
			args = append(args, a)
		}
	}
	args = append(args, "--kubeconfig", kubeconfig, "--tiquo-base-url", tiquoURL,
		"--leader-election-namespace", operatorNamespace,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		// Short enough for the drift scan to run during the test.
		"--resync-interval", "3s", "--terminal-recheck-interval", "1h")
	args = append(args, extra...)
	cmd := exec.Command(managerBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	p, err := child.Start(cmd, filepath.Join(t.TempDir(), "manager.log"))
	if err != nil {
		t.Fatal(err)
	}
	m := &manager{proc: p}
	t.Cleanup(func() {
		if err := p.Stop(20 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("manager log:\n%s", m.log(t))
		}
	})
	return m
}

func (m *manager) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(m.proc.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// within polls cond every 200ms until it returns nil, failing the test with its last error
// after timeout.
func within(t *testing.T, timeout time.Duration, cond func(ctx context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			last = cond(ctx)
			return last == nil, nil
		})
	if err != nil {
		t.Fatalf("after %s: %v", timeout, last)
	}
}

// ready returns a Customer's Ready condition for its current generation, or an error.
func (c *cluster) ready(ctx context.Context, ns, name string) (*metav1.Condition, error) {
	var cust crmv1alpha1.Customer
	if err := c.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cust); err != nil {
		return nil, err
	}
	cond := apimeta.FindStatusCondition(cust.Status.Conditions, crmv1alpha1.ConditionReady)
	if cond == nil || cond.ObservedGeneration != cust.Generation {
		return nil, fmt.Errorf("customer %s/%s has no Ready condition for generation %d", ns, name, cust.Generation)
	}
	return cond, nil
}

// waitReason waits until a Customer's Ready condition has reason.
func (c *cluster) waitReason(t *testing.T, ns, name, reason string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	within(t, 60*time.Second, func(ctx context.Context) error {
		cond, err := c.ready(ctx, ns, name)
		if err != nil {
			return err
		}
		if cond.Reason != reason {
			return fmt.Errorf("customer %s/%s is %s (%s), want %s", ns, name, cond.Reason, cond.Message, reason)
		}
		got = cond
		return nil
	})
	return got
}

func (c *cluster) createCustomer(t *testing.T, ns, name string, spec crmv1alpha1.CustomerSpec) {
	t.Helper()
	cust := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := c.admin.Create(context.Background(), cust); err != nil {
		t.Fatalf("create Customer %s/%s: %v", ns, name, err)
	}
}

func (c *cluster) createSecret(t *testing.T, ns, name, key string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		StringData: map[string]string{"apiKey": key}}
	if err := c.admin.Create(context.Background(), s); err != nil {
		t.Fatalf("create Secret %s/%s: %v", ns, name, err)
	}
}

// setTeamKey sets the key of the team's Secret, as the sample's comment says to.
func (c *cluster) setTeamKey(t *testing.T, key string) {
	t.Helper()
	c.kubectl(t, "-n", teamNamespace, "patch", "secret", teamSecret, "--type", "merge",
		"-p", `{"stringData":{"apiKey":"`+key+`"}}`)
}

func withSecret(spec crmv1alpha1.CustomerSpec, name string) crmv1alpha1.CustomerSpec {
	spec.APIKeySecretRef = &crmv1alpha1.SecretKeyReference{Name: name}
	return spec
}

// allowed asks the API server, as the identity of cfg, whether it may make a request.
func allowed(t *testing.T, cfg *rest.Config, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	review := &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
	if err := c.Create(context.Background(), review); err != nil {
		t.Fatalf("SelfSubjectAccessReview %+v: %v", attrs, err)
	}
	return review.Status.Allowed
}

// scenario is what a test mode runs: the installer, and the namespaces it watches (nil: all).
type scenario struct {
	rendered []byte
	watched  []string
}

// TestClusterModeUnderInstallerRBAC runs the installer of config/default.
func TestClusterModeUnderInstallerRBAC(t *testing.T) {
	runScenario(t, scenario{rendered: render(t, filepath.Join(repoRoot, "config", "default"))})
}

// TestNamespacedModeUnderInstallerRBAC runs config/namespaced, extended from its one example
// namespace to two as docs/install.md says: a copy of namespaces/shop per namespace, listed
// under resources and in watch_namespaces_patch.yaml.
func TestNamespacedModeUnderInstallerRBAC(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "namespaced")
	copyDir(t, filepath.Join(repoRoot, "config", "namespaced"), dir)
	// Kustomize takes no absolute path to a base.
	base, err := filepath.Rel(dir, filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(dir, "kustomization.yaml"), map[string]string{
		"- ../default\n":      "- " + base + "\n",
		"- namespaces/shop\n": "- namespaces/shop\n- namespaces/" + defaultsNamespace + "\n",
	})
	copyDir(t, filepath.Join(dir, "namespaces", "shop"), filepath.Join(dir, "namespaces", defaultsNamespace))
	edit(t, filepath.Join(dir, "namespaces", defaultsNamespace, "kustomization.yaml"),
		map[string]string{"namespace: shop\n": "namespace: " + defaultsNamespace + "\n"})
	edit(t, filepath.Join(dir, "watch_namespaces_patch.yaml"),
		map[string]string{"--watch-namespaces=shop\n": "--watch-namespaces=shop," + defaultsNamespace + "\n"})
	runScenario(t, scenario{rendered: render(t, dir), watched: []string{teamNamespace, defaultsNamespace}})
}

func runScenario(t *testing.T, sc scenario) {
	c := install(t, sc.rendered)
	namespaced := len(sc.watched) > 0
	saCfg, saKubeconfig := c.as(t, c.sa)
	ctx := context.Background()

	// The team's Secret and its grant, as the sample gives them; a Secret a Customer names
	// that nothing grants; Secrets no Customer names, in a watched and an unwatched namespace.
	c.kubectl(t, "apply", "-f", filepath.Join(repoRoot, "config", "samples", "api_key_secret_grant.yaml"))
	c.setTeamKey(t, keyTeam)
	c.createSecret(t, teamNamespace, ungranted, keyTeam)
	c.createSecret(t, teamNamespace, unnamed, keyTeam)
	c.createSecret(t, outsideNamespace, unnamed, keyTeam)

	tiquo := sandbox.NewServer(sandbox.Options{Keys: map[string][]string{
		keyDefault: {sandbox.ScopeRead, sandbox.ScopeWrite}, keyTeam: {sandbox.ScopeRead, sandbox.ScopeWrite},
	}})
	t.Cleanup(tiquo.Close)
	drifted := func(id string) sandbox.Customer {
		r := fixture.Record(id)
		r.Phone = "+1555000111"
		r.UpdatedAt = time.Now().UTC().Truncate(time.Second)
		return r
	}
	const (
		idTeam, idInSync, idTaken, idConflict, idMissing = "cust_team", "cust_insync", "cust_taken", "cust_conflict", "cust_missing"
		idDenied, idOutside                              = "cust_denied", "cust_outside"
	)
	tiquo.PutCustomer(drifted(idTeam))
	tiquo.PutCustomer(fixture.Record(idInSync))
	tiquo.PutCustomer(fixture.Record(idTaken))
	tiquo.PutCustomer(fixture.Record(idConflict))
	tiquo.PutCustomer(fixture.Record(idDenied))
	tiquo.PutCustomer(drifted(idOutside))

	c.createCustomer(t, teamNamespace, "patched", withSecret(fixture.Spec(idTeam), teamSecret))
	c.createCustomer(t, teamNamespace, "denied", withSecret(fixture.Spec(idDenied), ungranted))
	c.createCustomer(t, defaultsNamespace, "in-sync", fixture.Spec(idInSync))
	c.createCustomer(t, defaultsNamespace, "missing", fixture.Spec(idMissing))
	conflict := fixture.Spec(idConflict)
	conflict.Email = new(idTaken + "@example.com")
	c.createCustomer(t, defaultsNamespace, "conflict", conflict)
	if namespaced {
		// Names the same record as team-b/in-sync: a duplicate, if the operator saw it.
		c.createCustomer(t, outsideNamespace, "ignored", fixture.Spec(idInSync))
		c.createCustomer(t, outsideNamespace, "drifted", fixture.Spec(idOutside))
	}

	m := c.startManager(t, saKubeconfig, tiquo.URL)

	// The permission problem is reported as such, naming the grant; once granted, it syncs.
	denied := c.waitReason(t, teamNamespace, "denied", crmv1alpha1.ReasonCredentialsNotFound)
	for _, want := range []string{"permission problem", "Secret " + teamNamespace + "/" + ungranted,
		"resourceNames: [" + ungranted + "]", "a Role in namespace " + teamNamespace, "docs/install.md"} {
		if !strings.Contains(denied.Message, want) {
			t.Errorf("the Ready message of a Customer whose Secret is not granted, %q, does not say %q", denied.Message, want)
		}
	}
	c.kubectl(t, "-n", teamNamespace, "create", "role", "grant-"+ungranted, "--verb=get,list,watch",
		"--resource=secrets", "--resource-name="+ungranted)
	c.kubectl(t, "-n", teamNamespace, "create", "rolebinding", "grant-"+ungranted, "--role=grant-"+ungranted,
		"--serviceaccount="+strings.TrimPrefix(c.sa, "system:serviceaccount:"))

	// Sync with a PATCH (and its event), 404, 409.
	c.waitReason(t, teamNamespace, "patched", crmv1alpha1.ReasonSynced)
	c.waitReason(t, defaultsNamespace, "in-sync", crmv1alpha1.ReasonSynced)
	c.waitReason(t, defaultsNamespace, "missing", crmv1alpha1.ReasonNotFound)
	c.waitReason(t, defaultsNamespace, "conflict", crmv1alpha1.ReasonEmailConflict)
	c.waitReason(t, teamNamespace, "denied", crmv1alpha1.ReasonSynced)
	if rec, _ := tiquo.Customer(idTeam); rec.Phone != "+1987654321" {
		t.Errorf("record %s has phone %q after its Customer synced; the PATCH did not happen", idTeam, rec.Phone)
	}
	within(t, 30*time.Second, func(ctx context.Context) error {
		var events eventsv1.EventList
		if err := c.admin.List(ctx, &events, client.InNamespace(teamNamespace)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Regarding.Name == "patched" && e.Reason == "Patched" {
				return nil
			}
		}
		return fmt.Errorf("no Patched event on %s/patched among %d events", teamNamespace, len(events.Items))
	})

	// Secret rotation: a revoked key is noticed, and so is the good one back.
	c.setTeamKey(t, "sk_test_revoked_0000000000")
	c.waitReason(t, teamNamespace, "patched", crmv1alpha1.ReasonUnauthorized)
	c.setTeamKey(t, keyTeam)
	c.waitReason(t, teamNamespace, "patched", crmv1alpha1.ReasonSynced)

	// The drift scan (on by default) lists the account, and corrects a record changed outside Git.
	within(t, 30*time.Second, func(context.Context) error {
		for _, r := range tiquo.Requests() {
			if r.Method == "GET" && r.Path == "/v1/customers" {
				return nil
			}
		}
		return errors.New("the drift scan has not listed the account's customers")
	})
	tiquo.PutCustomer(drifted(idInSync))
	within(t, 30*time.Second, func(context.Context) error {
		if rec, _ := tiquo.Customer(idInSync); rec.Phone != "+1987654321" {
			return fmt.Errorf("record %s still drifted: phone %q", idInSync, rec.Phone)
		}
		return nil
	})

	// A customer declared by email, applied with kubectl under deletionPolicy Archive: created,
	// given the finalizer by an update that keeps kubectl's last-applied-configuration (the
	// manager's cache trims it, so the update must not start from the cache), and archived
	// when the Customer is deleted, all under the installer's RBAC.
	declaredYAML := filepath.Join(t.TempDir(), "declared.yaml")
	if err := os.WriteFile(declaredYAML, []byte(`apiVersion: crm.tiquo.co/v1alpha1
kind: Customer
metadata: {name: declared, namespace: `+defaultsNamespace+`}
spec: {firstName: Ada, lastName: Lovelace, email: ada.rbac@example.com, deletionPolicy: Archive}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", declaredYAML)
	c.waitReason(t, defaultsNamespace, "declared", crmv1alpha1.ReasonSynced)
	var declared crmv1alpha1.Customer
	if err := c.admin.Get(ctx, client.ObjectKey{Namespace: defaultsNamespace, Name: "declared"}, &declared); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(declared.Finalizers, crmv1alpha1.DeletionFinalizer) {
		t.Errorf("finalizers %v under deletionPolicy Archive", declared.Finalizers)
	}
	if _, ok := declared.Annotations[corev1.LastAppliedConfigAnnotation]; !ok {
		t.Errorf("adding the finalizer dropped kubectl's %s annotation", corev1.LastAppliedConfigAnnotation)
	}
	rec, ok := tiquo.Customer(declared.Status.CustomerID)
	if !ok || !strings.EqualFold(rec.Email, "ada.rbac@example.com") {
		t.Fatalf("status.customerId %q names no record with the email", declared.Status.CustomerID)
	}
	c.kubectl(t, "delete", "-f", declaredYAML, "--wait=true", "--timeout=60s")
	if rec, _ := tiquo.Customer(declared.Status.CustomerID); !rec.Archived {
		t.Errorf("record %s not archived after its Customer was deleted under deletionPolicy Archive", rec.ID)
	}

	// Leader election: the manager holds the Lease.
	var lease coordinationv1.Lease
	if err := c.admin.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "tiquo-operator.crm.tiquo.co"}, &lease); err != nil {
		t.Errorf("the leader election Lease: %v", err)
	} else if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Errorf("no manager holds the leader election Lease")
	}

	if namespaced {
		// Nothing in an unwatched namespace is touched, nor counted as a duplicate.
		for _, name := range []string{"ignored", "drifted"} {
			var cust crmv1alpha1.Customer
			if err := c.admin.Get(ctx, client.ObjectKey{Namespace: outsideNamespace, Name: name}, &cust); err != nil {
				t.Fatal(err)
			}
			if len(cust.Status.Conditions) > 0 {
				t.Errorf("Customer %s/%s, in a namespace the manager does not watch, has status %+v",
					outsideNamespace, name, cust.Status.Conditions)
			}
		}
		if rec, _ := tiquo.Customer(idOutside); rec.Phone != "+1555000111" {
			t.Errorf("record %s of an unwatched namespace's Customer was patched", idOutside)
		}
		for _, r := range tiquo.Requests() {
			if strings.HasSuffix(r.Path, "/"+idOutside) {
				t.Errorf("the manager called Tiquo for a Customer of an unwatched namespace: %s %s", r.Method, r.Path)
			}
		}
	}

	// What the installer's identity may not do.
	type access struct {
		what  string
		attrs authorizationv1.ResourceAttributes
		want  bool
	}
	checks := []access{
		{"get the team's Secret", authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: teamNamespace, Name: teamSecret}, true},
		{"watch the team's Secret by name", authorizationv1.ResourceAttributes{Verb: "watch", Resource: "secrets", Namespace: teamNamespace, Name: teamSecret}, true},
		{"get the default Secret", authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: operatorNamespace, Name: "tiquo-operator-api-key"}, true},
		{"get a Secret no Customer names", authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: teamNamespace, Name: unnamed}, false},
		{"list every Secret of a watched namespace", authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets", Namespace: teamNamespace}, false},
		{"watch every Secret of a watched namespace", authorizationv1.ResourceAttributes{Verb: "watch", Resource: "secrets", Namespace: teamNamespace}, false},
		{"get a Secret of another namespace", authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: outsideNamespace, Name: unnamed}, false},
		{"list the Secrets of the operator's namespace", authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets", Namespace: operatorNamespace}, false},
		// The deletion finalizer is added and removed with an update; RBAC cannot grant
		// metadata alone. The operator never writes spec (design.md).
		{"update a Customer, for its finalizer", authorizationv1.ResourceAttributes{Verb: "update", Group: "crm.tiquo.co", Resource: "customers", Namespace: teamNamespace}, true},
		{"patch a Customer", authorizationv1.ResourceAttributes{Verb: "patch", Group: "crm.tiquo.co", Resource: "customers", Namespace: teamNamespace}, false},
		{"delete a Customer", authorizationv1.ResourceAttributes{Verb: "delete", Group: "crm.tiquo.co", Resource: "customers", Namespace: teamNamespace}, false},
		{"create a Customer", authorizationv1.ResourceAttributes{Verb: "create", Group: "crm.tiquo.co", Resource: "customers", Namespace: teamNamespace}, false},
		{"update a Secret of a watched namespace", authorizationv1.ResourceAttributes{Verb: "update", Resource: "secrets", Namespace: teamNamespace, Name: teamSecret}, false},
		{"list Customers in a watched namespace", authorizationv1.ResourceAttributes{Verb: "list", Group: "crm.tiquo.co", Resource: "customers", Namespace: teamNamespace}, true},
	}
	if namespaced {
		checks = append(checks,
			access{"list Customers in an unwatched namespace", authorizationv1.ResourceAttributes{Verb: "list", Group: "crm.tiquo.co", Resource: "customers", Namespace: outsideNamespace}, false},
			access{"list Customers in all namespaces", authorizationv1.ResourceAttributes{Verb: "list", Group: "crm.tiquo.co", Resource: "customers"}, false},
			access{"patch a Customer's status in an unwatched namespace", authorizationv1.ResourceAttributes{Verb: "patch", Group: "crm.tiquo.co", Resource: "customers", Subresource: "status", Namespace: outsideNamespace}, false},
		)
	}
	for _, chk := range checks {
		if got := allowed(t, saCfg, chk.attrs); got != chk.want {
			t.Errorf("the manager's ServiceAccount may %s: %v, want %v", chk.what, got, chk.want)
		}
	}
	// And a direct request under that identity is refused.
	saClient, err := client.New(saCfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []client.ObjectKey{{Namespace: teamNamespace, Name: unnamed}, {Namespace: outsideNamespace, Name: unnamed}} {
		var s corev1.Secret
		if err := saClient.Get(ctx, key, &s); !apierrors.IsForbidden(err) {
			t.Errorf("getting Secret %s as the manager's ServiceAccount: %v, want Forbidden", key, err)
		}
	}
	var secrets corev1.SecretList
	if err := saClient.List(ctx, &secrets, client.InNamespace(teamNamespace)); !apierrors.IsForbidden(err) {
		t.Errorf("listing the Secrets of %s as the manager's ServiceAccount: %v, want Forbidden", teamNamespace, err)
	}

	// The whole run logged no authorization error but for the Secret left ungranted on purpose.
	if err := m.proc.Stop(20 * time.Second); err != nil {
		t.Error(err)
	}
	if err := m.proc.Err(); err != nil {
		t.Errorf("the manager exited with %v", err)
	}
	log := m.log(t)
	for _, line := range strings.Split(log, "\n") {
		l := strings.ToLower(line)
		if (strings.Contains(l, "forbidden") || strings.Contains(l, "missing rbac grant") ||
			strings.Contains(l, "may not")) && !strings.Contains(line, ungranted) {
			t.Errorf("the manager logged an authorization error: %s", line)
		}
	}
	if !strings.Contains(strings.ToLower(log), "successfully acquired lease") {
		t.Error("the manager never logged that it acquired the leader election Lease")
	}
}

// TestStartupNamesMissingGrants starts the manager without the grants it needs, and checks
// that it says which at startup, and exits.
func TestStartupNamesMissingGrants(t *testing.T) {
	c := install(t, render(t, filepath.Join(repoRoot, "config", "default")))
	_, kubeconfig := c.as(t, "system:serviceaccount:"+operatorNamespace+":default")
	m := c.startManager(t, kubeconfig, "http://127.0.0.1:1", "--watch-namespaces", teamNamespace)
	select {
	case <-m.proc.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the manager, lacking every grant, still runs after 30s")
	}
	if m.proc.Err() == nil {
		t.Error("the manager lacking every grant exited with status 0")
	}
	log := m.log(t)
	for _, want := range []string{
		"Missing RBAC grant: the operator may not list customers.crm.tiquo.co in namespace " + teamNamespace,
		"Missing RBAC grant: the operator may not patch customers.crm.tiquo.co/status in namespace " + teamNamespace,
		"Missing RBAC grant: the operator may not get secrets named tiquo-operator-api-key in namespace " + operatorNamespace,
		"Missing RBAC grant: the operator may not update leases.coordination.k8s.io in namespace " + operatorNamespace,
		"docs/install.md",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the manager's log does not say %q", want)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}

// edit replaces text in a file, failing the test when a text to replace is not there.
func edit(t *testing.T, file string, replace map[string]string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for old, repl := range replace {
		if !strings.Contains(s, old) {
			t.Fatalf("%s has no %q to edit", file, old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestNamespacedRoleMatchesClusterRole keeps the Role config/namespaced grants in each watched
// namespace in step with the ClusterRole controller-gen generates from the RBAC markers.
func TestNamespacedRoleMatchesClusterRole(t *testing.T) {
	var cluster rbacv1.ClusterRole
	var namespaced rbacv1.Role
	objectOf(t, render(t, filepath.Join(repoRoot, "config", "default")), "ClusterRole", "tiquo-operator-manager-role", &cluster)
	objectOf(t, render(t, filepath.Join(repoRoot, "config", "namespaced")), "Role", "tiquo-operator-manager-customers", &namespaced)
	if diff := cmp.Diff(cluster.Rules, namespaced.Rules); diff != "" {
		t.Errorf("config/namespaced/watched-namespace/role.yaml differs from the ClusterRole of the RBAC markers "+
			"(config/rbac/role.yaml); copy its rules (-cluster +namespaced):\n%s", diff)
	}
}

// TestWatchNamespacesFlagIsValidated checks that a --watch-namespaces the manager cannot use
// stops it before it does anything, with a message that names every problem.
func TestWatchNamespacesFlagIsValidated(t *testing.T) {
	cmd := exec.Command(managerBin, "--watch-namespaces=shop,,Team_B,shop", "--kubeconfig", "/nonexistent")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("the manager with a bad --watch-namespaces exited with %v, want status 2:\n%s", err, out)
	}
	// The log is JSON, which escapes the quotes around each name.
	for _, want := range []string{"--watch-namespaces", "entry 2 is empty", `Team_B\" is not a namespace name`,
		`namespace \"shop\" is listed twice`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the manager's output does not say %q:\n%s", want, out)
		}
	}
}
