package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tiquo-operator/tiquo-operator/internal/webhook"
)

// WebhookConfig is where the sandbox delivers webhooks, as Tiquo does once a webhook is
// added in the dashboard, and the delivery faults it injects. The same struct, as JSON, is
// the body of PUT /_sandbox/webhooks. An empty URL delivers nothing.
//
// Every change to a record is delivered, from the API (POST, PATCH that changes something,
// DELETE) and from the admin API, which stands for the dashboard (PUT and DELETE of
// /_sandbox/customers/{id}); seeding through PutCustomer and RemoveCustomer is not. Each
// delivery is a POST of {"id":"evt_…","type":…,"created":…,"data":{record}} (customer.updated
// adds "previousAttributes" beside data, the old values of the fields that changed), signed
// as webhook.Sign says, with the headers X-Tiquo-Signature, X-Tiquo-Timestamp and
// X-Tiquo-Event. Deliveries leave asynchronously, in order, from a queue of
// webhookQueueSize; when it is full a change is not delivered (counted as dropped). A
// failed delivery is not retried.
type WebhookConfig struct {
	URL    string        `json:"url"`
	Secret string        `json:"secret,omitempty"`
	Faults WebhookFaults `json:"faults"`
}

// WebhookFaults are the delivery faults. Rates are probabilities per event in [0, 1].
type WebhookFaults struct {
	// Delay holds each delivery back this long (deliveries stay in order).
	Delay time.Duration `json:"delay,omitempty"`
	// DuplicateRate is the fraction of events delivered twice.
	DuplicateRate float64 `json:"duplicateRate,omitempty"`
	// ReorderRate is the fraction of events held back and delivered after the next one.
	ReorderRate float64 `json:"reorderRate,omitempty"`
	// BadSignatureRate is the fraction of events signed with a wrong secret.
	BadSignatureRate float64 `json:"badSignatureRate,omitempty"`
	// DropRate is the fraction of events never delivered.
	DropRate float64 `json:"dropRate,omitempty"`
}

// Validate reports a config that makes no sense: a URL that is not http(s), a rate outside
// [0, 1], a negative delay.
func (c WebhookConfig) Validate() error {
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url %q is not an http or https URL", c.URL)
		}
		if c.Secret == "" {
			return fmt.Errorf("secret is required with a url")
		}
	}
	f := c.Faults
	for name, r := range map[string]float64{"duplicateRate": f.DuplicateRate, "reorderRate": f.ReorderRate,
		"badSignatureRate": f.BadSignatureRate, "dropRate": f.DropRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("faults.%s %v outside [0, 1]", name, r)
		}
	}
	if f.Delay < 0 {
		return fmt.Errorf("faults.delay must not be negative")
	}
	return nil
}

// webhookFaultsJSON is WebhookFaults with the delay as a string such as "200ms".
type webhookFaultsJSON struct {
	Delay            json.RawMessage `json:"delay,omitempty"`
	DuplicateRate    float64         `json:"duplicateRate,omitempty"`
	ReorderRate      float64         `json:"reorderRate,omitempty"`
	BadSignatureRate float64         `json:"badSignatureRate,omitempty"`
	DropRate         float64         `json:"dropRate,omitempty"`
}

// MarshalJSON writes the delay as a string such as "200ms".
func (f WebhookFaults) MarshalJSON() ([]byte, error) {
	in := webhookFaultsJSON{DuplicateRate: f.DuplicateRate, ReorderRate: f.ReorderRate,
		BadSignatureRate: f.BadSignatureRate, DropRate: f.DropRate}
	if f.Delay != 0 {
		in.Delay = json.RawMessage(strconv.Quote(f.Delay.String()))
	}
	return json.Marshal(in)
}

// UnmarshalJSON reads the delay as a string such as "200ms" or as integer nanoseconds.
func (f *WebhookFaults) UnmarshalJSON(b []byte) error {
	var in webhookFaultsJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	d, err := parseDuration(in.Delay)
	if err != nil {
		return fmt.Errorf("delay: %w", err)
	}
	*f = WebhookFaults{Delay: d, DuplicateRate: in.DuplicateRate, ReorderRate: in.ReorderRate,
		BadSignatureRate: in.BadSignatureRate, DropRate: in.DropRate}
	return nil
}

// WebhookDelivery is one delivery attempt as the sandbox made it. It holds no payload.
type WebhookDelivery struct {
	EventID string `json:"eventId"`
	Type    string `json:"type"`
	// Status is the receiver's answer; 0 when it gave none.
	Status int `json:"status"`
	// BadSignature is true when the delivery was signed with a wrong secret on purpose.
	BadSignature bool      `json:"badSignature,omitempty"`
	Time         time.Time `json:"time"`
}

// WebhookStats counts events since the config was last set.
type WebhookStats struct {
	// Events is how many changes made an event.
	Events int `json:"events"`
	// Delivered counts deliveries answered 2xx; Failed the others.
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	// Dropped counts events not delivered: the drop fault, or a full queue.
	Dropped int `json:"dropped"`
}

const (
	// webhookQueueSize bounds the events waiting for delivery.
	webhookQueueSize = 1024
	// webhookLogSize bounds the delivery log.
	webhookLogSize = 10000
	// webhookTimeout bounds one delivery.
	webhookTimeout = 5 * time.Second
)

// outgoing is an event ready to deliver.
type outgoing struct {
	id, typ string
	body    []byte
	// gen is the config generation the event was made under; a later config drops it.
	gen int
}

// webhooks is the sandbox's sender.
type webhooks struct {
	client *http.Client
	queue  chan outgoing
	start  sync.Once

	mu    sync.Mutex
	cfg   WebhookConfig
	gen   int
	stats WebhookStats
	log   []WebhookDelivery
}

func newWebhooks() *webhooks {
	return &webhooks{client: &http.Client{Timeout: webhookTimeout}, queue: make(chan outgoing, webhookQueueSize)}
}

// SetWebhook replaces where and how webhooks are delivered, and clears the stats and the
// delivery log; events queued under the old config are not delivered.
func (s *Sandbox) SetWebhook(c WebhookConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	w := s.webhooks
	w.mu.Lock()
	w.cfg, w.stats, w.log = c, WebhookStats{}, nil
	w.gen++
	w.mu.Unlock()
	if c.URL != "" {
		w.start.Do(func() { go s.deliverLoop() })
	}
	return nil
}

// Webhook returns the webhook config in force.
func (s *Sandbox) Webhook() WebhookConfig {
	s.webhooks.mu.Lock()
	defer s.webhooks.mu.Unlock()
	return s.webhooks.cfg
}

// WebhookStats returns the event counts since the config was last set.
func (s *Sandbox) WebhookStats() WebhookStats {
	s.webhooks.mu.Lock()
	defer s.webhooks.mu.Unlock()
	return s.webhooks.stats
}

// WebhookDeliveries returns the delivery log, oldest first.
func (s *Sandbox) WebhookDeliveries() []WebhookDelivery {
	s.webhooks.mu.Lock()
	defer s.webhooks.mu.Unlock()
	return slices.Clone(s.webhooks.log)
}

// EditCustomer stores c as an edit in the Tiquo dashboard would: it moves updatedAt past
// the stored one unless c sets it, keeps createdAt unless c sets it, and sends
// customer.updated (or customer.created for a new id). It returns the stored record.
func (s *Sandbox) EditCustomer(c Customer) Customer {
	old, existed := s.store.get(c.ID)
	now := s.timestamp()
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
		if existed && !now.After(old.UpdatedAt) {
			c.UpdatedAt = old.UpdatedAt.Add(time.Millisecond)
		}
	}
	if c.CreatedAt.IsZero() && existed {
		c.CreatedAt = old.CreatedAt
	}
	s.PutCustomer(c)
	stored, _ := s.store.get(c.ID)
	if existed {
		s.changed(&old, &stored)
	} else {
		s.changed(nil, &stored)
	}
	return stored
}

// DeleteCustomer removes a record as the dashboard would, sending customer.deleted, and
// reports whether it existed.
func (s *Sandbox) DeleteCustomer(id string) bool {
	old, ok := s.store.get(id)
	if !ok || !s.store.remove(id) {
		return false
	}
	s.changed(&old, nil)
	return true
}

// changed queues the event for a change from old to new (nil: created, or deleted).
func (s *Sandbox) changed(old, updated *Customer) {
	w := s.webhooks
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cfg.URL == "" {
		return
	}
	ev := webhook.Event{ID: "evt_" + randomHex(12), Created: s.timestamp().Format(time.RFC3339Nano)}
	var data any
	switch {
	case old == nil:
		ev.Type, data = webhook.TypeCustomerCreated, updated.public()
	case updated == nil:
		ev.Type, data = webhook.TypeCustomerDeleted, old.public()
	default:
		if old.UpdatedAt.Equal(updated.UpdatedAt) && equalRecords(*old, *updated) {
			return // Nothing changed; Tiquo sends nothing.
		}
		ev.Type, data = webhook.TypeCustomerUpdated, updated.public()
		ev.PreviousAttributes = previousAttributes(old.public(), updated.public())
	}
	ev.Data = mustJSON(data)
	w.stats.Events++
	select {
	case w.queue <- outgoing{id: ev.ID, typ: ev.Type, body: mustJSON(ev), gen: w.gen}:
	default:
		w.stats.Dropped++
	}
}

// previousAttributes returns the old values of the fields that differ, updatedAt aside.
func previousAttributes(old, updated Customer) json.RawMessage {
	var a, b map[string]any
	_ = json.Unmarshal(mustJSON(old), &a)
	_ = json.Unmarshal(mustJSON(updated), &b)
	const updatedAt = "updatedAt" // moves with every change; not a changed attribute
	prev := map[string]any{}
	for k, v := range a {
		if k != updatedAt && !reflect.DeepEqual(v, b[k]) {
			prev[k] = v
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && k != updatedAt {
			prev[k] = nil
		}
	}
	return mustJSON(prev)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // Only plain data is marshalled; this cannot happen.
		panic("sandbox: marshal webhook event: " + err.Error())
	}
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// deliverLoop delivers queued events in order until the sandbox closes, with the faults of
// the config in force.
func (s *Sandbox) deliverLoop() {
	var held *outgoing // an event held back by the reorder fault
	for {
		var ev outgoing
		select {
		case <-s.done:
			return
		case ev = <-s.webhooks.queue:
		case <-time.After(time.Second):
			if held != nil {
				s.deliver(*held)
				held = nil
			}
			continue
		}
		w := s.webhooks
		w.mu.Lock()
		cfg, current := w.cfg, ev.gen == w.gen
		w.mu.Unlock()
		if !current {
			continue
		}
		f := cfg.Faults
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-s.done:
				return
			}
		}
		switch {
		case chance(f.DropRate):
			w.mu.Lock()
			w.stats.Dropped++
			w.mu.Unlock()
			continue
		case held == nil && chance(f.ReorderRate):
			held = &ev
			continue
		}
		s.deliver(ev)
		if chance(f.DuplicateRate) {
			s.deliver(ev)
		}
		if held != nil {
			s.deliver(*held)
			held = nil
		}
	}
}

// deliver POSTs one event, signed now, and logs the answer.
func (s *Sandbox) deliver(ev outgoing) {
	w := s.webhooks
	w.mu.Lock()
	cfg, current := w.cfg, ev.gen == w.gen
	w.mu.Unlock()
	if !current || cfg.URL == "" {
		return
	}
	secret, bad := []byte(cfg.Secret), chance(cfg.Faults.BadSignatureRate)
	if bad {
		secret = []byte("not-" + cfg.Secret)
	}
	ts := webhook.Timestamp(s.now())
	ctx, cancel := context.WithTimeout(context.Background(), webhookTimeout)
	defer cancel()
	status := 0
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(ev.body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderTimestamp, ts)
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, ev.body))
		req.Header.Set(webhook.HeaderEvent, ev.typ)
		if resp, err := w.client.Do(req); err == nil {
			status = resp.StatusCode
			_ = resp.Body.Close()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.gen != w.gen {
		return
	}
	if status >= 200 && status < 300 {
		w.stats.Delivered++
	} else {
		w.stats.Failed++
	}
	if len(w.log) >= webhookLogSize {
		w.log = slices.Delete(w.log, 0, len(w.log)-webhookLogSize+1)
	}
	w.log = append(w.log, WebhookDelivery{EventID: ev.id, Type: ev.typ, Status: status, BadSignature: bad, Time: s.now()})
}

// serveAdminWebhooks serves GET, PUT and DELETE of /_sandbox/webhooks and GET of
// /_sandbox/webhooks/deliveries.
func (s *Sandbox) serveAdminWebhooks(w http.ResponseWriter, r *http.Request, p string) {
	switch r.Method + " " + p {
	case "GET /webhooks":
		cfg := s.Webhook()
		if cfg.Secret != "" {
			cfg.Secret = "(set)" // The secret is written, never read back.
		}
		writeAdmin(w, http.StatusOK, map[string]any{"config": cfg, "stats": s.WebhookStats()})
	case "PUT /webhooks":
		var cfg WebhookConfig
		if !decodeAdmin(w, r, &cfg) {
			return
		}
		if err := s.SetWebhook(cfg); err != nil {
			writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "DELETE /webhooks":
		_ = s.SetWebhook(WebhookConfig{}) // The empty config is valid.
		w.WriteHeader(http.StatusNoContent)
	case "GET /webhooks/deliveries":
		writeAdmin(w, http.StatusOK, s.WebhookDeliveries())
	default:
		writeAdmin(w, http.StatusMethodNotAllowed, errMethodNotAllowed)
	}
}
