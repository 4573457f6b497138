package tiquo

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fuzz targets feed arbitrary answers through the client's response handling. Whatever a
// server sends, the client must not panic, must return either a result or an error of a known
// kind (*APIError, or one wrapping ErrMalformedResponse or ErrResponseTooLarge), and must never
// put the API key in an error's text, even when the server echoes it.
//
// `go test` runs the seed corpora in testdata/fuzz; `make fuzz` fuzzes each target for
// FUZZTIME.

// fuzzKey is the key the fuzzed client sends; "$KEY" in a fuzzed body or header becomes it, as
// if the server echoed the Authorization header.
const fuzzKey = "sk_test_FUZZsecret_5f3b9e21"

// fuzzMaxBody is the fuzzed client's response cap, small so that oversized bodies are cheap.
const fuzzMaxBody = 1 << 10

// fuzzAnswer is what the fuzz server answers next.
type fuzzAnswer struct {
	status  int
	body    []byte
	headers map[string]string
}

// headerValue keeps the bytes an HTTP header value may hold, so that the answer stays a valid
// HTTP message (the transport's own parsing is not under test).
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r >= 0x20 && r < 0x7f {
			return r
		}
		return -1
	}, strings.ReplaceAll(s, "$KEY", fuzzKey))
}

// finalStatus maps a fuzzed number to a final HTTP status, 200 to 599: informational answers
// are not final, and 200 to 599 map to themselves so that seeds read naturally.
func finalStatus(n uint16) int {
	if n >= 200 && n <= 599 {
		return int(n)
	}
	return 200 + int(n)%400
}

// checkErr fails the test when err is not of a known kind or holds the key. A call whose
// context expired (a loaded machine) may fail with the context's error instead.
func checkErr(ctx context.Context, t *testing.T, err error, status int) {
	t.Helper()
	if err == nil {
		return
	}
	// The predicates must not panic on any error.
	_ = IsNotFound(err) || IsConflict(err) || IsValidation(err) || IsUnauthorized(err) ||
		IsForbidden(err) || IsRateLimited(err) || IsRetryable(err)
	_, _ = RetryAt(err)
	if strings.Contains(err.Error(), fuzzKey) {
		t.Fatalf("the error text holds the API key: %v", err)
	}
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		if strings.Contains(apiErr.Message+apiErr.Code+apiErr.Field, fuzzKey) {
			t.Fatalf("the APIError holds the API key: %+v", apiErr)
		}
		if status != 0 && apiErr.StatusCode != status && apiErr.Code != CodeClientRateLimited {
			t.Fatalf("APIError status %d for an answer with status %d", apiErr.StatusCode, status)
		}
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
	case status < 200 || status > 299:
		t.Fatalf("a %d answer gave %T %v, want an *APIError", status, err, err)
	case errors.Is(err, ErrMalformedResponse), errors.Is(err, ErrResponseTooLarge):
	default:
		t.Fatalf("a %d answer gave %T %v, want an *APIError or ErrMalformedResponse or ErrResponseTooLarge", status, err, err)
	}
}

// FuzzClientResponse answers GetCustomer, UpdateCustomer and ListCustomers over HTTP with a
// fuzzed status, body and rate-limit headers.
func FuzzClientResponse(f *testing.F) {
	f.Add(uint8(0), uint16(200), []byte(`{"success":true,"data":{"id":"cust_1","firstName":"John"}}`), "", "", "")
	f.Add(uint8(1), uint16(503), []byte(`{"success":false,"error":{"code":"x","message":"echo $KEY"}}`), "1", "", "")

	var (
		mu   sync.Mutex
		next fuzzAnswer
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a := next // Read under mu, held by the fuzz function for the whole call.
		for k, v := range a.headers {
			if v != "" {
				w.Header().Set(k, v)
			}
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(srv.Close)

	f.Fuzz(func(t *testing.T, op uint8, status uint16, body []byte, retryAfter, rateReset, remaining string) {
		st := finalStatus(status)
		mu.Lock()
		defer mu.Unlock()
		next = fuzzAnswer{
			status: st,
			body:   []byte(strings.ReplaceAll(string(body), "$KEY", fuzzKey)),
			headers: map[string]string{
				"Content-Type": "application/json", "Retry-After": headerValue(retryAfter),
				"X-RateLimit-Reset": headerValue(rateReset), "X-RateLimit-Remaining": headerValue(remaining),
				"X-RateLimit-Limit": "100",
			},
		}
		// A fresh client each time: a fuzzed 429 pauses the key for up to 15 minutes. The short
		// deadline makes a paused key answer at once (a local 429) rather than wait.
		c, err := New(Config{BaseURL: srv.URL, Timeout: 5 * time.Second, MaxResponseBytes: fuzzMaxBody})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()

		ok2xx := st >= 200 && st <= 299
		switch op % 3 {
		case 0, 1:
			var cu *Customer
			if op%3 == 0 {
				cu, err = c.GetCustomer(ctx, fuzzKey, "cust_1")
			} else {
				cu, err = c.UpdateCustomer(ctx, fuzzKey, "cust_1", Patch{Notes: new("x")})
			}
			checkErr(ctx, t, err, st)
			if err == nil && (cu == nil || !ok2xx) {
				t.Fatalf("a %d answer gave customer %+v and no error", st, cu)
			}
		default:
			n := 0
			for cu, err := range c.ListCustomers(ctx, fuzzKey, ListOptions{Limit: 10}) {
				checkErr(ctx, t, err, st)
				if err == nil && (cu == nil || !ok2xx) {
					t.Fatalf("a %d answer yielded customer %+v and no error", st, cu)
				}
				if n++; n > 1000 {
					t.Fatal("the listing does not end")
				}
			}
		}
	})
}

// FuzzDecodeResponse feeds bodies straight to the functions that parse answers: the success
// envelope into a customer and into a page, and the error envelope.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(uint16(200), []byte(`{"success":true,"data":{"id":"c","createdAt":"2024-01-15T10:30:00Z"}}`))
	f.Add(uint16(404), []byte(`{"success":false,"error":{"code":"not_found","message":"Customer not found"}}`))

	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		st := finalStatus(status)
		// decodeSuccess reads 2xx answers only.
		ok := 200 + st%100
		var cu Customer
		if _, err := decodeSuccess(ok, body, http.MethodGet, routeItem, &cu); err != nil {
			checkErr(context.Background(), t, err, ok)
		} else {
			for _, ts := range []*time.Time{cu.CreatedAt, cu.UpdatedAt, cu.LastVisit} {
				if ts != nil && ts.Location() != time.UTC {
					t.Fatalf("timestamp %v is not in UTC", ts)
				}
			}
		}
		var page []*Customer
		if _, err := decodeSuccess(ok, body, http.MethodGet, routeCollection, &page); err != nil {
			checkErr(context.Background(), t, err, ok)
		}
		e := newAPIError(st, body, time.Time{})
		if e.StatusCode != st || e.Error() == "" {
			t.Fatalf("newAPIError(%d) = %+v", st, e)
		}
	})
}

// FuzzRateLimitHeaders feeds rate-limit headers to their parser and to a key's limiter: no
// header can pause a key for longer than maxRetryPause, and a 429 always pauses it a little.
func FuzzRateLimitHeaders(f *testing.F) {
	f.Add("120", "1700000000", "0", "100")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", "", "", "")

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, retryAfter, reset, remaining, limit string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("X-RateLimit-Reset", reset)
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Limit", limit)
		rl, _ := parseRateLimit(h, now)
		if rl.Limit < -1 || rl.Remaining < -1 {
			t.Fatalf("negative counts: %+v", rl)
		}
		for _, status := range []int{http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable} {
			k := &keyLimiter{}
			k.observe(rl, status, now)
			if k.pausedUntil.After(now.Add(maxRetryPause)) {
				t.Fatalf("headers %+v pause the key until %s, past the cap of %s", h, k.pausedUntil, maxRetryPause)
			}
			if status == http.StatusTooManyRequests && !k.pausedUntil.After(now) {
				t.Fatalf("a 429 with headers %+v does not pause the key", h)
			}
		}
		// A Retry-After of n seconds asks for that long, up to the cap: never less.
		if n, err := strconv.ParseInt(strings.TrimSpace(retryAfter), 10, 64); err == nil && n >= 0 {
			want := maxRetryPause
			if n < int64(maxRetryPause/time.Second) {
				want = max(time.Duration(n)*time.Second, defaultRetryPause)
			}
			k := &keyLimiter{}
			k.observe(rl, http.StatusTooManyRequests, now)
			if k.pausedUntil.Before(now.Add(want)) {
				t.Fatalf("Retry-After %q pauses the key until %s, before %s", retryAfter, k.pausedUntil, now.Add(want))
			}
		}
	})
}
