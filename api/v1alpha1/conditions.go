package v1alpha1

// Condition types a Customer reports. They follow the kstatus conventions
// (sigs.k8s.io/cli-utils/pkg/kstatus), so kubectl wait, Argo CD and Flux read them without
// custom code: Ready says whether the Tiquo record matches the spec, Reconciling that the
// operator is still working towards it, Stalled that it cannot get there without a change.
const (
	// ConditionReady is True when the Tiquo record matches every managed field of the spec.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the operator is working towards Ready, including
	// while it waits out a rate limit or an API outage.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot make progress until something
	// changes: the spec, the API key Secret, or the record in Tiquo.
	ConditionStalled = "Stalled"
	// ConditionSuspended is True while spec.suspend is true and the operator makes no calls
	// to Tiquo for this Customer.
	ConditionSuspended = "Suspended"
	// ConditionDeletionPolicy is present while spec.deletionPolicy is not Orphan. True: the
	// policy will be applied when the Customer is deleted (its reason is the policy). False:
	// it will not (reason DeletionPolicyForbidden or ObserveOnly), and deleting the Customer
	// leaves the record as it is.
	ConditionDeletionPolicy = "DeletionPolicy"
)

// Reasons carried by the conditions above. The Ready condition's reason is what
// `kubectl get customers` shows in its STATUS column.
const (
	// ReasonSynced: the record matches the spec, either already or after a PATCH.
	ReasonSynced = "Synced"
	// ReasonNotFound: Tiquo has no customer with spec.customerId (HTTP 404), or the record
	// this Customer was bound to is gone. Check the id; the operator never creates a record
	// named by id.
	ReasonNotFound = "NotFound"
	// ReasonEmailConflict: another Tiquo customer already uses spec.email (HTTP 409).
	ReasonEmailConflict = "EmailConflict"
	// ReasonInvalidSpec: Tiquo rejected the requested change as invalid (HTTP 400); the
	// condition message carries Tiquo's explanation and the field it named.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonUnauthorized: Tiquo rejected the API key (HTTP 401): missing, malformed or revoked.
	ReasonUnauthorized = "Unauthorized"
	// ReasonForbidden: the API key lacks a scope the operator needs (customers:read,
	// customers:write) or the record belongs to another organisation (HTTP 403).
	ReasonForbidden = "Forbidden"
	// ReasonCredentialsNotFound: the API key Secret, or its key entry, does not exist.
	ReasonCredentialsNotFound = "CredentialsNotFound"
	// ReasonDuplicateCustomerID: another Customer object in the cluster manages the same
	// spec.customerId; neither is synced until only one remains.
	ReasonDuplicateCustomerID = "DuplicateCustomerId"
	// ReasonRateLimited: Tiquo answered HTTP 429; the operator waits for the announced reset.
	ReasonRateLimited = "RateLimited"
	// ReasonAPIUnavailable: Tiquo could not be reached or answered with a server error; the
	// operator retries with capped exponential backoff.
	ReasonAPIUnavailable = "APIUnavailable"
	// ReasonDrifted: managementPolicy is Observe and the record differs from the spec in the
	// fields status.pendingChanges names. It is information, not failure: nothing is patched.
	ReasonDrifted = "Drifted"
	// ReasonSuspended: spec.suspend is true.
	ReasonSuspended = "Suspended"
	// ReasonNonConvergent: Tiquo stores a different value than the one the operator sent for
	// the named fields (it normalises them); the operator stops patching those fields for
	// this generation. Write the spec in the form Tiquo stores.
	ReasonNonConvergent = "NonConvergent"
	// ReasonCreating: the operator sent POST /v1/customers and does not know yet whether Tiquo
	// stored the record (a timeout, a reset connection, a 5xx); it looks the email up before
	// anything else, so the POST is never blindly repeated.
	ReasonCreating = "Creating"
	// ReasonAdoptionRefused: customerId is not set, a Tiquo record already has spec.email,
	// and adoptionPolicy is Refuse. The message names the record's id.
	ReasonAdoptionRefused = "AdoptionRefused"
	// ReasonDeletionBlocked: the Customer is being deleted with deletionPolicy Delete and
	// Tiquo refused to delete the record because it has active bookings or orders (HTTP 409).
	// The finalizer stays; the operator checks again slowly.
	ReasonDeletionBlocked = "DeletionBlocked"
	// ReasonDeletionPolicyForbidden: the operator does not allow spec.deletionPolicy
	// (--allowed-deletion-policies); deleting the Customer leaves the record as it is.
	ReasonDeletionPolicyForbidden = "DeletionPolicyForbidden"
	// ReasonObserveOnly: managementPolicy is Observe, so the deletion policy is not applied.
	ReasonObserveOnly = "ObserveOnly"
)
