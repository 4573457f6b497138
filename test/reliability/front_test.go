package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// front is the Tiquo the managers under test talk to: the sandbox behind a handler of the
// test's that logs every request with its start and end (so a test knows which were in flight at
// a moment), tells the managers apart by a path prefix (/m/<name>/v1/...), and injects the
// faults the sandbox has not: 429 storms with or without Retry-After, oversized bodies, and an
// error that echoes the caller's API key.
type front struct {
	*sandbox.Sandbox
	srv *httptest.Server
	// URL is the base URL with no manager prefix.
	URL string

	mu    sync.Mutex
	calls []*call
	fault frontFault
}

// frontFault is a fault the front injects instead of passing a request to the sandbox.
type frontFault struct {
	// tooMany answers 429 rate_limit_exceeded, with a Retry-After of retryAfter when set and
	// no rate-limit header at all otherwise.
	tooMany    bool
	retryAfter string
	// pad appends that many bytes of JSON whitespace to the sandbox's answer.
	pad int
	// echoKey answers 503 with an error message that quotes the request's Authorization header.
	echoKey bool
	// only, when set, limits the fault to requests for this path.
	only string
}

// call is one request as the front saw it.
type call struct {
	// Manager is the name in the /m/<name> prefix, or "".
	Manager string
	Method  string
	// Path is the escaped path without the manager prefix, e.g. /v1/customers/cust_1.
	Path string
	// Query is the raw query string, e.g. email=ada%40example.com.
	Query string
	// Body is the request body as sent.
	Body       []byte
	Start, End time.Time // End is zero while the request is in flight.
	// Status is the status answered; 0 for a reset, a hang or no answer yet.
	Status int
	// Injected is true when the front answered instead of the sandbox.
	Injected bool
}

func newFront(t *testing.T, opts sandbox.Options) *front {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = map[string][]string{keyRW: {sandbox.ScopeRead, sandbox.ScopeWrite}}
	}
	f := &front{Sandbox: sandbox.New(opts)}
	f.srv = httptest.NewServer(f)
	f.URL = f.srv.URL
	t.Cleanup(func() {
		f.Close() // Releases hanging requests.
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

// base returns the base URL a manager of the given name uses.
func (f *front) base(manager string) string { return f.URL + "/m/" + manager }

func (f *front) setFault(ff frontFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = ff
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{Method: r.Method, Start: time.Now()}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/m/"); ok {
		name, _, _ := strings.Cut(rest, "/")
		prefix := "/m/" + name
		c.Manager = name
		r.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
		r.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, prefix)
	}
	c.Path, c.Query = r.URL.EscapedPath(), r.URL.RawQuery
	if r.Body != nil {
		// Kept for the tests' assertions; the sandbox reads the copy.
		c.Body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(c.Body))
	}
	f.mu.Lock()
	ff := f.fault
	if ff.only != "" && ff.only != c.Path {
		ff = frontFault{}
	}
	c.Injected = ff.tooMany || ff.echoKey
	f.calls = append(f.calls, c)
	f.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	// Recorded even when the sandbox aborts the handler with a panic (the hang fault).
	defer func() {
		f.mu.Lock()
		c.End, c.Status = time.Now(), sw.status
		f.mu.Unlock()
	}()
	switch {
	case ff.tooMany:
		if ff.retryAfter != "" {
			sw.Header().Set("Retry-After", ff.retryAfter)
		}
		writeJSON(sw, http.StatusTooManyRequests,
			`{"success":false,"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded"}}`)
	case ff.echoKey:
		body, _ := json.Marshal(map[string]any{"success": false, "error": map[string]string{
			"code":    "service_unavailable",
			"message": "upstream refused the request with " + r.Header.Get("Authorization"),
		}})
		writeJSON(sw, http.StatusServiceUnavailable, string(body))
	case ff.pad > 0:
		rec := httptest.NewRecorder()
		f.Sandbox.ServeHTTP(rec, r)
		maps.Copy(sw.Header(), rec.Header())
		sw.Header().Del("Content-Length")
		sw.WriteHeader(rec.Code)
		_, _ = sw.Write(rec.Body.Bytes())
		_, _ = sw.Write(bytes.Repeat([]byte(" "), ff.pad))
	default:
		f.Sandbox.ServeHTTP(sw, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// statusWriter remembers the status written; it passes Hijack through for the reset fault.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// log returns a copy of the calls so far, oldest first.
func (f *front) log() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]call, len(f.calls))
	for i, c := range f.calls {
		out[i] = *c
	}
	return out
}

// where returns the items (calls, events) for which keep is true.
func where[T any](items []T, keep func(T) bool) []T {
	var out []T
	for _, it := range items {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

// itemPath is the path of the record with the given id, escaped as the API wants it.
func itemPath(id string) string { return "/v1/customers/" + url.PathEscape(id) }

// forID keeps the calls on one record.
func forID(id string) func(call) bool {
	return func(c call) bool { return c.Path == itemPath(id) }
}

// patches keeps the PATCH calls; ok2xx keeps only those answered with success.
func patches(ok2xx bool) func(call) bool {
	return func(c call) bool {
		return c.Method == http.MethodPatch && (!ok2xx || c.Status >= 200 && c.Status < 300)
	}
}

// countBy counts calls per path.
func countBy(calls []call, keep func(call) bool) map[string]int {
	n := map[string]int{}
	for _, c := range calls {
		if keep(c) {
			n[c.Path]++
		}
	}
	return n
}

// maxInWindow returns the largest number of calls that started within any window of length w.
func maxInWindow(calls []call, w time.Duration) int {
	starts := make([]time.Time, len(calls))
	for i, c := range calls {
		starts[i] = c.Start
	}
	slices.SortFunc(starts, time.Time.Compare)
	best, lo := 0, 0
	for hi := range starts {
		for starts[hi].Sub(starts[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}
