package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/webhook"
)

const testWebhookSecret = "whsec_sandbox_test"

// received is a delivery as a receiver saw it.
type received struct {
	Type, EventType    string
	ID                 string
	Data               map[string]any
	PreviousAttributes map[string]any
	SignatureValid     bool
	Age                time.Duration
}

// receiver collects deliveries, checking each signature with the recipe of package webhook.
type receiver struct {
	mu   sync.Mutex
	got  []received
	srv  *httptest.Server
	seen chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{seen: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts := req.Header.Get(webhook.HeaderTimestamp)
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("delivery body is not an event: %v", err)
		}
		rec := received{Type: ev.Type, EventType: req.Header.Get(webhook.HeaderEvent), ID: ev.ID,
			SignatureValid: webhook.Verify([]byte(testWebhookSecret), ts, body, req.Header.Get(webhook.HeaderSignature))}
		_ = json.Unmarshal(ev.Data, &rec.Data)
		_ = json.Unmarshal(ev.PreviousAttributes, &rec.PreviousAttributes)
		if sec, err := strconv.ParseInt(ts, 10, 64); err == nil {
			rec.Age = time.Since(time.Unix(sec, 0))
		}
		r.mu.Lock()
		r.got = append(r.got, rec)
		r.mu.Unlock()
		r.seen <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the first n deliveries, failing after a few seconds.
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	for range n {
		select {
		case <-r.seen:
		case <-time.After(5 * time.Second):
			t.Fatalf("fewer than %d deliveries", n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func TestWebhooksForEveryChange(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	r := newReceiver(t)
	if code := admin(t, s, "PUT", "/_sandbox/webhooks",
		`{"url":"`+r.srv.URL+`/hook","secret":"`+testWebhookSecret+`","faults":{}}`, nil); code != http.StatusNoContent {
		t.Fatalf("PUT /_sandbox/webhooks = %d", code)
	}
	before := johnDoe().UpdatedAt

	call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", `{"notes":"From the API"}`)
	call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", `{"notes":"From the API"}`) // no change: no event
	call(t, s, keyRW, "POST", "/v1/customers", `{"firstName":"Zoe","lastName":"Q","email":"zoe@example.com"}`)
	// The dashboard: an edit that sets no updatedAt must move it.
	var edited sandbox.Customer
	rec := johnDoe()
	rec.UpdatedAt, rec.Notes = time.Time{}, "From the dashboard"
	body, _ := json.Marshal(rec)
	if code := admin(t, s, "PUT", "/_sandbox/customers/cust_abc123", string(body), &edited); code != 200 {
		t.Fatalf("admin PUT = %d", code)
	}
	if !edited.UpdatedAt.After(before) {
		t.Errorf("a dashboard edit left updatedAt at %s", edited.UpdatedAt)
	}
	call(t, s, keyRW, "DELETE", "/v1/customers/cust_def456", "")
	if code := admin(t, s, "DELETE", "/_sandbox/customers/cust_abc123", "", nil); code != http.StatusNoContent {
		t.Fatalf("admin DELETE = %d", code)
	}

	got := r.wait(t, 5)
	var types []string
	for _, d := range got {
		types = append(types, d.Type)
		if !d.SignatureValid || d.EventType != d.Type || d.Age > time.Minute || len(d.ID) < 5 || d.ID[:4] != "evt_" {
			t.Errorf("delivery %+v: want a valid signature, X-Tiquo-Event = type, a fresh timestamp, an evt_ id", d)
		}
	}
	want := []string{"customer.updated", "customer.created", "customer.updated", "customer.deleted", "customer.deleted"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Fatalf("event types (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"notes": "Prefers morning appointments"}, got[0].PreviousAttributes); diff != "" {
		t.Errorf("previousAttributes of the API PATCH (-want +got):\n%s", diff)
	}
	if got[0].Data["notes"] != "From the API" || got[0].Data["id"] != "cust_abc123" {
		t.Errorf("data of the API PATCH = %v", got[0].Data)
	}
	if got[2].Data["updatedAt"] != edited.UpdatedAt.Format(time.RFC3339Nano) {
		t.Errorf("the dashboard edit's event has updatedAt %v, want %s", got[2].Data["updatedAt"], edited.UpdatedAt)
	}
	// The sender counts a delivery once it has the answer, after the receiver has it.
	deadline := time.Now().Add(5 * time.Second)
	for st := s.WebhookStats(); st.Events != 5 || st.Delivered != 5; st = s.WebhookStats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want 5 events, 5 delivered", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(s.WebhookDeliveries()); n != 5 {
		t.Errorf("%d deliveries logged, want 5", n)
	}
	var shown struct {
		Config sandbox.WebhookConfig `json:"config"`
	}
	admin(t, s, "GET", "/_sandbox/webhooks", "", &shown)
	if shown.Config.Secret == testWebhookSecret {
		t.Error("GET /_sandbox/webhooks shows the secret")
	}
}

func TestWebhookFaults(t *testing.T) {
	edit := func(s *sandbox.Server, n int) {
		for i := range n {
			call(t, s, keyRW, "PATCH", "/v1/customers/cust_abc123", `{"notes":"n`+strconv.Itoa(i)+`"}`)
		}
	}
	tests := []struct {
		name   string
		faults sandbox.WebhookFaults
		check  func(t *testing.T, got []received)
		want   int
	}{
		{"duplicate", sandbox.WebhookFaults{DuplicateRate: 1}, func(t *testing.T, got []received) {
			if got[0].ID != got[1].ID || got[2].ID != got[3].ID || got[0].ID == got[2].ID {
				t.Errorf("ids %s %s %s %s: want each event twice", got[0].ID, got[1].ID, got[2].ID, got[3].ID)
			}
		}, 4},
		{"bad signature", sandbox.WebhookFaults{BadSignatureRate: 1}, func(t *testing.T, got []received) {
			for _, d := range got {
				if d.SignatureValid {
					t.Error("a delivery has a valid signature")
				}
			}
		}, 2},
		{"out of order", sandbox.WebhookFaults{ReorderRate: 1}, func(t *testing.T, got []received) {
			if got[0].Data["notes"] != "n1" || got[1].Data["notes"] != "n0" {
				t.Errorf("notes in delivery order: %v, %v; want n1, n0", got[0].Data["notes"], got[1].Data["notes"])
			}
		}, 2},
		{"delay", sandbox.WebhookFaults{Delay: 300 * time.Millisecond}, func(t *testing.T, got []received) {}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, sandbox.Options{})
			r := newReceiver(t)
			if err := s.SetWebhook(sandbox.WebhookConfig{URL: r.srv.URL, Secret: testWebhookSecret, Faults: tt.faults}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			edit(s, 2)
			got := r.wait(t, tt.want)
			if tt.faults.Delay > 0 && time.Since(start) < 2*tt.faults.Delay {
				t.Errorf("two deliveries in %s with a delay of %s each", time.Since(start), tt.faults.Delay)
			}
			tt.check(t, got)
		})
	}

	t.Run("drop", func(t *testing.T) {
		s := newServer(t, sandbox.Options{})
		r := newReceiver(t)
		if err := s.SetWebhook(sandbox.WebhookConfig{URL: r.srv.URL, Secret: testWebhookSecret,
			Faults: sandbox.WebhookFaults{DropRate: 1}}); err != nil {
			t.Fatal(err)
		}
		edit(s, 3)
		time.Sleep(300 * time.Millisecond)
		if st := s.WebhookStats(); st.Events != 3 || st.Dropped != 3 || st.Delivered != 0 || len(r.got) != 0 {
			t.Errorf("stats %+v, %d received; want 3 events all dropped", st, len(r.got))
		}
	})
}

func TestWebhookConfigValidation(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	for _, body := range []string{
		`{"url":"ftp://x","secret":"s"}`,
		`{"url":"http://127.0.0.1:1/x"}`,
		`{"url":"http://127.0.0.1:1/x","secret":"s","faults":{"dropRate":2}}`,
		`{"url":"http://127.0.0.1:1/x","secret":"s","faults":{"delay":"-1s"}}`,
	} {
		if code := admin(t, s, "PUT", "/_sandbox/webhooks", body, nil); code != http.StatusBadRequest {
			t.Errorf("PUT %s = %d, want 400", body, code)
		}
	}
}
