package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// kubeProxy stands between a manager and the API server and answers the first few status
// patches of every Customer with 409 Conflict, as an API server does when another writer got
// there first.
type kubeProxy struct {
	srv        *httptest.Server
	kubeconfig string

	mu        sync.Mutex
	conflicts int // per Customer
	injected  map[string]int
	passed    map[string]int
}

func newKubeProxy(t *testing.T, conflicts int) *kubeProxy {
	t.Helper()
	rp := apiServerProxy(t)
	p := &kubeProxy{conflicts: conflicts, injected: map[string]int{}, passed: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := statusPatchOf(r); ok {
			p.mu.Lock()
			inject := p.injected[name] < p.conflicts
			if inject {
				p.injected[name]++
			} else {
				p.passed[name]++
			}
			p.mu.Unlock()
			if inject {
				status := apierrors.NewConflict(schema.GroupResource{Group: crmv1alpha1.GroupVersion.Group, Resource: "customers"},
					name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again")).ErrStatus
				status.Kind, status.APIVersion = "Status", "v1"
				body, _ := json.Marshal(status)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write(body)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	p.kubeconfig = proxyKubeconfig(t, p.srv.URL)
	return p
}

// apiServerProxy returns a reverse proxy to the test control plane that authenticates as its
// admin, for a proxy of the test's between a manager and the API server.
func apiServerProxy(t *testing.T) *httputil.ReverseProxy {
	t.Helper()
	target, err := url.Parse(restCfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rest.TransportFor(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	return &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:     tr,
		FlushInterval: -1, // Watches stream.
	}
}

// statusPatchOf returns the name of the Customer whose status r patches, if it does.
func statusPatchOf(r *http.Request) (string, bool) {
	if r.Method != http.MethodPatch || !strings.Contains(r.URL.Path, "/customers/") || !strings.HasSuffix(r.URL.Path, "/status") {
		return "", false
	}
	return strings.TrimSuffix(r.URL.Path[strings.LastIndex(r.URL.Path, "/customers/")+len("/customers/"):], "/status"), true
}

// proxyKubeconfig writes a kubeconfig that points at a proxy of the test's, which adds the
// credentials itself.
func proxyKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: proxy
  cluster: {server: %q}
users:
- name: proxy
  user: {}
contexts:
- name: proxy
  context: {cluster: proxy, user: proxy}
current-context: proxy
`, server)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *kubeProxy) counts(name string) (injected, passed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected[name], p.passed[name]
}

// TestStatusPatchConflicts answers the first two status patches of every Customer with 409
// Conflict: the manager retries, every Customer ends Synced with its status written, and no
// record is PATCHed in Tiquo more than once.
func TestStatusPatchConflicts(t *testing.T) {
	const conflicts = 2
	f := newFront(t, sandbox.Options{})
	ns := newNamespace(t)
	proxy := newKubeProxy(t, conflicts)
	m := startManager(t, "conflicts", "--kubeconfig", proxy.kubeconfig, "--tiquo-base-url", f.base("conflicts"))

	const n = 6
	ids := map[string]string{}
	wants := make([]want, 0, n)
	for i := range n {
		id := uniqueID("conflict", i)
		seed(f, id, drifted)
		name := fmt.Sprintf("c%d", i)
		ids[name] = id
		createCustomer(t, ns, name, matchingSpec(id))
		wants = append(wants, synced(name))
	}
	took := waitAll(t, ns, 90*time.Second, wants...)
	m.requireRunning(t)

	calls := f.log()
	// Events are written in the background: wait for one per Customer.
	var evs eventsv1.EventList
	eventually(t, 30*time.Second, func() error {
		if err := k8sClient.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		if n := len(where(evs.Items, func(e eventsv1.Event) bool { return e.Reason == "Patched" })); n < len(ids) {
			return fmt.Errorf("%d Patched events, want %d", n, len(ids))
		}
		return nil
	})
	totalGets := 0
	for name, id := range ids {
		injected, passed := proxy.counts(name)
		if injected != conflicts || passed == 0 {
			t.Errorf("%s: %d status patches answered 409 and %d passed; want %d and at least 1", name, injected, passed, conflicts)
		}
		mine := where(calls, forID(id))
		if got := len(where(mine, patches(false))); got != 1 {
			t.Errorf("%s: %d PATCHes to Tiquo, want exactly 1 however often the status write is retried", name, got)
		}
		totalGets += len(mine) - len(where(mine, patches(false)))
		// The PATCH happened: status and events say so even though the first writes failed.
		c := getCustomer(t, ns, name)
		if !slices.Equal(c.Status.LastPatchedFields, []string{"phone"}) {
			t.Errorf("%s: status.lastPatchedFields = %v after a PATCH of phone whose status write met a conflict",
				name, c.Status.LastPatchedFields)
		}
		patched := false
		for _, e := range evs.Items {
			patched = patched || e.Regarding.Name == name && e.Reason == "Patched"
		}
		if !patched {
			t.Errorf("%s: no Patched event after a PATCH whose status write met a conflict", name)
		}
	}
	t.Logf("conflicts: %d Customers Synced in %s through %d injected conflicts each; %d PATCHes, %d GETs to Tiquo",
		n, took.Round(time.Millisecond), conflicts, len(where(calls, patches(false))), totalGets)
}

// TestAPIServerRestart stops the API server while the manager is patching records (Tiquo answers
// slowly, so several reconciles are in flight) and starts it again: the manager keeps running,
// every Customer ends Synced, and no record is PATCHed twice.
func TestAPIServerRestart(t *testing.T) {
	f := newFront(t, sandbox.Options{Faults: sandbox.Faults{Latency: 300 * time.Millisecond}})
	ns := newNamespace(t)
	m := startManager(t, "restart", "--tiquo-base-url", f.base("restart"), "--max-concurrent-reconciles", "4")

	const n = 16
	ids := map[string]string{}
	wants := make([]want, 0, n)
	for i := range n {
		id := uniqueID("apirestart", i)
		seed(f, id, drifted)
		name := fmt.Sprintf("c%d", i)
		ids[name] = id
		createCustomer(t, ns, name, matchingSpec(id))
		wants = append(wants, synced(name))
	}
	// Stop the API server once the manager is patching.
	eventually(t, 60*time.Second, func() error {
		if got := len(where(f.log(), patches(true))); got < 2 {
			return fmt.Errorf("%d PATCHes so far", got)
		}
		return nil
	})
	stopping := time.Now()
	refusing, startAPIServer := stopAPIServer(t)
	atStop := len(where(f.log(), func(c call) bool { return patches(true)(c) && c.Start.Before(refusing) }))
	time.Sleep(3 * time.Second)
	m.requireRunning(t)
	startAPIServer()
	restarted := time.Now()
	duringOutage := len(where(f.log(), func(c call) bool { return c.Start.After(refusing) && c.Start.Before(restarted) }))

	converged := waitAll(t, ns, 120*time.Second, wants...)
	m.requireRunning(t)
	calls := f.log()
	for name, id := range ids {
		if got := len(where(calls, func(c call) bool { return forID(id)(c) && patches(false)(c) })); got != 1 {
			t.Errorf("%s: %d PATCHes to Tiquo, want exactly 1", name, got)
		}
		// Status reports the PATCH even when the write that first reported it failed.
		if c := getCustomer(t, ns, name); !slices.Equal(c.Status.LastPatchedFields, []string{"phone"}) {
			t.Errorf("%s: status.lastPatchedFields = %v, want [phone]", name, c.Status.LastPatchedFields)
		}
	}
	t.Logf("API server restart: refused connections %s after SIGTERM, with %d of %d records patched; down for %s, "+
		"in which the manager made %d Tiquo calls; all Synced %s after it was back",
		refusing.Sub(stopping).Round(time.Millisecond), atStop, n, restarted.Sub(refusing).Round(time.Millisecond),
		duringOutage, converged.Round(time.Millisecond))
}

// TestManagerKilledMidReconcile SIGKILLs the manager while it is patching records (Tiquo answers
// slowly, so many reconciles are in flight) and starts a new one: every Customer ends in its
// right state, a change is PATCHed exactly once unless its PATCH was in flight at the kill (then
// at most twice), and a terminal outcome is tried again at most once by the new manager.
func TestManagerKilledMidReconcile(t *testing.T) {
	f := newFront(t, sandbox.Options{Faults: sandbox.Faults{Latency: 300 * time.Millisecond}})
	ns := newNamespace(t)
	old := startManager(t, "old", "--tiquo-base-url", f.base("old"), "--max-concurrent-reconciles", "8",
		"--tiquo-rate-limit", "6000")

	type customer struct {
		id   string
		want want
	}
	customers := map[string]customer{}
	add := func(name, id string, spec crmv1alpha1.CustomerSpec, w want) {
		customers[name] = customer{id: id, want: w}
		createCustomer(t, ns, name, spec)
	}
	for i := range 18 {
		id := uniqueID("kill", i)
		seed(f, id, drifted)
		name := fmt.Sprintf("drifted-%d", i)
		add(name, id, matchingSpec(id), synced(name))
	}
	for i := range 2 {
		id := uniqueID("killsync", i)
		seed(f, id, nil)
		name := fmt.Sprintf("in-sync-%d", i)
		add(name, id, matchingSpec(id), synced(name))

		missing := uniqueID("killmissing", i)
		name = fmt.Sprintf("missing-%d", i)
		add(name, missing, crmv1alpha1.CustomerSpec{CustomerID: missing, Notes: ptr.To("x")},
			stalledAs(name, crmv1alpha1.ReasonNotFound))

		id = uniqueID("killconflict", i)
		seed(f, id, nil)
		owner := id + "_owner"
		seed(f, owner, func(c *sandbox.Customer) { c.Email = "taken-" + id + "@example.com" })
		name = fmt.Sprintf("conflict-%d", i)
		add(name, id, crmv1alpha1.CustomerSpec{CustomerID: id, Email: ptr.To("taken-" + id + "@example.com")},
			stalledAs(name, crmv1alpha1.ReasonEmailConflict))
	}

	// Kill it once a few records are patched and a PATCH is on its way.
	eventually(t, 60*time.Second, func() error {
		calls := f.log()
		done := len(where(calls, patches(true)))
		inFlight := len(where(calls, func(c call) bool { return c.Method == http.MethodPatch && c.End.IsZero() }))
		if done < 4 || inFlight == 0 {
			return fmt.Errorf("%d PATCHes done and %d in flight so far", done, inFlight)
		}
		return nil
	})
	killed := time.Now()
	old.kill()
	if !isExit(old.exitErr, syscall.SIGKILL) {
		t.Fatalf("the old manager exited with %v, not by SIGKILL", old.exitErr)
	}
	// The ids with a request in flight at the kill, and what the old manager got done.
	inFlight := map[string]bool{}
	byOld := f.log()
	for _, c := range byOld {
		if !c.Start.After(killed) && (c.End.IsZero() || c.End.After(killed)) {
			inFlight[c.Path] = true
		}
	}
	oldPatches := len(where(byOld, patches(false)))

	startManager(t, "new", "--tiquo-base-url", f.base("new"), "--max-concurrent-reconciles", "8", "--tiquo-rate-limit", "6000")
	wants := make([]want, 0, len(customers))
	for _, c := range customers {
		wants = append(wants, c.want)
	}
	converged := waitAll(t, ns, 120*time.Second, wants...)

	calls := f.log()
	for name, c := range customers {
		mine := where(calls, forID(c.id))
		all, ok := len(where(mine, patches(false))), len(where(mine, patches(true)))
		switch {
		case strings.HasPrefix(name, "drifted"):
			limit := 1
			if inFlight[itemPath(c.id)] {
				limit = 2
			}
			if ok < 1 || all > limit {
				t.Errorf("%s: %d PATCHes (%d successful); want 1 (at most 2 when in flight at the kill: %v)",
					name, all, ok, inFlight[itemPath(c.id)])
			}
			if rec, _ := f.Customer(c.id); rec.Phone != "+1987654321" {
				t.Errorf("%s: the record's phone is %q", name, rec.Phone)
			}
		case strings.HasPrefix(name, "conflict"):
			// One attempt per manager: the new one knows nothing of the old one's outcome.
			if all < 1 || all > 2 || ok != 0 {
				t.Errorf("%s: %d PATCHes (%d successful); want 1 or 2 attempts, none successful", name, all, ok)
			}
		default:
			if all != 0 {
				t.Errorf("%s: %d PATCHes, want none", name, all)
			}
		}
	}
	cutOff := where(calls, func(c call) bool {
		return c.Manager == "old" && c.Method == http.MethodPatch && c.End.After(killed)
	})
	twice := 0
	for _, n := range countBy(calls, patches(true)) {
		if n > 1 {
			twice++
		}
	}
	t.Logf("kill: the old manager sent %d PATCHes, %d of them in flight at the kill (Tiquo applied them: %d answered 2xx); "+
		"%d records had a request in flight; the new manager sent %d PATCHes; %d records were patched twice; "+
		"all %d Customers in their state %s after the restart", oldPatches, len(cutOff), len(where(cutOff, patches(true))),
		len(inFlight), len(where(calls, func(c call) bool { return c.Manager == "new" && patches(false)(c) })), twice,
		len(customers), converged.Round(time.Millisecond))
}

// stopAPIServer stops kube-apiserver with SIGTERM, as env.ControlPlane.APIServer.Stop does. It
// stops accepting connections within a second or two but then drains open watches for up to a
// minute (envtest kills it after 20s), so once the port refuses connections it gets a few
// seconds to exit and is then killed. The test's cleanup starts it again unless the test calls
// the function returned, which does.
func stopAPIServer(t *testing.T) (refusing time.Time, start func()) {
	t.Helper()
	pid := childPID(t, "kube-apiserver")
	down := true
	t.Cleanup(func() {
		if down {
			if err := env.ControlPlane.APIServer.Start(); err != nil {
				t.Errorf("start the API server after the test: %v", err)
			}
		}
	})
	addr := net.JoinHostPort(env.ControlPlane.APIServer.Address, env.ControlPlane.APIServer.Port)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM kube-apiserver: %v", err)
	}
	sent := time.Now()
	eventually(t, 30*time.Second, func() error {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		_ = conn.Close()
		return fmt.Errorf("kube-apiserver still accepts connections %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	})
	refusing = time.Now()
	for deadline := refusing.Add(3 * time.Second); processAlive(pid) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if processAlive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for processAlive(pid) {
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("kube-apiserver refused connections %s after SIGTERM; still draining watches 3s later, it was killed",
			refusing.Sub(sent).Round(time.Millisecond))
	} else {
		t.Logf("kube-apiserver exited %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	}
	// envtest notices the exit: its Stop then only releases what it holds.
	eventually(t, 10*time.Second, env.ControlPlane.APIServer.Stop)
	return refusing, func() {
		t.Helper()
		if err := env.ControlPlane.APIServer.Start(); err != nil {
			t.Fatalf("start the API server again: %v", err)
		}
		down = false
	}
}

// childPID returns the pid of this process's child with the given command name.
func childPID(t *testing.T, comm string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := procStat(pid)
		if len(f) > 3 && f[1] == comm && f[3] == self {
			return pid
		}
	}
	t.Fatalf("no child process %s", comm)
	return 0
}

// procStat returns /proc/pid/stat split into fields, with the command name as field 1.
func procStat(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil
	}
	return append([]string{strings.TrimSpace(s[:open]), s[open+1 : end]}, strings.Fields(s[end+1:])...)
}

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	f := procStat(pid)
	return len(f) > 2 && f[2] != "Z"
}
