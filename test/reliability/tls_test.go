package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// TestTLSVerification runs the manager binary against a sandbox served with a self-signed
// certificate: without --tiquo-ca-file it refuses the server (APIUnavailable, with the x509
// error, and no request, so no key, ever reaches it); with the certificate as its CA file it
// syncs.
func TestTLSVerification(t *testing.T) {
	sb := sandbox.NewTLSServer(sandbox.Options{Keys: map[string][]string{keyRW: {sandbox.ScopeRead, sandbox.ScopeWrite}}})
	t.Cleanup(sb.Close)
	ns := newNamespace(t)
	id := uniqueID("tls", 0)
	sb.PutCustomer(sandbox.Customer{ID: id, FirstName: "John", LastName: "Doe", Email: id + "@example.com", Phone: "+1555"})

	untrusting := startManager(t, "untrusting", "--tiquo-base-url", sb.URL)
	createCustomer(t, ns, "tls", crmv1alpha1.CustomerSpec{CustomerID: id, Phone: new("+1987654321")})
	waitAll(t, ns, 60*time.Second, want{"tls", metav1.ConditionFalse, crmv1alpha1.ReasonAPIUnavailable})
	c := getCustomer(t, ns, "tls")
	msg := condition(c, crmv1alpha1.ConditionReady).Message
	if !strings.Contains(msg, "x509") {
		t.Errorf("the Ready message %q does not give the x509 error", msg)
	}
	if rec := condition(c, crmv1alpha1.ConditionReconciling); rec.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %s while the certificate is refused", rec.Status)
	}
	untrusting.stop(t)
	if n := len(sb.Requests()); n != 0 {
		t.Fatalf("the untrusted server received %d requests; the client must refuse it before sending any", n)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, sb.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	startManager(t, "trusting", "--tiquo-base-url", sb.URL, "--tiquo-ca-file", ca)
	took := waitAll(t, ns, 60*time.Second, synced("tls"))
	if rec, _ := sb.Customer(id); rec.Phone != "+1987654321" {
		t.Errorf("the record's phone is %q, want it patched", rec.Phone)
	}
	t.Logf("TLS: refused without the CA (%q); Synced %s after a manager with --tiquo-ca-file started", msg, took.Round(time.Millisecond))
}
