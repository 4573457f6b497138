package release_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	// releaseName and namespace are those of the README's Helm lines; with them the chart
	// names its objects as config/default does.
	releaseName = "tiquo-operator"
	namespace   = "tiquo-operator-system"
	// chartDir is the chart, relative to the repository root.
	chartDir = "charts/tiquo-operator"
)

// repoRoot is the repository's top directory; the tests run in test/release.
var repoRoot = func() string {
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return dir
}()

// tool returns the path of a tool the Makefile builds into bin/, or the one the environment
// variable names (`make test` sets HELM and KUSTOMIZE).
func tool(t *testing.T, env, name string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		path = filepath.Join(repoRoot, "bin", name)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing (%v): run the tests with `make test`, which builds it into bin/", name, err)
	}
	return path
}

func helmBin(t *testing.T) string      { return tool(t, "HELM", "helm") }
func kustomizeBin(t *testing.T) string { return tool(t, "KUSTOMIZE", "kustomize") }

// run runs a command in dir and returns its stdout; on failure the error holds stderr.
func run(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// helmEnv keeps helm's caches and configuration out of the user's home directory.
func helmEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	return []string{
		"HELM_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"HELM_DATA_HOME=" + filepath.Join(dir, "data"),
	}
}

// helm runs helm from the repository root.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(t, repoRoot, helmEnv(t), helmBin(t), args...)
}

// helmTemplate renders the chart as the README's release, with extra helm arguments such as
// --set or --values.
func helmTemplate(t *testing.T, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", releaseName, chartDir, "--namespace", namespace}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

// kustomizeBuild renders a kustomization directory.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := run(t, repoRoot, nil, kustomizeBin(t), "build", dir)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

// decode splits a multi-document YAML stream into objects.
func decode(t *testing.T, data string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decode rendered manifests: %v\n%s", err, data)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: convertNumbers(m).(map[string]any)})
	}
}

// key names an object as kind namespace/name.
func key(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
}

// find returns the single object of a kind, failing the test if there is not exactly one.
func find(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

// managerArgs returns the args of the manager container of the rendered Deployment.
func managerArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(find(t, objs, "Deployment").Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		c := c.(map[string]any)
		if c["name"] != "manager" {
			continue
		}
		args, _, err := unstructured.NestedStringSlice(c, "args")
		if err != nil {
			t.Fatalf("manager args: %v", err)
		}
		return args
	}
	t.Fatal("the Deployment has no container named manager")
	return nil
}

// controlPlane is the envtest API server the tests that need one share; it starts on first use.
var controlPlane struct {
	once       sync.Once
	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string
	kubectl    string
	err        error
}

// cluster starts (once) a kube-apiserver and etcd with the Prometheus Operator's
// ServiceMonitor and PrometheusRule CRDs installed, and returns its config and an admin
// kubeconfig file. The Customer CRD is not installed: the chart must bring it.
func cluster(t *testing.T) (*rest.Config, string) {
	t.Helper()
	cp := &controlPlane
	cp.once.Do(func() {
		assets := os.Getenv("KUBEBUILDER_ASSETS")
		if assets == "" {
			cp.err = errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds " +
				"kube-apiserver, etcd and kubectl and points the tests at them")
			return
		}
		cp.kubectl = filepath.Join(assets, "kubectl")
		cp.env = &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("testdata", "crds")},
			ErrorIfCRDPathMissing: true,
		}
		if cp.cfg, cp.err = cp.env.Start(); cp.err != nil {
			return
		}
		user, err := cp.env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			cp.err = err
			return
		}
		kc, err := user.KubeConfig()
		if err != nil {
			cp.err = err
			return
		}
		dir, err := os.MkdirTemp("", "tiquo-release-test-")
		if err != nil {
			cp.err = err
			return
		}
		cp.kubeconfig = filepath.Join(dir, "kubeconfig")
		cp.err = os.WriteFile(cp.kubeconfig, kc, 0o600)
	})
	if cp.err != nil {
		t.Fatalf("start control plane: %v", cp.err)
	}
	return cp.cfg, cp.kubeconfig
}

// kubectl runs the control plane's kubectl as the admin user.
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	_, kubeconfig := cluster(t)
	cache := filepath.Join(filepath.Dir(kubeconfig), "kube-cache")
	return run(t, repoRoot, nil, controlPlane.kubectl,
		append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cache}, args...)...)
}

// TestMain stops the control plane if a test started it.
func TestMain(m *testing.M) {
	code := m.Run()
	if managerBuild.path != "" {
		_ = os.RemoveAll(filepath.Dir(managerBuild.path))
	}
	if controlPlane.env != nil {
		if err := controlPlane.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop control plane: %v\n", err)
		}
		if controlPlane.kubeconfig != "" {
			_ = os.RemoveAll(filepath.Dir(controlPlane.kubeconfig))
		}
	}
	os.Exit(code)
}
