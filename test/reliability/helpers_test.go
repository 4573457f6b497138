package reliability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/child"
	"github.com/tiquo-operator/tiquo-operator/internal/fixture"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// managerProc is the manager binary running as a child process.
type managerProc struct {
	name    string
	cmd     *exec.Cmd
	out     *child.Output
	done    chan struct{}
	exitErr error
	// started and exited are when the process was started and when Wait returned.
	started, exited time.Time
}

// startManager runs the manager binary against the test control plane with the operator's
// default Secret, no metrics or probe listeners, hourly resyncs and rechecks, and args (which override those defaults: the
// last value of a flag wins). Its output is kept, and printed if the test fails. The test's
// cleanup stops it if it still runs.
func startManager(t *testing.T, name string, args ...string) *managerProc {
	t.Helper()
	return startManagerAsShipped(t, name, append([]string{
		"--resync-interval", "1h",
		"--terminal-recheck-interval", "1h",
	}, args...)...)
}

// startManagerAsShipped runs the manager binary as startManager does, but with the manager's
// own defaults for everything except what every test must set (the control plane, the
// default Secret, no metrics or probe listeners) and args.
func startManagerAsShipped(t *testing.T, name string, args ...string) *managerProc {
	t.Helper()
	all := append([]string{
		"--kubeconfig", kubeconfig,
		"--default-api-key-secret", defaultSecretNamespace + "/" + defaultSecretName,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
	}, args...)
	m := &managerProc{name: name, out: &child.Output{}, done: make(chan struct{})}
	m.cmd = exec.Command(managerBin, all...)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start manager %s: %v", name, err)
	}
	m.started = time.Now()
	go func() {
		m.exitErr = m.cmd.Wait()
		m.exited = time.Now()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.stop(t)
		if t.Failed() {
			t.Logf("output of manager %s (last 8 KiB):\n%s", name, tail(m.out.String(), 8<<10))
		}
	})
	return m
}

// running reports whether the process has not exited.
func (m *managerProc) running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// requireRunning fails the test when the manager exited: it crashed.
func (m *managerProc) requireRunning(t *testing.T) {
	t.Helper()
	if !m.running() {
		t.Fatalf("manager %s exited (%v); last output:\n%s", m.name, m.exitErr, tail(m.out.String(), 4<<10))
	}
}

// stop sends SIGTERM and waits for the exit, killing the process after 20s.
func (m *managerProc) stop(t *testing.T) {
	t.Helper()
	if !m.running() {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		t.Errorf("manager %s did not stop within 20s of SIGTERM and was killed", m.name)
	}
}

// kill sends SIGKILL and waits for the exit.
func (m *managerProc) kill() {
	_ = m.cmd.Process.Kill()
	<-m.done
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// metricValue returns the value of an unlabelled sample in a metrics text.
func metricValue(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f, true
			}
		}
	}
	return 0, false
}

// newNamespace creates a namespace for the test, and deletes its Customers when the test ends,
// so that the managers of later tests do not see them.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rel-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := k8sClient.DeleteAllOf(ctx, &crmv1alpha1.Customer{}, client.InNamespace(ns.Name)); err != nil {
			t.Logf("delete the Customers of %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

func apiKeySecret(ns, name, key string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string][]byte{"apiKey": []byte(key)},
	}
}

// uniqueID returns a customer id no other test uses.
func uniqueID(prefix string, i int) string {
	return fmt.Sprintf("cust_%s_%d_%d", prefix, time.Now().UnixNano()%1_000_000_000, i)
}

// seed stores a record under id: John Doe of the docs, changed by mutate.
func seed(f *front, id string, mutate func(*sandbox.Customer)) {
	c := fixture.Record(id)
	if mutate != nil {
		mutate(&c)
	}
	f.PutCustomer(c)
}

// drifted changes the phone of a seeded record, so that its Customer needs one PATCH.
func drifted(c *sandbox.Customer) { c.Phone = "+1555000111" }

// matchingSpec declares every field of the seeded record as it is.
func matchingSpec(id string) crmv1alpha1.CustomerSpec { return fixture.Spec(id) }

func createCustomer(t *testing.T, ns, name string, spec crmv1alpha1.CustomerSpec) {
	t.Helper()
	c := &crmv1alpha1.Customer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := k8sClient.Create(context.Background(), c); err != nil {
		t.Fatalf("create Customer %s: %v", name, err)
	}
}

// eventually polls f until it returns nil, failing the test when timeout passes first.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// want is the state a Customer must reach: Ready's status and reason for its generation.
type want struct {
	name   string
	ready  metav1.ConditionStatus
	reason string
}

func synced(name string) want { return want{name, metav1.ConditionTrue, crmv1alpha1.ReasonSynced} }

func stalledAs(name, reason string) want { return want{name, metav1.ConditionFalse, reason} }

// readyState describes a Customer's Ready condition, and says whether it is the one wanted.
func readyState(c *crmv1alpha1.Customer, w want) (string, bool) {
	cond := apimeta.FindStatusCondition(c.Status.Conditions, crmv1alpha1.ConditionReady)
	if cond == nil {
		return "no Ready condition", false
	}
	ok := cond.Status == w.ready && cond.Reason == w.reason && cond.ObservedGeneration == c.Generation
	return fmt.Sprintf("Ready=%s/%s for generation %d of %d (%s)", cond.Status, cond.Reason,
		cond.ObservedGeneration, c.Generation, cond.Message), ok
}

// waitAll waits until every Customer of ns in wants is in its state, and returns how long that
// took.
func waitAll(t *testing.T, ns string, timeout time.Duration, wants ...want) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, timeout, func() error {
		var list crmv1alpha1.CustomerList
		if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		byName := map[string]*crmv1alpha1.Customer{}
		for i := range list.Items {
			byName[list.Items[i].Name] = &list.Items[i]
		}
		var pending []string
		for _, w := range wants {
			c, ok := byName[w.name]
			if !ok {
				pending = append(pending, w.name+": missing")
				continue
			}
			if state, ok := readyState(c, w); !ok {
				pending = append(pending, fmt.Sprintf("%s: %s, want %s/%s", w.name, state, w.ready, w.reason))
			}
		}
		if len(pending) > 0 {
			return fmt.Errorf("%d of %d Customers not in their state yet:\n  %s", len(pending), len(wants),
				strings.Join(pending, "\n  "))
		}
		return nil
	})
	return time.Since(start)
}

// getCustomer reads one Customer.
func getCustomer(t *testing.T, ns, name string) *crmv1alpha1.Customer {
	t.Helper()
	var c crmv1alpha1.Customer
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
		t.Fatalf("get Customer %s/%s: %v", ns, name, err)
	}
	return &c
}

// condition returns a Customer's condition of the given type.
func condition(c *crmv1alpha1.Customer, typ string) metav1.Condition {
	if cond := apimeta.FindStatusCondition(c.Status.Conditions, typ); cond != nil {
		return *cond
	}
	return metav1.Condition{}
}

// isExit reports whether err is the exit of a process killed by sig.
func isExit(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
