// Command tiquo-sandbox serves an in-memory Tiquo v1 customers API for local
// demos and manual tests, with fault injection and an admin API under
// /_sandbox/. See package internal/sandbox for its semantics.
//
// Usage:
//
//	tiquo-sandbox --listen 127.0.0.1:8089 --seed hack/demo/customers.json \
//	    --api-key sk_test_demo=customers:read,customers:write [--api-key ...] \
//	    --rate-limit 1000 --latency 20ms [--normalize-phone] [--lowercase-email] ...
//	    [--webhook-url http://127.0.0.1:9443/webhooks/tiquo --webhook-secret whsec_demo ...]
//
// With --webhook-url, every change (through the API, or through the admin API, which stands
// for the dashboard) is delivered there as a signed Tiquo webhook; the --webhook-* fault
// flags delay, duplicate, reorder, mis-sign or drop deliveries (sandbox.WebhookConfig).
//
// The fault flags (--latency, --error-rate, --reset-rate, --hang-rate, ...) set
// sandbox.Faults; --store-then-fail-rate, --store-then-fail-status, --store-then-hang-rate and
// --store-then-reset-rate make a create store its record and then lose the answer, to test
// that a client retrying a create never makes two records. Rates are fractions in [0, 1].
//
// The behaviour flags (--normalize-phone, --lowercase-email, --case-sensitive-email,
// --ignore-empty-string, --replace-address, --merge-tags, --noop-patch-touches-updated-at,
// --partial-patch-response, --list-archived) each make the sandbox break one assumption the contract suite
// checks; see sandbox.Deviations and docs/contract.md.
//
// It logs one line per API request (method, path, status, duration; never
// a key, a query or a body) and exits cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tiquo-sandbox:", err)
		os.Exit(1)
	}
}

// keyFlag collects repeated --api-key key=scope,scope values.
type keyFlag map[string][]string

func (k keyFlag) String() string { return fmt.Sprintf("%d keys", len(k)) }

func (k keyFlag) Set(v string) error {
	key, scopes, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return errors.New("want key=scope[,scope...]")
	}
	var list []string
	for _, s := range strings.Split(scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	k[key] = list
	return nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("tiquo-sandbox", flag.ContinueOnError)
	keys := keyFlag{}
	var f sandbox.Faults
	listen := fs.String("listen", "127.0.0.1:8089", "address to listen on")
	seed := fs.String("seed", "", "JSON file with an array of customers in the API's wire format")
	rateLimit := fs.Int("rate-limit", 0, "requests per minute per key; 0 = unlimited")
	fs.Var(keys, "api-key", "valid key and its scopes, key=customers:read,customers:write (repeatable)")
	faultFlags(fs, &f)
	var behaviour sandbox.Behaviour
	behaviourFlags(fs, &behaviour)
	var hooks sandbox.WebhookConfig
	fs.StringVar(&hooks.URL, "webhook-url", "", "deliver a signed webhook for every change to this URL; empty = none")
	fs.StringVar(&hooks.Secret, "webhook-secret", "", "the webhooks' signing secret (required with --webhook-url)")
	fs.DurationVar(&hooks.Faults.Delay, "webhook-delay", 0, "hold each webhook delivery back this long")
	fs.Float64Var(&hooks.Faults.DuplicateRate, "webhook-duplicate-rate", 0, "fraction of webhooks delivered twice")
	fs.Float64Var(&hooks.Faults.ReorderRate, "webhook-reorder-rate", 0, "fraction of webhooks delivered after the next one")
	fs.Float64Var(&hooks.Faults.BadSignatureRate, "webhook-bad-signature-rate", 0, "fraction of webhooks signed with a wrong secret")
	fs.Float64Var(&hooks.Faults.DropRate, "webhook-drop-rate", 0, "fraction of webhooks never delivered")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := hooks.Validate(); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if len(keys) == 0 {
		return errors.New("at least one --api-key is required")
	}

	if err := f.Validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sb := sandbox.New(sandbox.Options{Keys: keys, RateLimitPerMinute: *rateLimit, Logger: logger, Behaviour: behaviour})
	sb.SetFaults(f)
	if err := sb.SetWebhook(hooks); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if hooks.URL != "" {
		logger.Info("Delivering webhooks", "url", hooks.URL)
	}
	if *seed != "" {
		n, err := loadSeed(sb, *seed)
		if err != nil {
			return err
		}
		logger.Info("Seeded customers", "count", n, "file", *seed)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for k, scopes := range keys {
		sum := sha256.Sum256([]byte(k))
		logger.Info("Accepting API key", "fingerprint", hex.EncodeToString(sum[:6]), "scopes", scopes)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("Serving Tiquo sandbox", "url", "http://"+ln.Addr().String(), "rateLimitPerMinute", *rateLimit)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("Shutting down")
	sb.Close() // Release hanging requests so Shutdown can finish.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// faultFlags defines the fault-injection flags, setting them in f. run validates f after
// parsing.
func faultFlags(fs *flag.FlagSet, f *sandbox.Faults) {
	fs.DurationVar(&f.Latency, "latency", 0, "latency added to every API request")
	fs.DurationVar(&f.LatencyJitter, "latency-jitter", 0, "random extra latency, up to this much")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "fraction of requests answered with a 5xx")
	fs.IntVar(&f.ErrorStatus, "error-status", 0, "status of injected errors; 0 = random 500/502/503")
	fs.Float64Var(&f.ResetRate, "reset-rate", 0, "fraction of requests whose connection is reset")
	fs.Float64Var(&f.HangRate, "hang-rate", 0, "fraction of requests never answered")
	fs.Float64Var(&f.MalformedRate, "malformed-rate", 0, "fraction of successful answers with a truncated body")
	fs.Float64Var(&f.EchoValuesRate, "echo-values-rate", 0,
		"fraction of PATCH and POST requests answered with an error echoing the personal values sent")
	fs.IntVar(&f.EchoValuesStatus, "echo-values-status", 0, "status of those errors; 0 = 400")
	fs.Float64Var(&f.StoreThenFailRate, "store-then-fail-rate", 0,
		"fraction of creates (POST) whose record is stored but which are answered with a 5xx")
	fs.IntVar(&f.StoreThenFailStatus, "store-then-fail-status", 0, "status of those errors (5xx); 0 = 500")
	fs.Float64Var(&f.StoreThenHangRate, "store-then-hang-rate", 0,
		"fraction of creates (POST) whose record is stored but which are never answered")
	fs.Float64Var(&f.StoreThenResetRate, "store-then-reset-rate", 0,
		"fraction of creates (POST) whose record is stored and whose connection is then reset")
}

// behaviourFlags defines one boolean flag per behaviour option (sandbox.Deviations), named
// as the contract suite names the assumption it breaks, setting it in b.
func behaviourFlags(fs *flag.FlagSet, b *sandbox.Behaviour) {
	for _, d := range sandbox.Deviations {
		fs.BoolFunc(d.Flag, d.Usage+" (breaks "+string(d.Breaks)+")", func(v string) error {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return err
			}
			d.Set(b, on)
			return nil
		})
	}
}

// loadSeed stores the customers of a seed file in sb.
func loadSeed(sb *sandbox.Sandbox, file string) (int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read seed: %w", err)
	}
	var customers []sandbox.Customer
	if err := json.Unmarshal(data, &customers); err != nil {
		return 0, fmt.Errorf("parse seed %s: %w", file, err)
	}
	for i, c := range customers {
		if c.ID == "" {
			return 0, fmt.Errorf("seed %s: customer %d has no id", file, i)
		}
		sb.PutCustomer(c)
	}
	return len(customers), nil
}
