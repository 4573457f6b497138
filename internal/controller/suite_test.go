package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/controller"
	"github.com/tiquo-operator/tiquo-operator/internal/logging"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// The suite runs the real reconciler in a real manager against a real kube-apiserver and
// etcd (envtest) and the Tiquo sandbox over HTTP on loopback. Every test works in a namespace
// of its own with customer ids of its own, and asserts on what the sandbox received.

const (
	keyReadWrite = "sk_test_rw_0123456789"
	keyReadOnly  = "sk_test_ro_0123456789"
	keyOther     = "sk_test_other_0123456789"

	defaultSecretNamespace = "tiquo-system"
	defaultSecretName      = "tiquo-default"

	// The receiver of Tiquo webhooks takes its signing secret from this Secret.
	webhookSecretName = "tiquo-webhook"
	webhookSecret     = "whsec_suite_0123456789"

	// Intervals of the manager under test, short so that resyncs (and drift scans) happen
	// within a test.
	resyncInterval  = 2 * time.Second
	terminalRecheck = time.Hour
	retryBase       = 200 * time.Millisecond
	retryMax        = 2 * time.Second

	// suiteRateLimit is the sandbox's budget per key and window: one no test spends, so that
	// every answer carries rate-limit headers, as Tiquo's do.
	suiteRateLimit = 1_000_000
)

var (
	k8sClient   client.Client
	sb          *sandbox.Server
	statusCount = &statusWrites{counts: map[string]int{}}
	managerLogs = &syncBuffer{}
	scheme      = runtime.NewScheme()
	// reconciler is the reconciler the manager runs.
	reconciler *controller.CustomerReconciler
)

// statusWrites counts the status writes the reconciler makes, per namespace/name.
type statusWrites struct {
	mu     sync.Mutex
	counts map[string]int
}

func (s *statusWrites) add(obj client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[obj.GetNamespace()+"/"+obj.GetName()]++
}

// forgetNamespace drops the counts of the Customers of a namespace.
func (s *statusWrites) forgetNamespace(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.counts {
		if strings.HasPrefix(k, ns+"/") {
			delete(s.counts, k)
		}
	}
}

func (s *statusWrites) get(ns, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[ns+"/"+name]
}

// syncBuffer collects the manager's log output at every verbosity.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped bool
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return len(p), nil
	}
	return b.buf.Write(p)
}

// discard makes the buffer drop (or again keep) what is written to it.
func (b *syncBuffer) discard(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropped = on
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run the tests with `make test`")
		return 1
	}
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, crmv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	// Everything the manager logs, at the highest verbosity a user can ask for, lands in
	// managerLogs through the same verbosity cap the manager binary installs, so a test can
	// prove no personal data is ever logged.
	logger := logging.CapVerbosity(zap.New(zap.WriteTo(managerLogs), zap.Level(zapcore.Level(-10))))
	ctrl.SetLogger(logger)

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start control plane: %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	keys := map[string][]string{
		keyReadWrite: {sandbox.ScopeRead, sandbox.ScopeWrite},
		keyReadOnly:  {sandbox.ScopeRead},
		keyOther:     {sandbox.ScopeRead, sandbox.ScopeWrite},
	}
	for _, k := range rotatedKeys() {
		keys[k] = []string{sandbox.ScopeRead, sandbox.ScopeWrite}
	}
	sb = sandbox.NewServer(sandbox.Options{
		Keys:               keys,
		RateLimitPerMinute: suiteRateLimit,
		RateLimitWindow:    2 * time.Second,
		// Tests count requests over the whole run; nothing may roll out of the log.
		RequestLogSize: 1_000_000,
	})
	defer sb.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startManager(ctx, cfg, logger); err != nil {
		fmt.Fprintf(os.Stderr, "start manager: %v\n", err)
		return 1
	}
	return m.Run()
}

func startManager(ctx context.Context, cfg *rest.Config, logger logr.Logger) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   cache.Options{DefaultTransform: controller.CacheTransform()},
		Logger:  logger,
	})
	if err != nil {
		return err
	}
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: defaultSecretNamespace}}); err != nil {
		return err
	}
	if err := k8sClient.Create(ctx, apiKeySecret(defaultSecretNamespace, defaultSecretName, keyReadWrite)); err != nil {
		return err
	}
	if err := k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: defaultSecretNamespace, Name: webhookSecretName},
		Data:       map[string][]byte{"secret": []byte(webhookSecret)},
	}); err != nil {
		return err
	}

	api, err := tiquo.New(tiquo.Config{BaseURL: sb.URL, Timeout: 2 * time.Second, Logger: logger.WithName("tiquo"),
		Registerer: metrics.Registry})
	if err != nil {
		return err
	}
	// The reconciler's status writes are counted on their way to the API server.
	counted := countingClient{Client: mgr.GetClient()}
	r := &controller.CustomerReconciler{
		Client:                  counted,
		API:                     api,
		DefaultSecret:           &controller.SecretKeySelector{Namespace: defaultSecretNamespace, Name: defaultSecretName, Key: "apiKey"},
		ResyncInterval:          resyncInterval,
		TerminalRecheckInterval: terminalRecheck,
		RetryBaseDelay:          retryBase,
		RetryMaxDelay:           retryMax,
		TransientGracePeriod:    time.Hour,
		APICallTimeout:          3 * time.Second,
		MaxConcurrentReconciles: 4,
		// The drift scan is on, as the manager ships.
		DriftScan: true,
		// The webhook receiver listens; the sandbox delivers to it only in the tests that
		// turn its webhooks on (webhook_test.go).
		Webhook: &controller.WebhookOptions{BindAddress: "127.0.0.1:0",
			Secret: controller.SecretKeySelector{Namespace: defaultSecretNamespace, Name: webhookSecretName, Key: "secret"}},
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	reconciler = r
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager stopped: %v\n", err)
			os.Exit(1)
		}
	}()
	return nil
}

// countingClient counts the status writes made through it.
type countingClient struct{ client.Client }

func (c countingClient) Status() client.SubResourceWriter {
	return countingStatus{c.Client.Status()}
}

type countingStatus struct{ client.SubResourceWriter }

func (s countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	statusCount.add(obj)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (s countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	statusCount.add(obj)
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func apiKeySecret(ns, name, key string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string][]byte{"apiKey": []byte(key)},
	}
}

// eventsAbout returns the events recorded about a Customer.
func eventsAbout(t *testing.T, c *crmv1alpha1.Customer) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(c.Namespace)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	var about []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == c.Name && e.Regarding.Kind == "Customer" {
			about = append(about, e)
		}
	}
	return about
}

// eventMessages returns the messages of the events recorded about a Customer.
func eventMessages(t *testing.T, c *crmv1alpha1.Customer) []string {
	t.Helper()
	var msgs []string
	for _, e := range eventsAbout(t, c) {
		msgs = append(msgs, e.Note)
	}
	return msgs
}

// eventsFor returns the reasons of the events recorded about a Customer, oldest first.
func eventsFor(t *testing.T, c *crmv1alpha1.Customer) []string {
	t.Helper()
	var reasons []string
	for _, e := range eventsAbout(t, c) {
		reasons = append(reasons, e.Reason)
	}
	return reasons
}
