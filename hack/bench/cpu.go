package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every Linux the benchmark
// targets.
const clockTicks = 100

// cpuSample is the CPU time used so far by the benchmark, its child processes (kube-apiserver,
// etcd, the manager) and the whole machine, read from /proc.
type cpuSample struct {
	at time.Time
	// byName is CPU seconds by process name; the benchmark itself is "benchmark".
	byName map[string]float64
	// machine is the busy CPU seconds of all CPUs.
	machine float64
}

// cpuUse is the CPU time used between two samples.
type cpuUse struct {
	wall    time.Duration
	byName  map[string]float64
	machine float64
}

func sampleCPU() (cpuSample, error) {
	s := cpuSample{at: time.Now(), byName: map[string]float64{}}
	self := os.Getpid()
	_, secs, err := procCPU(self)
	if err != nil {
		return s, err
	}
	s.byName["benchmark"] = secs
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return s, err
	}
	for _, path := range stats {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil || pid == self {
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // The process is gone.
		}
		name, ppid, secs, err := parseStat(string(raw))
		if err != nil || ppid != self {
			continue
		}
		s.byName[name] += secs
	}
	s.machine, err = machineBusy()
	return s, err
}

// procCPU returns the name and CPU seconds of one process.
func procCPU(pid int) (string, float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	name, _, secs, err := parseStat(string(raw))
	return name, secs, err
}

// parseStat reads the name, parent and user+system CPU seconds from /proc/<pid>/stat.
func parseStat(stat string) (name string, ppid int, secs float64, err error) {
	open, closing := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || closing < open {
		return "", 0, 0, fmt.Errorf("malformed stat %q", stat)
	}
	name = stat[open+1 : closing]
	f := strings.Fields(stat[closing+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return "", 0, 0, fmt.Errorf("short stat of %s", name)
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return "", 0, 0, err
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, 0, fmt.Errorf("stat of %s: CPU times %q %q", name, f[11], f[12])
	}
	return name, ppid, float64(utime+stime) / clockTicks, nil
}

// machineBusy returns the busy CPU seconds of all CPUs: all but idle and iowait.
func machineBusy() (float64, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, fmt.Errorf("malformed /proc/stat line %q", line)
	}
	var busy uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, err
		}
		// Fields: user nice system idle iowait irq softirq steal guest guest_nice. guest and
		// guest_nice are already counted in user and nice.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return float64(busy) / clockTicks, nil
}

func (s cpuSample) since(before cpuSample) cpuUse {
	u := cpuUse{wall: s.at.Sub(before.at), byName: map[string]float64{}, machine: s.machine - before.machine}
	for name, secs := range s.byName {
		u.byName[name] = secs - before.byName[name]
	}
	return u
}

// String lists the CPU seconds by process, the rest of the machine, and what was available.
func (u cpuUse) String() string {
	names := make([]string, 0, len(u.byName))
	ours := 0.0
	for name, secs := range u.byName {
		names = append(names, name)
		ours += secs
	}
	slices.SortFunc(names, func(a, b string) int { return int(1000 * (u.byName[b] - u.byName[a])) })
	parts := make([]string, 0, len(names)+1)
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f", name, u.byName[name]))
	}
	parts = append(parts, fmt.Sprintf("other processes %.1f", max(0, u.machine-ours)))
	return fmt.Sprintf("%s of %.1f CPU-s", strings.Join(parts, ", "), u.wall.Seconds()*float64(runtime.NumCPU()))
}
