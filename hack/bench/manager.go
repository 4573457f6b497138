package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/child"
)

// buildManager builds ./cmd/manager of the repository at root into dir.
func buildManager(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "manager")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/manager")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/manager: %w\n%s", err, out)
	}
	return bin, nil
}

// managerArgs are the flags of one manager run.
type managerArgs struct {
	binary, kubeconfig, baseURL, defaultSecret, logPath string
	rateLimit, workers                                  int
	resync                                              time.Duration
	// extra are further flags, such as --drift-scan=false.
	extra []string
}

// managerProcess is the manager binary running as a child in a process group of its own, so
// that a Ctrl-C in the terminal reaches only the benchmark, which then stops it.
type managerProcess struct {
	*child.Process
	// purpose names the scenario the manager runs for.
	purpose     string
	metricsAddr string
	started     time.Time
}

func startManager(a managerArgs) (*managerProcess, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	metricsAddr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{
		"--kubeconfig", a.kubeconfig,
		"--tiquo-base-url", a.baseURL,
		"--default-api-key-secret", a.defaultSecret,
		"--tiquo-rate-limit", strconv.Itoa(a.rateLimit),
		"--max-concurrent-reconciles", strconv.Itoa(a.workers),
		"--resync-interval", a.resync.String(),
		"--terminal-recheck-interval", "1h",
		"--metrics-bind-address", metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address", "0",
	}, a.extra...)
	//nolint:gosec // G204: the binary and its flags come from the benchmark's own configuration.
	cmd := exec.Command(a.binary, args...)
	started := time.Now()
	proc, err := child.Start(cmd, a.logPath)
	if err != nil {
		return nil, err
	}
	return &managerProcess{Process: proc, metricsAddr: metricsAddr, started: started}, nil
}

// exited returns an error when the manager is no longer running.
func (p *managerProcess) exited() error {
	select {
	case <-p.Done():
		if p.Err() == nil {
			return fmt.Errorf("the manager exited with status 0; see %s", p.LogPath)
		}
		return fmt.Errorf("the manager exited: %w; see %s", p.Err(), p.LogPath)
	default:
		return nil
	}
}

// stop asks the manager to shut down and kills its process group if it has not within ten
// seconds. It is safe to call more than once.
func (p *managerProcess) stop() error { return p.Stop(10 * time.Second) }

// memory returns the manager's peak resident set (VmHWM) and the heap in use it reports.
func (p *managerProcess) memory(ctx context.Context) (peakRSS, heapInuse uint64, err error) {
	peakRSS, err = vmHWM(p.Cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	text, err := child.Metrics(ctx, p.metricsAddr)
	if err != nil {
		return 0, 0, err
	}
	heap, err := sumMetric(strings.NewReader(text), "go_memstats_heap_inuse_bytes", nil)
	return peakRSS, uint64(heap), err
}

// managerStats are figures of the manager's own metrics.
type managerStats struct {
	// patches is the PATCH requests its Kubernetes clients sent (rest_client_requests_total):
	// Customer status and, for a series of repeated events, events.
	patches int
	// reconciles is controller_runtime_reconcile_total of the customer controller.
	reconciles int
	// meanReconcile is the mean time of a reconcile.
	meanReconcile time.Duration
}

func (p *managerProcess) stats(ctx context.Context) (managerStats, error) {
	var st managerStats
	text, err := child.Metrics(ctx, p.metricsAddr)
	if err != nil {
		return st, err
	}
	var errs []error
	get := func(name string, match map[string]string) float64 {
		v, err := sumMetric(strings.NewReader(text), name, match)
		errs = append(errs, err)
		return v
	}
	mean := func(name string, match map[string]string) time.Duration {
		sum, count := get(name+"_sum", match), get(name+"_count", match)
		if count == 0 {
			return 0
		}
		return time.Duration(sum / count * float64(time.Second))
	}
	controller := map[string]string{"controller": "customer"}
	st.patches = int(get("rest_client_requests_total", map[string]string{"method": http.MethodPatch}))
	st.reconciles = int(get("controller_runtime_reconcile_total", controller))
	st.meanReconcile = mean("controller_runtime_reconcile_time_seconds", controller)
	return st, errors.Join(errs...)
}

// vmHWM reads the peak resident set size of a process, in bytes, from /proc.
func vmHWM(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
