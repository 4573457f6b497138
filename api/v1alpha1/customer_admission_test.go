package v1alpha1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// newNamespace creates a namespace of its own for one test, so tests never see each other's
// objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "admission-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

func customer(ns, name string, spec crmv1alpha1.CustomerSpec) *crmv1alpha1.Customer {
	return &crmv1alpha1.Customer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       spec,
	}
}

func manyTags(n int) *[]string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%d", i)
	}
	return &tags
}

func TestAdmissionAcceptsValidCustomers(t *testing.T) {
	ns := newNamespace(t)
	cases := map[string]crmv1alpha1.CustomerSpec{
		"only the id": {CustomerID: "cust_abc123"},
		"every field as in the docs": {
			CustomerID:  "cust_def456",
			FirstName:   ptr.To("John"),
			LastName:    ptr.To("Doe"),
			Email:       ptr.To("john@example.com"),
			Phone:       ptr.To("+1987654321"),
			DateOfBirth: ptr.To("1990-05-15"),
			Address: &crmv1alpha1.Address{
				Line1: ptr.To("456 Oak Avenue"), Line2: ptr.To("Apt 4"), City: ptr.To("New York"),
				State: ptr.To("NY"), PostalCode: ptr.To("10001"), Country: ptr.To("US"),
			},
			Tags:                &[]string{"VIP", "longtime"},
			Notes:               ptr.To("Prefers email communication"),
			PreferredLocationID: ptr.To("loc_xyz789"),
			MarketingConsent:    ptr.To(true),
			CompanyID:           ptr.To("comp_def456"),
			APIKeySecretRef:     &crmv1alpha1.SecretKeyReference{Name: "tiquo-api-key", Key: "apiKey"},
		},
		"empty values that clear fields": {
			CustomerID: "cust-clear", Phone: ptr.To(""), DateOfBirth: ptr.To(""), Notes: ptr.To(""),
			Tags: &[]string{}, PreferredLocationID: ptr.To(""), CompanyID: ptr.To(""),
			Address: &crmv1alpha1.Address{Line2: ptr.To("")},
		},
		"phone with separators":     {CustomerID: "c1", Phone: ptr.To("+1 (555) 456-7890")},
		"phone with dots":           {CustomerID: "c2", Phone: ptr.To("555.456.7890")},
		"leap day":                  {CustomerID: "c3", DateOfBirth: ptr.To("2000-02-29")},
		"leap day of a leap year":   {CustomerID: "c4", DateOfBirth: ptr.To("1996-02-29")},
		"31st of a long month":      {CustomerID: "c5", DateOfBirth: ptr.To("1990-12-31")},
		"subdomain email":           {CustomerID: "c6", Email: ptr.To("first.last+crm@mail.example.co.uk")},
		"64 character id":           {CustomerID: strings.Repeat("a", 64)},
		"50 tags":                   {CustomerID: "c7", Tags: manyTags(50)},
		"notes at the limit":        {CustomerID: "c8", Notes: ptr.To(strings.Repeat("n", 5000))},
		"unicode names":             {CustomerID: "c9", FirstName: ptr.To("Zoë"), LastName: ptr.To("Ångström")},
		"secret ref without key":    {CustomerID: "c10", APIKeySecretRef: &crmv1alpha1.SecretKeyReference{Name: "tiquo"}},
		"marketing consent refused": {CustomerID: "c11", MarketingConsent: ptr.To(false)},
		"declared by email": {FirstName: ptr.To("New"), LastName: ptr.To("Person"), Email: ptr.To("new@example.com"),
			AdoptionPolicy: crmv1alpha1.AdoptionPolicyRefuse, DeletionPolicy: crmv1alpha1.DeletionPolicyArchive},
		"id with a delete policy": {CustomerID: "c13", DeletionPolicy: crmv1alpha1.DeletionPolicyDelete},
		"gitops controls": {CustomerID: "c12", Suspend: true, ManagementPolicy: crmv1alpha1.ManagementPolicyObserve,
			SyncInterval: &metav1.Duration{Duration: 90 * time.Second}},
	}
	i := 0
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			i++
			obj := customer(ns, fmt.Sprintf("valid-%d", i), spec)
			if err := k8sClient.Create(context.Background(), obj); err != nil {
				t.Fatalf("valid Customer rejected: %v", err)
			}
		})
	}
}

func TestAdmissionRejectsInvalidCustomers(t *testing.T) {
	ns := newNamespace(t)
	cases := map[string]struct {
		spec crmv1alpha1.CustomerSpec
		// field is the path the error must name; want is a part of the message a person reads.
		field, want string
	}{
		"neither customerId nor email": {
			spec:  crmv1alpha1.CustomerSpec{FirstName: ptr.To("John"), LastName: ptr.To("Doe")},
			field: "spec.email", want: "email is required when customerId is not set"},
		"no customerId and no first name": {
			spec:  crmv1alpha1.CustomerSpec{LastName: ptr.To("Doe"), Email: ptr.To("john@example.com")},
			field: "spec.firstName", want: "firstName is required when customerId is not set"},
		"no customerId and no last name": {
			spec:  crmv1alpha1.CustomerSpec{FirstName: ptr.To("John"), Email: ptr.To("john@example.com")},
			field: "spec.lastName", want: "lastName is required when customerId is not set"},
		"unknown deletion policy": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", DeletionPolicy: "Purge"},
			field: "spec.deletionPolicy", want: `supported values: "Orphan", "Archive", "Delete"`},
		"unknown adoption policy": {
			spec: crmv1alpha1.CustomerSpec{FirstName: ptr.To("J"), LastName: ptr.To("D"),
				Email: ptr.To("j@example.com"), AdoptionPolicy: "Merge"},
			field: "spec.adoptionPolicy", want: `supported values: "Adopt", "Refuse"`},
		"customerId with a slash": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "a/b"},
			field: "spec.customerId", want: "should match '^[A-Za-z0-9_-]+$'"},
		"customerId with a path trick": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "../x"},
			field: "spec.customerId", want: "should match"},
		"customerId too long": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: strings.Repeat("a", 65)},
			field: "spec.customerId", want: "Too long"},
		"30th of February": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", DateOfBirth: ptr.To("1990-02-30")},
			field: "spec.dateOfBirth", want: "dateOfBirth must be a real calendar date in the form YYYY-MM-DD"},
		"13th month": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", DateOfBirth: ptr.To("1990-13-01")},
			field: "spec.dateOfBirth", want: "real calendar date"},
		"29th of February in a common year": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", DateOfBirth: ptr.To("1900-02-29")},
			field: "spec.dateOfBirth", want: "real calendar date"},
		"31st of April": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", DateOfBirth: ptr.To("1990-04-31")},
			field: "spec.dateOfBirth", want: "real calendar date"},
		"day-first date": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", DateOfBirth: ptr.To("15/05/1990")},
			field: "spec.dateOfBirth", want: "real calendar date"},
		"email without @": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Email: ptr.To("john.example.com")},
			field: "spec.email", want: "email must be an email address"},
		"email with a space": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Email: ptr.To("john doe@example.com")},
			field: "spec.email", want: "email must be an email address"},
		"email with a display name": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Email: ptr.To("John <john@example.com>")},
			field: "spec.email", want: "email must be an email address"},
		"empty email": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Email: ptr.To("")},
			field: "spec.email", want: "email must be an email address"},
		"phone with letters": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Phone: ptr.To("+1-555-CALL-NOW")},
			field: "spec.phone", want: "phone must be digits with an optional leading +"},
		"phone with + inside": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Phone: ptr.To("1+555")},
			field: "spec.phone", want: "phone must be digits"},
		"phone without digits": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Phone: ptr.To("+()")},
			field: "spec.phone", want: "phone must be digits"},
		"phone too long": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Phone: ptr.To(strings.Repeat("1", 33))},
			field: "spec.phone", want: "Too long"},
		"first name too long": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", FirstName: ptr.To(strings.Repeat("x", 101))},
			field: "spec.firstName", want: "Too long"},
		"empty last name": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", LastName: ptr.To("")},
			field: "spec.lastName", want: "should be at least 1 chars long"},
		"notes too long": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Notes: ptr.To(strings.Repeat("x", 5001))},
			field: "spec.notes", want: "Too long"},
		"address line too long": {
			spec: crmv1alpha1.CustomerSpec{CustomerID: "c",
				Address: &crmv1alpha1.Address{Line1: ptr.To(strings.Repeat("x", 201))}},
			field: "spec.address.line1", want: "Too long"},
		"company id too long": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", CompanyID: ptr.To(strings.Repeat("x", 65))},
			field: "spec.companyId", want: "Too long"},
		"location id with a slash": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", PreferredLocationID: ptr.To("loc/1")},
			field: "spec.preferredLocationId", want: "should match"},
		"duplicate tags": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Tags: &[]string{"VIP", "VIP"}},
			field: "spec.tags[1]", want: "Duplicate value"},
		"too many tags": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Tags: manyTags(51)},
			field: "spec.tags", want: "Too many"},
		"empty tag": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Tags: &[]string{""}},
			field: "spec.tags[0]", want: "should be at least 1 chars long"},
		"tag too long": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", Tags: &[]string{strings.Repeat("t", 65)}},
			field: "spec.tags[0]", want: "Too long"},
		"secret name that is not a DNS name": {
			spec: crmv1alpha1.CustomerSpec{CustomerID: "c",
				APIKeySecretRef: &crmv1alpha1.SecretKeyReference{Name: "Bad_Name"}},
			field: "spec.apiKeySecretRef.name", want: "should match"},
		"secret ref with an empty name": {
			spec: crmv1alpha1.CustomerSpec{CustomerID: "c",
				APIKeySecretRef: &crmv1alpha1.SecretKeyReference{}},
			field: "spec.apiKeySecretRef.name", want: "should be at least 1 chars long"},
		"negative sync interval": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", SyncInterval: &metav1.Duration{Duration: -time.Second}},
			field: "spec.syncInterval", want: "should match"},
		"zero sync interval": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", SyncInterval: &metav1.Duration{}},
			field: "spec.syncInterval", want: "syncInterval must be a positive duration"},
		"unknown management policy": {
			spec:  crmv1alpha1.CustomerSpec{CustomerID: "c", ManagementPolicy: "Mirror"},
			field: "spec.managementPolicy", want: `supported values: "Sync", "Observe"`},
		"secret key with a slash": {
			spec: crmv1alpha1.CustomerSpec{CustomerID: "c",
				APIKeySecretRef: &crmv1alpha1.SecretKeyReference{Name: "s", Key: "a/b"}},
			field: "spec.apiKeySecretRef.key", want: "should match"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := k8sClient.Create(context.Background(), customer(ns, "invalid", tc.spec))
			assertInvalid(t, err, tc.field, tc.want)
		})
	}
}

// assertInvalid checks that err is an admission rejection whose message names field and says want.
func assertInvalid(t *testing.T, err error, field, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("invalid Customer accepted; want a rejection naming %s", field)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v; want an Invalid error", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, field+":") {
		t.Errorf("error does not name the field %q: %s", field, msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error does not say %q: %s", want, msg)
	}
}

// TestAdmissionRejectsMalformedManifests sends what a YAML file can hold but the Go types
// cannot: missing required fields and values of the wrong JSON type.
func TestAdmissionRejectsMalformedManifests(t *testing.T) {
	ns := newNamespace(t)
	cases := map[string]struct {
		spec        map[string]any
		field, want string
	}{
		"empty customerId":           {spec: map[string]any{"customerId": ""}, field: "spec.customerId", want: "should be at least 1 chars long"},
		"secret ref without a name":  {spec: map[string]any{"customerId": "c", "apiKeySecretRef": map[string]any{"key": "apiKey"}}, field: "spec.apiKeySecretRef.name", want: "Required value"},
		"tags as a string":           {spec: map[string]any{"customerId": "c", "tags": "VIP"}, field: "spec.tags", want: "Invalid value"},
		"consent as a string":        {spec: map[string]any{"customerId": "c", "marketingConsent": "yes"}, field: "spec.marketingConsent", want: "Invalid value"},
		"phone as a number":          {spec: map[string]any{"customerId": "c", "phone": 15554567890}, field: "spec.phone", want: "Invalid value"},
		"address as a string":        {spec: map[string]any{"customerId": "c", "address": "456 Oak Avenue"}, field: "spec.address", want: "Invalid value"},
		"customerId as a number":     {spec: map[string]any{"customerId": 42}, field: "spec.customerId", want: "Invalid value"},
		"secret ref as a plain name": {spec: map[string]any{"customerId": "c", "apiKeySecretRef": "tiquo"}, field: "spec.apiKeySecretRef", want: "Invalid value"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "crm.tiquo.co/v1alpha1",
				"kind":       "Customer",
				"metadata":   map[string]any{"namespace": ns, "name": "malformed"},
				"spec":       tc.spec,
			}}
			err := k8sClient.Create(context.Background(), obj)
			assertInvalid(t, err, tc.field, tc.want)
		})
	}
}

func TestCustomerIDIsImmutable(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	obj := customer(ns, "immutable", crmv1alpha1.CustomerSpec{CustomerID: "cust_abc123", Notes: ptr.To("a")})
	if err := k8sClient.Create(ctx, obj); err != nil {
		t.Fatalf("create: %v", err)
	}

	obj.Spec.CustomerID = "cust_def456"
	err := k8sClient.Update(ctx, obj)
	assertInvalid(t, err, "spec.customerId", "customerId is immutable")

	// Other fields stay mutable.
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatalf("get: %v", err)
	}
	obj.Spec.Notes = ptr.To("b")
	if err := k8sClient.Update(ctx, obj); err != nil {
		t.Fatalf("updating another field was rejected: %v", err)
	}

	// Removing the id would turn a Customer that names a record into one that finds or
	// creates one.
	obj.Spec.CustomerID = ""
	obj.Spec.FirstName, obj.Spec.LastName, obj.Spec.Email = ptr.To("J"), ptr.To("D"), ptr.To("j@example.com")
	err = k8sClient.Update(ctx, obj)
	assertInvalid(t, err, "spec.customerId", "customerId cannot be removed once set")
}

// TestEmailOfADeclaredCustomerMayChange: a Customer without customerId keeps its record
// through an email change (the operator patches it), so the email is not immutable; and the
// id of the record it was bound to may be written into the spec later.
func TestEmailOfADeclaredCustomerMayChange(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	obj := customer(ns, "declared", crmv1alpha1.CustomerSpec{
		FirstName: ptr.To("J"), LastName: ptr.To("D"), Email: ptr.To("j@example.com")})
	if err := k8sClient.Create(ctx, obj); err != nil {
		t.Fatalf("create: %v", err)
	}
	obj.Spec.Email = ptr.To("j.d@example.com")
	if err := k8sClient.Update(ctx, obj); err != nil {
		t.Fatalf("changing the email was rejected: %v", err)
	}
	obj.Spec.CustomerID = "cust_abc123"
	if err := k8sClient.Update(ctx, obj); err != nil {
		t.Fatalf("setting customerId later was rejected: %v", err)
	}
}

// TestAbsentAndEmptyStayDistinct proves the contract the diff relies on: tags: [] and
// notes: "" are desired state (clear the field) and must come back from the API server as
// empty, not as absent; an absent field must come back absent.
func TestAbsentAndEmptyStayDistinct(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	empty := customer(ns, "empty", crmv1alpha1.CustomerSpec{
		CustomerID: "cust_empty", Tags: &[]string{}, Notes: ptr.To(""), Phone: ptr.To(""),
		Address: &crmv1alpha1.Address{Line2: ptr.To("")},
	})
	absent := customer(ns, "absent", crmv1alpha1.CustomerSpec{CustomerID: "cust_absent"})
	for _, obj := range []*crmv1alpha1.Customer{empty, absent} {
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatalf("create %s: %v", obj.Name, err)
		}
	}

	var got crmv1alpha1.Customer
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(empty), &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Spec.Tags == nil || len(*got.Spec.Tags) != 0 {
		t.Errorf("tags: [] came back as %v; want an empty, present list", got.Spec.Tags)
	}
	for field, v := range map[string]*string{"notes": got.Spec.Notes, "phone": got.Spec.Phone} {
		if v == nil || *v != "" {
			t.Errorf("%s: \"\" came back as %v; want a present empty string", field, v)
		}
	}
	if got.Spec.Address == nil || got.Spec.Address.Line2 == nil || *got.Spec.Address.Line2 != "" {
		t.Errorf("address.line2: \"\" did not come back as a present empty string: %+v", got.Spec.Address)
	}
	if got.Spec.Address != nil && got.Spec.Address.Line1 != nil {
		t.Errorf("address.line1 was absent but came back as %q", *got.Spec.Address.Line1)
	}

	// What the API server stores is what the user wrote: read it without the Go types.
	raw := &unstructured.Unstructured{}
	raw.SetAPIVersion("crm.tiquo.co/v1alpha1")
	raw.SetKind("Customer")
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(empty), raw); err != nil {
		t.Fatalf("get unstructured: %v", err)
	}
	spec, _ := json.Marshal(raw.Object["spec"])
	for _, want := range []string{`"tags":[]`, `"notes":""`, `"phone":""`, `"line2":""`} {
		if !strings.Contains(string(spec), want) {
			t.Errorf("stored spec %s lacks %s", spec, want)
		}
	}

	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(absent), &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Spec.Tags != nil || got.Spec.Notes != nil || got.Spec.Phone != nil || got.Spec.Address != nil {
		t.Errorf("absent fields came back present: %+v", got.Spec)
	}
}

func TestStatusSubresource(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	obj := customer(ns, "status", crmv1alpha1.CustomerSpec{CustomerID: "cust_status", Notes: ptr.To("spec")})
	if err := k8sClient.Create(ctx, obj); err != nil {
		t.Fatalf("create: %v", err)
	}
	generation := obj.Generation

	// A status write changes status only, and does not bump the generation.
	obj.Status.ObservedGeneration = generation
	obj.Status.LoyaltyPoints = ptr.To[int64](150)
	obj.Status.LastPatchedFields = []string{"phone", "address.line1"}
	obj.Status.Conditions = []metav1.Condition{{
		Type: crmv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: crmv1alpha1.ReasonSynced,
		Message: "The Tiquo record matches the spec", ObservedGeneration: generation,
		LastTransitionTime: metav1.Now(),
	}}
	obj.Spec.Notes = ptr.To("changed through status")
	if err := k8sClient.Status().Update(ctx, obj); err != nil {
		t.Fatalf("status update: %v", err)
	}
	var got crmv1alpha1.Customer
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if *got.Spec.Notes != "spec" {
		t.Errorf("a status write changed spec.notes to %q", *got.Spec.Notes)
	}
	if got.Generation != generation {
		t.Errorf("a status write moved the generation from %d to %d", generation, got.Generation)
	}
	if got.Status.LoyaltyPoints == nil || *got.Status.LoyaltyPoints != 150 || len(got.Status.Conditions) != 1 {
		t.Errorf("status not stored: %+v", got.Status)
	}

	// A spec write ignores status.
	got.Status.LoyaltyPoints = ptr.To[int64](1)
	got.Spec.Notes = ptr.To("new")
	if err := k8sClient.Update(ctx, &got); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if *got.Status.LoyaltyPoints != 150 {
		t.Errorf("a spec write changed status.loyaltyPoints to %d", *got.Status.LoyaltyPoints)
	}
	if got.Generation != generation+1 {
		t.Errorf("a spec write did not move the generation: %d", got.Generation)
	}

	// Condition reasons are validated by the metav1.Condition schema.
	got.Status.Conditions[0].Reason = "not a reason"
	err := k8sClient.Status().Update(ctx, &got)
	assertInvalid(t, err, "status.conditions[0].reason", "should match")
}
