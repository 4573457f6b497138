package release_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// managerBuild is the manager binary built from this repository, once per test run.
var managerBuild struct {
	once sync.Once
	path string
	err  error
}

// managerBinary builds cmd/manager, once, and returns the binary's path.
func managerBinary(t *testing.T) string {
	t.Helper()
	managerBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "tiquo-release-manager-")
		if err != nil {
			managerBuild.err = err
			return
		}
		managerBuild.path = filepath.Join(dir, "manager")
		cmd := exec.Command("go", "build", "-o", managerBuild.path, "./cmd/manager")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			managerBuild.err = errors.New("go build ./cmd/manager: " + err.Error() + "\n" + string(out))
		}
	})
	if managerBuild.err != nil {
		t.Fatal(managerBuild.err)
	}
	return managerBuild.path
}

// managerFlags returns the names of the flags the manager binary accepts, from its -help.
func managerFlags(t *testing.T) []string {
	t.Helper()
	out, _ := exec.Command(managerBinary(t), "-help").CombinedOutput()
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		names = append(names, m[1])
	}
	if !slices.Contains(names, "metrics-bind-address") {
		t.Fatalf("could not read the manager's flags from its -help:\n%s", out)
	}
	return names
}

// chartFlagValues are the flags the chart sets from values other than flags.<name>.
var chartFlagValues = map[string]string{
	"default-api-key-secret": "apiKeySecret",
	"webhook-bind-address":   "webhook",
	"webhook-secret":         "webhook",
}

// TestChartCoversEveryManagerFlag fails when the manager has a flag that the chart's values
// cannot set by name, or the chart has a flag the manager no longer knows (the manager would
// not start). A new flag is one line in values.yaml and one property in values.schema.json.
func TestChartCoversEveryManagerFlag(t *testing.T) {
	values := readValues(t, filepath.Join(chartDir, "values.yaml"))
	chartFlags, ok := values["flags"].(map[string]any)
	if !ok {
		t.Fatal("values.yaml has no flags map")
	}
	manager := managerFlags(t)
	for _, name := range manager {
		if _, ok := chartFlags[name]; ok {
			continue
		}
		if v, ok := chartFlagValues[name]; ok {
			if _, ok := values[v]; !ok {
				t.Errorf("the manager's --%s is set from the chart's %s, which values.yaml lacks", name, v)
			}
			continue
		}
		t.Errorf("the manager has --%s but the chart has no value for it: add `%s: null` (with a comment "+
			"giving its default) under flags in values.yaml, and a property to flags in values.schema.json", name, name)
	}
	for name := range chartFlags {
		if !slices.Contains(manager, name) {
			t.Errorf("the chart's flags.%s is not a flag of the manager, which would refuse to start", name)
		}
	}
}

// TestRenderedArgsParseInManager passes the args the chart renders, with default and with
// non-default values, to the real manager binary. It stops at loading its kubeconfig, after
// parsing and validating every flag: a flag it does not know, or a value it rejects, makes
// it exit with status 2 instead.
func TestRenderedArgsParseInManager(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeCA(t, ca)
	missingKubeconfig := filepath.Join(dir, "no-such-kubeconfig")

	for name, extra := range map[string][]string{
		"defaults": nil,
		"non-default": {
			"--values", nonDefaultValues,
			// Paths the manager reads at once, which exist only in the pod.
			"--set", "flags.tiquo-ca-file=" + ca, "--set", "flags.kubeconfig=" + missingKubeconfig,
		},
	} {
		t.Run(name, func(t *testing.T) {
			args := managerArgs(t, helmTemplate(t, extra...))
			if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--kubeconfig=") }) {
				args = append(args, "--kubeconfig="+missingKubeconfig)
			}
			code, out := runManager(t, args)
			if code != 1 || !strings.Contains(out, "unable to get kubeconfig") {
				t.Errorf("the manager did not accept the chart's args %v (exit status %d):\n%s", args, code, out)
			}
		})
	}

	// The same run tells a rejected flag apart.
	code, out := runManager(t, []string{"--kubeconfig=" + missingKubeconfig, "--tiquo-rate-limit=0"})
	if code != 2 || !strings.Contains(out, "--tiquo-rate-limit must be positive") {
		t.Errorf("the manager accepted --tiquo-rate-limit=0 (exit status %d):\n%s", code, out)
	}
}

// runManager runs the manager with args outside any cluster and returns its exit status and
// output.
func runManager(t *testing.T, args []string) (int, string) {
	t.Helper()
	cmd := exec.Command(managerBinary(t), args...)
	// Nothing may lead it to a cluster: no in-cluster variables, no kubeconfig in $HOME.
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	default:
		t.Fatalf("run manager: %v", err)
		return -1, ""
	}
}

// writeCA writes a self-signed CA certificate in PEM to path.
func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
