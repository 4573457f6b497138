package plugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// Level is how a doctor finding bears on running the operator.
type Level string

// The levels of a finding, from best to worst.
const (
	LevelOK   Level = "ok"
	LevelSkip Level = "skip"
	LevelWarn Level = "warn"
	LevelFail Level = "fail"
)

// Finding is the outcome of one doctor check. Its message names no key and no personal data.
type Finding struct {
	Check   string `json:"check"`
	Level   Level  `json:"level"`
	Message string `json:"message"`
}

// DoctorReport is what Doctor found.
type DoctorReport struct {
	BaseURL string `json:"baseURL"`
	// KeySource says where the key came from, e.g. "TIQUO_API_KEY" or "Secret shop/tiquo:apiKey".
	KeySource string `json:"keySource"`
	// KeyFingerprint is tiquo.KeyFingerprint of the key, as the operator's logs and metrics name it.
	KeyFingerprint string    `json:"keyFingerprint"`
	Findings       []Finding `json:"findings"`
	// Exit is 0 when every finding is ok, 1 with a warning, 2 with a failure.
	Exit int `json:"exit"`
}

// DoctorOptions configures Doctor. The operator's settings are those of its flags of the same
// names.
type DoctorOptions struct {
	BaseURL, APIKey, CAFile, KeySource string
	// Timeout bounds each request.
	Timeout time.Duration
	// RateLimit is the operator's --tiquo-rate-limit.
	RateLimit int
	// ResyncInterval is the operator's --resync-interval, DriftScan its --drift-scan.
	ResyncInterval time.Duration
	DriftScan      bool
	// Customers is how many Customers use the key; AccountRecords how many records the
	// account holds (the drift scan lists them all).
	Customers, AccountRecords int
	// CustomersCounted says Customers was counted in the cluster rather than given.
	CustomersCounted bool
	// UserAgent is sent with every request.
	UserAgent string
}

// ProbeID is the id of the PATCH that tests the write scope: an id no Tiquo record has.
const ProbeID = "cust_tiquo_doctor_probe_does_not_exist"

// call is one request the doctor sent, as its transport saw it.
type call struct {
	sent     time.Time
	duration time.Duration
	date     time.Time // the Date header; zero when absent
}

// observer records the timing and Date header of every request.
type observer struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls []call
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := o.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	c := call{sent: start, duration: time.Since(start)}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		c.date = d
	}
	o.mu.Lock()
	o.calls = append(o.calls, c)
	o.mu.Unlock()
	return resp, nil
}

// Doctor checks that the operator, configured as opts says, can work with the Tiquo at
// opts.BaseURL: reachability and TLS, the key, its read and write scopes (without changing
// anything), the plan's rate limit, the clock, the time per call and what resyncs would cost.
// It sends two requests.
func Doctor(ctx context.Context, opts DoctorOptions) (rep DoctorReport) {
	rep = DoctorReport{BaseURL: opts.BaseURL, KeySource: opts.KeySource, KeyFingerprint: tiquo.KeyFingerprint(opts.APIKey)}
	add := func(check string, level Level, format string, a ...any) {
		rep.Findings = append(rep.Findings, Finding{check, level, fmt.Sprintf(format, a...)})
	}
	defer func() {
		for _, f := range rep.Findings {
			switch f.Level {
			case LevelFail:
				rep.Exit = 2
			case LevelWarn:
				rep.Exit = max(rep.Exit, 1)
			}
		}
	}()
	skipRest := func(after string) {
		for _, c := range []string{"endpoint", "key", "read scope", "write scope", "rate limit", "clock", "latency", "cost"} {
			if !rep.has(c) {
				add(c, LevelSkip, "not checked: %s", after)
			}
		}
	}

	obs := &observer{}
	client, err := tiquo.New(tiquo.Config{
		BaseURL: opts.BaseURL, CAFile: opts.CAFile, Timeout: opts.Timeout, UserAgent: opts.UserAgent,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { obs.next = rt; return obs },
	})
	if err != nil {
		add("endpoint", LevelFail, "%v", err)
		skipRest("the client could not be configured")
		return rep
	}
	defer client.CloseIdleConnections()

	// Read: one list item.
	var readErr error
	for _, err := range client.ListCustomers(ctx, opts.APIKey, tiquo.ListOptions{Limit: 1}) {
		readErr = err
		break
	}
	var apiErr *tiquo.APIError
	switch {
	case readErr != nil && !errors.As(readErr, &apiErr):
		add("endpoint", LevelFail, "%s", transportAdvice(readErr, opts))
		skipRest("the API cannot be reached")
		return rep
	case tiquo.IsUnauthorized(readErr):
		add("endpoint", LevelOK, "%s", endpointOK(opts))
		add("key", LevelFail, "rejected (%s): the key is wrong, revoked or not a key of this Tiquo; put a current key in the Secret", short(apiErr))
		skipRest("the key was rejected")
		return rep
	case tiquo.IsNotFound(readErr):
		add("endpoint", LevelFail, "no customers API at %s/v1/customers (%s): check --base-url (the operator's --tiquo-base-url)",
			strings.TrimRight(opts.BaseURL, "/"), short(apiErr))
		skipRest("the base URL is wrong")
		return rep
	case tiquo.IsForbidden(readErr):
		add("endpoint", LevelOK, "%s", endpointOK(opts))
		add("key", LevelOK, "accepted")
		add("read scope", LevelFail, "GET /v1/customers answered %s: give the key customers:read", short(apiErr))
	case readErr != nil:
		add("endpoint", LevelFail, "GET /v1/customers answered %s", short(apiErr))
		skipRest("the API answered with an error")
		return rep
	default:
		add("endpoint", LevelOK, "%s", endpointOK(opts))
		add("key", LevelOK, "accepted")
		add("read scope", LevelOK, "GET /v1/customers answered 200")
	}

	// Write: an empty PATCH of an id no record has. The API checks the scope before it looks
	// the record up, so 404 means the key may write, 403 that it may not; an empty body would
	// change nothing even if the record existed.
	_, writeErr := client.UpdateCustomer(ctx, opts.APIKey, ProbeID, tiquo.Patch{})
	apiErr = nil
	errors.As(writeErr, &apiErr)
	switch {
	case tiquo.IsNotFound(writeErr) || tiquo.IsValidation(writeErr):
		add("write scope", LevelOK, "PATCH {} of a nonexistent id answered %s, so the key passed the customers:write check; nothing changed", short(apiErr))
	case tiquo.IsForbidden(writeErr):
		add("write scope", LevelFail, "PATCH answered %s: the operator cannot correct drift; give the key customers:write (or use managementPolicy: Observe)", short(apiErr))
	case writeErr == nil:
		add("write scope", LevelWarn, "PATCH {} of %s succeeded, so a record with that id exists; the key may write, nothing changed", ProbeID)
	default:
		add("write scope", LevelWarn, "cannot tell: PATCH answered %v", writeErr)
	}

	rl, haveRL := client.RateLimit(opts.APIKey)
	planLimit := checkRateLimit(rl, haveRL, opts, add)
	checkClock(obs, rl, add)
	checkLatency(obs, add)
	checkCost(opts, planLimit, add)
	return rep
}

// has reports whether a finding for check exists.
func (r DoctorReport) has(check string) bool {
	for _, f := range r.Findings {
		if f.Check == check {
			return true
		}
	}
	return false
}

// short is an API error's status and code, e.g. "403 insufficient_scope".
func short(e *tiquo.APIError) string {
	if e == nil {
		return "no error"
	}
	if e.Code == "" {
		return fmt.Sprint(e.StatusCode)
	}
	return fmt.Sprintf("%d %s", e.StatusCode, e.Code)
}

func endpointOK(opts DoctorOptions) string {
	u, _ := url.Parse(opts.BaseURL) // tiquo.New accepted it.
	switch {
	case u.Scheme == "https" && opts.CAFile != "":
		return "reachable over TLS; certificate trusted with the CA file"
	case u.Scheme == "https":
		return "reachable over TLS; certificate trusted by the system roots"
	default:
		return "reachable over plain HTTP"
	}
}

// transportAdvice explains a failure to get any answer.
func transportAdvice(err error, opts DoctorOptions) string {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &hostErr):
		return fmt.Sprintf("TLS: the certificate is not for this host (%v): check --base-url", hostErr)
	case errors.As(err, &unknownCA) || errors.As(err, &verify):
		if opts.CAFile != "" {
			return "TLS: the certificate is not trusted, not even with the CA file: pass the CA that signed it (the operator's --tiquo-ca-file)"
		}
		return "TLS: the certificate is signed by an unknown authority: pass --ca-file with the CA the operator's --tiquo-ca-file names"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s: check --base-url", dnsErr.Name)
	case errors.As(err, &opErr):
		return fmt.Sprintf("unreachable (%v): check --base-url and that the network allows it", opErr.Err)
	}
	return fmt.Sprintf("no answer: %v", err)
}

type addFunc func(check string, level Level, format string, a ...any)

// checkRateLimit compares the plan's limit with the operator's and returns the limit to
// plan with (the plan's when known).
func checkRateLimit(rl tiquo.RateLimit, ok bool, opts DoctorOptions, add addFunc) int {
	if !ok || rl.Limit < 0 {
		add("rate limit", LevelWarn, "the API sent no X-RateLimit-Limit, so --tiquo-rate-limit %d cannot be checked; the operator still honours 429s", opts.RateLimit)
		return opts.RateLimit
	}
	switch {
	case rl.Limit < opts.RateLimit:
		add("rate limit", LevelFail, "the plan allows %d/min but --tiquo-rate-limit is %d: the operator would run into 429s; set --tiquo-rate-limit=%d", rl.Limit, opts.RateLimit, rl.Limit)
	case rl.Limit > opts.RateLimit:
		add("rate limit", LevelOK, "the plan allows %d/min; --tiquo-rate-limit %d stays below it", rl.Limit, opts.RateLimit)
	default:
		add("rate limit", LevelOK, "the plan allows %d/min, as --tiquo-rate-limit says", rl.Limit)
	}
	return rl.Limit
}

// checkClock compares the local clock with the Date header and with X-RateLimit-Reset, which
// the operator waits for by its own clock.
func checkClock(obs *observer, rl tiquo.RateLimit, add addFunc) {
	obs.mu.Lock()
	calls := append([]call(nil), obs.calls...)
	obs.mu.Unlock()
	var parts []string
	level := LevelOK
	var skew time.Duration
	haveDate := false
	for _, c := range calls {
		if c.date.IsZero() {
			continue
		}
		// Date has whole seconds: the server's time lies in [date, date+1s).
		mid := c.sent.Add(c.duration / 2)
		s := mid.Sub(c.date.Add(500 * time.Millisecond))
		if !haveDate || absDur(s) > absDur(skew) {
			skew = s
		}
		haveDate = true
	}
	switch {
	case !haveDate:
		parts = append(parts, "no Date header")
		level = LevelWarn
	case absDur(skew) <= 2*time.Second:
		parts = append(parts, "within 2s of the Date header")
	default:
		dir := "ahead of"
		if skew < 0 {
			dir = "behind"
		}
		parts = append(parts, fmt.Sprintf("this clock is %s %s the API's (Date header): fix NTP here and where the operator runs", absDur(skew).Round(time.Second), dir))
		level = LevelWarn
		if absDur(skew) > time.Minute {
			level = LevelFail
		}
	}
	if !rl.Reset.IsZero() {
		ahead := time.Until(rl.Reset)
		switch {
		case ahead < -2*time.Second:
			parts = append(parts, fmt.Sprintf("X-RateLimit-Reset is %s in the past: after a 429 the operator would retry too early", (-ahead).Round(time.Second)))
			level = maxLevel(level, LevelWarn)
		case ahead > 2*time.Hour:
			parts = append(parts, fmt.Sprintf("X-RateLimit-Reset is %s ahead: after a 429 the operator would wait up to 15m", ahead.Round(time.Second)))
			level = maxLevel(level, LevelWarn)
		default:
			parts = append(parts, fmt.Sprintf("X-RateLimit-Reset %s ahead", ahead.Round(time.Second)))
		}
	}
	add("clock", level, "%s", strings.Join(parts, "; "))
}

// maxLevel returns the worse of two levels: ok < skip < warn < fail.
func maxLevel(a, b Level) Level {
	rank := map[Level]int{LevelOK: 0, LevelSkip: 1, LevelWarn: 2, LevelFail: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// slowCall is the time per call above which the doctor warns.
const slowCall = 2 * time.Second

func checkLatency(obs *observer, add addFunc) {
	obs.mu.Lock()
	defer obs.mu.Unlock()
	var slowest, total time.Duration
	for _, c := range obs.calls {
		slowest = max(slowest, c.duration)
		total += c.duration
	}
	if len(obs.calls) == 0 {
		add("latency", LevelSkip, "no answer timed")
		return
	}
	msg := fmt.Sprintf("%d calls, average %s, slowest %s", len(obs.calls),
		(total / time.Duration(len(obs.calls))).Round(time.Millisecond), slowest.Round(time.Millisecond))
	if slowest > slowCall {
		add("latency", LevelWarn, "%s: each reconcile waits that long per call; check the network path", msg)
		return
	}
	add("latency", LevelOK, "%s", msg)
}

// listPage is the drift scan's page size.
const listPage = 100

// checkCost says how many calls per resync interval the operator spends to notice drift on
// this key: a GET per Customer, or the drift scan's list pages when those are fewer.
func checkCost(opts DoctorOptions, limit int, add addFunc) {
	if opts.ResyncInterval <= 0 || opts.Customers <= 0 {
		add("cost", LevelSkip, "no Customers use this key (--customers)")
		return
	}
	calls := opts.Customers
	how := "resync: " + count(opts.Customers, "GET")
	if opts.DriftScan {
		pages := int(math.Ceil(float64(max(opts.AccountRecords, 1)) / listPage))
		if pages < calls {
			calls = pages
			how = fmt.Sprintf("drift scan: %s for %s (cheaper than %s)", count(pages, "list call"),
				count(opts.AccountRecords, "record"), count(opts.Customers, "GET"))
		} else {
			how += fmt.Sprintf(" (cheaper than a drift scan of %s)", count(opts.AccountRecords, "record"))
		}
	}
	perMin := float64(calls) / opts.ResyncInterval.Minutes()
	share := 100 * perMin / float64(max(limit, 1))
	counted := ""
	if opts.CustomersCounted {
		counted = " (counted in the cluster)"
	}
	msg := fmt.Sprintf("%s%s every %s: %s = %.1f/min, %.1f%% of %d/min", count(opts.Customers, "Customer"), counted,
		opts.ResyncInterval, how, perMin, share, limit)
	switch {
	case share > 100:
		add("cost", LevelFail, "%s: more than the plan allows; raise --resync-interval or the plan", msg)
	case share > 50:
		add("cost", LevelWarn, "%s: little room left for PATCHes and retries; consider a longer --resync-interval", msg)
	default:
		add("cost", LevelOK, "%s", msg)
	}
}

// count is n with the noun, in the plural unless n is 1: "1 GET", "2 GETs".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// WriteText writes the report for a person: a header line, one line per check, a verdict.
func (r DoctorReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Tiquo at %s, key from %s (fingerprint %s)\n", r.BaseURL, r.KeySource, r.KeyFingerprint)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range r.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.ToUpper(string(f.Level)), f.Check, f.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := map[int]string{0: "All checks passed.", 1: "Warnings: the operator will work, but read the WARN lines.",
		2: "Failures: the operator will not work as configured; fix the FAIL lines."}[r.Exit]
	_, err := fmt.Fprintln(w, verdict)
	return err
}
