package release_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// readmeHelmInstall returns the args of the `helm install` command of the README's Helm
// install lines (continuation lines joined) and the lines that follow it in that block.
func readmeHelmInstall(t *testing.T) (args []string, rest []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### With Helm\n.*?```sh\n(.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatal("README.md has no sh block under a heading \"### With Helm\"")
	}
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(string(m[1]), "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "helm install ") {
		t.Fatalf("the README's Helm block does not start with helm install: %q", lines)
	}
	return strings.Fields(lines[0])[2:], lines[1:]
}

// TestREADMEHelmInstallMatchesMakeDeploy follows the README's Helm lines, with the chart of
// this checkout in place of the released one, against a real API server: the objects it
// renders are accepted by a server-side dry run and are those `make deploy` applies.
func TestREADMEHelmInstallMatchesMakeDeploy(t *testing.T) {
	args, rest := readmeHelmInstall(t)
	if len(args) < 2 {
		t.Fatalf("helm install %v names no release and chart", args)
	}
	release, chart, flags := args[0], args[1], args[2:]
	if release != releaseName {
		t.Errorf("the README installs release %q; with %q the objects are named as make deploy names them", release, releaseName)
	}
	// The chart is the one `make release` uploads.
	if !regexp.MustCompile(`^https://github\.com/tiquo-operator/tiquo-operator/releases/download/v(\d+\.\d+\.\d+)/tiquo-operator-(\d+\.\d+\.\d+)\.tgz$`).
		MatchString(chart) {
		t.Errorf("the README installs the chart %s, not a release's tiquo-operator-X.Y.Z.tgz", chart)
	}
	ns := ""
	for i, f := range flags {
		switch {
		case (f == "--namespace" || f == "-n") && i+1 < len(flags):
			ns = flags[i+1]
		case strings.HasPrefix(f, "--namespace="):
			ns = strings.TrimPrefix(f, "--namespace=")
		}
	}
	if ns != namespace {
		t.Errorf("the README installs into namespace %q, want %q", ns, namespace)
	}
	if !strings.Contains(strings.Join(flags, " "), "--create-namespace") {
		t.Error("the README's helm install does not create the namespace (--create-namespace)")
	}
	// The key is set with a patch of the Secret the chart creates.
	if len(rest) == 0 || !strings.Contains(rest[0], "patch secret tiquo-operator-api-key") ||
		!strings.Contains(rest[0], "-n "+namespace) && !strings.Contains(rest[0], "--namespace "+namespace) {
		t.Errorf("the line after helm install does not patch the key into %s/tiquo-operator-api-key: %q", namespace, rest)
	}

	// helm install installs the chart's CRDs, then renders what helm template renders.
	tmplArgs := []string{"template", release, chartDir, "--include-crds"}
	for _, f := range flags {
		if f != "--create-namespace" {
			tmplArgs = append(tmplArgs, f)
		}
	}
	out, err := helm(t, tmplArgs...)
	if err != nil {
		t.Fatal(err)
	}
	compareObjects(t, kustomizeBuild(t, "config/default"), decode(t, out), map[string]string{"Namespace": "--create-namespace"})
	serverDryRun(t, ns, out)
}

// serverDryRun applies manifests to the test API server with a server-side dry run, after
// creating namespace as --create-namespace would, and fails unless every object is accepted.
func serverDryRun(t *testing.T, namespace, manifests string) {
	t.Helper()
	if out, err := kubectl(t, "create", "namespace", namespace); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
		t.Fatalf("%v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(file, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(t, "apply", "--server-side", "--dry-run=server", "-f", file)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, o := range decode(t, manifests) {
		gk := o.GroupVersionKind().GroupKind()
		ref := strings.ToLower(gk.Kind)
		if gk.Group != "" {
			ref += "." + gk.Group
		}
		if !strings.Contains(out, ref+"/"+o.GetName()+" serverside-applied (server dry run)") {
			t.Errorf("the API server did not accept %s:\n%s", key(o), out)
		}
	}
}

// TestChartAppliesWithServerSideDryRun checks the objects of non-default values, the
// ServiceMonitor and PrometheusRule included, against the schemas of a real API server with
// the Prometheus Operator's CRDs.
func TestChartAppliesWithServerSideDryRun(t *testing.T) {
	out, err := helm(t, "template", releaseName, chartDir, "--namespace", namespace, "--include-crds",
		"--values", nonDefaultValues)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "ConfigMap", "CustomResourceDefinition"} {
		find(t, decode(t, out), kind)
	}
	// The dashboard goes to the namespace dashboard.namespace names, and the grant of the
	// existing API key Secret to the namespace that holds it.
	for _, ns := range []string{"monitoring", "tiquo-keys"} {
		if out, err := kubectl(t, "create", "namespace", ns); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	serverDryRun(t, namespace, out)
}

// TestAPIKeySecretSurvivesUpgradeAndUninstall installs the chart for real, sets the key as
// the README says, and checks that neither an upgrade (even one given another key) nor
// uninstalling and installing again loses it.
func TestAPIKeySecretSurvivesUpgradeAndUninstall(t *testing.T) {
	_, kubeconfig := cluster(t)
	const release, ns = "keep", "tiquo-keep"
	secret := release + "-tiquo-operator-api-key"
	helmKube := func(args ...string) {
		t.Helper()
		if out, err := helm(t, append(args, "--kubeconfig", kubeconfig, "--namespace", ns)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	apiKey := func() string {
		t.Helper()
		out, err := kubectl(t, "get", "secret", secret, "-n", ns, "-o", "jsonpath={.data.apiKey}")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		b, err := base64.StdEncoding.DecodeString(out)
		if err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		return string(b)
	}

	helmKube("install", release, chartDir, "--create-namespace")
	if got := apiKey(); got != "" {
		t.Fatalf("the chart created the Secret with key %q, want none", got)
	}
	if out, err := kubectl(t, "-n", ns, "patch", "secret", secret, "--type", "merge",
		"-p", `{"stringData":{"apiKey":"sk_test_patched"}}`); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	helmKube("upgrade", release, chartDir, "--set", "apiKeySecret.apiKey=sk_test_other", "--set", "replicaCount=1")
	if got := apiKey(); got != "sk_test_patched" {
		t.Errorf("after helm upgrade with another apiKey the key is %q, want the one set before, sk_test_patched", got)
	}
	helmKube("upgrade", release, chartDir, "--reset-values")
	if got := apiKey(); got != "sk_test_patched" {
		t.Errorf("after helm upgrade --reset-values the key is %q, want sk_test_patched", got)
	}

	helmKube("uninstall", release)
	if got := apiKey(); got != "sk_test_patched" {
		t.Errorf("after helm uninstall the key is %q, want sk_test_patched", got)
	}
	if out, err := kubectl(t, "get", "deployment", "-n", ns, "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("helm uninstall left Deployments behind: %q %v", out, err)
	}
	helmKube("install", release, chartDir)
	if got := apiKey(); got != "sk_test_patched" {
		t.Errorf("after installing again the key is %q, want sk_test_patched", got)
	}
	helmKube("uninstall", release)
}

// TestAPIKeySecretGetsTheGivenKeyOnInstall checks the first install of a key given as a value,
// and that nothing but the Secret holds it.
func TestAPIKeySecretGetsTheGivenKeyOnInstall(t *testing.T) {
	objs := helmTemplate(t, "--set", "apiKeySecret.apiKey=sk_test_given,apiKeySecret.key=token")
	s := find(t, objs, "Secret")
	data, _, _ := unstructured.NestedStringMap(s.Object, "data")
	if got, _ := base64.StdEncoding.DecodeString(data["token"]); string(got) != "sk_test_given" || len(data) != 1 {
		t.Errorf("the Secret's data is %v, want token=sk_test_given", data)
	}
	if s.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Errorf("the Secret is not kept on uninstall: annotations %v", s.GetAnnotations())
	}
	args := managerArgs(t, objs)
	want := "--default-api-key-secret=" + namespace + "/tiquo-operator-api-key:token"
	found := false
	for _, a := range args {
		if a == want {
			found = true
		}
		if strings.Contains(a, "sk_test_given") {
			t.Errorf("the API key is in the manager's args: %s", a)
		}
	}
	if !found {
		t.Errorf("the manager args %v do not include %s", args, want)
	}
	for _, o := range objs {
		if o.GetKind() != "Secret" && strings.Contains(toJSON(t, o), "sk_test_given") {
			t.Errorf("%s holds the API key", key(o))
		}
	}
}

func toJSON(t *testing.T, o *unstructured.Unstructured) string {
	t.Helper()
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
