package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CustomerSpec declares the desired fields of one Tiquo customer record: an existing record
// named by customerId, or, without customerId, a customer that must exist, found by email or
// created.
//
// Field names are Tiquo's wire names, so the spec reads like the body of
// PATCH /v1/customers/{id}. A field that is absent is not managed: the operator never sends
// it and never reports drift on it. A field that is present is desired state, including the
// empty value: notes: "" clears the notes and tags: [] removes every tag.
//
// +kubebuilder:validation:XValidation:rule="has(self.customerId) || has(self.email)",message="email is required when customerId is not set: the operator finds the customer by email or creates it",fieldPath=".email"
// +kubebuilder:validation:XValidation:rule="has(self.customerId) || has(self.firstName)",message="firstName is required when customerId is not set: Tiquo needs it to create the customer",fieldPath=".firstName"
// +kubebuilder:validation:XValidation:rule="has(self.customerId) || has(self.lastName)",message="lastName is required when customerId is not set: Tiquo needs it to create the customer",fieldPath=".lastName"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.customerId) || has(self.customerId)",message="customerId cannot be removed once set; create a new Customer to manage another record",fieldPath=".customerId"
type CustomerSpec struct {
	// customerId is the id of an existing Tiquo customer this object manages, for example
	// cust_abc123. A 404 is reported as NotFound: the operator never creates a record named
	// by id. It cannot be changed or removed once set.
	//
	// Without customerId, the Customer declares a customer that must exist: the operator
	// looks the email up in Tiquo and adopts the record it finds (see adoptionPolicy) or
	// creates one from the spec, and binds this object to it for life through
	// status.customerId. firstName, lastName and email are then required.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="customerId is immutable; create a new Customer to manage another record"
	CustomerID string `json:"customerId,omitempty"`

	// adoptionPolicy says what to do, when customerId is not set, with a Tiquo record that
	// already has spec.email: Adopt (the default) binds this Customer to it and patches it to
	// the spec; Refuse leaves it alone and reports AdoptionRefused, naming its id. It has no
	// effect once the Customer is bound to a record.
	// +optional
	AdoptionPolicy AdoptionPolicy `json:"adoptionPolicy,omitempty"`

	// deletionPolicy says what deleting this Customer does to the Tiquo record: Orphan (the
	// default) leaves it as it is; Archive sends PATCH {"archived": true}, which hides it from
	// Tiquo's lists and can be undone; Delete removes it for good (profile, loyalty points,
	// notes and documents; future bookings are cancelled). While it is Archive or Delete the
	// Customer carries a finalizer; a record with active bookings is not deleted, and the
	// Customer waits with reason DeletionBlocked. The operator may forbid a policy
	// (--allowed-deletion-policies); a forbidden policy is reported in the DeletionPolicy
	// condition and treated as Orphan.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// firstName is the customer's first name. Absent: not managed.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	FirstName *string `json:"firstName,omitempty"`

	// lastName is the customer's last name. Absent: not managed.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	LastName *string `json:"lastName,omitempty"`

	// email is the customer's email address. Tiquo requires it to be unique across the
	// account; it is compared without regard to case. Absent: not managed.
	// +optional
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@[:space:]]+@[^@[:space:].]+([.][^@[:space:].]+)+$')",message="email must be an email address such as name@example.com"
	Email *string `json:"email,omitempty"`

	// phone is the customer's phone number: digits with an optional leading + and the
	// separators space, dash, dot and parentheses, which are ignored when comparing.
	// "" clears the phone number. Absent: not managed.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[+]?[0-9 ().-]*[0-9][0-9 ().-]*$')",message="phone must be digits with an optional leading + and only spaces, dashes, dots or parentheses as separators, such as +1 (555) 456-7890"
	Phone *string `json:"phone,omitempty"`

	// dateOfBirth is the customer's date of birth, a real calendar date in the form
	// YYYY-MM-DD, such as 1990-05-15. "" clears it. Absent: not managed.
	// +optional
	// +kubebuilder:validation:MaxLength=10
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$')",message="dateOfBirth must be a real calendar date in the form YYYY-MM-DD, such as 1990-05-15"
	DateOfBirth *string `json:"dateOfBirth,omitempty"`

	// address is the customer's postal address. Tiquo merges addresses, so each subfield is
	// managed on its own: only the subfields present here are compared and sent.
	// +optional
	Address *Address `json:"address,omitempty"`

	// tags is the set of tags the customer carries. It is compared without regard to order;
	// when it differs, the whole list is sent, because Tiquo replaces tags. [] removes every
	// tag. Absent: not managed.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	Tags *[]string `json:"tags,omitempty"`

	// notes holds internal notes about the customer. "" clears them. Absent: not managed.
	// +optional
	// +kubebuilder:validation:MaxLength=5000
	Notes *string `json:"notes,omitempty"`

	// preferredLocationId is the id of the customer's preferred location, such as
	// loc_xyz789. "" clears it. Absent: not managed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]*$`
	PreferredLocationID *string `json:"preferredLocationId,omitempty"`

	// marketingConsent records whether the customer consented to marketing email.
	// Absent: not managed.
	// +optional
	MarketingConsent *bool `json:"marketingConsent,omitempty"`

	// companyId is the id of the company the customer belongs to (B2B), such as
	// comp_def456. "" clears it. Absent: not managed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]*$`
	CompanyID *string `json:"companyId,omitempty"`

	// suspend stops all calls to Tiquo for this Customer while true: the operator neither
	// reads nor patches the record, sets the Suspended condition, and leaves Ready as it was.
	// Use it to pause one object during an incident.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// managementPolicy is Sync (the default: patch the record to match) or Observe (read
	// and report, never create, patch, archive or delete: status.pendingChanges names the fields a PATCH would change,
	// and Ready is False with reason Drifted while any differ). Use Observe to adopt an
	// account read-only before letting the operator write.
	// +optional
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// syncInterval is how often this record is checked for changes made outside Git,
	// overriding the operator's --resync-interval. Values below 30s are raised to 30s, to
	// protect the Tiquo plan's request budget.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="syncInterval must be a positive duration such as 5m"
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty"`

	// apiKeySecretRef names the Secret, in this Customer's namespace, that holds the Tiquo
	// API key. When absent the operator's default Secret is used. The key needs the
	// customers:read and customers:write scopes.
	// +optional
	APIKeySecretRef *SecretKeyReference `json:"apiKeySecretRef,omitempty"`
}

// AdoptionPolicy says whether a Customer without customerId may take over a Tiquo record that
// already has its email.
// +kubebuilder:validation:Enum=Adopt;Refuse
type AdoptionPolicy string

const (
	// AdoptionPolicyAdopt binds the Customer to the record that has its email. It is the default.
	AdoptionPolicyAdopt AdoptionPolicy = "Adopt"
	// AdoptionPolicyRefuse leaves a record that has the Customer's email alone and reports it.
	AdoptionPolicyRefuse AdoptionPolicy = "Refuse"
)

// DeletionPolicy says what deleting a Customer does to its Tiquo record.
// +kubebuilder:validation:Enum=Orphan;Archive;Delete
type DeletionPolicy string

const (
	// DeletionPolicyOrphan leaves the record as it is. It is the default.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
	// DeletionPolicyArchive archives the record: PATCH {"archived": true}. It can be undone.
	DeletionPolicyArchive DeletionPolicy = "Archive"
	// DeletionPolicyDelete deletes the record for good: DELETE /v1/customers/{id}.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// DeletionFinalizer holds a Customer whose deletionPolicy is Archive or Delete until the
// operator has archived or deleted its record.
const DeletionFinalizer = "crm.tiquo.co/deletion-policy"

// ManagementPolicy says whether the operator may write to the Tiquo record.
// +kubebuilder:validation:Enum=Sync;Observe
type ManagementPolicy string

const (
	// ManagementPolicySync patches the record to match the spec. It is the default.
	ManagementPolicySync ManagementPolicy = "Sync"
	// ManagementPolicyObserve reads the record and reports differences without patching.
	ManagementPolicyObserve ManagementPolicy = "Observe"
)

// MinSyncInterval is the shortest spec.syncInterval the operator honours; shorter values
// are raised to it.
const MinSyncInterval = 30 * time.Second

// ReconcileRequestAnnotation asks for an immediate reconcile when its value changes, for
// example to any new timestamp (kubectl tiquo sync sets it). status.lastHandledReconcileAt
// echoes the value once handled, as Flux's reconcile.fluxcd.io/requestedAt does.
const ReconcileRequestAnnotation = "reconcile.crm.tiquo.co/requestedAt"

// Address is a postal address. Each subfield is managed on its own: absent means not
// managed, "" clears the subfield.
type Address struct {
	// line1 is the first address line, such as 456 Oak Avenue.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Line1 *string `json:"line1,omitempty"`

	// line2 is the second address line, such as an apartment or suite.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Line2 *string `json:"line2,omitempty"`

	// city is the city or town.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	City *string `json:"city,omitempty"`

	// state is the state, province or region.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	State *string `json:"state,omitempty"`

	// postalCode is the postal or ZIP code.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	PostalCode *string `json:"postalCode,omitempty"`

	// country is the country, such as US.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Country *string `json:"country,omitempty"`
}

// SecretKeyReference names one entry of a Secret in the Customer's own namespace. A
// Customer can never name a Secret in another namespace.
type SecretKeyReference struct {
	// name is the name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key is the entry of the Secret's data that holds the API key. Defaults to apiKey.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// CustomerStatus is the state the operator last observed. It never holds personal data:
// names, email, phone, address and notes are not copied here.
type CustomerStatus struct {
	// customerId is the id of the Tiquo record this Customer is bound to: spec.customerId,
	// or the record the operator found by email or created. Once set it never changes.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CustomerID string `json:"customerId,omitempty"`

	// pendingCreate is set just before the operator sends POST /v1/customers and cleared
	// when the Customer is bound. While it is set, a record found by the email of that POST
	// is taken as the one the POST created (never refused), and no second POST is sent
	// before the email is looked up again.
	// +optional
	PendingCreate *PendingCreate `json:"pendingCreate,omitempty"`

	// observedGeneration is the generation of the spec that last reached a final state:
	// Ready=True or Stalled=True.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Reconciling and Stalled, following the kstatus conventions.
	// Each carries the generation it describes.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// loyaltyPoints is the customer's loyalty point balance, as Tiquo last reported it.
	// +optional
	LoyaltyPoints *int64 `json:"loyaltyPoints,omitempty"`

	// totalSpent is the customer's total spend as a decimal string, such as "2500.00", as
	// Tiquo last reported it.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	TotalSpent string `json:"totalSpent,omitempty"`

	// visitCount is the number of visits, as Tiquo last reported it.
	// +optional
	VisitCount *int64 `json:"visitCount,omitempty"`

	// createdAt is when the record was created in Tiquo.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// updatedAt is when the record was last changed in Tiquo, by anyone, as an RFC 3339
	// time with all the precision Tiquo gives (often milliseconds), so that a change made
	// within a second of the last one is still told apart from it.
	// +kubebuilder:validation:Format=date-time
	// +optional
	UpdatedAt string `json:"updatedAt,omitempty"`

	// lastVisit is the customer's last visit, as Tiquo last reported it.
	// +optional
	LastVisit *metav1.Time `json:"lastVisit,omitempty"`

	// lastSyncTime is when the operator last brought the record in line with the spec: its
	// last PATCH, or the first time it found the current generation already matching.
	// Routine resyncs that find nothing to change do not move it, so they cost no write.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// pendingChanges names the fields a PATCH would change, when managementPolicy is
	// Observe and the record differs from the spec.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=64
	PendingChanges []string `json:"pendingChanges,omitempty"`

	// lastHandledReconcileAt is the value of the reconcile.crm.tiquo.co/requestedAt
	// annotation the operator last acted on.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// lastPatchedFields names (never the values of) the fields the last PATCH changed, such
	// as phone or address.line1.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=64
	LastPatchedFields []string `json:"lastPatchedFields,omitempty"`
}

// PendingCreate records a POST /v1/customers whose result the operator has not bound yet.
type PendingCreate struct {
	// since is when the POST was about to be sent.
	// +required
	Since metav1.Time `json:"since"`

	// emailDigest identifies, without holding it, the email the POST was sent with: the
	// hex SHA-256 of the object's uid and the lower-cased email. It lets the operator find
	// the record of that POST after spec.email has changed.
	// +required
	// +kubebuilder:validation:MaxLength=64
	EmailDigest string `json:"emailDigest"`
}

// Customer declares the desired fields of one customer record in Tiquo. The
// operator reads the live record, compares the fields this object manages, sends the
// smallest PATCH that makes them match, and reports the outcome as conditions.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cust,categories=tiquo
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Customer-ID",type=string,JSONPath=`.status.customerId`
// +kubebuilder:printcolumn:name="Last-Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Customer struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the desired fields of the Tiquo customer record, with Tiquo's wire
	// names. A field that is absent is not managed: the operator never sends it and never
	// reports drift on it. A field that is present is desired state, including the empty
	// value: notes: "" clears the notes and tags: [] removes every tag.
	// +required
	Spec CustomerSpec `json:"spec"`

	// status is the state the operator last observed. It never holds personal data: names,
	// email, phone, address and notes are not copied here.
	// +optional
	Status CustomerStatus `json:"status,omitempty"`
}

// CustomerList is a list of Customer objects.
// +kubebuilder:object:root=true
type CustomerList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Customers.
	Items []Customer `json:"items"`
}

// BoundID returns the id of the Tiquo record c manages: spec.customerId, or the record it was
// bound to by email, or "" while it is not bound yet.
func (c *Customer) BoundID() string {
	if c.Spec.CustomerID != "" {
		return c.Spec.CustomerID
	}
	return c.Status.CustomerID
}
