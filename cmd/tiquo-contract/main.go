// Command tiquo-contract runs the contract suite (internal/contract) against a Tiquo API and
// prints, for each assumption the operator makes about it, whether it holds or differs and
// what was seen. It is what `make contract` runs; see docs/contract.md.
//
// Usage:
//
//	TIQUO_BASE_URL=https://api.tiquo.co TIQUO_API_KEY=sk_test_... tiquo-contract [--probe-rate-limit] [-o json]
//
// It creates and deletes scratch customers, so it refuses a key that is not a test-mode key
// (sk_test_) unless TIQUO_CONTRACT_ALLOW_LIVE_KEY is set to
// i-understand-this-writes-to-live-data. Exit status: 0 when every assumption checked holds,
// 1 when any differs, 2 when the run could not finish (or left scratch customers behind).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/contract"
)

// Environment variables.
const (
	envBaseURL   = "TIQUO_BASE_URL"
	envAPIKey    = "TIQUO_API_KEY"
	envCAFile    = "TIQUO_CA_FILE"
	envAllowLive = "TIQUO_CONTRACT_ALLOW_LIVE_KEY"
	// allowLiveValue is what envAllowLive must say, in so many words.
	allowLiveValue = "i-understand-this-writes-to-live-data"
	testKeyPrefix  = "sk_test_"
)

// Exit codes.
const (
	exitHolds   = 0
	exitDiffers = 1
	exitError   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("tiquo-contract", flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseURL := fs.String("base-url", "", "Tiquo API base URL (default $"+envBaseURL+")")
	caFile := fs.String("ca-file", "", "PEM bundle of extra CA certificates, as the operator's --tiquo-ca-file (default $"+envCAFile+")")
	probe := fs.Bool("probe-rate-limit", false, "also check the 429 answer, spending up to twice the plan's limit plus two requests")
	output := fs.String("o", "table", "output format: table or json")
	settle := fs.Duration("settle", 0, "wait before a PATCH whose effect on updatedAt is checked (default 1.1s)")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tiquo-contract: "+format+"\n", a...)
		return exitError
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	if *output != "table" && *output != "json" {
		return fail("-o must be table or json, not %q", *output)
	}
	if *baseURL == "" {
		*baseURL = getenv(envBaseURL)
	}
	if *caFile == "" {
		*caFile = getenv(envCAFile)
	}
	key := getenv(envAPIKey)
	if err := checkSetup(*baseURL, key, getenv(envAllowLive)); err != nil {
		return fail("%v", err)
	}
	httpClient, err := newHTTPClient(*caFile)
	if err != nil {
		return fail("%v", err)
	}
	prefix := contract.NewPrefix()
	budget := fmt.Sprintf("%d requests", contract.Budget)
	if *probe {
		budget += " plus up to 2×(the plan's limit)+2 for the 429 probe"
	}
	fmt.Fprintf(stderr, "Checking %s: budget %s; scratch customers %s-*@example.com, deleted at the end (Ctrl-C also cleans up)\n",
		*baseURL, budget, prefix)

	rep, runErr := contract.Run(ctx, contract.Config{
		BaseURL: *baseURL, APIKey: key, HTTPClient: httpClient, ProbeRateLimit: *probe,
		Settle: *settle, Progress: stderr,
	}, prefix)
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail("%v", err)
		}
	} else if err := rep.WriteTable(stdout); err != nil {
		return fail("%v", err)
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			return fail("interrupted; scratch customers cleaned up")
		}
		return fail("%v", runErr)
	}
	code := exitCode(rep)
	if code == exitDiffers {
		fmt.Fprintln(stderr, "See docs/contract.md for what to do about each assumption that differs.")
	}
	return code
}

// checkSetup refuses a run without a base URL or key, or with a key that is not a test-mode
// key unless allowLive says allowLiveValue.
func checkSetup(baseURL, key, allowLive string) error {
	switch {
	case baseURL == "":
		return fmt.Errorf("no base URL: set %s (e.g. https://api.tiquo.co) or pass --base-url", envBaseURL)
	case key == "":
		return fmt.Errorf("no API key: set %s to a test-mode key (sk_test_...) with customers:read and customers:write", envAPIKey)
	case !strings.HasPrefix(key, testKeyPrefix) && allowLive != allowLiveValue:
		return fmt.Errorf("%s is not a test-mode key (sk_test_...). The suite creates, changes and deletes customers of its own "+
			"(emails starting tiquo-contract-). To run it with this key anyway, set %s=%s", envAPIKey, envAllowLive, allowLiveValue)
	}
	return nil
}

// exitCode is 0 when every check run holds, 1 when any differs, 2 when any failed or
// scratch customers were left behind.
func exitCode(rep contract.Report) int {
	code := exitHolds
	for _, r := range rep.Results {
		switch r.Status {
		case contract.Differs:
			code = max(code, exitDiffers)
		case contract.Failed:
			code = exitError
		}
	}
	if len(rep.Leftover) > 0 {
		code = exitError
	}
	return code
}

// newHTTPClient returns a client that trusts the system roots plus caFile, never follows a
// redirect (it would carry the key elsewhere) and gives each request 30s.
func newHTTPClient(caFile string) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
