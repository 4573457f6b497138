package release_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// chartLabels are the labels the chart puts on every object beside those of config/:
// Helm's standard labels. app.kubernetes.io/managed-by says Helm instead of kustomize.
var chartLabels = map[string]bool{
	"app.kubernetes.io/name":       true,
	"app.kubernetes.io/instance":   true,
	"app.kubernetes.io/version":    true,
	"app.kubernetes.io/managed-by": true,
	"helm.sh/chart":                true,
}

// chartAnnotations are the annotations the chart adds, by kind.
var chartAnnotations = map[string]map[string]bool{
	// The default API key Secret survives `helm uninstall`, and with it the key.
	"Secret": {"helm.sh/resource-policy": true},
}

// normalize returns a copy of o without what the chart may add (its labels and annotations)
// and with the manager's args sorted: Go's flag package does not care about their order.
// It reports what the chart changed that it may not.
func normalize(o *unstructured.Unstructured, fromChart bool, want *unstructured.Unstructured) (*unstructured.Unstructured, []string) {
	o = o.DeepCopy()
	var problems []string
	gotLabels, annotations := o.GetLabels(), o.GetAnnotations()
	if fromChart {
		wantLabels, wantAnnotations := want.GetLabels(), want.GetAnnotations()
		for k, v := range wantLabels {
			if k != "app.kubernetes.io/managed-by" && gotLabels[k] != v {
				problems = append(problems, fmt.Sprintf("label %s is %q, config/ has %q", k, gotLabels[k], v))
			}
		}
		for k, v := range gotLabels {
			if _, ok := wantLabels[k]; !ok && !chartLabels[k] {
				problems = append(problems, fmt.Sprintf("label %s=%s is neither in config/ nor one of Helm's", k, v))
			}
		}
		for k := range annotations {
			if _, ok := wantAnnotations[k]; !ok && chartAnnotations[o.GetKind()][k] {
				delete(annotations, k)
			}
		}
	}
	o.SetLabels(nil)
	if len(annotations) == 0 {
		annotations = nil
	}
	o.SetAnnotations(annotations)
	if o.GetKind() == "Deployment" {
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			c := c.(map[string]any)
			if args, ok := c["args"].([]any); ok {
				slices.SortFunc(args, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			}
		}
		_ = unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")
	}
	return o, problems
}

// compareObjects fails the test unless got (rendered by the chart) holds the objects of want
// (rendered by kustomize), except for the kinds skipped, and nothing else; objects are equal
// but for normalize.
func compareObjects(t *testing.T, want, got []*unstructured.Unstructured, skip map[string]string) {
	t.Helper()
	gotByKey := map[string]*unstructured.Unstructured{}
	for _, o := range got {
		if _, dup := gotByKey[key(o)]; dup {
			t.Errorf("the chart renders %s twice", key(o))
		}
		gotByKey[key(o)] = o
	}
	for _, w := range want {
		if _, ok := skip[w.GetKind()]; ok {
			continue
		}
		g, ok := gotByKey[key(w)]
		if !ok {
			t.Errorf("the chart does not render %s, which config/ has", key(w))
			continue
		}
		delete(gotByKey, key(w))
		nw, _ := normalize(w, false, nil)
		ng, problems := normalize(g, true, w)
		for _, p := range problems {
			t.Errorf("%s: %s", key(w), p)
		}
		if d := cmp.Diff(nw.Object, ng.Object); d != "" {
			t.Errorf("%s differs between config/ and the chart (-config +chart):\n%s", key(w), d)
		}
	}
	for k := range gotByKey {
		t.Errorf("the chart renders %s, which config/ does not have", k)
	}
	if t.Failed() {
		t.Log("config/ is the source: change the chart's templates to match it, and run `make chart` " +
			"to copy the CRD, the manager's rules, the alerts and the dashboard")
	}
}

// TestChartMatchesConfig is the check `make verify` runs: with default values, the chart
// renders what `make deploy` applies, and with the monitoring toggles on, what config/default
// renders with config/prometheus and config/grafana included.
// defaultWith copies config/ into a temporary directory, uncomments the given lines of its
// default/kustomization.yaml (each starts with #), and returns that kustomization's directory.
func defaultWith(t *testing.T, lines ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot, "config"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "default", "kustomization.yaml")
	k, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(k)
	for _, line := range lines {
		if !strings.Contains(text, line) {
			t.Fatalf("config/default/kustomization.yaml has no line %q to uncomment", line)
		}
		text = strings.Replace(text, line, line[1:], 1)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "default")
}

func TestChartMatchesConfig(t *testing.T) {
	// helm install --create-namespace creates the namespace; the chart does not render it.
	skipNamespace := map[string]string{"Namespace": "helm install --create-namespace creates it"}

	t.Run("defaults", func(t *testing.T) {
		compareObjects(t, kustomizeBuild(t, "config/default"), helmTemplate(t, "--include-crds"), skipNamespace)
	})

	t.Run("namespaced", func(t *testing.T) {
		// config/namespaced as shipped watches the namespace shop.
		compareObjects(t, kustomizeBuild(t, "config/namespaced"),
			helmTemplate(t, "--include-crds", "--set", "flags.watch-namespaces=shop"), skipNamespace)
	})

	t.Run("webhook", func(t *testing.T) {
		// config/default with the opt-in webhook component, as docs/webhooks.md tells.
		want := kustomizeBuild(t, defaultWith(t, "#components:\n", "#- ../components/webhook\n"))
		compareObjects(t, want, helmTemplate(t, "--include-crds", "--set", "webhook.enabled=true"), skipNamespace)
	})

	t.Run("monitoring", func(t *testing.T) {
		// config/default with the commented ../prometheus and ../grafana lines enabled, as
		// docs/install.md tells users to.
		want := kustomizeBuild(t, defaultWith(t, "#- ../prometheus\n", "#- ../grafana\n"))
		got := helmTemplate(t, "--include-crds",
			"--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true,dashboard.enabled=true")
		for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "ConfigMap"} {
			find(t, want, kind)
		}
		compareObjects(t, want, got, skipNamespace)
	})
}

// nonDefaultValues is a values file that changes every value of the chart, relative to the
// repository root.
const nonDefaultValues = "test/release/testdata/values-nondefault.yaml"

func TestChartLints(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults":    nil,
		"non-default": {"--values", nonDefaultValues},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", chartDir, "--strict", "--namespace", namespace}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint did not pass the chart:\n%s", out)
			}
		})
	}
}

// TestNonDefaultValuesRender checks that each value reaches what it is meant to change.
func TestNonDefaultValuesRender(t *testing.T) {
	objs := helmTemplate(t, "--values", nonDefaultValues)
	dep := find(t, objs, "Deployment")
	get := func(path ...string) any {
		v, _, err := unstructured.NestedFieldNoCopy(dep.Object, path...)
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(path, "."), err)
		}
		return v
	}
	pod := []string{"spec", "template", "spec"}
	container := func() map[string]any {
		for _, c := range get(append(pod, "containers")...).([]any) {
			if c := c.(map[string]any); c["name"] == "manager" {
				return c
			}
		}
		t.Fatal("no manager container")
		return nil
	}()
	values := readValues(t, nonDefaultValues)
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"replicas", get("spec", "replicas"), int64(2)},
		{"image", container["image"], "registry.example.com/tiquo/operator@sha256:" + strings.Repeat("ab", 32)},
		{"imagePullPolicy", container["imagePullPolicy"], "IfNotPresent"},
		{"resources", container["resources"], values["resources"]},
		{"container securityContext", container["securityContext"], values["securityContext"]},
		{"pod securityContext", get(append(pod, "securityContext")...), values["podSecurityContext"]},
		{"nodeSelector", get(append(pod, "nodeSelector")...), values["nodeSelector"]},
		{"tolerations", get(append(pod, "tolerations")...), values["tolerations"]},
		{"affinity", get(append(pod, "affinity")...), values["affinity"]},
		{"priorityClassName", get(append(pod, "priorityClassName")...), "operators"},
		{"imagePullSecrets", get(append(pod, "imagePullSecrets")...), values["imagePullSecrets"]},
		{"volumes", get(append(pod, "volumes")...), values["extraVolumes"]},
		{"volumeMounts", container["volumeMounts"], values["extraVolumeMounts"]},
		{"env", container["env"], append([]any{map[string]any{"name": "GOMEMLIMIT", "value": "200MiB"}},
			values["extraEnv"].([]any)...)},
		{"pod annotation", get("spec", "template", "metadata", "annotations", "example.com/team"), "crm"},
		{"pod label", get("spec", "template", "metadata", "labels", "example.com/tier"), "backend"},
		{"metrics and webhook ports", container["ports"], []any{
			map[string]any{"containerPort": int64(9555), "name": "tiquo-webhook", "protocol": "TCP"},
			map[string]any{"containerPort": int64(9443), "name": "https", "protocol": "TCP"}}},
		{"probe port", get(append(pod, "containers")...).([]any)[0].(map[string]any)["livenessProbe"].(map[string]any)["httpGet"].(map[string]any)["port"], int64(9081)},
	} {
		if d := cmp.Diff(tc.want, tc.got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.what, d)
		}
	}

	// Every flag is passed, by name, then the default Secret, then extraArgs.
	args := managerArgs(t, objs)
	flags := values["flags"].(map[string]any)
	for name, v := range flags {
		want := fmt.Sprintf("--%s=%v", name, v)
		if v == true {
			want = "--" + name
		}
		if !slices.Contains(args, want) {
			t.Errorf("the manager args %v do not include %s (flags.%s)", args, want, name)
		}
	}
	// webhook.*: the receiver's two flags, its port, Service and NetworkPolicy on that port,
	// and a get on the Secret it names (which the chart does not create: secret.create false).
	for _, want := range []string{"--webhook-bind-address=:9555", "--webhook-secret=" + namespace + "/tiquo-hooks:signing"} {
		if !slices.Contains(args, want) {
			t.Errorf("the manager args %v do not include %s (webhook.*)", args, want)
		}
	}
	webhookObjs := map[string]bool{}
	for _, o := range objs {
		switch {
		case o.GetKind() == "Service" && o.GetName() == "crm-webhook-receiver":
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			webhookObjs["service"] = len(ports) == 1 && fmt.Sprint(ports[0].(map[string]any)["port"]) == "9555"
		case o.GetKind() == "NetworkPolicy" && o.GetName() == "crm-allow-webhook-traffic":
			webhookObjs["networkpolicy"] = strings.Contains(fmt.Sprint(o.Object["spec"]), "ingress-nginx") &&
				strings.Contains(fmt.Sprint(o.Object["spec"]), "9555")
		case o.GetKind() == "Secret" && o.GetName() == "tiquo-hooks":
			t.Errorf("webhook.secret.create is false but the chart renders %s", key(o))
		case o.GetKind() == "Role" && o.GetName() == "crm-webhook-secret-reader":
			webhookObjs["role"] = strings.Contains(fmt.Sprint(o.Object["rules"]), "tiquo-hooks")
		}
	}
	for _, what := range []string{"service", "networkpolicy", "role"} {
		if !webhookObjs[what] {
			t.Errorf("webhook.* does not render the receiver's %s as the values say", what)
		}
	}
	if want := len(flags) + 3 + len(values["extraArgs"].([]any)); len(args) != want {
		t.Errorf("the manager has %d args, want %d: %v", len(args), want, args)
	}
	if !slices.Contains(args, "--default-api-key-secret=tiquo-keys/shared-tiquo-key:token") {
		t.Errorf("the manager args %v do not name the existing Secret tiquo-keys/shared-tiquo-key:token", args)
	}
	if args[len(args)-1] != "--zap-stacktrace-level=panic" {
		t.Errorf("extraArgs do not come last: %v", args)
	}

	// The Secret is not created (apiKeySecret.create: false); the monitoring objects are.
	kinds := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		kinds[o.GetKind()] = o
	}
	if s, ok := kinds["Secret"]; ok {
		t.Errorf("apiKeySecret.create is false but the chart renders %s", key(s))
	}
	var svc *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Service" && strings.HasSuffix(o.GetName(), "-metrics-service") {
			svc = o
		}
	}
	if svc == nil {
		t.Fatal("no metrics Service rendered")
	}
	if port, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports"); len(port) != 1 ||
		port[0].(map[string]any)["port"] != int64(9443) {
		t.Errorf("the metrics Service's ports %v do not follow metrics-bind-address :9443", port)
	}
	var np *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "NetworkPolicy" && strings.HasSuffix(o.GetName(), "-allow-metrics-traffic") {
			np = o
		}
	}
	if np == nil {
		t.Fatal("no metrics NetworkPolicy rendered")
	}
	from, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	if d := cmp.Diff(values["networkPolicy"].(map[string]any)["from"], from[0].(map[string]any)["from"]); d != "" {
		t.Errorf("the NetworkPolicy's peers (-want +got):\n%s", d)
	}
	sm := find(t, objs, "ServiceMonitor")
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("serviceMonitor.labels are not on the ServiceMonitor: %v", sm.GetLabels())
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["interval"] != "30s" {
		t.Errorf("serviceMonitor.interval is not the endpoint's interval: %v", endpoints)
	}
	rule := find(t, objs, "PrometheusRule")
	if rule.GetLabels()["role"] != "alert-rules" {
		t.Errorf("prometheusRule.labels are not on the PrometheusRule: %v", rule.GetLabels())
	}
	cm := find(t, objs, "ConfigMap")
	if cm.GetNamespace() != "monitoring" || cm.GetLabels()["grafana_dashboard"] != "yes" ||
		cm.GetAnnotations()["grafana_folder"] != "Operators" {
		t.Errorf("the dashboard ConfigMap %s has labels %v and annotations %v, want those of dashboard.*",
			key(cm), cm.GetLabels(), cm.GetAnnotations())
	}
	sa := find(t, objs, "ServiceAccount")
	if sa.GetAnnotations()["example.com/role"] != "tiquo" {
		t.Errorf("serviceAccount.annotations are not on the ServiceAccount: %v", sa.GetAnnotations())
	}
	for _, o := range objs {
		if strings.HasSuffix(o.GetName(), "-customer-admin-role") {
			t.Errorf("rbac.helperRoles is false but the chart renders %s", key(o))
		}
		// The grant of the default API key Secret goes where that Secret is: apiKeySecret.namespace.
		secretGrant := (o.GetKind() == "Role" && o.GetName() == "crm-manager-role") ||
			(o.GetKind() == "RoleBinding" && o.GetName() == "crm-manager-rolebinding")
		switch {
		case secretGrant && o.GetNamespace() != "tiquo-keys":
			t.Errorf("%s does not grant the default API key Secret in its namespace tiquo-keys", key(o))
		case !secretGrant && o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" &&
			o.GetKind() != "ConfigMap" && o.GetNamespace() != namespace:
			t.Errorf("%s is not in the release namespace %s", key(o), namespace)
		}
		if o.GetKind() == "Role" && o.GetName() == "crm-manager-role" {
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			if len(rules) != 1 || fmt.Sprint(rules[0].(map[string]any)["resourceNames"]) != "[shared-tiquo-key]" {
				t.Errorf("%s grants %v; want the Secret apiKeySecret.name, shared-tiquo-key, by name and nothing else", key(o), rules)
			}
		}
		if !strings.HasPrefix(o.GetName(), "crm-") {
			t.Errorf("%s does not start with fullnameOverride crm-", key(o))
		}
	}
}

// readValues reads a values file relative to the repository root.
func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// Numbers as the unstructured objects hold them.
	b, _ := json.Marshal(v)
	u := map[string]any{}
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	return convertNumbers(u).(map[string]any)
}

// convertNumbers turns the float64 of whole numbers into int64, as the YAML decoder of
// unstructured objects does.
func convertNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = convertNumbers(e)
		}
	case float64:
		if v == float64(int64(v)) {
			return int64(v)
		}
	}
	return v
}

// TestValuesSchemaRejectsWrongValues checks that a wrong value stops helm before anything is
// rendered, with a message naming the value.
func TestValuesSchemaRejectsWrongValues(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"replicas not a number":         {[]string{"--set", "replicaCount=two"}, "replicaCount"},
		"no replicas":                   {[]string{"--set", "replicaCount=0"}, "replicaCount"},
		"duration without unit":         {[]string{"--set", "flags.resync-interval=10"}, "resync-interval"},
		"duration in words":             {[]string{"--set-string", "flags.terminal-recheck-interval=ten minutes"}, "terminal-recheck-interval"},
		"rate limit zero":               {[]string{"--set", "flags.tiquo-rate-limit=0"}, "tiquo-rate-limit"},
		"unknown flag":                  {[]string{"--set", "flags.no-such-flag=1"}, "no-such-flag"},
		"boolean flag as string":        {[]string{"--set-string", "flags.leader-elect=yes"}, "leader-elect"},
		"metrics address without port":  {[]string{"--set", "flags.metrics-bind-address=localhost"}, "metrics-bind-address"},
		"base URL without scheme":       {[]string{"--set", "flags.tiquo-base-url=api.tiquo.co"}, "tiquo-base-url"},
		"log level":                     {[]string{"--set", "flags.zap-log-level=verbose"}, "zap-log-level"},
		"unknown deletion policy":       {[]string{"--set", "flags.allowed-deletion-policies=Orphan,Purge"}, "allowed-deletion-policies"},
		"deletion policy in lower case": {[]string{"--set", "flags.allowed-deletion-policies=archive"}, "allowed-deletion-policies"},
		"empty deletion policy":         {[]string{"--set", "flags.allowed-deletion-policies=Orphan,,Delete"}, "allowed-deletion-policies"},
		"digest not sha256":             {[]string{"--set", "image.digest=latest"}, "digest"},
		"pull policy":                   {[]string{"--set", "image.pullPolicy=Sometimes"}, "pullPolicy"},
		"Secret key with a slash":       {[]string{"--set", "apiKeySecret.key=a/b"}, "key"},
		"Secret name upper case":        {[]string{"--set", "apiKeySecret.name=TiquoKey"}, "name"},
		"toggle as string":              {[]string{"--set-string", "networkPolicy.enabled=yes"}, "enabled"},
		"GOMEMLIMIT in words":           {[]string{"--set", "goMemLimit=lots"}, "goMemLimit"},
		"unknown top-level value":       {[]string{"--set", "replicas=2"}, "replicas"},
		"extra arg not a flag":          {[]string{"--set", "extraArgs[0]=verbose"}, "extraArgs"},
		"replicas without leader election": {
			[]string{"--set", "replicaCount=2,flags.leader-elect=false"}, "flags.leader-elect",
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"template", releaseName, chartDir, "--namespace", namespace}, tc.args...)...)
			if err == nil {
				t.Fatalf("helm template %v rendered:\n%s", tc.args, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template %v failed without naming %s:\n%v", tc.args, tc.want, err)
			}
		})
	}
}

// TestSchemaCoversValues keeps values.yaml and values.schema.json in step: every value has a
// schema, so a misspelt value is rejected instead of silently ignored.
func TestSchemaCoversValues(t *testing.T) {
	values := readValues(t, filepath.Join(chartDir, "values.yaml"))
	data, err := os.ReadFile(filepath.Join(repoRoot, chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	for name, v := range values {
		s, ok := schema.Properties[name]
		if !ok {
			t.Errorf("values.schema.json has no property %s", name)
			continue
		}
		if m, ok := v.(map[string]any); ok && s.Properties != nil {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if _, ok := s.Properties[k]; !ok {
					t.Errorf("values.schema.json has no property %s.%s", name, k)
				}
			}
		}
	}
}
