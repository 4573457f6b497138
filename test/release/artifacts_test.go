package release_test

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// krewPlugin is the part of a krew plugin manifest the test reads.
type krewPlugin struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version   string `json:"version"`
		Platforms []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestReleaseArtifacts runs `make release` into a temporary directory and checks every file
// it writes: what a tag's CI job uploads.
func TestReleaseArtifacts(t *testing.T) {
	const version = "v1.2.3"
	dir := filepath.Join(t.TempDir(), "dist")
	kustomization := filepath.Join(repoRoot, "config", "manager", "kustomization.yaml")
	before, err := os.ReadFile(kustomization)
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, repoRoot, helmEnv(t), "make", "--no-print-directory", "release",
		"VERSION="+version, "RELEASE_DIR="+dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if after, _ := os.ReadFile(kustomization); string(after) != string(before) {
		t.Error("make release changed config/manager/kustomization.yaml")
	}

	var platforms = []struct{ os, arch string }{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}
	want := []string{"SHA256SUMS", "install.yaml", "tiquo-operator-1.2.3.tgz", "tiquo.yaml"}
	for _, p := range platforms {
		want = append(want, fmt.Sprintf("kubectl-tiquo_%s_%s_%s.tar.gz", version, p.os, p.arch))
	}
	slices.Sort(want)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("make release wrote (-want +got):\n%s", d)
	}

	t.Run("SHA256SUMS", func(t *testing.T) {
		f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		summed := map[string]bool{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			sum, name, ok := strings.Cut(sc.Text(), "  ")
			if !ok {
				t.Fatalf("SHA256SUMS line %q is not `<sum>  <file>`", sc.Text())
			}
			if got := fileSHA256(t, filepath.Join(dir, name)); got != sum {
				t.Errorf("SHA256SUMS says %s for %s, the file has %s", sum, name, got)
			}
			summed[name] = true
		}
		for _, name := range want {
			if name != "SHA256SUMS" && !summed[name] {
				t.Errorf("SHA256SUMS has no line for %s", name)
			}
		}
	})

	t.Run("install.yaml", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(dir, "install.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		released := decode(t, string(data))
		containers := unstructuredContainers(t, find(t, released, "Deployment").Object)
		if img := containers[0]["image"]; img != "ghcr.io/tiquo-operator/tiquo-operator:"+version {
			t.Errorf("install.yaml runs the image %v, want ghcr.io/tiquo-operator/tiquo-operator:%s", img, version)
		}
		// Otherwise it is what make deploy applies.
		deploy := kustomizeBuild(t, "config/default")
		if len(deploy) != len(released) {
			t.Errorf("install.yaml has %d objects, config/default %d", len(released), len(deploy))
		}
		for i := range min(len(deploy), len(released)) {
			w, g := deploy[i].DeepCopy(), released[i].DeepCopy()
			if g.GetKind() == "Deployment" {
				cs, _, _ := unstructured.NestedSlice(g.Object, "spec", "template", "spec", "containers")
				cs[0].(map[string]any)["image"] = "ghcr.io/tiquo-operator/tiquo-operator:latest"
				if err := unstructured.SetNestedSlice(g.Object, cs, "spec", "template", "spec", "containers"); err != nil {
					t.Fatal(err)
				}
			}
			if d := cmp.Diff(w.Object, g.Object); d != "" {
				t.Errorf("%s differs from config/default (-config +install.yaml):\n%s", key(w), d)
			}
		}
	})

	t.Run("chart", func(t *testing.T) {
		tgz := filepath.Join(dir, "tiquo-operator-1.2.3.tgz")
		out, err := helm(t, "show", "chart", tgz)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Version    string `json:"version"`
			AppVersion string `json:"appVersion"`
		}
		if err := yaml.Unmarshal([]byte(out), &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Version != "1.2.3" || meta.AppVersion != version {
			t.Errorf("the packaged chart is version %q, appVersion %q; want 1.2.3 and %s", meta.Version, meta.AppVersion, version)
		}
		out, err = helm(t, "template", releaseName, tgz, "--namespace", namespace, "--include-crds")
		if err != nil {
			t.Fatal(err)
		}
		objs := decode(t, out)
		containers := unstructuredContainers(t, find(t, objs, "Deployment").Object)
		if img := containers[0]["image"]; img != "ghcr.io/tiquo-operator/tiquo-operator:"+version {
			t.Errorf("the packaged chart runs the image %v, want ghcr.io/tiquo-operator/tiquo-operator:%s", img, version)
		}
		find(t, objs, "CustomResourceDefinition")
	})

	t.Run("kubectl-tiquo archives", func(t *testing.T) {
		for _, p := range platforms {
			name := fmt.Sprintf("kubectl-tiquo_%s_%s_%s.tar.gz", version, p.os, p.arch)
			bin := filepath.Join(t.TempDir(), "kubectl-tiquo")
			extract(t, filepath.Join(dir, name), "kubectl-tiquo", bin)
			checkBinary(t, bin, p.os, p.arch)
			if p.os == "linux" && p.arch == "amd64" {
				if out, err := exec.Command(bin, "--help").CombinedOutput(); err != nil ||
					!strings.Contains(string(out), "kubectl tiquo") {
					t.Errorf("%s --help: %v\n%s", name, err, out)
				}
			}
		}
	})

	t.Run("krew manifest", func(t *testing.T) {
		manifest := filepath.Join(dir, "tiquo.yaml")
		// krew's own validation of the manifest: structure, platforms, no overlaps.
		out, err := run(t, dir, nil, tool(t, "VALIDATE_KREW_MANIFEST", "validate-krew-manifest"),
			"-manifest", manifest, "-skip-install")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		data, err := os.ReadFile(manifest)
		if err != nil {
			t.Fatal(err)
		}
		var plugin krewPlugin
		if err := yaml.Unmarshal(data, &plugin); err != nil {
			t.Fatal(err)
		}
		if plugin.Spec.Version != version || len(plugin.Spec.Platforms) != len(platforms) {
			t.Errorf("the manifest is version %q with %d platforms; want %s with %d",
				plugin.Spec.Version, len(plugin.Spec.Platforms), version, len(platforms))
		}
		for _, pl := range plugin.Spec.Platforms {
			osName, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
			archive := fmt.Sprintf("kubectl-tiquo_%s_%s_%s.tar.gz", version, osName, arch)
			if wantURI := "https://github.com/tiquo-operator/tiquo-operator/releases/download/" + version + "/" + archive; pl.URI != wantURI {
				t.Errorf("%s/%s downloads %s, want %s", osName, arch, pl.URI, wantURI)
			}
			if got := fileSHA256(t, filepath.Join(dir, archive)); pl.SHA256 != got {
				t.Errorf("%s/%s: the manifest's sha256 %s is not the archive's %s", osName, arch, pl.SHA256, got)
			}
		}

		// krew installs it from the archive, as it would from the release.
		root := t.TempDir()
		archive := filepath.Join(dir, fmt.Sprintf("kubectl-tiquo_%s_linux_amd64.tar.gz", version))
		out, err = run(t, dir, []string{"KREW_ROOT=" + root, "KREW_OS=linux", "KREW_ARCH=amd64"},
			tool(t, "KREW", "krew"), "install", "--manifest="+manifest, "--archive="+archive)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		installed := filepath.Join(root, "bin", "kubectl-tiquo")
		if out, err := exec.Command(installed, "--help").CombinedOutput(); err != nil {
			t.Errorf("krew installed kubectl-tiquo, which does not run: %v\n%s", err, out)
		}
	})
}

// unstructuredContainers returns the containers of a Deployment, failing the test if it has none.
func unstructuredContainers(t *testing.T, obj map[string]any) []map[string]any {
	t.Helper()
	list, _, err := unstructured.NestedSlice(obj, "spec", "template", "spec", "containers")
	if err != nil || len(list) == 0 {
		t.Fatalf("the Deployment has no containers: %v", err)
	}
	var out []map[string]any
	for _, c := range list {
		out = append(out, c.(map[string]any))
	}
	return out
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// extract writes the file name of a .tar.gz to dest, failing if the archive holds anything
// else.
func extract(t *testing.T, archive, name, dest string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", archive, err)
	}
	tr := tar.NewReader(gz)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", archive, err)
		}
		if h.Name != name {
			t.Errorf("%s holds %s, which krew's manifest does not install", archive, h.Name)
			continue
		}
		if h.Mode&0o111 == 0 {
			t.Errorf("%s: %s is not executable (mode %o)", archive, name, h.Mode)
		}
		out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		_ = out.Close()
		found = true
	}
	if !found {
		t.Fatalf("%s has no %s", archive, name)
	}
}

// checkBinary checks that bin is an executable for goos/goarch.
func checkBinary(t *testing.T, bin, goos, goarch string) {
	t.Helper()
	switch goos {
	case "linux":
		f, err := elf.Open(bin)
		if err != nil {
			t.Errorf("%s/%s: not an ELF binary: %v", goos, goarch, err)
			return
		}
		defer func() { _ = f.Close() }()
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
		if f.Machine != want {
			t.Errorf("%s/%s: the binary is for %s", goos, goarch, f.Machine)
		}
	case "darwin":
		f, err := macho.Open(bin)
		if err != nil {
			t.Errorf("%s/%s: not a Mach-O binary: %v", goos, goarch, err)
			return
		}
		defer func() { _ = f.Close() }()
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
		if f.Cpu != want {
			t.Errorf("%s/%s: the binary is for %s", goos, goarch, f.Cpu)
		}
	}
}
