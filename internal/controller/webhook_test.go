package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/webhook"
)

// The receiver of Tiquo webhooks runs in the suite's manager beside the drift scan (every
// resyncInterval, as shipped). These tests turn on the sandbox's deliveries to it, or post
// to it themselves, and assert what a user relies on: a dashboard edit is put back within
// seconds instead of at the next scan, a deleted record is reported at once, and no event,
// forged, replayed, flooded or echoed, costs more than a bounded number of reads.

// webhookURL returns the receiver's URL once it listens.
func webhookURL(t *testing.T) string {
	t.Helper()
	var addr string
	eventually(t, 10*time.Second, func() error {
		if addr = reconciler.WebhookAddress(); addr == "" {
			return errorf("the webhook receiver does not listen yet")
		}
		return nil
	})
	return "http://" + addr + "/webhooks/tiquo"
}

// deliverWebhooks makes the sandbox deliver webhooks to the receiver until the test ends.
func deliverWebhooks(t *testing.T) {
	t.Helper()
	if err := sb.SetWebhook(sandbox.WebhookConfig{URL: webhookURL(t), Secret: webhookSecret}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.SetWebhook(sandbox.WebhookConfig{}) })
}

// dashboardEdit changes a record through the sandbox's admin API, as an edit in the Tiquo
// dashboard would: updatedAt moves, and the sandbox sends customer.updated.
func dashboardEdit(t *testing.T, id string, mutate func(*sandbox.Customer)) {
	t.Helper()
	rec, ok := sb.Customer(id)
	if !ok {
		t.Fatalf("no record %s", id)
	}
	mutate(&rec)
	before := rec.UpdatedAt
	rec.UpdatedAt = time.Time{} // Tiquo sets it
	body, _ := json.Marshal(rec)
	var stored sandbox.Customer
	if code := sandboxAdmin(t, http.MethodPut, "/_sandbox/customers/"+id, body, &stored); code != http.StatusOK {
		t.Fatalf("admin PUT of %s = %d", id, code)
	}
	if !stored.UpdatedAt.After(before) {
		t.Fatalf("the dashboard edit left updatedAt at %s", stored.UpdatedAt)
	}
}

func sandboxAdmin(t *testing.T, method, path string, body []byte, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, sb.URL+path, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// webhookEvents returns tiquo_webhook_events_total for a type and verdict.
func webhookEvents(t *testing.T, typ, verdict string) float64 {
	t.Helper()
	return metric(t, "tiquo_webhook_events_total", map[string]string{"type": typ, "verdict": verdict})
}

// signedEvent is a customer event about id, signed with secret at ts.
type signedEvent struct {
	id, typ, recordID, updatedAt string
	ts                           time.Time
	secret                       string
	body                         []byte // when set, sent as is instead of the event
}

// post delivers e to the receiver and returns the status and the verdict answered.
func (e signedEvent) post(t *testing.T, url string) (int, string) {
	t.Helper()
	body := e.body
	if body == nil {
		data, _ := json.Marshal(webhook.Record{ID: e.recordID, UpdatedAt: e.updatedAt})
		body, _ = json.Marshal(webhook.Event{ID: e.id, Type: e.typ, Created: e.ts.UTC().Format(time.RFC3339), Data: data})
	}
	ts := webhook.Timestamp(e.ts)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set(webhook.HeaderTimestamp, ts)
	req.Header.Set(webhook.HeaderSignature, webhook.Sign([]byte(e.secret), ts, body))
	req.Header.Set(webhook.HeaderEvent, e.typ)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	verdict, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(verdict))
}

// syncedCustomer seeds a record and a Customer matching it, and waits until it is Synced.
func syncedCustomer(t *testing.T, ns, name string) (string, *crmv1alpha1.Customer) {
	t.Helper()
	id := uniqueID(t) + name
	seed(t, id, nil)
	c := waitFor(t, create(t, ns, name, matchingSpec(id)), "True", crmv1alpha1.ReasonSynced)
	return id, c
}

// percentile returns the p-th percentile (0 < p <= 100) of ds by the nearest-rank method.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// A dashboard edit of a managed record is put back within 2 s with the receiver on: the
// hint makes the reconcile read the record although the drift scan, which has not listed
// it since, vouches that it is unchanged. The scan alone (every 2 s in this suite) would
// put edits back after 1 s in the median; the hints do it in a fraction of that. With
// deliveries off, the scan still puts an edit back.
func TestWebhookPutsBackDashboardEdits(t *testing.T) {
	ns := newNamespace(t)
	deliverWebhooks(t)
	const customers, edits = 4, 20
	ids := make([]string, customers)
	for i := range ids {
		ids[i], _ = syncedCustomer(t, ns, fmt.Sprintf("edit-%d", i))
	}
	want, _ := sb.Customer(ids[0])
	queued := webhookEvents(t, webhook.TypeCustomerUpdated, "queued")

	var latencies []time.Duration
	for i := range edits {
		// Round robin over the records, so that no record is hinted twice within the
		// hint interval (1 s) and each edit is measured on its own.
		id := ids[i%customers]
		dashboardEdit(t, id, func(c *sandbox.Customer) { c.Notes = fmt.Sprintf("edited in the dashboard %d", i) })
		start := time.Now()
		eventually(t, 10*time.Second, func() error {
			if rec, _ := sb.Customer(id); rec.Notes != want.Notes {
				return errorf("record %s still has the dashboard's notes", id)
			}
			return nil
		})
		latencies = append(latencies, time.Since(start))
		time.Sleep(300 * time.Millisecond)
	}
	p50, p99 := percentile(latencies, 50), percentile(latencies, 99)
	t.Logf("edit to correction over %d edits with the receiver on: p50 %s, p99 %s", edits,
		p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	if p99 > 2*time.Second {
		t.Errorf("p99 of edit to correction is %s; want at most 2s", p99)
	}
	if p50 > 700*time.Millisecond {
		t.Errorf("p50 of edit to correction is %s; want well under the scan's 1s: the hints do not work", p50)
	}
	if got := webhookEvents(t, webhook.TypeCustomerUpdated, "queued") - queued; got < edits {
		t.Errorf("%v customer.updated events queued; want one per edit, %d", got, edits)
	}

	// The deliveries carried whole records; the receiver logs none of it.
	logs := managerLogs.String()
	for _, personal := range []string{"edited in the dashboard", want.Email, want.Phone} {
		if personal != "" && strings.Contains(logs, personal) {
			t.Errorf("the manager's logs hold %q from a webhook payload", personal)
		}
	}

	t.Run("receiver off: the next scan", func(t *testing.T) {
		if err := sb.SetWebhook(sandbox.WebhookConfig{}); err != nil {
			t.Fatal(err)
		}
		queued := webhookEvents(t, webhook.TypeCustomerUpdated, "queued")
		dashboardEdit(t, ids[0], func(c *sandbox.Customer) { c.Notes = "edited with no webhooks" })
		eventually(t, 3*resyncInterval, func() error {
			if rec, _ := sb.Customer(ids[0]); rec.Notes != want.Notes {
				return errorf("record still has the dashboard's notes")
			}
			return nil
		})
		if got := webhookEvents(t, webhook.TypeCustomerUpdated, "queued"); got != queued {
			t.Errorf("%v events queued with deliveries off", got-queued)
		}
	})
}

// A record deleted in the dashboard makes its Customer report NotFound within 2 s.
func TestWebhookReportsDeletedRecordAtOnce(t *testing.T) {
	ns := newNamespace(t)
	deliverWebhooks(t)
	id, c := syncedCustomer(t, ns, "deleted")
	if code := sandboxAdmin(t, http.MethodDelete, "/_sandbox/customers/"+id, nil, nil); code != http.StatusNoContent {
		t.Fatalf("admin DELETE = %d", code)
	}
	start := time.Now()
	eventually(t, 2*time.Second, func() error {
		got := &crmv1alpha1.Customer{}
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
			return err
		}
		if cond := apimeta.FindStatusCondition(got.Status.Conditions, crmv1alpha1.ConditionReady); cond == nil ||
			cond.Reason != crmv1alpha1.ReasonNotFound {
			return errorf("Ready is %+v; want NotFound", cond)
		}
		return nil
	})
	t.Logf("NotFound %s after the delete", time.Since(start).Round(time.Millisecond))
}

// Forged, stale, replayed, unknown and malformed deliveries are refused (or cost nothing),
// are counted by verdict, and cost no read; a valid one costs exactly one.
func TestWebhookRefusesForgedStaleAndDuplicateEvents(t *testing.T) {
	ns := newNamespace(t)
	url := webhookURL(t)
	id, _ := syncedCustomer(t, ns, "guarded")
	gets := calls(id)["GET"]
	now, newer := time.Now(), time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	valid := signedEvent{id: "evt_guard_" + ns, typ: webhook.TypeCustomerUpdated, recordID: id, updatedAt: newer,
		ts: now, secret: webhookSecret}
	upd := webhook.TypeCustomerUpdated

	forged := valid
	forged.secret = "whsec_forged"
	stale := valid
	stale.ts = now.Add(-6 * time.Minute)
	future := valid
	future.ts = now.Add(6 * time.Minute)
	unknown := valid
	unknown.id, unknown.recordID = "evt_unknown_"+ns, "cust_nobody_manages_this"
	notJSON := valid
	notJSON.body = []byte("{not json")
	huge := valid
	huge.body = bytes.Repeat([]byte(" "), 300<<10)

	tests := []struct {
		name             string
		e                signedEvent
		status           int
		typ, verdict     string
		countedAsVerdict string
	}{
		{"forged", forged, http.StatusUnauthorized, "unknown", "bad_signature", "bad_signature"},
		{"stale", stale, http.StatusUnauthorized, "unknown", "stale", "stale"},
		{"from the future", future, http.StatusUnauthorized, "unknown", "stale", "stale"},
		{"not JSON", notJSON, http.StatusBadRequest, "unknown", "malformed", "malformed"},
		{"too large", huge, http.StatusRequestEntityTooLarge, "unknown", "malformed", "malformed"},
		{"unknown id", unknown, http.StatusOK, upd, "unknown_id", "unknown_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := webhookEvents(t, tt.typ, tt.countedAsVerdict)
			status, verdict := tt.e.post(t, url)
			if status != tt.status || verdict != tt.verdict {
				t.Errorf("answer %d %q; want %d %q", status, verdict, tt.status, tt.verdict)
			}
			if got := webhookEvents(t, tt.typ, tt.countedAsVerdict) - before; got != 1 {
				t.Errorf("tiquo_webhook_events_total{type=%q,verdict=%q} rose by %v; want 1", tt.typ, tt.countedAsVerdict, got)
			}
		})
	}
	stays(t, time.Second, func() error {
		if got := calls(id)["GET"]; got != gets {
			return errorf("%d GETs after refused events; want none", got-gets)
		}
		return nil
	})

	dup := webhookEvents(t, upd, "duplicate")
	if status, verdict := valid.post(t, url); status != http.StatusOK || verdict != "queued" {
		t.Fatalf("a valid event: %d %q; want 200 queued", status, verdict)
	}
	if status, verdict := valid.post(t, url); status != http.StatusOK || verdict != "duplicate" {
		t.Errorf("the same event again: %d %q; want 200 duplicate", status, verdict)
	}
	if got := webhookEvents(t, upd, "duplicate") - dup; got != 1 {
		t.Errorf("duplicates counted: %v; want 1", got)
	}
	eventually(t, 5*time.Second, func() error {
		if got := calls(id)["GET"]; got != gets+1 {
			return errorf("%d GETs after a valid event; want 1", got-gets)
		}
		return nil
	})
	stays(t, 1500*time.Millisecond, func() error {
		if got := calls(id)["GET"]; got != gets+1 {
			return errorf("%d GETs after a valid event and its replay; want 1", got-gets)
		}
		return nil
	})
}

// A flood of 1000 valid, distinct events about one record costs a handful of reads: one
// per hint interval (1 s) while it lasts, and one after.
func TestWebhookFloodCostsAHandfulOfReads(t *testing.T) {
	ns := newNamespace(t)
	url := webhookURL(t)
	id, _ := syncedCustomer(t, ns, "flooded")
	gets := calls(id)["GET"]
	limited := webhookEvents(t, webhook.TypeCustomerUpdated, "rate_limited")
	const events, senders = 1000, 8
	newer := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for n := next.Add(1); n <= events; n = next.Add(1) {
				e := signedEvent{id: fmt.Sprintf("evt_flood_%s_%d", ns, n), typ: webhook.TypeCustomerUpdated,
					recordID: id, updatedAt: newer, ts: time.Now(), secret: webhookSecret}
				if status, verdict := e.post(t, url); status != http.StatusOK {
					t.Errorf("event %d: %d %q", n, status, verdict)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	time.Sleep(1500 * time.Millisecond) // the deferred hint, and its read
	got := calls(id)["GET"] - gets
	t.Logf("%d events in %s cost %d GETs", events, took.Round(time.Millisecond), got)
	if limit := int(took/time.Second) + 2; got < 1 || got > limit {
		t.Errorf("%d events in %s cost %d GETs; want between 1 and %d", events, took, got, limit)
	}
	if got > 6 {
		t.Errorf("%d events cost %d GETs; want a handful", events, got)
	}
	if n := webhookEvents(t, webhook.TypeCustomerUpdated, "rate_limited") - limited; n < events-10 {
		t.Errorf("%v events rate-limited; want nearly all of %d", n, events)
	}
}

// The operator's own PATCH makes Tiquo send customer.updated; that event costs nothing.
func TestWebhookEchoOfOwnPatchCostsNoRead(t *testing.T) {
	ns := newNamespace(t)
	deliverWebhooks(t)
	id := uniqueID(t)
	seed(t, id, func(c *sandbox.Customer) { c.Notes = "set before the Customer existed" })
	echoes := webhookEvents(t, webhook.TypeCustomerUpdated, "echo")
	spec := matchingSpec(id)
	c := create(t, ns, "echo", spec)
	waitFor(t, c, "True", crmv1alpha1.ReasonSynced)
	eventually(t, 5*time.Second, func() error {
		if got := webhookEvents(t, webhook.TypeCustomerUpdated, "echo") - echoes; got < 1 {
			return errorf("the event of the operator's PATCH is not counted as an echo")
		}
		return nil
	})
	if got := sb.WebhookStats(); got.Events != 1 {
		t.Errorf("the sandbox sent %d events; want the one of the operator's PATCH", got.Events)
	}
	stays(t, resyncInterval+time.Second, func() error {
		if got := calls(id); got["GET"] != 1 || got["PATCH"] != 1 {
			return errorf("calls %v; want the first GET and the PATCH only", got)
		}
		return nil
	})
}
