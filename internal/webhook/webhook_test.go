package webhook_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/webhook"
)

func TestSignIsHMACSHA256OfTimestampDotBody(t *testing.T) {
	// Computed independently: printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test
	const want = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
	got := webhook.Sign([]byte("whsec_test"), "1700000000", []byte(`{"id":"evt_1"}`))
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret, ts, body := []byte("whsec_test"), "1700000000", []byte(`{"id":"evt_1"}`)
	sig := webhook.Sign(secret, ts, body)
	tests := []struct {
		name                string
		secret              []byte
		ts, body, signature string
		want                bool
	}{
		{"as signed", secret, ts, string(body), sig, true},
		{"with sha256= prefix", secret, ts, string(body), "sha256=" + sig, true},
		{"other secret", []byte("whsec_other"), ts, string(body), sig, false},
		{"other timestamp", secret, "1700000001", string(body), sig, false},
		{"other body", secret, ts, `{"id":"evt_2"}`, sig, false},
		{"not hex", secret, ts, string(body), "zz" + sig[2:], false},
		{"empty signature", secret, ts, string(body), "", false},
		{"empty secret", nil, ts, string(body), webhook.Sign(nil, ts, body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webhook.Verify(tt.secret, tt.ts, []byte(tt.body), tt.signature); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReplayGuardRemembersBoundedAndForgets(t *testing.T) {
	g := webhook.NewReplayGuard(3, time.Minute)
	t0 := time.Unix(1700000000, 0)
	if g.Seen("evt_1", t0) {
		t.Fatal("a new id is seen")
	}
	if !g.Seen("evt_1", t0.Add(time.Second)) {
		t.Fatal("a repeated id is not seen")
	}
	for i := 2; i <= 4; i++ {
		g.Seen(fmt.Sprintf("evt_%d", i), t0.Add(2*time.Second))
	}
	if n := g.Len(); n != 3 {
		t.Errorf("holds %d ids, want the capacity 3", n)
	}
	if g.Seen("evt_1", t0.Add(3*time.Second)) {
		t.Error("the oldest id was kept past the capacity")
	}
	if n := g.Len(); n != 3 {
		t.Errorf("holds %d ids, want 3", n)
	}
	if g.Seen("evt_9", t0.Add(2*time.Minute)); g.Len() != 1 {
		t.Errorf("holds %d ids after the ttl, want 1", g.Len())
	}
	g.Forget("evt_9")
	if g.Seen("evt_9", t0.Add(2*time.Minute)) {
		t.Error("a forgotten id is seen")
	}
}

func TestHintLimiterOnePerIntervalThenOneDeferred(t *testing.T) {
	l := webhook.NewHintLimiter(time.Second, 2)
	t0 := time.Unix(1700000000, 0)
	type step struct {
		id    string
		at    time.Duration
		ok    bool
		after time.Duration
	}
	steps := []step{
		{"a", 0, true, 0},
		{"a", 100 * time.Millisecond, false, 900 * time.Millisecond}, // deferred to the interval's end
		{"a", 500 * time.Millisecond, false, 0},                      // already pending: free
		{"b", 500 * time.Millisecond, true, 0},
		{"c", 600 * time.Millisecond, false, 0},                       // full: two records are within their interval
		{"a", 1200 * time.Millisecond, false, 800 * time.Millisecond}, // after the deferred one at 1s
		{"a", 2100 * time.Millisecond, false, 900 * time.Millisecond}, // the deferred one went at 2s
		{"c", 2100 * time.Millisecond, true, 0},                       // b's interval has passed; it was forgotten
	}
	for i, s := range steps {
		ok, after := l.Allow(s.id, t0.Add(s.at))
		if ok != s.ok || after != s.after {
			t.Errorf("step %d (%s at %s): Allow = %v, %s; want %v, %s", i, s.id, s.at, ok, after, s.ok, s.after)
		}
	}
	if n := l.Len(); n > 2 {
		t.Errorf("holds %d records, want at most 2", n)
	}
	l.Allow("z", t0.Add(time.Hour))
	if n := l.Len(); n != 1 {
		t.Errorf("holds %d records an hour later, want 1", n)
	}
}
