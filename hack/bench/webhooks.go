package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tiquo-operator/tiquo-operator/internal/fixture"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

const (
	// webhookSecretName holds the webhooks' signing secret, entry "secret".
	webhookSecretName = "tiquo-webhook"
	webhookSecret     = "whsec_bench_0123456789"
	// driftEdits is how many out-of-band edits each half of the drift-correction scenario
	// makes.
	driftEdits = 100
	// webhookEditSpacing spaces the edits with webhooks on: each is measured on its own,
	// and the 100 take a few seconds.
	webhookEditSpacing = 50 * time.Millisecond
	// maxWebhookCorrectionP99 is the target with webhooks on.
	maxWebhookCorrectionP99 = 2 * time.Second
)

// driftResult is the time from an out-of-band edit (the sandbox's dashboard) to its
// correction, with webhooks delivered and without.
type driftResult struct {
	ran bool
	// scan is the drift scan's interval X of the manager measured.
	scan time.Duration
	// on and off are the edits' times to correction with webhooks delivered and not.
	on, off correction
	// onGets is the GETs of records while the edits with webhooks on were corrected: one
	// per edit; the echo of each correcting PATCH costs none.
	onGets int
}

// correction is the times to correction of one batch of edits.
type correction struct {
	edits, corrected int
	p50, p99, max    time.Duration
}

// createWebhookSecret stores the signing secret the managers with the receiver on read.
func (b *bench) createWebhookSecret(ctx context.Context) error {
	if err := b.kc.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: secretNamespace, Name: webhookSecretName},
		StringData: map[string]string{"secret": webhookSecret},
	}); err != nil {
		return fmt.Errorf("create the webhook Secret: %w", err)
	}
	return nil
}

// driftCorrection times out-of-band edits (the sandbox's dashboard: EditCustomer, which moves
// updatedAt and sends customer.updated) to their correction, over the N Customers in sync.
//
// With the receiver on: a manager with --webhook-bind-address and a drift scan too rare to
// matter (longResync), the sandbox delivering webhooks, 100 records edited one every 50 ms;
// only the hints can put them back, and each must cost exactly one GET (the echo of the
// correcting PATCH costs none).
//
// With the receiver off: a manager without it and the drift scan every X (the steady state's
// interval, 15 s at N=1000, not the 10-minute default), 100 other records edited evenly over
// one X, so that the times show what the scan alone gives: between 0 and X, about X/2 in
// the median and X at p99, whatever X is.
func (b *bench) driftCorrection(ctx context.Context) error {
	cfg := b.cfg
	res := driftResult{scan: cfg.resync}
	b.sb.SetRateLimit(cfg.rateLimit)
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	m, err := b.startIdle(ctx, "drift correction, webhooks on", longResync,
		"--webhook-bind-address="+addr, "--webhook-secret="+secretNamespace+"/"+webhookSecretName+":secret")
	if err != nil {
		return err
	}
	if err := waitListening(ctx, m, addr); err != nil {
		return err
	}
	if err := b.sb.SetWebhook(sandbox.WebhookConfig{URL: "http://" + addr + "/webhooks/tiquo", Secret: webhookSecret}); err != nil {
		return err
	}
	b.logf("Editing %d records out of band with webhooks delivered", driftEdits)
	b.sb.ClearRequests()
	if res.on, err = b.editAndTime(ctx, m, 0, webhookEditSpacing, 30*time.Second); err != nil {
		return err
	}
	for _, r := range b.sb.Requests() {
		if r.Method == "GET" && r.Path != listPath {
			res.onGets++
		}
	}
	if err := b.sb.SetWebhook(sandbox.WebhookConfig{}); err != nil {
		return err
	}

	if m, err = b.startIdle(ctx, "drift correction, webhooks off", cfg.resync); err != nil {
		return err
	}
	b.logf("Editing %d other records out of band over one scan interval of %s, without webhooks", driftEdits, cfg.resync)
	if res.off, err = b.editAndTime(ctx, m, driftEdits, cfg.resync/driftEdits, 3*cfg.resync+30*time.Second); err != nil {
		return err
	}
	res.ran = true
	b.res.drift = res
	b.logf("Edit to correction: with webhooks p50 %s p99 %s (%d GETs for %d edits); without, scan every %s: p50 %s p99 %s",
		res.on.p50.Round(time.Millisecond), res.on.p99.Round(time.Millisecond), res.onGets, driftEdits, cfg.resync,
		res.off.p50.Round(time.Millisecond), res.off.p99.Round(time.Millisecond))
	return nil
}

// startIdle starts a fresh manager over the N Customers in sync, with the drift scan every
// resync, and waits until its startup pass is over.
func (b *bench) startIdle(ctx context.Context, purpose string, resync time.Duration, extra ...string) (*managerProcess, error) {
	cfg := b.cfg
	m, err := b.startManager(ctx, purpose, cfg.rateLimit, resync, secretName, extra...)
	if err != nil {
		return nil, err
	}
	pass := cfg.passDuration()
	if _, err := b.waitIdle(ctx, m, cfg.n, 30*time.Second+5*pass, 2*time.Minute+20*pass); err != nil {
		return nil, err
	}
	return m, nil
}

// editAndTime edits the records of Customers first..first+driftEdits-1 (wrapping around N),
// one every spacing, and returns how long each took to be put back.
func (b *bench) editAndTime(ctx context.Context, m *managerProcess, first int, spacing, timeout time.Duration) (correction, error) {
	type edit struct {
		id    string
		notes string
		at    time.Time
		took  time.Duration
	}
	edits := make([]*edit, 0, driftEdits)
	pending := map[*edit]bool{}
	check := func(now time.Time) {
		for e := range pending {
			if rec, ok := b.sb.Customer(e.id); ok && rec.Notes == e.notes {
				e.took = now.Sub(e.at)
				delete(pending, e)
			}
		}
	}
	next := time.Now()
	for i := range driftEdits {
		id := customerID(baseName((first + i) % b.cfg.n))
		rec, ok := b.sb.Customer(id)
		if !ok {
			return correction{}, fmt.Errorf("no record %s", id)
		}
		rec.Notes, rec.UpdatedAt = fmt.Sprintf("Edited in the dashboard %d", i), time.Time{}
		e := &edit{id: id, notes: fixture.Record(id).Notes, at: time.Now()}
		b.sb.EditCustomer(rec)
		edits = append(edits, e)
		pending[e] = true
		next = next.Add(spacing)
		for time.Now().Before(next) {
			check(time.Now())
			if err := sleepOrExit(ctx, m, min(5*time.Millisecond, time.Until(next))); err != nil {
				return correction{}, err
			}
		}
	}
	deadline := time.Now().Add(timeout)
	for len(pending) > 0 && time.Now().Before(deadline) {
		check(time.Now())
		if err := sleepOrExit(ctx, m, 5*time.Millisecond); err != nil {
			return correction{}, err
		}
	}
	c := correction{edits: driftEdits}
	var took []time.Duration
	for _, e := range edits {
		if !pending[e] {
			took = append(took, e.took)
		}
	}
	c.corrected = len(took)
	c.p50, c.p99, c.max = percentile(took, 0.50), percentile(took, 0.99), percentile(took, 1)
	return c, nil
}

// waitListening waits until the manager's webhook receiver accepts connections.
func waitListening(ctx context.Context, m *managerProcess, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the webhook receiver does not listen on %s: %w; see %s", addr, err, m.LogPath)
		}
		if err := sleepOrExit(ctx, m, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// driftRows are the report's rows of the drift-correction scenario.
func driftRows(d driftResult) []row {
	if !d.ran {
		return nil
	}
	const scenario = "drift correction"
	on, off := d.on, d.off
	return []row{
		{scenario, fmt.Sprintf("edit to correction, webhooks on: p50 / p99 (%d of %d)", on.corrected, on.edits),
			fmt.Sprintf("%s / %s", secs(on.p50), secs(on.p99)), secs(maxWebhookCorrectionP99),
			fmt.Sprintf("%.2f", on.p99.Seconds()/maxWebhookCorrectionP99.Seconds()), "p99 <= 2s",
			passFail(on.p99 <= maxWebhookCorrectionP99 && on.corrected == on.edits)},
		countRow(scenario, "Tiquo GETs of records for those edits (scan off; echoes cost none)", d.onGets, on.edits, "edits"),
		{scenario, fmt.Sprintf("edit to correction, webhooks off (scan every X=%s): p50 / p99 (%d of %d)",
			d.scan, off.corrected, off.edits),
			fmt.Sprintf("%s / %s", secs(off.p50), secs(off.p99)), "X = " + secs(d.scan),
			fmt.Sprintf("%.2f", off.p99.Seconds()/d.scan.Seconds()), "p99 <= X (+pass)", passFail(off.corrected == off.edits &&
				off.p99 <= d.scan+d.scan/10+5*time.Second)},
	}
}
