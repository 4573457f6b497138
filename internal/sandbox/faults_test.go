package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

func TestFaultLatency(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{Latency: 100 * time.Millisecond, LatencyJitter: 50 * time.Millisecond}})
	start := time.Now()
	if r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", ""); r.Status != 200 {
		t.Fatalf("GET = %d", r.Status)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("answered after %v, want at least 100ms", d)
	}
}

func TestFaultErrors(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	for _, status := range []int{500, 502, 503} {
		s.SetFaults(sandbox.Faults{ErrorRate: 1, ErrorStatus: status})
		r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", "")
		if r.Status != status {
			t.Errorf("status = %d, want %d", r.Status, status)
		}
		if status == 502 && json.Valid(r.Raw) {
			t.Errorf("502 body is JSON, want an HTML proxy page: %s", r.Raw)
		}
		if status != 502 && (r.Env.Error == nil || r.Env.Success) {
			t.Errorf("%d body = %s, want the error envelope", status, r.Raw)
		}
	}

	s.SetFaults(sandbox.Faults{ErrorRate: 1})
	for range 20 {
		if r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", ""); r.Status != 500 && r.Status != 502 && r.Status != 503 {
			t.Fatalf("random error status = %d", r.Status)
		}
	}

	// A fraction: with p = 0.5 over 200 requests, fewer than 40 or more
	// than 160 errors has a probability below 1e-17.
	s.SetFaults(sandbox.Faults{ErrorRate: 0.5, ErrorStatus: 503})
	errs := 0
	for range 200 {
		if call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", "").Status == 503 {
			errs++
		}
	}
	if errs < 40 || errs > 160 {
		t.Errorf("%d of 200 requests failed at rate 0.5", errs)
	}

	// Faults change nothing when off again.
	s.SetFaults(sandbox.Faults{})
	if r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", ""); r.Status != 200 {
		t.Errorf("after clearing faults = %d", r.Status)
	}
}

func TestFaultReset(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{ResetRate: 1}})
	req, _ := http.NewRequest("GET", s.URL+"/v1/customers/cust_abc123", nil)
	req.Header.Set("Authorization", "Bearer "+keyRW)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("GET with reset fault = %d, want an error", resp.StatusCode)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Logf("error is %v (not ECONNRESET; acceptable if the RST arrived as EOF)", err)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Status != 0 {
		t.Errorf("log = %+v, want one request with status 0", reqs)
	}
}

func TestFaultHang(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{HangRate: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/v1/customers/cust_abc123", nil)
	req.Header.Set("Authorization", "Bearer "+keyRW)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("hanging GET answered %d", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want deadline exceeded", err)
	}

	// Close releases a request that hangs with no client deadline.
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.URL+"/v1/customers/cust_abc123", nil)
		req.Header.Set("Authorization", "Bearer "+keyRW)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		done <- err
	}()
	// Give the request time to reach the handler. Were it to arrive after
	// Close, it would fail at once, which passes too.
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		t.Logf("hanging request released: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not release the hanging request")
	}
}

func TestFaultMalformed(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{MalformedRate: 1}})
	r := call(t, s, keyRW, "GET", "/v1/customers/cust_abc123", "")
	if r.Status != 200 || json.Valid(r.Raw) || len(r.Raw) == 0 {
		t.Errorf("malformed = %d %q, want 200 with invalid JSON", r.Status, r.Raw)
	}
	// Errors are left intact.
	if r := call(t, s, keyRW, "GET", "/v1/customers/cust_nope", ""); r.code() != "not_found" {
		t.Errorf("404 under malformed fault = %s", r.Raw)
	}
}

func TestFaultNormalize(t *testing.T) {
	s := newServer(t, sandbox.Options{Faults: sandbox.Faults{NormalizePhone: true, LowercaseEmail: true}})
	r := call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", `{"phone":"+1 (987) 654-321","email":"John.Doe@Example.COM"}`)
	got := r.customer(t)
	if diff := cmp.Diff([]string{"+1987654321", "john.doe@example.com"}, []string{got.Phone, got.Email}); diff != "" {
		t.Errorf("normalised phone, email (-want +got):\n%s", diff)
	}
	r = call(t, s, keyRW, "POST", "/v1/customers", `{"firstName":"A","lastName":"B","email":"A@B.example","phone":"0044 20 7946 0000"}`)
	got = r.customer(t)
	if got.Phone != "+442079460000" || got.Email != "a@b.example" {
		t.Errorf("created phone %q email %q", got.Phone, got.Email)
	}
}

func TestFaultsJSON(t *testing.T) {
	in := `{"latency":"20ms","latencyJitter":5000000,"errorRate":0.1,"errorStatus":503,"resetRate":0.2,"hangRate":0.3,"malformedRate":0.4,"normalizePhone":true,"lowercaseEmail":true}`
	var f sandbox.Faults
	if err := json.Unmarshal([]byte(in), &f); err != nil {
		t.Fatal(err)
	}
	want := sandbox.Faults{Latency: 20 * time.Millisecond, LatencyJitter: 5 * time.Millisecond, ErrorRate: 0.1, ErrorStatus: 503,
		ResetRate: 0.2, HangRate: 0.3, MalformedRate: 0.4, NormalizePhone: true, LowercaseEmail: true}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	out, _ := json.Marshal(f)
	var back sandbox.Faults
	if err := json.Unmarshal(out, &back); err != nil || back != f {
		t.Errorf("round trip %s = %+v, %v", out, back, err)
	}
	for _, bad := range []sandbox.Faults{{ErrorRate: 2}, {ErrorStatus: 404}, {Latency: -1}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}
