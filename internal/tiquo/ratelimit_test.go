package tiquo

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRateLimit(t *testing.T) {
	now := time.Date(2024, 1, 1, 11, 59, 0, 0, time.UTC)
	cases := map[string]struct {
		header http.Header
		want   RateLimit
		wantOK bool
	}{
		"none": {header: http.Header{}, want: RateLimit{Limit: -1, Remaining: -1}},
		"docs example": {
			header: http.Header{"X-Ratelimit-Limit": {"1000"}, "X-Ratelimit-Remaining": {"950"}, "X-Ratelimit-Reset": {"1704110400"}},
			want:   RateLimit{Limit: 1000, Remaining: 950, Reset: time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)}, wantOK: true,
		},
		"reset as seconds from now": {
			header: http.Header{"X-Ratelimit-Reset": {"30"}},
			want:   RateLimit{Limit: -1, Remaining: -1, Reset: now.Add(30 * time.Second)}, wantOK: true,
		},
		"reset in epoch milliseconds": {
			header: http.Header{"X-Ratelimit-Reset": {"1704110400000"}},
			want:   RateLimit{Limit: -1, Remaining: -1, Reset: time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)}, wantOK: true,
		},
		"retry-after seconds": {
			header: http.Header{"Retry-After": {"120"}},
			want:   RateLimit{Limit: -1, Remaining: -1, RetryAfter: now.Add(2 * time.Minute)}, wantOK: true,
		},
		"retry-after date": {
			header: http.Header{"Retry-After": {"Mon, 01 Jan 2024 12:00:05 GMT"}},
			want:   RateLimit{Limit: -1, Remaining: -1, RetryAfter: time.Date(2024, 1, 1, 12, 0, 5, 0, time.UTC)}, wantOK: true,
		},
		"garbage ignored": {
			header: http.Header{"X-Ratelimit-Limit": {"lots"}, "X-Ratelimit-Remaining": {"-3"}, "X-Ratelimit-Reset": {"soon"}, "Retry-After": {"later"}},
			want:   RateLimit{Limit: -1, Remaining: -1},
		},
		"zero remaining": {
			header: http.Header{"X-Ratelimit-Remaining": {"0"}},
			want:   RateLimit{Limit: -1, Remaining: 0}, wantOK: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := parseRateLimit(tc.header, now)
			if ok != tc.wantOK {
				t.Errorf("ok = %v, want %v", ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyLimiterPause(t *testing.T) {
	k := newKeyLimiters(0).get("sk_test_x")
	now := time.Now()
	until := now.Add(10 * time.Minute)
	k.observe(RateLimit{Limit: 10, Remaining: 0, Reset: until}, http.StatusTooManyRequests, now)

	// A caller whose deadline falls before the pause ends is refused at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := k.wait(ctx)
	at, ok := RetryAt(err)
	if !IsRateLimited(err) || !ok || !at.Equal(until) {
		t.Errorf("wait = %v (retry at %v), want a local 429 until %v", err, at, until)
	}
	// A 429 without a reset pauses briefly, never in the past.
	k2 := newKeyLimiters(0).get("sk_test_y")
	k2.observe(RateLimit{Limit: -1, Remaining: -1}, http.StatusTooManyRequests, now)
	if d := k2.pausedUntil.Sub(now); d != defaultRetryPause {
		t.Errorf("pause without reset = %v, want %v", d, defaultRetryPause)
	}
	// A pause is capped.
	k2.observe(RateLimit{Reset: now.Add(24 * time.Hour)}, http.StatusTooManyRequests, now)
	if d := k2.pausedUntil.Sub(now); d != maxRetryPause {
		t.Errorf("long pause = %v, want %v", d, maxRetryPause)
	}
}

func TestCollectionURL(t *testing.T) {
	cases := map[string]struct {
		in, want string
		wantErr  bool
	}{
		"host":           {in: "https://api.tiquo.co", want: "https://api.tiquo.co/v1/customers"},
		"trailing slash": {in: "https://api.tiquo.co/", want: "https://api.tiquo.co/v1/customers"},
		"docs base":      {in: "https://api.tiquo.co/v1", want: "https://api.tiquo.co/v1/customers"},
		"prefix":         {in: "http://127.0.0.1:8089/proxy/", want: "http://127.0.0.1:8089/proxy/v1/customers"},
		"empty":          {in: "", wantErr: true},
		"no scheme":      {in: "api.tiquo.co", wantErr: true},
		"ftp":            {in: "ftp://api.tiquo.co", wantErr: true},
		"no host":        {in: "https://", wantErr: true},
		"credentials":    {in: "https://user:pw@api.tiquo.co", wantErr: true},
		"query":          {in: "https://api.tiquo.co?x=1", wantErr: true},
		"fragment":       {in: "https://api.tiquo.co#x", wantErr: true},
		"unparseable":    {in: "https://[::1", wantErr: true},
		"relative":       {in: "/v1", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := collectionURL(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("collectionURL(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
