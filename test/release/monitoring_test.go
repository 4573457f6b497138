package release_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

const (
	rulesFile     = "config/prometheus/prometheus_rule.yaml"
	dashboardFile = "config/grafana/tiquo-operator.json"
	runbookDoc    = "docs/troubleshooting.md"
	runbookPrefix = "https://github.com/tiquo-operator/tiquo-operator/blob/main/" + runbookDoc + "#"
)

// alertRule is a rule of the PrometheusRule.
type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// readRules returns the alerting rules of config/prometheus.
func readRules(t *testing.T) []alertRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       struct {
			Groups []struct {
				Name  string      `json:"name"`
				Rules []alertRule `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(data, &obj); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rules []alertRule
	for _, g := range obj.Spec.Groups {
		rules = append(rules, g.Rules...)
	}
	if obj.Kind != "PrometheusRule" || len(rules) == 0 {
		t.Fatalf("%s is not a PrometheusRule with rules", rulesFile)
	}
	return rules
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int           `json:"id"`
	Type       string        `json:"type"`
	Title      string        `json:"title"`
	Datasource *datasource   `json:"datasource"`
	Targets    []panelTarget `json:"targets"`
	Panels     []panel       `json:"panels"`
}

type panelTarget struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *datasource `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// readDashboard decodes config/grafana's dashboard, rejecting unknown top-level shapes.
func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s is not a dashboard: %v", dashboardFile, err)
	}
	return d
}

// panels returns every panel, rows' nested panels included.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVariables are the interval variables Grafana replaces before it sends a query.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// expressions returns every PromQL expression of the rules and the dashboard, by where it is.
func expressions(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, r := range readRules(t) {
		exprs["alert "+r.Alert] = r.Expr
	}
	for _, p := range readDashboard(t).allPanels() {
		for _, tg := range p.Targets {
			exprs[fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)] = grafanaVariables.Replace(tg.Expr)
		}
	}
	return exprs
}

// metricNames parses expr with Prometheus's parser and returns the metric names it selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			err = fmt.Errorf("selector %s names no metric", vs)
		}
		names = append(names, name)
		return nil
	})
	return names, err
}

// TestPromQLParses parses every expression of the alerts and the dashboard with Prometheus's
// own parser.
func TestPromQLParses(t *testing.T) {
	exprs := expressions(t)
	if len(exprs) < 20 {
		t.Fatalf("found only %d expressions in the rules and the dashboard", len(exprs))
	}
	for where, expr := range exprs {
		names, err := metricNames(expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, expr)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s selects no metric: %s", where, expr)
		}
	}
}

// TestAlertsHaveRunbooks checks every alert's runbook link against the headings of
// docs/troubleshooting.md, and the fields Alertmanager routes and shows.
func TestAlertsHaveRunbooks(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, runbookDoc))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(doc), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	seen := map[string]bool{}
	for _, r := range readRules(t) {
		if seen[r.Alert] {
			t.Errorf("alert %s is defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if !regexp.MustCompile(`^Tiquo[A-Za-z]+$`).MatchString(r.Alert) {
			t.Errorf("alert %q is not named Tiquo<CamelCase>", r.Alert)
		}
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookPrefix)
		if !ok {
			t.Errorf("alert %s: runbook_url %q does not point into %s", r.Alert, r.Annotations["runbook_url"], runbookPrefix)
		} else if !anchors[anchor] {
			t.Errorf("alert %s: %s has no heading for the anchor #%s", r.Alert, runbookDoc, anchor)
		}
		if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
			t.Errorf("alert %s: severity %q is not critical, warning or info", r.Alert, r.Labels["severity"])
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("alert %s lacks a summary or a description", r.Alert)
		}
	}
}

// githubAnchor is the id GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	heading = strings.ToLower(strings.TrimSpace(heading))
	var b strings.Builder
	for _, r := range heading {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDashboard decodes the dashboard and checks that every panel queries the data source
// variable, so that it works with whatever Prometheus the user picks, and that it draws what
// the operator is watched by.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("the dashboard has no title or uid")
	}
	var dsVar string
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatal("the dashboard has no Prometheus data source variable")
	}
	ids := map[int]bool{}
	drawn := map[string]bool{}
	for _, p := range d.allPanels() {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q queries data source %+v, not the variable %s", p.Title, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != dsVar {
				t.Errorf("panel %q query %s uses data source %+v, not %s", p.Title, tg.RefID, tg.Datasource, dsVar)
			}
			names, _ := metricNames(grafanaVariables.Replace(tg.Expr))
			for _, n := range names {
				drawn[n] = true
			}
		}
	}
	// What the issue asked the dashboard to draw: fleet by reason, time to ready, patches by
	// field, drift corrections, Tiquo requests by route and code, rate-limit remaining per key,
	// reconcile latency and queue depth.
	for _, m := range []string{
		"tiquo_customers", "tiquo_customer_time_to_ready_seconds_bucket", "tiquo_customer_patched_fields_total",
		"tiquo_customer_drift_corrections_total", "tiquo_requests_total", "tiquo_rate_limit_remaining",
		"controller_runtime_reconcile_time_seconds_bucket", "workqueue_depth",
	} {
		if !drawn[m] {
			t.Errorf("no panel of the dashboard draws %s", m)
		}
	}
}

// namedMetrics returns every metric the rules and the dashboard name, with where.
func namedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	named := map[string][]string{}
	for where, expr := range expressions(t) {
		names, err := metricNames(expr)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, n := range names {
			named[n] = append(named[n], where)
		}
	}
	for _, w := range named {
		slices.Sort(w)
	}
	return named
}

// exposedNames returns the sample names of a Prometheus text exposition.
func exposedNames(text string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		names[name] = true
	}
	return names
}

// missingMetrics lists the named metrics the exposition lacks, with where they are used.
func missingMetrics(named map[string][]string, exposed map[string]bool) []string {
	var missing []string
	for _, n := range slices.Sorted(maps.Keys(named)) {
		if !exposed[n] {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", n, strings.Join(named[n], ", ")))
		}
	}
	return missing
}
