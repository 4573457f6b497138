package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

// DefaultSecretKey is the Secret entry that holds the API key when none is named.
const DefaultSecretKey = "apiKey"

// SecretKeySelector names one entry of one Secret.
type SecretKeySelector struct {
	Namespace, Name, Key string
}

// String returns namespace/name:key. It names the Secret, never its value.
func (s SecretKeySelector) String() string {
	return s.Namespace + "/" + s.Name + ":" + s.Key
}

// ParseSecretKeySelector parses namespace/name or namespace/name:key, the form of the
// --default-api-key-secret flag. The key defaults to DefaultSecretKey.
func ParseSecretKeySelector(s string) (SecretKeySelector, error) {
	ref, key, hasKey := strings.Cut(s, ":")
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") || (hasKey && key == "") {
		return SecretKeySelector{}, fmt.Errorf("%q is not namespace/name or namespace/name:key", s)
	}
	if !hasKey {
		key = DefaultSecretKey
	}
	return SecretKeySelector{Namespace: ns, Name: name, Key: key}, nil
}

// errCredentials says the API key cannot be found; the reconciler reports it as
// CredentialsNotFound and waits for the Secret to change.
var errCredentials = errors.New("the API key cannot be read")

// secretFor returns the Secret entry a Customer's key comes from: its own apiKeySecretRef,
// always in its own namespace, else the operator's default. ok is false when there is neither.
func secretFor(c *crmv1alpha1.Customer, def *SecretKeySelector) (SecretKeySelector, bool) {
	if ref := c.Spec.APIKeySecretRef; ref != nil {
		key := ref.Key
		if key == "" {
			key = DefaultSecretKey
		}
		return SecretKeySelector{Namespace: c.Namespace, Name: ref.Name, Key: key}, true
	}
	if def != nil {
		return *def, true
	}
	return SecretKeySelector{}, false
}

// keyStore hands out API keys. It knows each Secret's resourceVersion from its metadata (a
// watch of that Secret alone, see secretWatches) and reads a Secret's data directly from the
// API server only when its resourceVersion changed, so the values of Secrets the operator
// does not use are never held, and a used Secret costs one read per change.
//
// A value is held only while its Secret is watched: when the watch stops (no Customer names
// the Secret) or the Secret changes, the old value goes, and retain is called with the keys
// still held, so that what is kept per key elsewhere (the API client's limiters and metrics)
// goes too.
type keyStore struct {
	versions secretVersions
	direct   client.Reader // an uncached reader for the Secret's data
	retain   func(inUse []string)

	mu     sync.Mutex
	values map[types.NamespacedName]secretData
	// releasing serialises the calls of retain, so that an older view of the keys held never
	// follows a newer one.
	releasing sync.Mutex
}

type secretData struct {
	resourceVersion string
	data            map[string][]byte
}

func newKeyStore(versions secretVersions, direct client.Reader, retain func(inUse []string)) *keyStore {
	if retain == nil {
		retain = func([]string) {}
	}
	return &keyStore{versions: versions, direct: direct, retain: retain, values: map[types.NamespacedName]secretData{}}
}

// apiKey returns the key in sel and the resourceVersion of its Secret, which changes when
// the Secret does. A missing Secret, entry or empty value, or a Secret the manager may not
// read, is errCredentials.
func (s *keyStore) apiKey(ctx context.Context, sel SecretKeySelector) (key, version string, err error) {
	name := types.NamespacedName{Namespace: sel.Namespace, Name: sel.Name}
	rv, err := s.versions.resourceVersion(ctx, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			s.forget(name)
			return "", "", fmt.Errorf("%w: Secret %s not found", errCredentials, name)
		}
		if apierrors.IsForbidden(err) {
			s.forget(name)
			return "", "", errSecretForbidden(name, err)
		}
		return "", "", fmt.Errorf("get Secret %s metadata: %w", name, err)
	}

	s.mu.Lock()
	cached, ok := s.values[name]
	s.mu.Unlock()
	if !ok || cached.resourceVersion != rv {
		var secret corev1.Secret
		if err := s.direct.Get(ctx, name, &secret); err != nil {
			if apierrors.IsNotFound(err) {
				s.forget(name)
				return "", "", fmt.Errorf("%w: Secret %s not found", errCredentials, name)
			}
			if apierrors.IsForbidden(err) {
				s.forget(name)
				return "", "", errSecretForbidden(name, err)
			}
			return "", "", fmt.Errorf("get Secret %s: %w", name, err)
		}
		cached = secretData{resourceVersion: secret.ResourceVersion, data: secret.Data}
		s.store(name, &cached)
	}

	value := strings.TrimSpace(string(cached.data[sel.Key]))
	if value == "" {
		return "", "", fmt.Errorf("%w: Secret %s has no key %q, or it is empty", errCredentials, name, sel.Key)
	}
	return value, cached.resourceVersion, nil
}

// forget drops the value of a Secret that is gone or no longer used.
func (s *keyStore) forget(name types.NamespacedName) { s.store(name, nil) }

// store replaces what is held of the Secret name (nil: nothing), and lets go of the keys no
// longer held.
func (s *keyStore) store(name types.NamespacedName, d *secretData) {
	s.mu.Lock()
	_, had := s.values[name]
	if d == nil {
		delete(s.values, name)
	} else {
		s.values[name] = *d
	}
	s.mu.Unlock()
	if had {
		s.release()
	}
}

// release tells retain which keys are held.
func (s *keyStore) release() {
	s.releasing.Lock()
	defer s.releasing.Unlock()
	s.mu.Lock()
	var held []string
	for _, d := range s.values {
		for _, v := range d.data {
			if key := strings.TrimSpace(string(v)); key != "" {
				held = append(held, key)
			}
		}
	}
	s.mu.Unlock()
	s.retain(held)
}
