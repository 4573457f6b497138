package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/diff"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// CustomerReconciler keeps Tiquo customer records in step with Customer objects.
type CustomerReconciler struct {
	client.Client
	// APIReader reads Secret data straight from the API server; Secrets are cached by
	// metadata only.
	APIReader client.Reader
	// API is Tiquo.
	API CustomerAPI
	// Recorder emits events on real changes only.
	Recorder events.EventRecorder
	// DefaultSecret is where the API key comes from for Customers without apiKeySecretRef;
	// nil when the operator has no default.
	DefaultSecret *SecretKeySelector

	// ResyncInterval is how often an in-sync record is checked for drift.
	ResyncInterval time.Duration
	// TerminalRecheckInterval is how often a record in a terminal state is checked again
	// when nothing changes.
	TerminalRecheckInterval time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the exponential backoff after transient failures.
	RetryBaseDelay, RetryMaxDelay time.Duration
	// TransientGracePeriod is how long transient failures of a routine resync may last
	// before a Ready object is reported not ready.
	TransientGracePeriod time.Duration
	// APICallTimeout bounds each call to Tiquo, including a wait for the rate limiter.
	APICallTimeout time.Duration
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int
	// DriftScan finds records changed outside Git by paging through each account's
	// customer list once per resync interval, instead of reading every record, wherever
	// that costs fewer calls.
	DriftScan bool
	// Webhook, when set, runs a receiver of Tiquo webhooks that reconciles a Customer as
	// soon as its record changes (docs/webhooks.md).
	Webhook *WebhookOptions
	// AllowedDeletionPolicies are the spec.deletionPolicy values the operator applies; a
	// Customer asking for another is treated as Orphan. Nil allows all three.
	AllowedDeletionPolicies []crmv1alpha1.DeletionPolicy

	keys     *keyStore
	secrets  *secretWatches
	scanner  *driftScanner
	writer   *statusWriter
	schedule *schedule
	fleet    *fleet
	hints    *hints
	receiver *webhookReceiver
	now      func() time.Time
}

// restartDelay is how soon a Customer that changed while the reconcile wrote to it is
// reconciled again: the time for the cache to see the change.
const restartDelay = 100 * time.Millisecond

// maxRequestedAt is the length limit of status.lastHandledReconcileAt.
const maxRequestedAt = 256

// Reconcile brings one Tiquo record in line with its Customer and reports the outcome.
//
// Every reconcile is one pipeline, whatever brought the Customer in line (a spec change, a
// Secret change, a timer, the drift scan, a webhook): check the invariants (one Customer per
// record, a readable key, the schedule), observe the record (a GET, or the drift scan's word
// that it is unchanged, unless a webhook or a requested sync asks for a GET), diff and act,
// and report (status, events, metrics, when to come back). A cheaper observation replaces
// the GET and nothing else.
func (r *CustomerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c, err := r.read(ctx, req.NamespacedName)
	if err != nil || c == nil {
		return ctrl.Result{}, err
	}
	deleting := !c.DeletionTimestamp.IsZero()
	if deleting && !controllerutil.ContainsFinalizer(c, crmv1alpha1.DeletionFinalizer) {
		// Nothing to do before it goes: deleting a Customer leaves its record as it is.
		return ctrl.Result{}, nil
	}

	// A new value of the requestedAt annotation asks for a sync now, past any hold.
	requested := c.Annotations[crmv1alpha1.ReconcileRequestAnnotation]
	// status.lastHandledReconcileAt holds at most 256 bytes; compare what it can hold, so
	// that an overlong value neither fails the status write nor forces every reconcile.
	requested = strings.ToValidUTF8(requested[:min(len(requested), maxRequestedAt)], "")
	force := requested != "" && requested != c.Status.LastHandledReconcileAt
	// A webhook said the record changed: read it, whatever the drift scan last saw.
	hinted := r.hints.take(req.NamespacedName)

	out := outcome{kind: suspended, reason: crmv1alpha1.ReasonSuspended,
		message: "spec.suspend is true: the operator makes no calls to Tiquo for this Customer"}
	if deleting {
		out.message += "; its deletion waits until spec.suspend is false (or deletionPolicy is Orphan)"
	}
	if !c.Spec.Suspend {
		r.fleet.observe(req.NamespacedName, c.Generation, r.now())
		var wait time.Duration
		if out, wait = r.sync(ctx, c, force, hinted); wait > 0 {
			// Tiquo must not be called yet for this generation; nothing new to report. A
			// hint waits for the reconcile after the backoff.
			if hinted {
				r.hints.mark(req.NamespacedName)
			}
			return ctrl.Result{RequeueAfter: wait, Priority: new(lowPriority)}, nil
		}
		switch out.kind {
		case released:
			// The finalizer is gone, and the Customer with it.
			return ctrl.Result{}, nil
		case restart:
			return ctrl.Result{RequeueAfter: restartDelay}, nil
		}
		if out.kind == synced {
			if unreported := r.schedule.takeUnreported(req.NamespacedName, c.Generation); out.patched == nil {
				// An earlier sync of this generation patched the record but could not report
				// it; this one found the record matching. Report that PATCH now.
				out.patched = unreported
			}
		}
	}
	before := c.DeepCopy()
	r.setStatus(c, out)
	if requested != "" && !c.Spec.Suspend {
		c.Status.LastHandledReconcileAt = requested
	}
	// The result is taken before the write is handed over: the writer decodes the API
	// server's answer into c.
	res := r.next(c, out)
	sw := &statusWrite{key: req.NamespacedName, before: before, after: c, out: out, log: log.FromContext(ctx)}
	if err := r.handOver(ctx, sw); err != nil {
		return ctrl.Result{}, err
	}
	return res, nil
}

// read returns the Customer as the last status write left it, or nil when it is gone, in
// which case everything kept about it is forgotten. The cache can lag a status the writer
// has just stored; then the Customer is read from the API server, so that a reconcile never
// starts from a status older than its predecessor's (which would repeat its events and a
// requested sync).
func (r *CustomerReconciler) read(ctx context.Context, key types.NamespacedName) (*crmv1alpha1.Customer, error) {
	written := ""
	if r.writer != nil {
		// The status this reconcile starts from must not be older than the one the previous
		// reconcile of the Customer handed over.
		if err := r.writer.wait(ctx, key); err != nil {
			return nil, err
		}
		written = r.writer.takeWritten(key)
	}
	c := &crmv1alpha1.Customer{}
	err := r.Get(ctx, key, c)
	if err == nil && written != "" && c.ResourceVersion != written {
		c, err = r.fresh(ctx, key)
	}
	if apierrors.IsNotFound(err) {
		r.forget(key)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// fresh reads a Customer from the API server, whole: with the metadata the cache leaves out,
// so that it may be sent back in an update. The manager may list Customers, not get them, so
// it lists the one by name.
func (r *CustomerReconciler) fresh(ctx context.Context, key types.NamespacedName) (*crmv1alpha1.Customer, error) {
	var list crmv1alpha1.CustomerList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(key.Namespace),
		client.MatchingFields{"metadata.name": key.Name}); err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, apierrors.NewNotFound(crmv1alpha1.GroupVersion.WithResource("customers").GroupResource(), key.Name)
	}
	return &list.Items[0], nil
}

// forget drops everything kept about a Customer that is gone. Deleting a Customer leaves
// the Tiquo record untouched.
func (r *CustomerReconciler) forget(key types.NamespacedName) {
	r.schedule.forget(key)
	r.fleet.forget(key)
	r.hints.forget(key)
	if r.writer != nil {
		r.writer.forget(key)
	}
	if r.secrets != nil {
		// The Customer may have been the last to name its Secret.
		r.secrets.sweepSoon()
	}
}

// handOver reports an outcome whose status is unchanged, and otherwise hands the status
// write over to the writers (or, in a reconciler running without them, writes it).
func (r *CustomerReconciler) handOver(ctx context.Context, sw *statusWrite) error {
	switch {
	case equality.Semantic.DeepEqual(sw.before.Status, sw.after.Status):
		r.report(sw)
		return nil
	case r.writer != nil:
		return r.writer.submit(ctx, sw)
	default:
		return r.writeStatus(ctx, sw)
	}
}

// sync checks the invariants, observes the record and, when it differs, patches it; for a
// Customer being deleted, it applies the deletion policy instead. It returns wait > 0
// instead of an outcome when a transient backoff forbids calling Tiquo for that long. force
// (a requested sync) lifts holds and backoffs and reads the record; hinted (a webhook said
// the record changed) only reads the record, within the holds and backoffs.
func (r *CustomerReconciler) sync(ctx context.Context, c *crmv1alpha1.Customer, force, hinted bool) (outcome, time.Duration) {
	key := client.ObjectKeyFromObject(c)
	deleting := !c.DeletionTimestamp.IsZero()
	policy, stop, wait := r.checkCustomer(ctx, c)
	if stop != nil {
		return *stop, wait
	}

	secret, ok := secretFor(c, r.DefaultSecret)
	if !ok {
		return stalled(crmv1alpha1.ReasonCredentialsNotFound,
			"spec.apiKeySecretRef is not set and the operator has no default API key Secret"), 0
	}
	apiKey, credentials, err := r.keys.apiKey(ctx, secret)
	if err != nil {
		// The drift scan cannot vouch for records it has no key to list.
		r.scanner.uncover(secret)
	}
	if errors.Is(err, errCredentials) {
		return stalled(crmv1alpha1.ReasonCredentialsNotFound, "%s", err.Error()), 0
	} else if err != nil {
		return r.backOff(ctx, c, "", outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable,
			message: "Reading the API key Secret failed: " + err.Error()}), 0
	}

	sched := r.schedule.get(key, c.Generation, credentials)
	if wait := sched.notBefore.Sub(r.now()); wait > 0 && !force {
		if sched.held != nil {
			// A terminal outcome holds: it stands until the recheck, and is reported again.
			return *sched.held, 0
		}
		return outcome{}, wait
	}

	var out outcome
	if deleting {
		out = r.remove(ctx, c, policy, apiKey, secret)
	} else {
		out = r.reconcileRecord(ctx, c, apiKey, secret, credentials, force || hinted, sched.nonConvergent)
	}
	return r.settle(ctx, c, credentials, out), 0
}

// checkCustomer checks what holds before Tiquo is called: the record is bound to this
// Customer only, and the deletion finalizer matches the deletion policy, which it returns. A
// Customer being deleted under Orphan, or whose record another Customer still manages, is
// released. stop, when set, is the outcome to report, or to wait for wait before.
func (r *CustomerReconciler) checkCustomer(ctx context.Context, c *crmv1alpha1.Customer) (
	policy crmv1alpha1.DeletionPolicy, stop *outcome, wait time.Duration) {
	deleting := !c.DeletionTimestamp.IsZero()
	id := c.BoundID()
	done := func(out outcome, wait time.Duration) (crmv1alpha1.DeletionPolicy, *outcome, time.Duration) {
		return "", &out, wait
	}
	if !deleting && c.Spec.CustomerID != "" && c.Status.CustomerID != "" && c.Spec.CustomerID != c.Status.CustomerID {
		return done(stalled(crmv1alpha1.ReasonInvalidSpec,
			"spec.customerId %s is not Tiquo customer %s, the record this Customer is bound to for life. "+
				"Set spec.customerId to %s, or create a new Customer to manage %s",
			c.Spec.CustomerID, c.Status.CustomerID, c.Status.CustomerID, c.Spec.CustomerID), 0)
	}
	if id != "" {
		others, err := r.othersManaging(ctx, c)
		switch {
		case err != nil:
			return done(r.backOff(ctx, c, "", outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable,
				message: "Listing Customers failed: " + err.Error()}), 0)
		case len(others) > 0 && deleting:
			// The record is still declared by another Customer: leave it to that one.
			return done(r.release(ctx, c, "Customers "+strings.Join(others, ", ")+" also manage Tiquo customer "+id+
				", so deleting this one leaves the record as it is"), 0)
		case len(others) > 0:
			return done(stalled(crmv1alpha1.ReasonDuplicateCustomerID,
				"Customers %s also manage Tiquo customer %s; delete or change all but one",
				strings.Join(others, ", "), id), 0)
		}
	}
	policy, _ = r.deletionPolicy(c)
	if deleting {
		if policy == crmv1alpha1.DeletionPolicyOrphan {
			return done(r.release(ctx, c, ""), 0)
		}
		return policy, nil, 0
	}
	if err := r.keepFinalizer(ctx, c, policy != crmv1alpha1.DeletionPolicyOrphan); errors.Is(err, errChangedMeanwhile) {
		return done(outcome{kind: restart}, 0)
	} else if err != nil {
		return done(r.backOff(ctx, c, "", outcome{kind: transient, reason: crmv1alpha1.ReasonAPIUnavailable,
			message: "Updating the deletion finalizer failed: " + err.Error()}), 0)
	}
	return policy, nil, 0
}

// settle records an outcome in the schedule: a backoff after a transient failure, a hold
// until the slow recheck after a terminal one.
func (r *CustomerReconciler) settle(ctx context.Context, c *crmv1alpha1.Customer, credentials string, out outcome) outcome {
	key := client.ObjectKeyFromObject(c)
	switch out.kind {
	case restart, released:
	case transient:
		out = r.backOff(ctx, c, credentials, out)
	case terminal:
		r.schedule.succeeded(key, c.Generation, credentials)
		if out.reason == crmv1alpha1.ReasonNonConvergent {
			r.schedule.addNonConvergent(key, c.Generation, credentials, out.patched)
			out.patched = nil
		}
		out.retryAt = r.now().Add(jitter(r.TerminalRecheckInterval, 0.1))
		r.schedule.holdUntil(key, c.Generation, credentials, out.retryAt, out)
	default:
		r.schedule.succeeded(key, c.Generation, credentials)
	}
	return out
}

// reconcileRecord binds a Customer without spec.customerId to its record when it is not
// bound yet, then observes the record and acts on the difference.
func (r *CustomerReconciler) reconcileRecord(ctx context.Context, c *crmv1alpha1.Customer, apiKey string,
	secret SecretKeySelector, credentials string, read bool, skip []string) outcome {
	id, how := c.BoundID(), notBound
	if id == "" {
		var failed *outcome
		if id, how, failed = r.bind(ctx, c, apiKey, secret); failed != nil {
			return *failed
		}
		// A record just found or created is read before it is diffed: a list item or a POST
		// answer may leave fields out.
		read = true
	}
	obs, err := r.observe(ctx, c, id, apiKey, secret, credentials, read)
	var out outcome
	if err != nil {
		out = classify(err, id, secret, redactor(&c.Spec, nil))
	} else {
		out = r.act(ctx, c, id, obs, apiKey, secret, skip)
	}
	if out.reason == crmv1alpha1.ReasonNotFound && c.Spec.CustomerID == "" {
		out.message = "Tiquo customer " + id + ", the record this Customer is bound to, is gone (HTTP 404). A Customer " +
			"keeps its record for life, so the operator does not create another: delete this Customer and create it " +
			"again to create a new record"
	}
	out.customerID, out.bound = id, how
	return out
}

// backOff schedules the next attempt after a transient failure: capped exponential backoff
// with jitter, and no earlier than the reset Tiquo announced. Every transient outcome passes
// here, so that each one has a time to come back and a start for its grace period. Empty
// credentials mark a failure before Tiquo was called.
func (r *CustomerReconciler) backOff(ctx context.Context, c *crmv1alpha1.Customer, credentials string, out outcome) outcome {
	delay, since := r.schedule.failed(client.ObjectKeyFromObject(c), c.Generation, credentials, r.now(), out.retryAt,
		r.RetryBaseDelay, r.RetryMaxDelay)
	out.retryAt, out.failingSince = r.now().Add(delay), since
	log.FromContext(ctx).Info("Sync failed; backing off", "reason", out.reason, "delay", delay.Round(time.Millisecond),
		"failingSince", since)
	return out
}

// observation is what the reconciler knows of the live record when it diffs: the record
// itself, from a GET, or the drift scan's word that it is unchanged since the status was
// written, when that status settled the current generation.
type observation struct {
	live      *tiquo.Customer
	unchanged bool
}

// observe reads the record, unless the drift scan listed it, with the same key, unchanged
// since the operator last observed it, and nothing asked for a read (read: a requested sync
// or a webhook hint, which may be newer than the scan).
func (r *CustomerReconciler) observe(ctx context.Context, c *crmv1alpha1.Customer, id, apiKey string,
	secret SecretKeySelector, credentials string, read bool) (observation, error) {
	if !read && r.scanner.unchanged(ctx, secret, credentials, c) {
		return observation{unchanged: true}, nil
	}
	live, err := r.call(ctx, func(ctx context.Context) (*tiquo.Customer, error) {
		return r.API.GetCustomer(ctx, apiKey, id)
	})
	if err == nil && live.UpdatedAt != nil {
		// What the webhook receiver compares a customer.updated event with.
		r.hints.saw(client.ObjectKeyFromObject(c), *live.UpdatedAt)
	}
	return observation{live: live}, err
}

// act diffs the observed record against the spec and sends the smallest PATCH that makes it
// match, leaving out fields already found non-convergent for this generation.
func (r *CustomerReconciler) act(ctx context.Context, c *crmv1alpha1.Customer, id string, obs observation, apiKey string,
	secret SecretKeySelector, skip []string) outcome {
	if obs.unchanged {
		// The record is as the status describes it, and the status settled this generation:
		// in sync, or (under Observe) differing in the pending fields.
		if readyReason(c) == crmv1alpha1.ReasonDrifted {
			return drifted(nil, c.Status.PendingChanges)
		}
		return inSync(nil, nil)
	}
	live := obs.live
	patch := diff.Compute(&c.Spec, live)
	if c.Spec.ManagementPolicy == crmv1alpha1.ManagementPolicyObserve {
		if patch.IsEmpty() {
			return inSync(live, nil)
		}
		return drifted(live, patch.Fields())
	}
	if pending := diff.Omit(patch, skip); pending.IsEmpty() && !patch.IsEmpty() {
		// Only fields Tiquo would not store as sent still differ.
		return nonConvergent(live, patch.Fields())
	} else {
		patch = pending
	}
	if patch.IsEmpty() {
		return inSync(live, nil)
	}

	fields := patch.Fields()
	log.FromContext(ctx).Info("Patching Tiquo customer", "fields", fields)
	// The PATCH's own customer.updated event must cost nothing, even when it comes before
	// the answer: hints holds it until the answer's updatedAt is known.
	updated, err := r.hints.patch(client.ObjectKeyFromObject(c), func() (*tiquo.Customer, error) {
		return r.call(ctx, func(ctx context.Context) (*tiquo.Customer, error) {
			return r.API.UpdateCustomer(ctx, apiKey, id, patch)
		})
	})
	if err != nil {
		out := classify(err, id, secret, redactor(&c.Spec, live))
		out.live = live
		return out
	}

	// Tiquo may store a value other than the one sent (it normalises it). The PATCH answer
	// may also leave fields out, so confirm with a GET before calling a field non-convergent.
	if stuck := stillDiffering(&c.Spec, updated, fields); len(stuck) > 0 {
		confirmed, err := r.call(ctx, func(ctx context.Context) (*tiquo.Customer, error) {
			return r.API.GetCustomer(ctx, apiKey, id)
		})
		if err != nil {
			// The record was patched, but whether it now matches is unknown: report the
			// failure, and the PATCH once a later sync finds the record matching.
			r.schedule.setUnreported(client.ObjectKeyFromObject(c), c.Generation, fields)
			out := classify(err, id, secret, redactor(&c.Spec, updated))
			out.live = updated
			return out
		}
		if stuck = stillDiffering(&c.Spec, confirmed, fields); len(stuck) > 0 {
			return nonConvergent(confirmed, stuck)
		}
		updated = confirmed
	}
	return inSync(updated, fields)
}

// stillDiffering returns the fields among sent that still differ from the spec in live.
func stillDiffering(spec *crmv1alpha1.CustomerSpec, live *tiquo.Customer, sent []string) []string {
	var stuck []string
	for _, f := range diff.Compute(spec, live).Fields() {
		if slices.Contains(sent, f) {
			stuck = append(stuck, f)
		}
	}
	return stuck
}

func drifted(live *tiquo.Customer, fields []string) outcome {
	return outcome{kind: observed, reason: crmv1alpha1.ReasonDrifted, live: live, pending: fields,
		message: "The Tiquo record differs from the spec in " + strings.Join(fields, ", ") +
			"; managementPolicy is Observe, so nothing is patched"}
}

func nonConvergent(live *tiquo.Customer, fields []string) outcome {
	o := stalled(crmv1alpha1.ReasonNonConvergent,
		"Tiquo stores a different value than the one sent for %s, so the operator stops patching it for this generation. Write the value in the form Tiquo stores it",
		strings.Join(fields, ", "))
	o.live = live
	o.patched = fields
	return o
}

// call runs one Tiquo call under the per-call timeout.
func (r *CustomerReconciler) call(ctx context.Context, f func(context.Context) (*tiquo.Customer, error)) (*tiquo.Customer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.APICallTimeout)
	defer cancel()
	return f(ctx)
}

// othersManaging returns namespace/name of the other Customers bound to the same record.
func (r *CustomerReconciler) othersManaging(ctx context.Context, c *crmv1alpha1.Customer) ([]string, error) {
	others, err := r.managing(ctx, c.BoundID(), c.UID)
	slices.Sort(others)
	return others, err
}

// record updates the metrics with an outcome.
func (r *CustomerReconciler) record(before, after *crmv1alpha1.Customer, out outcome) {
	key := client.ObjectKeyFromObject(after)
	r.fleet.report(key, readyReason(after), isReadyAt(after, after.Generation), r.now())
	switch {
	case out.kind == transient:
		transientFailuresTotal.WithLabelValues(out.reason).Inc()
	case out.kind == synced && len(out.patched) > 0:
		patchesTotal.Inc()
		for _, f := range out.patched {
			patchedFieldsTotal.WithLabelValues(f).Inc()
		}
		if isReadyAt(before, after.Generation) {
			driftCorrectionsTotal.Inc()
		}
	}
}

// next says when to reconcile again: routine rechecks at low priority, so that changes to
// Customers are served first.
func (r *CustomerReconciler) next(c *crmv1alpha1.Customer, out outcome) ctrl.Result {
	switch out.kind {
	case suspended:
		// Resuming is a spec change, which brings the Customer back.
		return ctrl.Result{}
	case transient:
		return ctrl.Result{RequeueAfter: out.retryAt.Sub(r.now())}
	case terminal:
		// The slow recheck, when the hold of this outcome ends.
		wait := jitter(r.TerminalRecheckInterval, 0.1)
		if !out.retryAt.IsZero() {
			wait = max(out.retryAt.Sub(r.now()), time.Millisecond)
		}
		return ctrl.Result{RequeueAfter: wait, Priority: new(lowPriority)}
	default:
		if sel, ok := secretFor(c, r.DefaultSecret); ok && scannable(c) && r.scanner.covers(sel) {
			// The drift scan watches this record; it reconciles the Customer when it changes.
			return ctrl.Result{}
		}
		return ctrl.Result{RequeueAfter: jitter(resyncInterval(c, r.ResyncInterval), 0.1), Priority: new(lowPriority)}
	}
}

// resyncInterval is the Customer's spec.syncInterval, raised to the minimum the operator
// allows, or else the operator's default.
func resyncInterval(c *crmv1alpha1.Customer, def time.Duration) time.Duration {
	if c.Spec.SyncInterval == nil {
		return def
	}
	return max(c.Spec.SyncInterval.Duration, crmv1alpha1.MinSyncInterval)
}
