// Command manager runs the tiquo-operator controller manager: it keeps Tiquo customer records
// in step with the Customer objects in the cluster.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/controller"
	"github.com/tiquo-operator/tiquo-operator/internal/logging"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
	"github.com/tiquo-operator/tiquo-operator/internal/version"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(crmv1alpha1.AddToScheme(scheme))
}

// operatorFlags are the flags of the operator itself, beside the scaffold's.
type operatorFlags struct {
	baseURL                 string
	defaultSecret           string
	rateLimit               int
	maxConcurrentReconciles int
	resyncInterval          time.Duration
	terminalRecheck         time.Duration
	transientGrace          time.Duration
	caFile                  string
	driftScan               bool
	watchNamespaces         string
	webhookBindAddress      string
	webhookSecret           string
	webhookTolerance        time.Duration
	deletionPolicies        string
}

func (f *operatorFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.baseURL, "tiquo-base-url", "https://api.tiquo.co",
		"The base URL of the Tiquo API; the operator calls <base>/v1/customers.")
	fs.StringVar(&f.defaultSecret, "default-api-key-secret", "",
		"The Secret holding the API key for Customers without spec.apiKeySecretRef, as namespace/name "+
			"(entry apiKey) or namespace/name:key. Empty: such Customers report CredentialsNotFound.")
	fs.IntVar(&f.rateLimit, "tiquo-rate-limit", 1000,
		"The Tiquo plan's request limit per minute and API key, shared by all workers.")
	fs.IntVar(&f.maxConcurrentReconciles, "max-concurrent-reconciles", 8, "The number of Customers reconciled at once.")
	fs.DurationVar(&f.resyncInterval, "resync-interval", 10*time.Minute,
		"How often an in-sync record is checked for changes made outside Git.")
	fs.DurationVar(&f.terminalRecheck, "terminal-recheck-interval", 30*time.Minute,
		"How often a Customer in a terminal state (NotFound, EmailConflict, Unauthorized, ...) is checked "+
			"again when neither it nor its Secret changes.")
	fs.DurationVar(&f.transientGrace, "transient-error-grace-period", 10*time.Minute,
		"How long Tiquo may fail routine resyncs of an in-sync Customer before it is reported not Ready.")
	fs.BoolVar(&f.driftScan, "drift-scan", true,
		"Find records changed outside Git by paging through each account's customer list once per resync "+
			"interval (100 records a call) instead of reading every record, for each API key where that costs fewer calls.")
	fs.StringVar(&f.watchNamespaces, "watch-namespaces", "",
		"The namespaces whose Customers the operator manages, as a comma-separated list (a,b); empty: every namespace. "+
			"The default API key Secret may live outside them. With a list, the operator needs RBAC in those namespaces only "+
			"(config/namespaced, docs/install.md).")
	fs.StringVar(&f.webhookBindAddress, "webhook-bind-address", "0",
		"The address the receiver of Tiquo webhooks binds to, such as :9443; it takes POSTs on "+controller.WebhookPath+
			" and reconciles a Customer as soon as Tiquo says its record changed (docs/webhooks.md). "+
			"0 (the default) runs no receiver: drift is found by the scan every --resync-interval.")
	fs.StringVar(&f.webhookSecret, "webhook-secret", "",
		"The Secret holding the webhooks' signing secret, as namespace/name (entry "+controller.DefaultWebhookSecretKey+
			") or namespace/name:key; required with --webhook-bind-address.")
	fs.DurationVar(&f.webhookTolerance, "webhook-timestamp-tolerance", controller.DefaultWebhookTolerance,
		"How far a webhook's X-Tiquo-Timestamp may be from the manager's clock before the delivery is refused as stale.")
	fs.StringVar(&f.deletionPolicies, "allowed-deletion-policies", "Orphan,Archive,Delete",
		"The spec.deletionPolicy values Customers may use, comma-separated; Orphan is always allowed. "+
			"A Customer asking for another says so in its DeletionPolicy condition and deleting it leaves the record. "+
			"Orphan,Archive forbids deleting Tiquo records.")
	fs.StringVar(&f.caFile, "tiquo-ca-file", "",
		"A PEM bundle of extra CA certificates to trust for the Tiquo API. TLS verification is always on.")
}

// validate rejects flag values that cannot work, before anything starts. It returns the
// default Secret and the watched namespaces (nil: all).
func (f *operatorFlags) validate() (*controller.SecretKeySelector, []string, error) {
	var errs []error
	if f.rateLimit <= 0 {
		errs = append(errs, fmt.Errorf("--tiquo-rate-limit must be positive, got %d", f.rateLimit))
	}
	if f.maxConcurrentReconciles <= 0 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles must be positive, got %d", f.maxConcurrentReconciles))
	}
	for name, d := range map[string]time.Duration{
		"--resync-interval": f.resyncInterval, "--terminal-recheck-interval": f.terminalRecheck,
		"--transient-error-grace-period": f.transientGrace,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive duration, got %s", name, d))
		}
	}
	var def *controller.SecretKeySelector
	if f.defaultSecret != "" {
		sel, err := controller.ParseSecretKeySelector(f.defaultSecret)
		if err != nil {
			errs = append(errs, fmt.Errorf("--default-api-key-secret: %w", err))
		}
		def = &sel
	}
	namespaces, err := controller.ParseWatchNamespaces(f.watchNamespaces)
	if err != nil {
		errs = append(errs, fmt.Errorf("--watch-namespaces: %w", err))
	}
	if _, err := f.webhook(); err != nil {
		errs = append(errs, err)
	}
	if _, err := controller.ParseDeletionPolicies(f.deletionPolicies); err != nil {
		errs = append(errs, fmt.Errorf("--allowed-deletion-policies: %w", err))
	}
	return def, namespaces, errors.Join(errs...)
}

// webhook returns the receiver's options, or nil when it is off.
func (f *operatorFlags) webhook() (*controller.WebhookOptions, error) {
	off := f.webhookBindAddress == "" || f.webhookBindAddress == "0"
	var errs []error
	if f.webhookTolerance <= 0 || f.webhookTolerance > time.Hour {
		errs = append(errs, fmt.Errorf("--webhook-timestamp-tolerance must be between 0 and 1h, got %s", f.webhookTolerance))
	}
	if off {
		if f.webhookSecret != "" {
			errs = append(errs, errors.New("--webhook-secret is set but --webhook-bind-address is not: "+
				"set both to receive Tiquo webhooks, or neither"))
		}
		return nil, errors.Join(errs...)
	}
	if _, _, err := net.SplitHostPort(f.webhookBindAddress); err != nil {
		errs = append(errs, fmt.Errorf("--webhook-bind-address %q is not host:port (such as :9443): %w", f.webhookBindAddress, err))
	}
	var sel controller.SecretKeySelector
	if f.webhookSecret == "" {
		errs = append(errs, errors.New("--webhook-bind-address needs --webhook-secret, the Secret holding the "+
			"signing secret Tiquo shows when the webhook is added (docs/webhooks.md)"))
	} else if s, err := controller.ParseSecretKeySelector(f.webhookSecret); err != nil {
		errs = append(errs, fmt.Errorf("--webhook-secret: %w", err))
	} else {
		if !strings.Contains(f.webhookSecret, ":") {
			s.Key = controller.DefaultWebhookSecretKey
		}
		sel = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &controller.WebhookOptions{BindAddress: f.webhookBindAddress, Secret: sel, Tolerance: f.webhookTolerance}, nil
}

// gcPercent is the manager's GOGC unless the GOGC environment variable sets one. Most of the
// manager's heap is its cache of Customers, which lives as long as the process; at Go's
// default of 100 the heap grows to twice that before each collection. At 50 a manager over
// 10000 Customers peaked at 125 MiB instead of 150 MiB, for about 5% more of its own CPU
// (docs/benchmarks.md).
const gcPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	var metricsAddr, probeAddr, pprofAddr, metricsCertPath, metricsCertName, metricsCertKey string
	var enableLeaderElection, secureMetrics, enableHTTP2 bool
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0",
		"The address Go's pprof profiles are served on, such as 127.0.0.1:6060; 0 (the default) serves none. "+
			"The endpoint has no authentication: bind it to loopback.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election for controller manager. "+
			"Enabling this will ensure there is only one active controller manager.")
	var leaseDuration, renewDeadline, retryPeriod time.Duration
	var leaderElectionNamespace string
	flag.DurationVar(&leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long a standby manager waits, after the leader last renewed the Lease, before it takes over.")
	flag.DurationVar(&renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew the Lease before it gives up leadership; "+
			"shorter than --leader-elect-lease-duration.")
	flag.DurationVar(&retryPeriod, "leader-elect-retry-period", 2*time.Second,
		"How often managers try to acquire or renew the Lease.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader election Lease; empty means the manager's own namespace in the cluster. "+
			"Required with --leader-elect when running outside a cluster.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	flag.StringVar(&metricsCertPath, "metrics-cert-path", "",
		"The directory that contains the metrics server certificate.")
	flag.StringVar(&metricsCertName, "metrics-cert-name", "tls.crt", "The name of the metrics server certificate file.")
	flag.StringVar(&metricsCertKey, "metrics-cert-key", "tls.key", "The name of the metrics server key file.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"If set, HTTP/2 will be enabled for the metrics server")
	var op operatorFlags
	op.bind(flag.CommandLine)
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	// Whatever --zap-log-level asks for, nothing above logging.MaxVerbosity is written:
	// client-go logs Customer bodies, which hold personal data, at higher levels.
	ctrl.SetLogger(logging.CapVerbosity(zap.New(zap.UseFlagOptions(&opts))))

	defaultSecret, watchNamespaces, err := op.validate()
	webhookOptions, _ := op.webhook()                                            // validate has reported its error
	deletionPolicies, _ := controller.ParseDeletionPolicies(op.deletionPolicies) // validate has reported its error
	if enableLeaderElection && (retryPeriod <= 0 || renewDeadline <= retryPeriod || leaseDuration <= renewDeadline) {
		err = errors.Join(err, fmt.Errorf("leader election needs 0 < --leader-elect-retry-period (%s) < "+
			"--leader-elect-renew-deadline (%s) < --leader-elect-lease-duration (%s)", retryPeriod, renewDeadline, leaseDuration))
	}
	if err != nil {
		setupLog.Error(err, "Invalid flags")
		os.Exit(2)
	}
	tiquo.Version = version.Version
	api, err := tiquo.New(tiquo.Config{
		BaseURL:           op.baseURL,
		CAFile:            op.caFile,
		RequestsPerMinute: op.rateLimit,
		Registerer:        metrics.Registry,
		Logger:            ctrl.Log.WithName("tiquo"),
	})
	if err != nil {
		setupLog.Error(err, "Invalid Tiquo client settings")
		os.Exit(2)
	}

	// HTTP/2 stays off unless asked for: it is exposed to the HTTP/2 Stream Cancellation and
	// Rapid Reset CVEs (GHSA-qppj-fm5r-hxr3, GHSA-4374-p667-p6c8).
	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) {
			setupLog.Info("Disabling HTTP/2")
			c.NextProtos = []string{"http/1.1"}
		})
	}

	metricsServerOptions := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if secureMetrics {
		// Only authenticated and authorized clients may read the metrics.
		metricsServerOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if metricsCertPath != "" {
		metricsServerOptions.CertDir = metricsCertPath
		metricsServerOptions.CertName = metricsCertName
		metricsServerOptions.KeyName = metricsCertKey
	}

	restConfig := ctrl.GetConfigOrDie()
	ctx := ctrl.SetupSignalHandler()
	leaseNamespace := ""
	if enableLeaderElection {
		leaseNamespace = leaderElectionNamespaceOf(leaderElectionNamespace)
	}
	if !checkPermissions(ctx, restConfig,
		controller.RequiredPermissions(watchNamespaces, defaultSecret, webhookSecretOf(webhookOptions), leaseNamespace)) {
		os.Exit(1)
	}

	// Nothing the operator reads needs managedFields or kubectl's last-applied copy of
	// the spec; dropping them keeps the cache near the size of what it reads.
	cacheOptions := cache.Options{DefaultTransform: controller.CacheTransform()}
	if len(watchNamespaces) > 0 {
		// The cache, and with it the field indexes, the duplicate check and the drift scan,
		// sees the Customers of these namespaces only.
		cacheOptions.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range watchNamespaces {
			cacheOptions.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOptions,
		Metrics:                 metricsServerOptions,
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        "tiquo-operator.crm.tiquo.co",
		LeaderElectionNamespace: leaderElectionNamespace,
		LeaseDuration:           &leaseDuration,
		RenewDeadline:           &renewDeadline,
		RetryPeriod:             &retryPeriod,
		// The manager exits as soon as it stops, so it may hand the Lease over at once on
		// SIGTERM instead of making the next leader wait out the lease.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		setupLog.Error(err, "Unable to create manager")
		os.Exit(1)
	}

	if err := (&controller.CustomerReconciler{
		API:                     api,
		DefaultSecret:           defaultSecret,
		ResyncInterval:          op.resyncInterval,
		TerminalRecheckInterval: op.terminalRecheck,
		TransientGracePeriod:    op.transientGrace,
		MaxConcurrentReconciles: op.maxConcurrentReconciles,
		DriftScan:               op.driftScan,
		Webhook:                 webhookOptions,
		AllowedDeletionPolicies: deletionPolicies,
	}).SetupWithManager(ctx, mgr); err != nil {
		setupLog.Error(err, "Unable to create controller", "controller", "Customer")
		os.Exit(1)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("Starting manager", "version", version.Version, "tiquoBaseURL", op.baseURL,
		"watchNamespaces", watchNamespaces)
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "Problem running manager")
		os.Exit(1)
	}
}

// webhookSecretOf returns the Secret of the webhook receiver, or nil when it is off.
func webhookSecretOf(o *controller.WebhookOptions) *controller.SecretKeySelector {
	if o == nil {
		return nil
	}
	return &o.Secret
}

// inClusterNamespaceFile holds the namespace of the pod's ServiceAccount.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// leaderElectionNamespaceOf returns the namespace of the leader election Lease: the flag's,
// else the pod's own, as controller-runtime picks it; empty when neither is known.
func leaderElectionNamespaceOf(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	ns, err := os.ReadFile(inClusterNamespaceFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(ns))
}

// checkPermissions asks the API server whether the manager may do what it does, and logs
// each missing grant with what it is for. It returns false when an essential one is missing:
// without reading Customers, writing their status or holding the Lease the manager cannot
// work at all, and exiting says so where kubectl shows it (a crash-looping pod, with this
// log), instead of a manager that looks healthy while its cache never fills. A missing grant
// that only some Customers need (the default Secret) or that only loses events is logged and
// the manager goes on: the Customers affected report it in their status. A failure to ask
// is logged and the manager goes on, as it did before it asked.
func checkPermissions(ctx context.Context, cfg *rest.Config, perms []controller.Permission) bool {
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var missing []controller.Permission
		if missing, err = controller.MissingPermissions(ctx, c, perms); err == nil {
			essential := false
			for _, p := range missing {
				setupLog.Error(nil, "Missing RBAC grant: the operator may not "+p.String(),
					"neededFor", p.For, "essential", p.Essential)
				essential = essential || p.Essential
			}
			if essential {
				setupLog.Error(nil, "The manager lacks grants it cannot work without; "+
					"install the RBAC of config/rbac (or config/namespaced for --watch-namespaces), see docs/install.md")
			}
			return !essential
		}
	}
	setupLog.Error(err, "Unable to check the manager's RBAC grants at startup; going on")
	return true
}
