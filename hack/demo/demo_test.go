package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDemoSettlesAndStopsCleanly runs the demo as `make demo` does: the samples reach their
// expected states within a minute (a Customer without customerId created, one adopted by
// email), the one with deletionPolicy Archive is deleted and its record archived, and SIGINT
// stops every process the demo started and exits 0.
func TestDemoSettlesAndStopsCleanly(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for name, pkg := range map[string]string{"manager": "./cmd/manager", "demo": "./hack/demo"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}

	demo := exec.Command(filepath.Join(bin, "demo"), "--manager", filepath.Join(bin, "manager"),
		"--work-dir", filepath.Join(bin, "work"))
	demo.Dir = root
	demo.Env = append(os.Environ(), "TIQUO_BASE_URL=", "TIQUO_API_KEY=")
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	started := time.Now()
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	prompt := make(chan struct{})
	go func() {
		scanner := bufio.NewScanner(stdout)
		once := sync.Once{}
		for scanner.Scan() {
			out.WriteLine(scanner.Text())
			if strings.Contains(scanner.Text(), "Press Ctrl-C") {
				once.Do(func() { close(prompt) })
			}
		}
	}()
	select {
	case <-prompt:
	case <-time.After(90 * time.Second):
		_ = demo.Process.Kill()
		t.Fatalf("the demo did not settle:\n%s", out.String())
	}
	settledIn := time.Since(started)
	children := descendants(demo.Process.Pid)

	text := out.String()
	for _, want := range []string{
		"john-doe        True    Synced", "jane-smith      True    Synced",
		"ghost           False   NotFound", "carlos-garcia   False   EmailConflict",
		`PATCH /v1/customers/cust_def456 {"phone":"+1 617 555 0142","address":{"line2":"Suite 5"},"tags":["newsletter","VIP"]} -> 200`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "/v1/customers/cust_abc123 ") {
		t.Errorf("the in-sync sample was patched:\n%s", text)
	}
	checkDeclaredCustomers(t, text)
	if settledIn > time.Minute {
		t.Errorf("the samples took %s to settle, more than a minute", settledIn)
	}
	if len(children) < 3 {
		t.Errorf("found %d child processes (%v); want at least etcd, kube-apiserver and the manager", len(children), children)
	}

	if err := demo.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- demo.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the demo exited with %v after SIGINT, want 0:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		_ = demo.Process.Kill()
		t.Fatal("the demo did not exit within 30s of SIGINT")
	}
	for pid, start := range children {
		if alive(pid, start) {
			t.Errorf("process %d (%s) outlived the demo", pid, cmdline(pid))
		}
	}
}

// checkDeclaredCustomers checks what the demo shows of the samples without customerId:
// grace-hopper created with one POST carrying her spec, then deleted under deletionPolicy
// Archive, which archives her record; kenji-tanaka adopted by email (the seeded cust_xyz789)
// and patched to his spec, with no POST.
func checkDeclaredCustomers(t *testing.T, text string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^grace-hopper\s+True\s+Synced\s+(cust_[A-Za-z0-9_-]+)\s`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the demo output shows no line for grace-hopper, Ready and bound to a record:\n%s", text)
	}
	created := m[1]
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^kenji-tanaka\s+True\s+Synced\s+cust_xyz789\s`),
		regexp.MustCompile(`(?m)^    POST /v1/customers \{"firstName":"Grace","lastName":"Hopper","email":"grace.hopper@example.com","phone":"\+1 202 555 0199","tags":\["new"\]\} -> 201$`),
		regexp.MustCompile(`(?m)^    PATCH /v1/customers/cust_xyz789 \{"phone":"\+81 3 1234 5678","tags":\["VIP"\]\} -> 200$`),
		regexp.MustCompile(`(?m)^    Created\s+grace-hopper\s+Created Tiquo customer ` + created + `$`),
		regexp.MustCompile(`(?m)^    Adopted\s+kenji-tanaka\s+Adopted Tiquo customer cust_xyz789, found by spec.email\b`),
		regexp.MustCompile(`(?m)^==> Deleting grace-hopper \(deletionPolicy: Archive, record ` + created + `\)$`),
		regexp.MustCompile(`(?m)^customer.crm.tiquo.co "grace-hopper" deleted`),
		regexp.MustCompile(`(?m)^==> What the deletion sent to Tiquo:\n    PATCH /v1/customers/` + created + ` \{"archived":true\} -> 200\n==> `),
		regexp.MustCompile(`(?m)^==> Record ` + created + ` in the sandbox: archived=true `),
	} {
		if !want.MatchString(text) {
			t.Errorf("the demo output lacks a line matching %s:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "    POST /v1/customers "); n != 1 {
		t.Errorf("the demo shows %d POSTs, want exactly 1 (grace-hopper's; kenji-tanaka is adopted):\n%s", n, text)
	}
}

// descendants returns the pids below pid, with their start times (to tell a reused pid).
func descendants(pid int) map[int]string {
	parents := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(p); len(f) > 21 {
			if ppid, err := strconv.Atoi(f[3]); err == nil {
				parents[ppid] = append(parents[ppid], p)
			}
		}
	}
	out := map[int]string{}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range parents[p] {
			if f := statFields(c); len(f) > 21 {
				out[c] = f[21]
			}
			queue = append(queue, c)
		}
	}
	return out
}

// statFields returns /proc/pid/stat split into fields, with the command name as one field.
func statFields(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return append([]string{"pid", "comm"}, strings.Fields(s[i+1:])...)
}

func alive(pid int, start string) bool {
	f := statFields(pid)
	return len(f) > 21 && f[21] == start && f[2] != "Z"
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline"))
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) WriteLine(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s + "\n")
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func itoa(i int) string { return strconv.Itoa(i) }
