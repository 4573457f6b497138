package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

const (
	benchNamespace  = "bench"
	secretNamespace = "bench-system"
	secretName      = "tiquo-api-key"
	benchKey        = "sk_test_bench_0123456789"
	// limitedSecretName holds a key of its own for the rate-limited cold start.
	limitedSecretName = "tiquo-api-key-limited"
	limitedKey        = "sk_test_bench_limited_0123456789"
	// listPath is the path of the Tiquo list call (the drift scan's pages).
	listPath = "/v1/customers"
	// longResync keeps routine resyncs out of the scenarios that do not measure them.
	longResync = time.Hour
)

// bench is one run: the control plane, the sandbox, the benchmark's own client and watch,
// and the manager currently running.
type bench struct {
	cfg        config
	env        *envtest.Environment
	kc         client.WithWatch
	apiServer  *apiServerMetrics
	sb         *sandbox.Server
	kubeconfig string
	managerBin string
	workDir    string
	tracker    *tracker
	stopWatch  context.CancelFunc

	manager  *managerProcess
	managers int
	res      *results
}

// run performs every scenario of cfg and returns the figures. It stops every process it
// started before it returns, also when ctx is cancelled.
func run(ctx context.Context, cfg config) (res *results, err error) {
	cfg.derive()
	if cfg.assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set; run `make bench`, which builds the control plane")
	}
	if cfg.n <= 0 || cfg.workers <= 0 || cfg.rateLimit <= 0 {
		return nil, fmt.Errorf("-n, -workers and -rate-limit must be positive")
	}
	b := &bench{cfg: cfg, res: &results{cfg: cfg}}
	if b.workDir = cfg.workDir; b.workDir == "" {
		if b.workDir, err = os.MkdirTemp("", "tiquo-bench-"); err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(b.workDir) }()
	} else if err := os.MkdirAll(b.workDir, 0o755); err != nil {
		return nil, err
	}
	if b.managerBin = cfg.manager; b.managerBin == "" {
		b.logf("Building ./cmd/manager")
		if b.managerBin, err = buildManager(ctx, cfg.root, b.workDir); err != nil {
			return nil, err
		}
	}
	if err := b.setup(ctx); err != nil {
		b.teardown()
		return nil, err
	}
	defer b.teardown()
	return b.res, b.scenarios(ctx)
}

func (b *bench) scenarios(ctx context.Context) error {
	steps := []struct {
		name string
		skip bool
		f    func(context.Context) error
	}{
		{"measure the API server's status-write rate", false, b.measureStatusWriteRate},
		{"create the Customers", false, b.prepare},
		{"cold start", false, b.cold},
		{"measure the API server's status-write rate again", false, b.measureStatusWriteRate},
		{"restart in sync", false, b.restartInSync},
		{"rate-limited cold start", b.cfg.skipLimited, b.limitedCold},
		{"steady state with the drift scan", b.cfg.skipSteady, b.steadyWithDriftScan},
		{"steady state with per-Customer resyncs", b.cfg.skipSteady, b.steadyPerCustomerResync},
		{"drift correction with and without webhooks", b.cfg.skipDrift, b.driftCorrection},
	}
	for _, s := range steps {
		if s.skip {
			continue
		}
		if err := s.f(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.finishBounds()
	return b.stopManager(ctx)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.cfg.log, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// setup starts the control plane and the sandbox, writes a kubeconfig for the manager, and
// creates the namespaces and the API key Secret.
func (b *bench) setup(ctx context.Context) error {
	b.logf("Starting etcd and kube-apiserver from %s", b.cfg.assets)
	b.env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(b.cfg.root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: b.cfg.assets,
	}
	cfg, err := b.env.Start()
	if err != nil {
		b.env = nil
		return fmt.Errorf("start control plane: %w", err)
	}
	if err := b.writeKubeconfig(); err != nil {
		return err
	}
	// The benchmark's own requests are limited by nothing but the API server.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, -1
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := crmv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	if b.kc, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if b.apiServer, err = newAPIServerMetrics(cfg); err != nil {
		return err
	}
	for _, ns := range []string{benchNamespace, secretNamespace} {
		if err := b.kc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	for name, key := range map[string]string{secretName: benchKey, limitedSecretName: limitedKey} {
		if err := b.kc.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: secretNamespace, Name: name},
			StringData: map[string]string{"apiKey": key},
		}); err != nil {
			return fmt.Errorf("create the API key Secret %s: %w", name, err)
		}
	}

	if err := b.createWebhookSecret(ctx); err != nil {
		return err
	}

	rw := []string{sandbox.ScopeRead, sandbox.ScopeWrite}
	b.sb = sandbox.NewServer(sandbox.Options{
		Keys:           map[string][]string{benchKey: rw, limitedKey: rw},
		Faults:         sandbox.Faults{Latency: b.cfg.latency},
		RequestLogSize: max(10000, 8*b.cfg.n+2000),
	})
	b.logf("Tiquo sandbox at %s with latency %s", b.sb.URL, b.cfg.latency)

	watchCtx, cancel := context.WithCancel(context.Background())
	b.stopWatch = cancel
	b.tracker = newTracker(b.kc, benchNamespace)
	go b.tracker.run(watchCtx)
	return nil
}

func (b *bench) writeKubeconfig() error {
	user, err := b.env.ControlPlane.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add a user for the manager: %w", err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	b.kubeconfig = filepath.Join(b.workDir, "kubeconfig")
	return os.WriteFile(b.kubeconfig, raw, 0o600)
}

// teardown stops the manager, the watch, the sandbox and the control plane, in that order.
func (b *bench) teardown() {
	if b.manager != nil {
		if err := b.manager.stop(); err != nil {
			b.logf("Stopping the manager: %v", err)
		}
		b.manager = nil
	}
	if b.stopWatch != nil {
		b.stopWatch()
	}
	if b.sb != nil {
		b.sb.Close()
	}
	if b.env != nil {
		b.logf("Stopping kube-apiserver and etcd")
		if err := b.env.Stop(); err != nil {
			b.logf("Stopping the control plane: %v", err)
		}
	}
}

// startManager stops the running manager, if any, and starts a fresh one whose default API key
// is in the Secret named secret.
func (b *bench) startManager(ctx context.Context, purpose string, rateLimit int, resync time.Duration, secret string,
	extraFlags ...string) (*managerProcess, error) {
	if err := b.stopManager(ctx); err != nil {
		return nil, err
	}
	b.managers++
	m, err := startManager(managerArgs{
		binary:        b.managerBin,
		kubeconfig:    b.kubeconfig,
		baseURL:       b.sb.URL,
		defaultSecret: secretNamespace + "/" + secret,
		logPath:       filepath.Join(b.workDir, fmt.Sprintf("manager-%d.log", b.managers)),
		rateLimit:     rateLimit,
		workers:       b.cfg.workers,
		resync:        resync,
		extra:         append(slices.Clone(b.cfg.managerFlags), extraFlags...),
	})
	if err != nil {
		return nil, err
	}
	m.purpose = purpose
	b.manager = m
	b.logf("Manager %d started (pid %d, R=%d/min, resync %s %s), logging to %s", b.managers, m.Cmd.Process.Pid,
		rateLimit, resync, strings.Join(extraFlags, " "), m.LogPath)
	return m, nil
}

// stopManager records the memory figures of the running manager and stops it.
func (b *bench) stopManager(ctx context.Context) error {
	m := b.manager
	if m == nil {
		return nil
	}
	b.manager = nil
	var memErr error
	if err := m.exited(); err == nil {
		rss, heap, err := m.memory(ctx)
		if err != nil {
			memErr = fmt.Errorf("read the manager's memory: %w", err)
		}
		b.res.memory = append(b.res.memory, managerMemory{purpose: m.purpose, peakRSS: rss, heapInuse: heap})
		b.res.peakRSS = max(b.res.peakRSS, rss)
		b.res.heapInuse = max(b.res.heapInuse, heap)
	}
	return errors.Join(memErr, m.stop())
}
