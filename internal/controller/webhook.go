package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
	"github.com/tiquo-operator/tiquo-operator/internal/webhook"
)

// WebhookPath is where the receiver takes Tiquo's webhook deliveries.
const WebhookPath = "/webhooks/tiquo"

// Defaults of the receiver.
const (
	// DefaultWebhookSecretKey is the Secret entry that holds the signing secret when none
	// is named.
	DefaultWebhookSecretKey = "secret"
	// DefaultWebhookTolerance is how far X-Tiquo-Timestamp may be from the manager's clock.
	DefaultWebhookTolerance = 5 * time.Minute
	// DefaultWebhookHintInterval is the least time between two reads of one record that
	// webhooks cause.
	DefaultWebhookHintInterval = time.Second
	// webhookMaxBody caps a delivery's body; a customer event is a few KiB.
	webhookMaxBody = 256 << 10
	// webhookMemory caps how many event ids, and how many records, the receiver remembers.
	webhookMemory = 10000
	// webhookSecretTTL is how long the signing secret is used before it is read again; a
	// delivery whose signature fails is checked against a fresh read, at most once per
	// webhookSecretRefresh, so that a rotated secret works at once and forged deliveries
	// cost the API server at most one read per webhookSecretRefresh.
	webhookSecretTTL     = time.Minute
	webhookSecretRefresh = 5 * time.Second
	// webhookQueueWait bounds how long a delivery waits for the controller's queue to take
	// its hint before it is answered 503, for Tiquo to retry.
	webhookQueueWait = 5 * time.Second
)

// Verdicts of the receiver: the verdict label of tiquo_webhook_events_total.
const (
	verdictQueued       = "queued"
	verdictUnknownID    = "unknown_id"
	verdictBadSignature = "bad_signature"
	verdictStale        = "stale"
	verdictDuplicate    = "duplicate"
	verdictEcho         = "echo"
	verdictRateLimited  = "rate_limited"
	verdictMalformed    = "malformed"
	verdictIgnored      = "ignored"
	verdictUnavailable  = "unavailable"
)

// WebhookOptions configures the receiver of Tiquo webhooks (docs/webhooks.md).
type WebhookOptions struct {
	// BindAddress is where the receiver listens, e.g. :9443; 127.0.0.1:0 picks a port.
	BindAddress string
	// Secret holds the webhook's signing secret.
	Secret SecretKeySelector
	// Tolerance is how far a delivery's timestamp may be from now; 0 means
	// DefaultWebhookTolerance.
	Tolerance time.Duration
	// HintInterval is the least time between two hints for one record; 0 means
	// DefaultWebhookHintInterval.
	HintInterval time.Duration
}

// webhookReceiver takes Tiquo's webhook deliveries as hints: a verified, new, non-echo event
// that names a record a Customer manages queues that Customer for a reconcile that reads the
// record (see hints). Nothing from a payload is ever written anywhere: the reconcile's GET is
// the only source of data, so a forged or replayed event costs at most a bounded number of
// reads, never a wrong write.
type webhookReceiver struct {
	r       *CustomerReconciler
	opts    WebhookOptions
	events  chan event.GenericEvent
	replays *webhook.ReplayGuard
	limiter *webhook.HintLimiter
	now     func() time.Time

	mu       sync.Mutex
	addr     net.Addr
	secret   []byte
	secretAt time.Time
	ctx      context.Context
}

func newWebhookReceiver(r *CustomerReconciler, opts WebhookOptions) *webhookReceiver {
	if opts.Tolerance <= 0 {
		opts.Tolerance = DefaultWebhookTolerance
	}
	if opts.HintInterval <= 0 {
		opts.HintInterval = DefaultWebhookHintInterval
	}
	return &webhookReceiver{r: r, opts: opts, events: make(chan event.GenericEvent, 1024),
		// A replayed event passes the timestamp check for up to twice the tolerance (its
		// timestamp may lie ahead of the clock as far as behind); remember ids that long.
		replays: webhook.NewReplayGuard(webhookMemory, 2*opts.Tolerance),
		limiter: webhook.NewHintLimiter(opts.HintInterval, webhookMemory),
		now:     r.now, ctx: context.Background()}
}

// NeedLeaderElection makes only the leader take deliveries: only its controller reconciles.
// A delivery that reaches a standby is refused, and Tiquo retries it.
func (w *webhookReceiver) NeedLeaderElection() bool { return true }

// Start serves the receiver until ctx ends.
func (w *webhookReceiver) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", w.opts.BindAddress)
	if err != nil {
		return fmt.Errorf("webhook receiver: listen on %s: %w", w.opts.BindAddress, err)
	}
	w.mu.Lock()
	w.addr, w.ctx = ln.Addr(), ctx
	w.mu.Unlock()
	mux := http.NewServeMux()
	mux.Handle(WebhookPath, w)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	webhookLog.Info("Serving Tiquo webhooks", "address", ln.Addr().String(), "path", WebhookPath)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("webhook receiver: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown) // Deliveries cut short are retried by Tiquo.
	return nil
}

// address returns where the receiver listens, or "" before it does.
func (w *webhookReceiver) address() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.addr == nil {
		return ""
	}
	return w.addr.String()
}

// ServeHTTP checks a delivery and turns it into a hint. It answers 2xx only once the hint
// is queued (or needs none); 503 when it could not be queued, so that Tiquo retries.
func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	typ, verdict, eventID, status := w.handle(rw, req)
	webhookEventsTotal.WithLabelValues(typ, verdict).Inc()
	// The event id only: a payload holds personal data.
	webhookLog.V(1).Info("Tiquo webhook", "type", typ, "verdict", verdict, "event", eventID)
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = io.WriteString(rw, verdict+"\n")
}

// webhookLog is the receiver's logger. It logs an event's type, verdict and id, never a
// payload: payloads hold personal data.
var webhookLog = ctrl.Log.WithName("webhook")

// eventIDPattern is what an event id that may be logged looks like.
var eventIDPattern = regexp.MustCompile(`^evt_[A-Za-z0-9_-]{1,64}$`)

// typeLabel bounds the type label to the types the receiver knows.
func typeLabel(t string) string {
	switch t {
	case webhook.TypeCustomerCreated, webhook.TypeCustomerUpdated, webhook.TypeCustomerDeleted:
		return t
	case "":
		return "unknown"
	default:
		return "other"
	}
}

// handle checks one delivery, in order of cost: the body's size, the timestamp's age, the
// signature, the event's shape, whether it was seen before, whether a Customer manages its
// record, whether it tells the operator anything new, and the record's hint rate.
func (w *webhookReceiver) handle(rw http.ResponseWriter, req *http.Request) (typ, verdict, eventID string, status int) {
	typ = "unknown"
	if req.Method != http.MethodPost {
		return typ, verdictMalformed, "", http.StatusMethodNotAllowed
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, req.Body, webhookMaxBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return typ, verdictMalformed, "", http.StatusRequestEntityTooLarge
		}
		return typ, verdictMalformed, "", http.StatusBadRequest
	}
	ts := req.Header.Get(webhook.HeaderTimestamp)
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return typ, verdictMalformed, "", http.StatusBadRequest
	}
	if age := w.now().Sub(time.Unix(sent, 0)); age > w.opts.Tolerance || age < -w.opts.Tolerance {
		return typ, verdictStale, "", http.StatusUnauthorized
	}
	ok, err := w.verify(req.Context(), ts, body, req.Header.Get(webhook.HeaderSignature))
	if err != nil {
		webhookLog.Error(err, "Cannot read the webhook signing secret; refusing deliveries until it can be read",
			"secret", w.opts.Secret.String())
		return typ, verdictUnavailable, "", http.StatusServiceUnavailable
	}
	if !ok {
		return typ, verdictBadSignature, "", http.StatusUnauthorized
	}

	var ev webhook.Event
	var rec webhook.Record
	if json.Unmarshal(body, &ev) != nil || ev.ID == "" || ev.Type == "" || json.Unmarshal(ev.Data, &rec) != nil {
		return typ, verdictMalformed, "", http.StatusBadRequest
	}
	typ = typeLabel(ev.Type)
	if eventIDPattern.MatchString(ev.ID) {
		eventID = ev.ID
	}
	if w.replays.Seen(ev.ID, w.now()) {
		return typ, verdictDuplicate, eventID, http.StatusOK
	}
	if typ == "other" {
		return typ, verdictIgnored, eventID, http.StatusOK
	}
	if rec.ID == "" {
		return typ, verdictMalformed, eventID, http.StatusBadRequest
	}
	verdict, err = w.hint(req.Context(), ev.Type, rec)
	if err != nil {
		// Not queued: let Tiquo's retry be handled, not refused as a duplicate.
		w.replays.Forget(ev.ID)
		return typ, verdictUnavailable, eventID, http.StatusServiceUnavailable
	}
	return typ, verdict, eventID, http.StatusOK
}

// verify checks the signature with the signing secret, read again when it fails, in case the
// secret was rotated.
func (w *webhookReceiver) verify(ctx context.Context, ts string, body []byte, signature string) (bool, error) {
	secret, err := w.signingSecret(ctx, false)
	if err != nil {
		return false, err
	}
	if webhook.Verify(secret, ts, body, signature) {
		return true, nil
	}
	fresh, err := w.signingSecret(ctx, true)
	if err != nil {
		return false, err
	}
	return webhook.Verify(fresh, ts, body, signature), nil
}

// signingSecret returns the signing secret, read through the API reader (the manager may
// get that one Secret by name) when the copy held is older than webhookSecretTTL, or, with
// refresh, older than webhookSecretRefresh.
func (w *webhookReceiver) signingSecret(ctx context.Context, refresh bool) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	age := w.now().Sub(w.secretAt)
	if w.secret != nil && (age < webhookSecretRefresh || (!refresh && age < webhookSecretTTL)) {
		return w.secret, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var s corev1.Secret
	key := types.NamespacedName{Namespace: w.opts.Secret.Namespace, Name: w.opts.Secret.Name}
	if err := w.r.APIReader.Get(ctx, key, &s); err != nil {
		return nil, fmt.Errorf("get Secret %s: %w", key, err)
	}
	value := []byte(strings.TrimSpace(string(s.Data[w.opts.Secret.Key])))
	if len(value) == 0 {
		return nil, fmt.Errorf("secret %s has no key %q, or it is empty", key, w.opts.Secret.Key)
	}
	w.secret, w.secretAt = value, w.now()
	return value, nil
}

// hint queues the Customers managing the record, unless none does, the event tells the
// operator nothing it has not seen (its own PATCH coming back), or the record was hinted
// within the hint interval (then one deferred hint covers it).
func (w *webhookReceiver) hint(ctx context.Context, typ string, rec webhook.Record) (string, error) {
	customers, err := w.managing(ctx, rec.ID)
	if err != nil {
		return "", err
	}
	if len(customers) == 0 {
		return verdictUnknownID, nil
	}
	if typ == webhook.TypeCustomerUpdated && rec.UpdatedAt != "" {
		if at, err := time.Parse(time.RFC3339Nano, rec.UpdatedAt); err == nil {
			// The event may be the echo of a PATCH whose answer is on its way.
			wait, cancel := context.WithTimeout(ctx, webhookQueueWait)
			w.r.hints.waitPatches(wait, customers)
			cancel()
			customers = w.r.hints.newerThanSeen(customers, at)
			if len(customers) == 0 {
				return verdictEcho, nil
			}
		}
	}
	ok, after := w.limiter.Allow(rec.ID, w.now())
	if !ok {
		if after > 0 {
			w.deferHint(rec.ID, after)
		}
		return verdictRateLimited, nil
	}
	if err := w.queue(ctx, customers); err != nil {
		return "", err
	}
	return verdictQueued, nil
}

// managing returns the Customers whose spec.customerId is id.
func (w *webhookReceiver) managing(ctx context.Context, id string) ([]*crmv1alpha1.Customer, error) {
	var list crmv1alpha1.CustomerList
	if err := w.r.List(ctx, &list, client.MatchingFields{indexCustomerID: id}, readOnly); err != nil {
		return nil, fmt.Errorf("list Customers by customerId: %w", err)
	}
	out := make([]*crmv1alpha1.Customer, 0, len(list.Items))
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp.IsZero() {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// queue marks each Customer as hinted and hands it to the controller.
func (w *webhookReceiver) queue(ctx context.Context, customers []*crmv1alpha1.Customer) error {
	ctx, cancel := context.WithTimeout(ctx, webhookQueueWait)
	defer cancel()
	for _, c := range customers {
		w.r.hints.mark(client.ObjectKeyFromObject(c))
		select {
		case w.events <- event.GenericEvent{Object: c}:
		case <-ctx.Done():
			return fmt.Errorf("queue a hint: %w", ctx.Err())
		}
	}
	return nil
}

// deferHint queues the Customers managing id after a while, for the hints the limiter held
// back. The limiter holds at most one pending per record.
func (w *webhookReceiver) deferHint(id string, after time.Duration) {
	w.mu.Lock()
	ctx := w.ctx
	w.mu.Unlock()
	time.AfterFunc(after, func() {
		if ctx.Err() != nil {
			return
		}
		customers, err := w.managing(ctx, id)
		if err == nil && len(customers) > 0 {
			_ = w.queue(ctx, customers) // Only when the manager stops; the drift scan is the backstop.
		}
	})
}

// hints remembers, per Customer, that a webhook asked for its record to be read, and the
// newest updatedAt the operator has seen of the record; both go with the Customer.
//
// A nil *hints (a reconciler built without SetupWithManager) holds nothing.
//
// A hint makes the next reconcile read the record even where the drift scan vouches that
// it is unchanged (the scan may be up to a resync interval old). It does not lift a hold
// or a backoff: a terminal outcome (NotFound, EmailConflict, Unauthorized, ...) stands until
// its recheck or a change to the spec or Secret, and a transient failure's backoff still
// applies, so that no stream of events, forged or not, makes the operator call Tiquo faster
// than the outcome allows. A hint that meets a backoff is kept for the reconcile after it.
type hints struct {
	mu      sync.Mutex
	pending map[types.NamespacedName]bool
	seen    map[types.NamespacedName]time.Time
	// patching holds a channel per Customer whose PATCH is on its way, closed when its
	// answer is known: Tiquo may send the PATCH's event before the operator has the answer.
	patching map[types.NamespacedName]chan struct{}
}

func newHints() *hints {
	return &hints{pending: map[types.NamespacedName]bool{}, seen: map[types.NamespacedName]time.Time{},
		patching: map[types.NamespacedName]chan struct{}{}}
}

// patch runs a PATCH of key's record, records the updatedAt it answers, and meanwhile makes
// the events about the record wait for it (see waitPatches).
func (h *hints) patch(key types.NamespacedName, f func() (*tiquo.Customer, error)) (*tiquo.Customer, error) {
	if h == nil {
		return f()
	}
	done := make(chan struct{})
	h.mu.Lock()
	h.patching[key] = done
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.patching, key)
		h.mu.Unlock()
		close(done)
	}()
	updated, err := f()
	if err == nil && updated != nil && updated.UpdatedAt != nil {
		h.saw(key, *updated.UpdatedAt)
	}
	return updated, err
}

// waitPatches waits until no PATCH of the Customers' records is on its way, or ctx ends.
func (h *hints) waitPatches(ctx context.Context, customers []*crmv1alpha1.Customer) {
	for _, c := range customers {
		h.mu.Lock()
		done, ok := h.patching[client.ObjectKeyFromObject(c)]
		h.mu.Unlock()
		if ok {
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		}
	}
}

// mark asks the next reconcile of key to read the record.
func (h *hints) mark(key types.NamespacedName) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending[key] = true
}

// take reports and clears a hint for key.
func (h *hints) take(key types.NamespacedName) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[key]
	delete(h.pending, key)
	return p
}

// saw records the updatedAt of the record of key as a call to Tiquo returned it: a GET,
// or the operator's own PATCH, whose event must cost nothing even when it arrives before
// the status that records it.
func (h *hints) saw(key types.NamespacedName, at time.Time) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if at.After(h.seen[key]) {
		h.seen[key] = at
	}
}

// newerThanSeen returns the Customers whose record, as the operator last saw it (in memory
// or in status.updatedAt), is older than at: the others have seen the change announced.
func (h *hints) newerThanSeen(customers []*crmv1alpha1.Customer, at time.Time) []*crmv1alpha1.Customer {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*crmv1alpha1.Customer
	for _, c := range customers {
		seen := h.seen[client.ObjectKeyFromObject(c)]
		if st, err := time.Parse(time.RFC3339Nano, c.Status.UpdatedAt); err == nil && st.After(seen) {
			seen = st
		}
		if seen.IsZero() || at.After(seen) {
			out = append(out, c)
		}
	}
	return out
}

// forget drops what is kept about a Customer that is gone.
func (h *hints) forget(key types.NamespacedName) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.pending, key)
	delete(h.seen, key)
}
