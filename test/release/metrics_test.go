package release_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/child"
	"github.com/tiquo-operator/tiquo-operator/internal/fixture"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// TestNamedMetricsAreExported runs the real manager against the test control plane and the
// Tiquo sandbox, drives it through a sync, a patch, a drift correction, a missing record and
// a Tiquo outage, and checks that its /metrics has every metric the alerts and the dashboard
// query: a misspelt or renamed metric would make an alert that never fires and an empty panel.
func TestNamedMetricsAreExported(t *testing.T) {
	named := namedMetrics(t)
	cfg, kubeconfig := cluster(t)
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(repoRoot, "config", "crd", "bases")}, ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("install the Customer CRD: %v", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := crmv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	const apiKey, ns = "sk_test_metrics", "metrics-test"
	sb := sandbox.NewServer(sandbox.Options{
		Keys:               map[string][]string{apiKey: {sandbox.ScopeRead, sandbox.ScopeWrite}},
		RateLimitPerMinute: 100000, // answers carry X-RateLimit-Remaining
	})
	t.Cleanup(sb.Close)
	sb.PutCustomer(fixture.Record("cust_synced"))
	drifted := fixture.Record("cust_patched")
	drifted.Phone = "+1555000111"
	sb.PutCustomer(drifted)

	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tiquo-key", Namespace: ns}, StringData: map[string]string{"apiKey": apiKey}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
	}

	addr := freeAddr(t)
	out := &child.Output{}
	cmd := exec.Command(managerBinary(t),
		"--kubeconfig="+kubeconfig,
		"--leader-elect", "--leader-election-namespace="+ns,
		"--metrics-bind-address="+addr, "--metrics-secure=false",
		"--health-probe-bind-address=0",
		"--tiquo-base-url="+sb.URL,
		"--default-api-key-secret="+ns+"/tiquo-key",
		"--resync-interval=2s", "--terminal-recheck-interval=2s", "--transient-error-grace-period=1s",
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start manager: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("manager output:\n%s", out.String())
		}
	})

	for name, id := range map[string]string{"synced": "cust_synced", "patched": "cust_patched", "missing": "cust_missing"} {
		cust := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: fixture.Spec(id)}
		if err := c.Create(ctx, cust); err != nil {
			t.Fatalf("create Customer %s: %v", name, err)
		}
	}

	// Each step drives traffic and ends once its counter has counted: plain syncs and a patch,
	// then a record changed in Tiquo behind the operator's back, then an outage.
	steps := []struct {
		until  string
		action func()
	}{
		{"tiquo_customer_patched_fields_total", func() {}},
		{"tiquo_customer_drift_corrections_total", func() {
			changed := fixture.Record("cust_synced")
			changed.Notes = "changed in the Tiquo dashboard"
			changed.UpdatedAt = time.Now().UTC()
			sb.PutCustomer(changed)
		}},
		{"tiquo_customer_transient_failures_total", func() {
			sb.SetFaults(sandbox.Faults{ErrorRate: 1, ErrorStatus: 503})
		}},
	}
	var text string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		select {
		case <-done:
			t.Fatalf("the manager exited")
		case <-time.After(500 * time.Millisecond):
		}
		if text, err = child.Metrics(ctx, addr); err != nil {
			continue
		}
		if len(steps) > 0 && counted(text, steps[0].until) {
			steps = steps[1:]
			if len(steps) > 0 {
				steps[0].action()
			}
		}
		if len(steps) == 0 && len(missingMetrics(named, exposedNames(text))) == 0 {
			break
		}
	}
	sb.SetFaults(sandbox.Faults{})
	for _, s := range steps {
		t.Errorf("the run never counted %s", s.until)
	}
	for _, m := range missingMetrics(named, exposedNames(text)) {
		t.Errorf("the manager's /metrics has no %s", m)
	}
}

// counted reports whether the exposition has a sample of the metric above zero.
func counted(text, name string) bool {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil && v > 0 {
			return true
		}
	}
	return false
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
