// Command demo shows tiquo-operator at work on one machine with nothing but Go: it starts a
// local kube-apiserver and etcd (the binaries hack/setup-envtest.sh builds), the Tiquo sandbox
// seeded from hack/demo/customers.json, and the real manager binary; applies the sample
// Customers; and prints them as they settle, with the POST and PATCH bodies Tiquo received
// and the records the Customers without customerId were bound to (one created, one adopted by
// email). It then deletes the sample whose deletionPolicy is Archive and shows its record
// archived. It runs until interrupted, then stops everything it started and exits 0.
//
// With TIQUO_BASE_URL and TIQUO_API_KEY set it talks to that Tiquo instead of the sandbox.
//
// Run it with `make demo`.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tiquo-operator/tiquo-operator/internal/child"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

const (
	demoKey         = "sk_test_demo"
	secretNamespace = "tiquo-system"
	secretName      = "tiquo-api-key"
	sampleNamespace = "default"
)

func main() {
	var o options
	flag.StringVar(&o.manager, "manager", "bin/manager", "The manager binary to run.")
	flag.StringVar(&o.workDir, "work-dir", "bin/demo", "Where to write the kubeconfig and the manager's log.")
	flag.StringVar(&o.seed, "seed", "hack/demo/customers.json", "The sandbox's seed file.")
	flag.StringVar(&o.samples, "samples", "config/samples", "The kustomization of sample Customers to apply.")
	flag.StringVar(&o.crds, "crds", "config/crd/bases", "The CRD directory.")
	flag.DurationVar(&o.settle, "settle-timeout", time.Minute, "How long to wait for the samples to settle.")
	flag.Parse()
	o.assets = os.Getenv("KUBEBUILDER_ASSETS")
	o.baseURL, o.apiKey = os.Getenv("TIQUO_BASE_URL"), os.Getenv("TIQUO_API_KEY")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	manager, workDir, seed, samples, crds, assets string
	baseURL, apiKey                               string
	settle                                        time.Duration
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	if o.assets == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set; run `make demo`, which builds the control plane")
	}
	if (o.baseURL == "") != (o.apiKey == "") {
		return errors.New("set both TIQUO_BASE_URL and TIQUO_API_KEY to use a real Tiquo, or neither for the sandbox")
	}
	if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }

	say("Starting etcd and kube-apiserver from %s", o.assets)
	env, cfg, kubeconfig, err := startControlPlane(o)
	if err != nil {
		return err
	}
	defer func() {
		say("Stopping kube-apiserver and etcd")
		if stopErr := env.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	kubectl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(o.assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}

	sb, baseURL, apiKey, err := startTiquo(o)
	if err != nil {
		return err
	}
	if sb != nil {
		defer sb.Close()
		say("Tiquo sandbox at %s with the customers of %s", baseURL, o.seed)
	} else {
		say("Using the Tiquo API at %s", baseURL)
	}
	if err := createKeySecret(ctx, cfg, apiKey); err != nil {
		return err
	}
	say("Created the API key Secret %s/%s", secretNamespace, secretName)

	mgr, err := startManager(o, kubeconfig, baseURL)
	if err != nil {
		return err
	}
	defer func() {
		say("Stopping the manager")
		if stopErr := mgr.Stop(10 * time.Second); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	say("Manager started (pid %d), logging to %s", mgr.Cmd.Process.Pid, mgr.LogPath)

	outText, err := kubectl("apply", "-n", sampleNamespace, "-k", o.samples)
	if err != nil {
		return fmt.Errorf("apply samples: %w\n%s", err, outText)
	}
	say("Applied the samples in %s:\n%s", o.samples, strings.TrimRight(outText, "\n"))

	settled := watchCustomers(ctx, out, kubectl, o.settle, mgr)
	if !settled && ctx.Err() == nil {
		say("The samples did not all settle within %s; see %s", o.settle, mgr.LogPath)
	}
	if sb != nil {
		printWrites(out, "POST, PATCH and DELETE requests Tiquo received:", sb.Requests())
	}
	printEvents(ctx, out, kubectl)
	if settled {
		deleteArchived(ctx, out, kubectl, sb)
	}
	say("The control plane keeps running. In another terminal:\n\n    export KUBECONFIG=%s\n    %s get customers -A\n    %s describe customer jane-smith\n\nPress Ctrl-C to stop everything.",
		kubeconfig, filepath.Join(o.assets, "kubectl"), filepath.Join(o.assets, "kubectl"))
	select {
	case <-ctx.Done():
		fmt.Fprintln(out)
	case <-mgr.Done():
		return fmt.Errorf("the manager exited: %w; see %s", mgr.Err(), mgr.LogPath)
	}
	return nil
}

// watchCustomers prints `kubectl get customers` whenever a Customer's readiness changes,
// until every Customer reports a Ready condition for its current generation or the timeout
// passes. It reports whether they all settled.
func watchCustomers(ctx context.Context, out io.Writer, kubectl func(...string) (string, error),
	timeout time.Duration, mgr *child.Process) bool {
	deadline := time.After(timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := ""
	for {
		// One line per Customer: name, generation, Ready's generation and reason.
		state, err := kubectl("get", "customers", "-n", sampleNamespace, "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.metadata.generation} {.status.conditions[?(@.type=="Ready")].observedGeneration} {.status.conditions[?(@.type=="Ready")].reason}{"\n"}{end}`)
		if err == nil && state != last {
			last = state
			if table, err := kubectl("get", "customers", "-n", sampleNamespace); err == nil {
				fmt.Fprintf(out, "\n$ kubectl get customers\n%s", table)
			}
			if settled(state) {
				fmt.Fprintln(out)
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-mgr.Done():
			return false
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
}

// settled reports whether every line of state shows a Ready reason for the current generation.
func settled(state string) bool {
	lines := strings.Split(strings.TrimSpace(state), "\n")
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 || f[1] != f[2] {
			return false
		}
	}
	return len(lines) > 0 && lines[0] != ""
}

// printWrites shows, under title, the bodies of the POSTs, PATCHes and DELETEs among requests,
// as the sandbox received them.
func printWrites(out io.Writer, title string, requests []sandbox.Request) {
	fmt.Fprintln(out, "==> "+title)
	n := 0
	for _, r := range requests {
		if r.Method != "POST" && r.Method != "PATCH" && r.Method != "DELETE" {
			continue
		}
		n++
		var body bytes.Buffer
		if err := json.Compact(&body, r.Body); err != nil {
			body.Write(r.Body)
		}
		fmt.Fprintf(out, "    %s %s %s -> %d\n", r.Method, r.Path, body.String(), r.Status)
	}
	if n == 0 {
		fmt.Fprintln(out, "    (none)")
	}
}

// printEvents shows the events that say which record each Customer without customerId was
// bound to: Created or Adopted. Events are written in the background, so it waits a few
// seconds for one per such Customer.
func printEvents(ctx context.Context, out io.Writer, kubectl func(...string) (string, error)) {
	declared := 0
	if text, err := kubectl("get", "customers", "-n", sampleNamespace, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.spec.customerId}{"\n"}{end}`); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			if len(strings.Fields(line)) == 1 {
				declared++
			}
		}
	}
	var bound []string
	for deadline := time.Now().Add(5 * time.Second); ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
		text, err := kubectl("get", "events", "-n", sampleNamespace, "--sort-by", ".metadata.creationTimestamp", "-o",
			`jsonpath={range .items[?(@.involvedObject.kind=="Customer")]}{.reason}{"\t"}{.involvedObject.name}{"\t"}{.message}{"\n"}{end}`)
		bound = bound[:0]
		if err == nil {
			for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
				if f := strings.SplitN(line, "\t", 3); len(f) == 3 && (f[0] == "Created" || f[0] == "Adopted") {
					bound = append(bound, fmt.Sprintf("    %-8s %-14s %s", f[0], f[1], f[2]))
				}
			}
		}
		if len(bound) >= declared || time.Now().After(deadline) {
			break
		}
	}
	fmt.Fprintln(out, "==> How the Customers without customerId were bound (kubectl get events):")
	if len(bound) == 0 {
		fmt.Fprintln(out, "    (no Created or Adopted event yet)")
	}
	for _, l := range bound {
		fmt.Fprintln(out, l)
	}
}

// archivedSample is the sample whose deletionPolicy is Archive; the demo deletes it.
const archivedSample = "grace-hopper"

// deleteArchived deletes the sample with deletionPolicy Archive, waits until the operator has
// archived its record and let the Customer go, and shows the request and the record.
func deleteArchived(ctx context.Context, out io.Writer, kubectl func(...string) (string, error), sb *sandbox.Server) {
	id, err := kubectl("get", "customer", archivedSample, "-n", sampleNamespace, "-o", "jsonpath={.status.customerId}")
	if err != nil || id == "" {
		fmt.Fprintf(out, "==> %s is not bound to a record; not deleting it\n", archivedSample)
		return
	}
	fmt.Fprintf(out, "==> Deleting %s (deletionPolicy: Archive, record %s)\n", archivedSample, id)
	before := 0
	if sb != nil {
		before = len(sb.Requests())
	}
	text, err := kubectl("delete", "customer", archivedSample, "-n", sampleNamespace, "--timeout", "60s")
	fmt.Fprintf(out, "\n$ kubectl delete customer %s\n%s", archivedSample, text)
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(out, "==> %s was not deleted: %v\n", archivedSample, err)
		}
		return
	}
	if sb == nil {
		fmt.Fprintf(out, "==> Tiquo archived %s: it is hidden from Tiquo's lists, and PATCH {\"archived\": false} restores it\n\n", id)
		return
	}
	printWrites(out, "What the deletion sent to Tiquo:", sb.Requests()[before:])
	rec, ok := sb.Customer(id)
	if !ok {
		fmt.Fprintf(out, "==> The sandbox has no record %s any more\n\n", id)
		return
	}
	fmt.Fprintf(out, "==> Record %s in the sandbox: archived=%t (hidden from lists and the email lookup; "+
		"PATCH {\"archived\": false} restores it)\n\n", rec.ID, rec.Archived)
}

// startControlPlane starts etcd and kube-apiserver with the CRD installed, and writes a
// kubeconfig for an administrator into the work directory.
func startControlPlane(o options) (*envtest.Environment, *rest.Config, string, error) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{o.crds},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: o.assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, "", fmt.Errorf("start control plane: %w", err)
	}
	kubeconfig := filepath.Join(o.workDir, "kubeconfig")
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var raw []byte
		if raw, err = user.KubeConfig(); err == nil {
			err = os.WriteFile(kubeconfig, raw, 0o600)
		}
	}
	if err != nil {
		_ = env.Stop()
		return nil, nil, "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return env, cfg, kubeconfig, nil
}

// startTiquo starts the sandbox seeded from o.seed, unless o names a real Tiquo. It returns
// the sandbox (nil for a real Tiquo), the base URL and the API key to use.
func startTiquo(o options) (*sandbox.Server, string, string, error) {
	if o.baseURL != "" {
		return nil, o.baseURL, o.apiKey, nil
	}
	seed, err := readSeed(o.seed)
	if err != nil {
		return nil, "", "", err
	}
	sb := sandbox.NewServer(sandbox.Options{Keys: map[string][]string{demoKey: {sandbox.ScopeRead, sandbox.ScopeWrite}}})
	for _, c := range seed {
		sb.PutCustomer(c)
	}
	return sb, sb.URL, demoKey, nil
}

// createKeySecret stores the API key in the Secret the manager uses by default.
func createKeySecret(ctx context.Context, cfg *rest.Config, apiKey string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secretNamespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err = cs.CoreV1().Secrets(secretNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName},
		StringData: map[string]string{"apiKey": apiKey},
	}, metav1.CreateOptions{})
	return err
}

func readSeed(path string) ([]sandbox.Customer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var seed []sandbox.Customer
	if err := json.Unmarshal(b, &seed); err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return seed, nil
}
