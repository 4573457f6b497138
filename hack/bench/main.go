// Command bench measures tiquo-operator at scale on one machine: it starts a local
// kube-apiserver and etcd (the binaries hack/setup-envtest.sh builds), the Tiquo sandbox with
// a fixed latency and rate limit, and the real manager binary as a child process, and runs
// these scenarios over N Customers:
//
//   - cold: N Customers, every record drifted, a fresh manager: time until all are Ready,
//     and the Tiquo GETs, PATCHes and status writes it took;
//   - restart in sync: a fresh manager over N Customers already in sync;
//   - rate-limited cold: a fresh manager over N drifted records with a rate limit small
//     enough to bind, and the 429 answers it got;
//   - steady state: Tiquo calls per Customer per resync interval, over several intervals, with
//     the drift scan (the default) and with per-Customer resyncs (--drift-scan=false);
//   - responsiveness: time to Ready of Customers created while a full resync runs;
//   - drift correction: time from an out-of-band edit (the sandbox's dashboard) to its
//     correction, p50/p99 over 100 edits, with the webhook receiver fed by the sandbox and
//     without (then bounded by the drift scan's interval);
//   - memory: the manager's peak RSS and heap in use.
//
// It prints one table of figures, each against the bound it is measured by and the target
// docs/benchmarks.md records. It exits non-zero only when the run itself broke: timings on a
// shared machine are noisy, so a missed target is reported, not fatal.
//
// Run it with `make bench` (N=1000) or `make bench BENCH_N=10000`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := defaultConfig()
	flag.IntVar(&cfg.n, "n", cfg.n, "The number of Customers.")
	flag.DurationVar(&cfg.latency, "latency", cfg.latency, "The sandbox's latency L, added to every Tiquo request.")
	flag.IntVar(&cfg.workers, "workers", cfg.workers, "The manager's workers C (--max-concurrent-reconciles).")
	flag.IntVar(&cfg.rateLimit, "rate-limit", cfg.rateLimit,
		"The Tiquo rate limit R per minute of the scenarios it should not bind (manager flag and sandbox).")
	flag.IntVar(&cfg.limitedRate, "limited-rate", 0,
		"The rate limit per minute of the rate-limited cold start; 0 picks one that takes about 25s, "+
			"or half the call rate of the cold start if that is less.")
	flag.DurationVar(&cfg.resync, "resync-interval", 0,
		"The resync interval of the steady state; 0 picks max(15s, 2*N*L/C).")
	flag.IntVar(&cfg.intervals, "intervals", cfg.intervals, "How many resync intervals the steady state spans.")
	flag.IntVar(&cfg.newCustomers, "new-customers", 0,
		"Customers created during each full resync for the responsiveness figures; 0 picks N/10 within [20, 100].")
	flag.BoolVar(&cfg.skipLimited, "skip-rate-limited", false, "Leave out the rate-limited cold start.")
	flag.BoolVar(&cfg.skipSteady, "skip-steady", false, "Leave out the steady states and the responsiveness figures.")
	flag.BoolVar(&cfg.skipDrift, "skip-drift-correction", false,
		"Leave out the time from an out-of-band edit to its correction, with webhooks and without.")
	flag.StringVar(&cfg.manager, "manager", "", "The manager binary; empty builds ./cmd/manager into a temporary directory.")
	flag.StringVar(&cfg.root, "root", ".", "The repository root: the CRDs and ./cmd/manager are found from it.")
	flag.StringVar(&cfg.workDir, "work-dir", "",
		"Where the kubeconfig and the managers' logs go; empty uses a temporary directory removed at the end.")
	flag.Func("manager-flag", "A further flag for every manager the benchmark starts, such as "+
		"--pprof-bind-address=127.0.0.1:6060; may be repeated.", func(v string) error {
		cfg.managerFlags = append(cfg.managerFlags, v)
		return nil
	})
	flag.Parse()
	cfg.assets = os.Getenv("KUBEBUILDER_ASSETS")
	cfg.log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	res, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
	fmt.Fprintln(os.Stdout)
	printReport(os.Stdout, res, started)
}
