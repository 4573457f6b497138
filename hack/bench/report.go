package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// The targets docs/benchmarks.md records.
const (
	// coldMinRatio: a cold start converges within 1/0.67 of T_min.
	coldMinRatio = 0.67
	// limitedMinRatio: a rate-limited cold start uses at least 90% of the budget.
	limitedMinRatio = 0.9
	// maxTooManyFraction: at most 1% of requests answered 429.
	maxTooManyFraction = 0.01
	// maxReadyP99: a Customer created during a full resync is Ready within 2s at p99.
	maxReadyP99 = 2 * time.Second
	// maxPeakRSS: the manager's peak RSS at 10k Customers.
	maxPeakRSS = 150 << 20
)

// row is one line of the table.
type row struct {
	scenario, figure, value, bound, ratio, target, result string
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// timeRow compares a duration with its lower bound: ratio = bound/measured, at least minRatio.
func timeRow(scenario, figure string, measured time.Duration, bd bound, minRatio float64) row {
	ratio := 0.0
	if measured > 0 {
		ratio = bd.tMin().Seconds() / measured.Seconds()
	}
	return row{scenario, figure, secs(measured), fmt.Sprintf("T_min %s (%s)", secs(bd.tMin()), bd.binding()),
		fmt.Sprintf("%.2f", ratio), fmt.Sprintf(">= %.2f", minRatio), passFail(ratio >= minRatio)}
}

// countRow compares a count with the most it may be: ratio = measured/limit.
func countRow(scenario, figure string, measured, limit int, limitText string) row {
	ratio := "-"
	if limit > 0 {
		ratio = fmt.Sprintf("%.2f", float64(measured)/float64(limit))
	}
	target := "<= " + limitText
	if limit == 0 {
		target = "= 0"
	}
	return row{scenario, figure, fmt.Sprint(measured), fmt.Sprintf("%s = %d", limitText, limit), ratio, target,
		passFail(measured <= limit)}
}

func infoRow(scenario, figure, value string) row {
	return row{scenario, figure, value, "-", "-", "-", "info"}
}

// reportRows turns the results into the table's rows.
func reportRows(res *results) []row {
	n := res.cfg.n
	var rows []row
	if c := res.cold; c.ran {
		rows = append(rows,
			timeRow("cold", "time to all Ready", c.duration, c.bound, coldMinRatio),
			infoRow("cold", "manager start to first Tiquo call", secs(c.firstCall)),
			countRow("cold", "Tiquo GETs", c.gets, n, "N"),
			countRow("cold", "Tiquo PATCHes", c.patches, n, "N"),
			countRow("cold", "status writes", c.statusWrites, n, "S"),
			infoRow("cold", "429 answers", fmt.Sprint(c.tooMany)),
			infoRow("cold", "Event writes (API server)", fmt.Sprint(c.eventWrites)),
			infoRow("cold", "mean reconcile (manager) / status write (API server)",
				fmt.Sprintf("%.1fms / %.1fms", ms(c.manager.meanReconcile), ms(c.meanStatusWrite))),
		)
	}
	if r := res.restart; r.ran {
		rows = append(rows,
			countRow("restart in sync", "Tiquo calls", r.requests, maxRestartCalls(n, restartKeys), "N/100+keys"),
			infoRow("restart in sync", "Tiquo calls: list / GET of a record", fmt.Sprintf("%d / %d", r.lists, r.gets-r.lists)),
			countRow("restart in sync", "Tiquo PATCHes", r.patches, 0, "0"),
			countRow("restart in sync", "status writes", r.statusWrites, 0, "0"),
			infoRow("restart in sync", "manager start to idle", secs(r.duration)),
		)
	}
	if l := res.limited; l.ran {
		allowed := int(maxTooManyFraction * float64(l.requests))
		share := 0.0
		if l.requests > 0 {
			share = float64(l.tooMany) / float64(l.requests)
		}
		rows = append(rows,
			timeRow("rate-limited cold", fmt.Sprintf("time to all patched, R=%d/min", l.rate), l.duration, l.bound, limitedMinRatio),
			row{"rate-limited cold", "429 answers", fmt.Sprintf("%d of %d (%.2f%%)", l.tooMany, l.requests, 100*share),
				fmt.Sprintf("1%% = %d", allowed), fmt.Sprintf("%.2f", share/maxTooManyFraction), "<= 1%",
				passFail(share <= maxTooManyFraction)},
			countRow("rate-limited cold", "Tiquo calls", l.requests, callsPerDriftedCustomer*n+scanPages(n), "N·k+N/100"),
			countRow("rate-limited cold", "status writes", l.statusWrites, n, "S"),
		)
	}
	for _, s := range []steadyResult{res.steady, res.steadyPerCustomer} {
		if !s.ran {
			continue
		}
		scenario := "steady, drift scan"
		if !s.driftScan {
			scenario = "steady, --drift-scan=false"
		}
		per := s.perCustomerPerInterval(n)
		figure := fmt.Sprintf("calls per Customer per interval (X=%s, %.1f X)", s.interval, s.window.Seconds()/s.interval.Seconds())
		if s.driftScan {
			rows = append(rows, row{scenario, figure, fmt.Sprintf("%.3f", per), fmt.Sprint(maxScanCallsPerInterval),
				fmt.Sprintf("%.2f", per/maxScanCallsPerInterval), fmt.Sprintf("<= %v", maxScanCallsPerInterval),
				passFail(per <= maxScanCallsPerInterval)},
				row{scenario, "list calls (at least one full scan)", fmt.Sprint(s.lists), fmt.Sprintf("N/100 = %d", scanPages(n)),
					"-", ">= N/100", passFail(s.lists >= scanPages(n))})
		} else {
			rows = append(rows, row{scenario, figure, fmt.Sprintf("%.3f", per), fmt.Sprint(maxPerCustomerCalls),
				fmt.Sprintf("%.2f", per/maxPerCustomerCalls), fmt.Sprintf("%v to %v", minPerCustomerCalls, maxPerCustomerCalls),
				passFail(per >= minPerCustomerCalls && per <= maxPerCustomerCalls)})
		}
		rows = append(rows,
			infoRow(scenario, "Tiquo calls / of which list calls", fmt.Sprintf("%d / %d", s.calls, s.lists)),
			infoRow(scenario, "calls per Customer from the end of the startup pass to the window",
				fmt.Sprintf("%.2f in %s", float64(s.settlingCalls)/float64(n), secs(s.settling))),
			countRow(scenario, "status writes of in-sync Customers", s.statusWrites, 0, "0"),
		)
	}
	for _, r := range []struct {
		name string
		r    responsiveness
	}{{"new Customer during startup pass", res.respStartup}, {"new Customer during periodic resync", res.respResync}} {
		if !r.r.ran {
			continue
		}
		rows = append(rows, row{"responsiveness",
			fmt.Sprintf("%s: p50 / p99 to Ready (%d of %d)", r.name, r.r.ready, r.r.created),
			fmt.Sprintf("%s / %s", secs(r.r.p50), secs(r.r.p99)), secs(maxReadyP99),
			fmt.Sprintf("%.2f", r.r.p99.Seconds()/maxReadyP99.Seconds()), "p99 <= 2s",
			passFail(r.r.p99 <= maxReadyP99 && r.r.ready == r.r.created)})
	}
	rows = append(rows, driftRows(res.drift)...)
	if res.peakRSS > 0 {
		rows = append(rows,
			row{"memory", fmt.Sprintf("manager peak RSS (VmHWM) at N=%d", n), mib(res.peakRSS), mib(maxPeakRSS),
				fmt.Sprintf("%.2f", float64(res.peakRSS)/maxPeakRSS), "<= 150 MiB at 10k", passFail(res.peakRSS <= maxPeakRSS)},
			infoRow("memory", "manager heap in use (go_memstats_heap_inuse_bytes)", mib(res.heapInuse)),
		)
	}
	return rows
}

// printReport writes the run's settings, the table and how to read it.
func printReport(w io.Writer, res *results, started time.Time) {
	cfg := res.cfg
	fmt.Fprintf(w, "tiquo-operator scale benchmark, %s, %d CPUs\n", started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU())
	fmt.Fprintf(w, "N=%d Customers, L=%s, C=%d workers, R=%d/min (rate-limited cold: %d/min), steady-state X=%s x %d\n",
		cfg.n, cfg.latency, cfg.workers, cfg.rateLimit, res.limited.rate, cfg.resync, cfg.intervals)
	probes := make([]string, 0, len(res.statusWriteRates))
	for _, r := range res.statusWriteRates {
		probes = append(probes, fmt.Sprintf("%.0f", r))
	}
	fmt.Fprintf(w, "W=%.0f status writes/s (%d writers, %s probes, largest counts: %s/s); Customers created by the benchmark at %.0f/s\n\n",
		res.statusWriteRate, cfg.workers, cfg.statusWriteProbe, strings.Join(probes, ", "), res.createRate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tVALUE\tBOUND\tRATIO\tTARGET\tRESULT")
	for _, r := range reportRows(res) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.scenario, r.figure, r.value, r.bound, r.ratio, r.target, r.result)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nT_min = max(N·k·L/C, N·k/R, S/W); k = Tiquo calls per drifted Customer (GET+PATCH = %d); "+
		"S = status writes needed (N).\n", callsPerDriftedCustomer)
	fmt.Fprintln(w, "RATIO is bound/measured for times (higher is better, at most 1) and measured/bound for counts and limits (at most 1 passes).")
	if len(res.memory) > 0 {
		parts := make([]string, 0, len(res.memory))
		for _, m := range res.memory {
			parts = append(parts, fmt.Sprintf("%s %s / %s", m.purpose, mib(m.peakRSS), mib(m.heapInuse)))
		}
		fmt.Fprintf(w, "Manager peak RSS / heap in use by run: %s.\n", strings.Join(parts, "; "))
	}
	for _, c := range []struct {
		name string
		r    coldResult
	}{{"cold", res.cold}, {"rate-limited cold", res.limited}} {
		if c.r.ran && c.r.cpu.wall > 0 {
			fmt.Fprintf(w, "CPU seconds from manager start to all Ready, %s: %s.\n", c.name, c.r.cpu)
		}
	}
	fmt.Fprintf(w, "Total run time %s.\n", time.Since(started).Round(time.Second))
}
