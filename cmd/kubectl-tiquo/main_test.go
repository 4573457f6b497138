package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// testKey is the sandbox's only API key; no output of the plugin may ever contain it.
const testKey = "sk_test_plugin_0123456789abcdef"

func TestMain(m *testing.M) {
	code := m.Run()
	stopControlPlane()
	os.Exit(code)
}

// newSandbox starts a Tiquo sandbox that accepts testKey.
func newSandbox(t *testing.T) *sandbox.Server {
	t.Helper()
	sb := sandbox.NewServer(sandbox.Options{
		Keys: map[string][]string{testKey: {sandbox.ScopeRead, sandbox.ScopeWrite}},
	})
	t.Cleanup(sb.Close)
	return sb
}

// newClient returns a Tiquo client of the sandbox, to read records the way the operator does.
func newClient(t *testing.T, sb *sandbox.Server) *tiquo.Client {
	t.Helper()
	c, err := tiquo.New(tiquo.Config{BaseURL: sb.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// result is the outcome of one plugin run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runPlugin runs the plugin with args, env as its environment and stdin (may be nil), and
// fails the test if the API key shows up in its output.
func runPlugin(t *testing.T, env map[string]string, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, stdin, &stdout, &stderr, func(k string) string { return env[k] })
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	if strings.Contains(r.stdout+r.stderr, testKey) {
		t.Fatalf("kubectl tiquo %s printed the API key:\n%s", strings.Join(args, " "), r)
	}
	return r
}

// tiquoEnv is the environment that points the plugin at sb with testKey.
func tiquoEnv(sb *sandbox.Server) map[string]string {
	return map[string]string{envAPIKey: testKey, envBaseURL: sb.URL}
}

func TestUsage(t *testing.T) {
	r := runPlugin(t, nil, nil, "--help")
	if r.code != exitOK || !strings.Contains(r.stdout, "kubectl tiquo [command]") {
		t.Errorf("--help: %s", r)
	}
	r = runPlugin(t, nil, nil, "frobnicate")
	if r.code != exitError || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %s", r)
	}
	r = runPlugin(t, nil, nil, "import", "--all", "--bogus")
	if r.code != exitError || !strings.Contains(r.stderr, "unknown flag: --bogus") {
		t.Errorf("unknown flag: %s", r)
	}
}
