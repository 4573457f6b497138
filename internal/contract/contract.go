// Package contract checks that a Tiquo API behaves as the operator assumes: one named check
// per assumption the client (internal/tiquo), the diff (internal/diff) and the drift scan
// rely on, each reported as holding or differing with what was seen.
//
// The checks are named by sandbox.Assumption, the names the sandbox's behaviour options
// (sandbox.Deviations) use, so a difference found against a live Tiquo becomes a sandbox
// option and a test. Run works against the sandbox (tests run it in `make test`) and against
// a live Tiquo (cmd/tiquo-contract, `make contract`): it makes its own scratch customers with
// a unique email prefix, never reads or changes any other record by id, deletes its scratch
// customers when it ends however it ends, and never sends more requests than its budget.
// What it reports holds no value it did not make up itself.
package contract

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// Status is the outcome of one check.
type Status string

// The outcomes of a check.
const (
	// Holds: the API behaved as the operator assumes.
	Holds Status = "holds"
	// Differs: the API behaved otherwise; docs/contract.md says what to do.
	Differs Status = "differs"
	// NotChecked: the check was not run (not asked for, or the run ended first).
	NotChecked Status = "not checked"
	// Failed: the check could not tell (a transport error, an unexpected status).
	Failed Status = "failed"
)

// Result is the outcome of the check of one assumption.
type Result struct {
	Assumption sandbox.Assumption `json:"assumption"`
	Status     Status             `json:"status"`
	// Seen says what the API did, in terms of the scratch values the suite made up.
	Seen string `json:"seen"`
}

// Report is the outcome of a run.
type Report struct {
	Results []Result `json:"results"`
	// Requests is how many requests the run sent, cleanup included.
	Requests int `json:"requests"`
	// Budget is the most requests the run would send.
	Budget int `json:"budget"`
	// Prefix is the local part prefix of every scratch customer's email.
	Prefix string `json:"prefix"`
	// Leftover lists the ids of scratch customers the cleanup could not delete.
	Leftover []string `json:"leftover,omitempty"`
}

// Config configures a run.
type Config struct {
	// BaseURL is the API's scheme and host, as the operator's --tiquo-base-url.
	BaseURL string
	// APIKey is the key to use; it needs customers:read and customers:write.
	APIKey string
	// HTTPClient sends the requests; nil means a client with a 30s timeout. It must not
	// follow redirects (the default does not).
	HTTPClient *http.Client
	// ProbeRateLimit runs the 429 check, which spends up to twice the plan's limit per
	// window plus two requests to see one refusal.
	ProbeRateLimit bool
	// Settle is how long the suite waits before a PATCH whose effect on updatedAt it
	// checks, so that a server storing whole seconds shows a change; 0 means 1.1s.
	Settle time.Duration
	// MaxRateLimitWait caps a wait for a rate-limit window to end; 0 means 65s.
	MaxRateLimitWait time.Duration
	// Progress, when set, hears one line per check as it starts.
	Progress io.Writer
}

// Budget is the most requests a run sends without the rate-limit probe: every check's
// requests, the 429 waits' retries and the cleanup. ProbeBudget adds the probe's.
const Budget = 200

// maxListPages bounds the list walk of ListPaging (pages of listPageSize).
const (
	maxListPages = 12
	listPageSize = 3
)

// ProbeBudget is the most requests the 429 probe spends for a plan of limit requests per
// window.
func ProbeBudget(limit int) int { return 2*limit + 2 }

// ErrBudget ends a run that would exceed its request budget.
var ErrBudget = errors.New("request budget spent")

// runner holds the state of one run.
type runner struct {
	cfg      Config
	base     string // .../v1/customers
	prefix   string
	n        int // scratch customers made so far
	budget   int
	requests int
	scratch  []string // ids to delete
	lost     []string // emails of creates whose outcome is unknown
	answers  []answer // every answer received, for RateLimitHeaders
	limit    int      // X-RateLimit-Limit last seen; -1 unknown
	probing  bool
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
	env    envelope
	at     time.Time
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

type envelope struct {
	Success    *bool           `json:"success"`
	Data       json.RawMessage `json:"data"`
	Pagination *struct {
		HasMore    bool   `json:"hasMore"`
		NextCursor string `json:"nextCursor"`
	} `json:"pagination"`
	Error *apiError `json:"error"`
}

// code returns the answer's error.code, or "" when it has none.
func (a answer) code() string {
	if a.env.Error == nil {
		return ""
	}
	return a.env.Error.Code
}

// field returns the answer's error.field, or "".
func (a answer) field() string {
	if a.env.Error == nil {
		return ""
	}
	return a.env.Error.Field
}

// describe is e.g. "409 conflict (field email)".
func (a answer) describe() string {
	s := strconv.Itoa(a.status)
	if c := a.code(); c != "" {
		s += " " + c
	}
	if f := a.field(); f != "" {
		s += " (field " + f + ")"
	}
	return s
}

// NewPrefix returns a fresh scratch email prefix such as tiquo-contract-1a2b3c4d.
func NewPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return "tiquo-contract-" + hex.EncodeToString(b[:])
}

// Run runs every check against cfg's API, then deletes the scratch customers, also when ctx
// ends early or a check fails. The error is about the run as a whole (a bad config, the
// budget spent, ctx ended); the report is complete as far as the run went either way.
func Run(ctx context.Context, cfg Config, prefix string) (rep Report, runErr error) {
	base, err := collectionURL(cfg.BaseURL)
	if err != nil {
		return Report{}, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Settle == 0 {
		cfg.Settle = 1100 * time.Millisecond
	}
	if cfg.MaxRateLimitWait == 0 {
		cfg.MaxRateLimitWait = 65 * time.Second
	}
	r := &runner{cfg: cfg, base: base, prefix: prefix, budget: Budget, limit: -1}
	rep = Report{Prefix: prefix, Budget: Budget}
	defer func() {
		// Cleanup outlives an interrupted run, within bounds of its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		rep.Leftover = r.cleanup(cctx)
		rep.Requests = r.requests
	}()
	for _, c := range checks {
		if runErr != nil || ctx.Err() != nil {
			rep.Results = append(rep.Results, Result{c.name, NotChecked, "run ended before this check"})
			continue
		}
		if c.name == sandbox.RateLimited429 && !cfg.ProbeRateLimit {
			rep.Results = append(rep.Results, Result{c.name, NotChecked,
				"not asked for (it spends up to twice the plan's limit; see --probe-rate-limit)"})
			continue
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "checking %s\n", c.name)
		}
		res := c.run(ctx, r)
		res.Assumption = c.name
		if errors.Is(res.err, ErrBudget) || ctx.Err() != nil {
			runErr = res.err
			if ctx.Err() != nil {
				runErr = ctx.Err()
			}
		}
		rep.Results = append(rep.Results, res.Result)
	}
	return rep, runErr
}

// outcome is what a check function returns: a Result, and the error that made it Failed.
type outcome struct {
	Result
	err error
}

func holds(format string, args ...any) outcome {
	return outcome{Result: Result{Status: Holds, Seen: fmt.Sprintf(format, args...)}}
}

func differs(format string, args ...any) outcome {
	return outcome{Result: Result{Status: Differs, Seen: fmt.Sprintf(format, args...)}}
}

func failed(err error) outcome {
	return outcome{Result: Result{Status: Failed, Seen: err.Error()}, err: err}
}

// collectionURL returns <base>/v1/customers, accepting a base with or without /v1.
func collectionURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base URL %q is not an absolute http or https URL", raw)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1") + "/v1/customers"
	return u.String(), nil
}

// call sends one request to the collection (id "") or to id. A 429 outside the probe waits
// for the window the answer announced and tries again. Only transport errors, the budget and
// ctx are errors; every answer, whatever its status, is returned.
func (r *runner) call(ctx context.Context, method, id string, query url.Values, body any) (answer, error) {
	target := r.base
	if id != "" {
		target += "/" + url.PathEscape(id)
	}
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return answer{}, err
		}
	}
	for {
		if r.requests >= r.budget {
			return answer{}, fmt.Errorf("%w: %d requests", ErrBudget, r.budget)
		}
		r.requests++
		a, err := r.send(ctx, method, target, payload)
		if err != nil {
			return a, err
		}
		if a.status != http.StatusTooManyRequests || r.probing {
			return a, nil
		}
		if err := r.waitOut(ctx, a); err != nil {
			return a, err
		}
	}
}

func (r *runner) send(ctx context.Context, method, target string, payload []byte) (answer, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tiquo-contract")
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // Its text holds the URL, and so an email filter.
			err = ue.Err
		}
		return answer{}, fmt.Errorf("%s %s: %w", method, routeOf(target), err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: read body: %w", method, routeOf(target), err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: data, at: time.Now()}
	_ = json.Unmarshal(data, &a.env) // A body that is not the envelope shows as missing fields.
	if n, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Limit")); err == nil {
		r.limit = n
	}
	r.answers = append(r.answers, a)
	return a, nil
}

// routeOf names a request target without its id or query, for error texts.
func routeOf(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "/v1/customers"
	}
	if strings.HasSuffix(u.Path, "/customers") {
		return "/v1/customers"
	}
	return "/v1/customers/{id}"
}

// waitOut waits until the rate-limit window a 429 announced ends.
func (r *runner) waitOut(ctx context.Context, a answer) error {
	until, ok := retryTime(a)
	if !ok {
		until = time.Now().Add(time.Second)
	}
	d := time.Until(until)
	if d > r.cfg.MaxRateLimitWait {
		return fmt.Errorf("rate limited for %s, longer than %s", d.Round(time.Second), r.cfg.MaxRateLimitWait)
	}
	if r.cfg.Progress != nil && d > time.Second {
		fmt.Fprintf(r.cfg.Progress, "rate limited: waiting %s\n", d.Round(time.Second))
	}
	t := time.NewTimer(max(d, 0) + 50*time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryTime returns when a 429 asks to be retried: Retry-After, else X-RateLimit-Reset
// (epoch seconds).
func retryTime(a answer) (time.Time, bool) {
	if v := strings.TrimSpace(a.header.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return a.at.Add(time.Duration(n) * time.Second), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(a.header.Get("X-RateLimit-Reset"), 10, 64); err == nil && n > 1e9 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// cleanup deletes every scratch customer, first finding by email those whose create had an
// unknown outcome, and returns the ids it could not delete.
func (r *runner) cleanup(ctx context.Context) []string {
	r.probing = false
	r.budget = r.requests + 2*len(r.scratch) + 2*len(r.lost) + 10 // Cleanup always gets its own.
	for _, email := range r.lost {
		a, err := r.call(ctx, http.MethodGet, "", url.Values{keyEmail: {email}}, nil)
		if err != nil || a.status != http.StatusOK {
			continue
		}
		var items []struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		}
		if json.Unmarshal(a.env.Data, &items) == nil {
			for _, it := range items {
				if strings.EqualFold(it.Email, email) {
					r.scratch = append(r.scratch, it.ID)
				}
			}
		}
	}
	var left []string
	done := map[string]bool{}
	for _, id := range r.scratch {
		if done[id] {
			continue
		}
		done[id] = true
		a, err := r.call(ctx, http.MethodDelete, id, nil, nil)
		if err != nil || (a.status >= 300 && a.status != http.StatusNotFound) {
			left = append(left, id)
		}
	}
	return left
}

// WriteTable writes the report as an aligned table with a summary line.
func (rep Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ASSUMPTION\tRESULT\tSEEN")
	counts := map[Status]int{}
	for _, res := range rep.Results {
		counts[res.Status]++
		fmt.Fprintf(tw, "%s\t%s\t%s\n", res.Assumption, res.Status, res.Seen)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d hold, %d differ, %d failed, %d not checked; %d requests of a budget of %d\n",
		counts[Holds], counts[Differs], counts[Failed], counts[NotChecked], rep.Requests, rep.Budget)
	if err == nil && len(rep.Leftover) > 0 {
		_, err = fmt.Fprintf(w, "could not delete scratch customers %s (emails start with %s): delete them by hand\n",
			strings.Join(rep.Leftover, ", "), rep.Prefix)
	}
	return err
}
