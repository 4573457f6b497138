package plugin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// SpecFromRecord returns the spec that manages every writable field the record has a value
// for, with the record's values as stored. Empty fields are left out, so they stay
// unmanaged: the operator will neither send nor report them. diff.Compute of the result
// against rec is empty.
func SpecFromRecord(rec *tiquo.Customer) crmv1alpha1.CustomerSpec {
	spec := crmv1alpha1.CustomerSpec{
		CustomerID:          rec.ID,
		FirstName:           nonEmpty(rec.FirstName),
		LastName:            nonEmpty(rec.LastName),
		Email:               nonEmpty(rec.Email),
		Phone:               nonEmpty(rec.Phone),
		DateOfBirth:         nonEmpty(rec.DateOfBirth),
		Notes:               nonEmpty(rec.Notes),
		PreferredLocationID: nonEmpty(rec.PreferredLocationID),
		CompanyID:           nonEmpty(rec.CompanyID),
	}
	if rec.MarketingConsent != nil {
		spec.MarketingConsent = new(*rec.MarketingConsent)
	}
	if a := rec.Address; a != nil {
		addr := crmv1alpha1.Address{
			Line1:      nonEmpty(a.Line1),
			Line2:      nonEmpty(a.Line2),
			City:       nonEmpty(a.City),
			State:      nonEmpty(a.State),
			PostalCode: nonEmpty(a.PostalCode),
			Country:    nonEmpty(a.Country),
		}
		if addr != (crmv1alpha1.Address{}) {
			spec.Address = &addr
		}
	}
	if len(rec.Tags) > 0 {
		// The CRD declares tags a set, so an exact duplicate would be rejected at admission;
		// the diff compares tags as a set, so dropping it changes nothing.
		tags := make([]string, 0, len(rec.Tags))
		for _, t := range rec.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		spec.Tags = &tags
	}
	return spec
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return new(s)
}

// manifest is the part of a Customer that belongs in Git: no status, no server-set metadata.
type manifest struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        manifestMeta             `json:"metadata"`
	Spec            crmv1alpha1.CustomerSpec `json:"spec"`
}

type manifestMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// EncodeManifest returns c as a YAML manifest for Git: apiVersion, kind, metadata (name,
// namespace, labels, annotations) and spec, without status or server-set metadata.
func EncodeManifest(c *crmv1alpha1.Customer) ([]byte, error) {
	return yaml.Marshal(manifest{
		TypeMeta: metav1.TypeMeta{APIVersion: crmv1alpha1.GroupVersion.String(), Kind: customerKind},
		Metadata: manifestMeta{Name: c.Name, Namespace: c.Namespace, Labels: c.Labels, Annotations: c.Annotations},
		Spec:     c.Spec,
	})
}

const customerKind = "Customer"

// Manifest is one Customer read from a file.
type Manifest struct {
	// Source names where it was read, as file or file#n for the n-th document (from 1) of
	// a file with several.
	Source   string
	Customer *crmv1alpha1.Customer
}

// ReadManifests reads the Customer manifests in paths: YAML or JSON files, multi-document
// streams, and directories searched recursively for *.yaml, *.yml and *.json. "-" reads
// stdin. Documents of any other kind are skipped. A Customer that does not decode strictly
// (an unknown or duplicate field, a wrong type) is an error naming its source.
func ReadManifests(paths []string, stdin io.Reader) ([]Manifest, error) {
	var out []Manifest
	for _, p := range paths {
		if p == "-" {
			ms, err := decodeStream("<stdin>", stdin)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
			continue
		}
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			ms, err := readFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
	}
	return out, nil
}

// manifestFiles returns p when it is a file, or the manifest files under it in lexical
// order when it is a directory.
func manifestFiles(p string) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir // .git and the like
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	return files, err
}

func readFile(path string) ([]Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return decodeStream(path, f)
}

// decodeStream decodes every document of a YAML or JSON stream and keeps the Customers.
func decodeStream(name string, r io.Reader) ([]Manifest, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		docs = append(docs, doc)
	}
	var out []Manifest
	for i, doc := range docs {
		source := name
		if len(docs) > 1 {
			source = fmt.Sprintf("%s#%d", name, i+1)
		}
		c, err := decodeCustomer(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if c != nil {
			out = append(out, Manifest{Source: source, Customer: c})
		}
	}
	return out, nil
}

// decodeCustomer decodes one document; it returns nil for an empty document or one of
// another kind.
func decodeCustomer(doc []byte) (*crmv1alpha1.Customer, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, nil
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	if tm.Kind == "" && tm.APIVersion == "" {
		// Comments only, or not a Kubernetes object.
		return nil, nil
	}
	group, version, _ := strings.Cut(tm.APIVersion, "/")
	if tm.Kind != customerKind || group != crmv1alpha1.GroupVersion.Group {
		return nil, nil
	}
	if version != crmv1alpha1.GroupVersion.Version {
		return nil, fmt.Errorf("customer: unsupported apiVersion %s (want %s)", tm.APIVersion, crmv1alpha1.GroupVersion)
	}
	var c crmv1alpha1.Customer
	if err := yaml.UnmarshalStrict(doc, &c); err != nil {
		name := "customer"
		if n := nameOf(doc); n != "" {
			name += "/" + n
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if c.Name == "" {
		return nil, errors.New("customer: metadata.name is missing")
	}
	if err := checkDeclared(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// nameOf returns metadata.name of a document that does not decode as a Customer, for the
// error message, or "" when it has none.
func nameOf(doc []byte) string {
	var m struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = yaml.Unmarshal(doc, &m)
	return m.Metadata.Name
}

// checkDeclared applies the CRD's rule for a Customer without spec.customerId, so that the
// error shows here rather than at admission: firstName, lastName and email are required.
func checkDeclared(c *crmv1alpha1.Customer) error {
	if c.Spec.CustomerID != "" {
		return nil
	}
	var missing []string
	for _, f := range []struct {
		name  string
		value *string
	}{{"firstName", c.Spec.FirstName}, {"lastName", c.Spec.LastName}, {"email", c.Spec.Email}} {
		if f.value == nil {
			missing = append(missing, "spec."+f.name)
		}
	}
	if len(missing) > 0 {
		verb := "is"
		if len(missing) > 1 {
			verb = "are"
		}
		return fmt.Errorf("customer/%s: %s %s required when spec.customerId is not set: "+
			"the operator finds the customer by email or creates it", c.Name, strings.Join(missing, ", "), verb)
	}
	return nil
}
