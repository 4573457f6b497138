// Package tiquo is a client for the Tiquo v1 customers API
// (https://docs.tiquo.co/api-reference): get, list, create, update (PATCH)
// and delete customers over HTTPS with a Bearer API key.
//
// One Client serves any number of API keys: the key is an argument of every
// call, and the client keeps a rate limiter per key, shared by all callers
// of that key. Errors of the API are *APIError values, classified by
// IsNotFound, IsConflict, IsRetryable and the other predicates. Requests are
// counted in Prometheus metrics labelled by route template, never by id.
//
// No API key and no personal data appear in any error text, log line or
// metric label the package produces; keys are named by KeyFingerprint.
//
// The package knows HTTP and nothing of Kubernetes.
package tiquo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Version is the client version in the default User-Agent
// ("tiquo-operator/<Version>"); set it at build time with -ldflags -X.
var Version = "dev"

const (
	// DefaultTimeout bounds a whole request when Config.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponseBytes caps response bodies when
	// Config.MaxResponseBytes is zero.
	DefaultMaxResponseBytes = 4 << 20
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API's scheme and host, e.g. https://api.tiquo.co,
	// optionally with a path prefix. The client appends /v1/customers; a
	// trailing /v1 (the docs' form of the base URL) is accepted too.
	BaseURL string
	// UserAgent replaces the default "tiquo-operator/<Version>".
	UserAgent string
	// Timeout bounds each request, from dialling to reading the body;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// CAFile names a PEM bundle of extra CA certificates trusted besides
	// the system pool. TLS verification is always on.
	CAFile string
	// RequestsPerMinute is the client-side budget per API key, shared by
	// all callers of the key (the plan's limit: 100, 1000 or 10000);
	// 0 means no client-side limit. Pauses announced by the API apply
	// either way.
	RequestsPerMinute int
	// MaxResponseBytes caps the response body read; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Registerer receives the client's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Logger gets a V(1) line per request (method, route, status,
	// duration, key fingerprint); the zero Logger discards.
	Logger logr.Logger
	// WrapTransport, when set, wraps the client's transport (TLS and CA
	// settings already applied), e.g. for a tool that times each call or
	// reads headers the client does not keep. The wrapper must not log or
	// keep the Authorization header.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Client talks to the Tiquo customers API. It is safe for concurrent use,
// and one Client should serve the whole process.
type Client struct {
	collection string // absolute URL of /v1/customers
	userAgent  string
	http       *http.Client
	maxBody    int64
	limiters   *keyLimiters
	metrics    *metrics
	log        logr.Logger
}

// New returns a Client for cfg after checking it.
func New(cfg Config) (*Client, error) {
	collection, err := collectionURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 || cfg.MaxResponseBytes < 0 || cfg.RequestsPerMinute < 0 {
		return nil, errors.New("tiquo: Timeout, MaxResponseBytes and RequestsPerMinute must not be negative")
	}
	c := &Client{
		collection: collection,
		userAgent:  cfg.UserAgent,
		maxBody:    cfg.MaxResponseBytes,
		limiters:   newKeyLimiters(cfg.RequestsPerMinute),
		log:        cfg.Logger,
	}
	if c.userAgent == "" {
		c.userAgent = "tiquo-operator/" + Version
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := caPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tlsConfig.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.MaxIdleConnsPerHost = 32
	var rt http.RoundTripper = tr
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(rt)
	}
	if cfg.Registerer != nil {
		if c.metrics, err = newMetrics(cfg.Registerer); err != nil {
			return nil, err
		}
		rt = &instrumentedTransport{next: rt, m: c.metrics}
	}
	c.http = &http.Client{
		Transport: rt,
		Timeout:   timeout,
		// Never follow a redirect: it could take the request, and the
		// Authorization header, to another path or host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// collectionURL checks a base URL and returns the URL of /v1/customers
// under it.
func collectionURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("tiquo: base URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("tiquo: base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("tiquo: base URL must be an absolute http or https URL, got scheme %q", u.Scheme)
	case u.Host == "":
		return "", errors.New("tiquo: base URL has no host")
	case u.User != nil:
		return "", errors.New("tiquo: base URL must not hold credentials")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", errors.New("tiquo: base URL must not have a query or fragment")
	}
	prefix := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1")
	u.Path, u.RawPath = prefix+routeCollection, ""
	return u.String(), nil
}

// caPool returns the system pool plus the certificates in file.
func caPool(file string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tiquo: read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("tiquo: CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// CloseIdleConnections closes the client's idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// RateLimit returns the rate-limit headers of the last answer received for
// apiKey, if any.
func (c *Client) RateLimit(apiKey string) (RateLimit, bool) {
	k := c.limiters.peek(apiKey)
	if k == nil {
		return RateLimit{}, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.last, k.seen
}

// RetainKeys drops what the client keeps about every API key but those in inUse: its rate
// limiter, its last rate-limit headers and its tiquo_rate_limit_remaining series. Call it
// whenever the keys in use change (a key is rotated, its last user goes), and now and then:
// a call already under way with a key dropped brings the key back, and the next call of
// RetainKeys drops it again. A later call with a dropped key starts afresh.
func (c *Client) RetainKeys(inUse []string) {
	for _, k := range c.limiters.retain(inUse) {
		if c.metrics != nil {
			c.metrics.remaining.DeleteLabelValues(k.fingerprint)
		}
	}
}

// checkID refuses ids that are empty or could address another path once
// escaped or normalised by a proxy.
func checkID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("tiquo: %w: empty", ErrInvalidID)
	case strings.Contains(id, "/"), strings.Contains(id, ".."), id == ".":
		return fmt.Errorf("tiquo: %w: must not contain \"/\" or \"..\"", ErrInvalidID)
	case strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("tiquo: %w: must not contain control characters", ErrInvalidID)
	}
	return nil
}

// GetCustomer returns the customer with the given id
// (GET /v1/customers/{id}, scope customers:read).
func (c *Client) GetCustomer(ctx context.Context, apiKey, id string) (*Customer, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var out Customer
	if _, err := c.do(ctx, apiKey, http.MethodGet, id, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateCustomer sends the fields set in p (PATCH /v1/customers/{id}, scope
// customers:write) and returns the record the API answers with, which may
// lack fields a GET would show. The API merges address and replaces tags;
// an update is idempotent, so it is safe to retry.
func (c *Client) UpdateCustomer(ctx context.Context, apiKey, id string, p Patch) (*Customer, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var out Customer
	if _, err := c.do(ctx, apiKey, http.MethodPatch, id, nil, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateCustomer creates a customer (POST /v1/customers, scope
// customers:write) and returns it with its new id. The API has no
// idempotency key: a retry after a timeout may create a duplicate or meet a
// 409 conflict on the email, so look the customer up by email before
// retrying.
func (c *Client) CreateCustomer(ctx context.Context, apiKey string, req CreateRequest) (*Customer, error) {
	var out Customer
	if _, err := c.do(ctx, apiKey, http.MethodPost, "", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetArchived archives (true) or restores (false) a customer with
// PATCH /v1/customers/{id} {"archived": ...} and returns the record as
// Tiquo stored it. An archived record keeps its data and its email but is
// hidden from lists and lookups by email.
func (c *Client) SetArchived(ctx context.Context, apiKey, id string, archived bool) (*Customer, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var out Customer
	body := object{{name: "archived", value: archived}}
	if _, err := c.do(ctx, apiKey, http.MethodPatch, id, nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteCustomer deletes a customer for good (DELETE /v1/customers/{id},
// scope customers:write). A 404 means the customer is already gone; a 409
// that it has active bookings or orders.
func (c *Client) DeleteCustomer(ctx context.Context, apiKey, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	_, err := c.do(ctx, apiKey, http.MethodDelete, id, nil, nil, nil)
	return err
}

// ListCustomers iterates over the customers matching opts
// (GET /v1/customers, scope customers:read), fetching pages of opts.Limit
// as the loop goes. An error ends the iteration after being yielded with a
// nil customer. Stopping the loop early sends no further request.
func (c *Client) ListCustomers(ctx context.Context, apiKey string, opts ListOptions) iter.Seq2[*Customer, error] {
	return func(yield func(*Customer, error) bool) {
		if opts.Limit < 0 || opts.Limit > MaxListLimit {
			yield(nil, fmt.Errorf("tiquo: list limit %d outside 1..%d", opts.Limit, MaxListLimit))
			return
		}
		cursor := opts.Cursor
		for {
			q := url.Values{}
			if opts.Limit > 0 {
				q.Set("limit", strconv.Itoa(opts.Limit))
			}
			if opts.Email != "" {
				q.Set("email", opts.Email)
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var page []*Customer
			pg, err := c.do(ctx, apiKey, http.MethodGet, "", q, nil, &page)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, cu := range page {
				if cu == nil {
					continue
				}
				if !yield(cu, nil) {
					return
				}
			}
			if pg == nil || !pg.HasMore {
				return
			}
			if pg.NextCursor == "" || pg.NextCursor == cursor {
				yield(nil, fmt.Errorf("tiquo: GET %s: %w: pagination did not advance", routeCollection, ErrMalformedResponse))
				return
			}
			cursor = pg.NextCursor
		}
	}
}

// pagination is the list envelope's pagination object.
type pagination struct {
	HasMore    bool   `json:"hasMore"`
	NextCursor string `json:"nextCursor"`
}

// successEnvelope is the documented success body.
type successEnvelope struct {
	Success    *bool           `json:"success"`
	Data       json.RawMessage `json:"data"`
	Pagination *pagination     `json:"pagination"`
}

// do sends one request to the collection (id empty) or to the item id, and
// decodes the envelope's data into out (when not nil). It returns the
// envelope's pagination, if any.
func (c *Client) do(ctx context.Context, apiKey, method, id string, query url.Values, body, out any) (pg *pagination, err error) {
	// A server may echo the key back, e.g. in an error message; it stays out of the error.
	defer func() { err = redactKey(err, apiKey) }()
	route, target := c.target(id, query)
	if apiKey == "" {
		return nil, fmt.Errorf("tiquo: %s %s: %w", method, route, ErrMissingAPIKey)
	}
	reqBody, err := encodeBody(body)
	if err != nil {
		return nil, fmt.Errorf("tiquo: %s %s: encode body: %w", method, route, err)
	}

	kl := c.limiters.get(apiKey)
	if err := kl.wait(ctx); err != nil {
		return nil, annotate(err, method, route)
	}
	req, err := c.newRequest(withRoute(ctx, route), apiKey, method, target, reqBody)
	if err != nil {
		return nil, fmt.Errorf("tiquo: %s %s: %w", method, route, err)
	}
	resp, err := c.send(req, kl, route)
	if err != nil {
		return nil, err
	}
	if resp.status < 200 || resp.status > 299 {
		return nil, apiError(resp.status, resp.data, resp.rl.retryTime(resp.status), method, route)
	}
	if resp.readErr != nil {
		return nil, fmt.Errorf("tiquo: %s %s: read body: %w", method, route, transportError(resp.readErr))
	}
	return decodeSuccess(resp.status, resp.data, method, route, out)
}

// redacted replaces an API key that a server echoed in its answer.
const redacted = "[redacted]"

// redactKey removes apiKey from the text of err and of the *APIError it holds, should the
// server have quoted it (in an error message, or in a value that failed to decode).
func redactKey(err error, apiKey string) error {
	if err == nil || apiKey == "" {
		return err
	}
	var e *APIError
	if errors.As(err, &e) {
		e.Code = strings.ReplaceAll(e.Code, apiKey, redacted)
		e.Message = strings.ReplaceAll(e.Message, apiKey, redacted)
		e.Field = strings.ReplaceAll(e.Field, apiKey, redacted)
	}
	if text := err.Error(); strings.Contains(text, apiKey) {
		return &redactedError{text: strings.ReplaceAll(text, apiKey, redacted), err: err}
	}
	return err
}

// redactedError is an error whose text had the API key in it, with the key replaced.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// target returns the route template and the URL of a request to the
// collection (id empty) or to the item id, with query appended.
func (c *Client) target(id string, query url.Values) (route, target string) {
	route, target = routeCollection, c.collection
	if id != "" {
		route, target = routeItem, c.collection+"/"+url.PathEscape(id)
	}
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	return route, target
}

// encodeBody returns the JSON encoding of body as a request body, or nil
// when body is nil.
func encodeBody(body any) (io.Reader, error) {
	if body == nil {
		return nil, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}

// newRequest builds a JSON request authenticated with apiKey.
func (c *Client) newRequest(ctx context.Context, apiKey, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// response is what send read of one answer.
type response struct {
	status  int
	rl      RateLimit
	data    []byte // at most the client's maxBody bytes
	readErr error  // from reading the body, if any
}

// send sends req, feeds the answer's rate-limit headers to kl and the
// metrics, and reads the body. Only a transport failure is an error; a
// failure to read the body is left in the response's readErr.
func (c *Client) send(req *http.Request, kl *keyLimiter, route string) (response, error) {
	method := req.Method
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.V(1).Info("Tiquo request failed", "method", method, "route", route,
			"duration", time.Since(start), "key", kl.fingerprint, "error", transportError(err).Error())
		return response{}, fmt.Errorf("tiquo: %s %s: %w", method, route, transportError(err))
	}
	defer func() { _ = resp.Body.Close() }()

	now := time.Now()
	rl, haveRL := parseRateLimit(resp.Header, now)
	if haveRL || resp.StatusCode == http.StatusTooManyRequests {
		kl.observe(rl, resp.StatusCode, now)
	}
	if c.metrics != nil && rl.Remaining >= 0 {
		kl.setRemaining(c.metrics.remaining, rl.Remaining)
	}
	data, readErr := readCapped(resp.Body, c.maxBody)
	c.log.V(1).Info("Tiquo request", "method", method, "route", route, "status", resp.StatusCode,
		"duration", time.Since(start), "key", kl.fingerprint)
	return response{status: resp.StatusCode, rl: rl, data: data, readErr: readErr}, nil
}

// decodeSuccess decodes the success envelope of a 2xx answer, and its data
// into out (when not nil). It returns the envelope's pagination, if any.
func decodeSuccess(status int, data []byte, method, route string, out any) (*pagination, error) {
	var env successEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("tiquo: %s %s: %w: %w", method, route, ErrMalformedResponse, err)
	}
	if env.Success != nil && !*env.Success {
		return nil, apiError(status, data, time.Time{}, method, route)
	}
	if out != nil {
		if len(env.Data) == 0 || string(env.Data) == "null" {
			return nil, fmt.Errorf("tiquo: %s %s: %w: no data", method, route, ErrMalformedResponse)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			return nil, fmt.Errorf("tiquo: %s %s: %w: %w", method, route, ErrMalformedResponse, err)
		}
	}
	return env.Pagination, nil
}

// apiError is the *APIError of an answer to method on route.
func apiError(status int, body []byte, retryAfter time.Time, method, route string) *APIError {
	e := newAPIError(status, body, retryAfter)
	e.Method, e.Route = method, route
	return e
}

// annotate names the call in an *APIError the client made up itself.
func annotate(err error, method, route string) error {
	var e *APIError
	if errors.As(err, &e) {
		e.Method, e.Route = method, route
		return e
	}
	return fmt.Errorf("tiquo: %s %s: %w", method, route, err)
}

// transportError strips the *url.Error wrapper, whose text holds the full
// URL and so the query (an email filter is personal data).
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readCapped reads r up to limit bytes; past that it returns the first
// limit bytes and ErrResponseTooLarge.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(data)) > limit {
		return data[:limit], fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
	}
	return data, err
}
