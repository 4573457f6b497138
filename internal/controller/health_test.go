package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
)

// The health checks for Argo CD (config/argocd) and Flux (config/flux) are evaluated here the
// way those tools evaluate them, against Customers exactly as the API server serves them after
// the real controller reconciled them against the sandbox.

var (
	repoRoot        = filepath.Join("..", "..")
	luaScriptPath   = filepath.Join(repoRoot, "config", "argocd", "customer-health.lua")
	argoCDPatchPath = filepath.Join(repoRoot, "config", "argocd", "argocd-cm-patch.yaml")
	fluxExprsPath   = filepath.Join(repoRoot, "config", "flux", "customer-healthcheck.yaml")
	healthDocPath   = filepath.Join(repoRoot, "docs", "health.md")
)

const argoCDHealthKey = "resource.customizations.health.crm.tiquo.co_Customer"

// healthState is a Customer in one state, with what each tool must make of it.
type healthState struct {
	name string
	// obj is the Customer as JSON, as the API server serves it.
	obj []byte
	// argoCD is the health Argo CD must show; argoCDMessage, when set, its message.
	argoCD, argoCDMessage string
	// script and scriptMessage, when set, are what the Lua script itself must return where
	// Argo CD does not run it: for an object being deleted, Argo CD shows Progressing,
	// "Pending deletion", whatever the script says.
	script, scriptMessage string
	// flux is the status Flux must compute: Current, Failed, InProgress, or Unknown when
	// the expressions cannot be evaluated (kstatus reports an evaluation error as Unknown).
	flux string
}

var (
	healthStatesMu sync.Mutex
	healthStates   []healthState
)

// customersInEveryState creates, once per test binary, Customers that the controller leaves
// synced, stalled (NotFound) and waiting out an outage (APIUnavailable), and derives from
// them the states the controller passes through between reconciles.
func customersInEveryState(t *testing.T) []healthState {
	t.Helper()
	healthStatesMu.Lock()
	defer healthStatesMu.Unlock()
	if healthStates != nil {
		return healthStates
	}

	ns := newNamespace(t)
	id := uniqueID(t)
	seed(t, id, nil)
	synced := waitFor(t, create(t, ns, "synced", matchingSpec(id)), metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	syncedJSON := served(t, synced)
	notFound := waitFor(t, create(t, ns, "not-found", crmv1alpha1.CustomerSpec{CustomerID: id + "_missing"}),
		metav1.ConditionFalse, crmv1alpha1.ReasonNotFound)
	stalledMessage := condition(t, notFound, crmv1alpha1.ConditionStalled).Message
	if stalledMessage == "" {
		t.Fatalf("the NotFound Customer's Stalled condition has no message: %+v", notFound.Status.Conditions)
	}

	// Observe policy with the record differing from the spec: drift is information.
	observeID := id + "_observe"
	seed(t, observeID, func(c *sandbox.Customer) { c.Phone = "+1555" })
	observeSpec := matchingSpec(observeID)
	observeSpec.ManagementPolicy = crmv1alpha1.ManagementPolicyObserve
	// Read back now: once the outage below starts, its resyncs fail and it stops being Drifted.
	driftedJSON := served(t, waitFor(t, create(t, ns, "observed", observeSpec), metav1.ConditionFalse, crmv1alpha1.ReasonDrifted))

	// Suspended after it was synced, and after it was stalled.
	suspend := func(c *crmv1alpha1.Customer) []byte {
		c = update(t, c, func(c *crmv1alpha1.Customer) { c.Spec.Suspend = true })
		eventually(t, 10*time.Second, func() error {
			got := get(t, c)
			if s := suspendedCondition(got); s == nil || s.ObservedGeneration != got.Generation {
				return errorf("not suspended yet: %+v", got.Status.Conditions)
			}
			return nil
		})
		return served(t, c)
	}
	suspendedID := id + "_suspended"
	seed(t, suspendedID, nil)
	suspendedSynced := suspend(waitFor(t, create(t, ns, "suspended", matchingSpec(suspendedID)),
		metav1.ConditionTrue, crmv1alpha1.ReasonSynced))
	suspendedStalled := suspend(waitFor(t, create(t, ns, "suspended-stalled",
		crmv1alpha1.CustomerSpec{CustomerID: id + "_gone"}), metav1.ConditionFalse, crmv1alpha1.ReasonNotFound))

	// A Customer without customerId whose email a record already has, under adoptionPolicy
	// Refuse: stalled until the user decides.
	takenID := id + "_taken"
	seed(t, takenID, nil)
	refuseSpec := declaredSpec(takenID + "@example.com")
	refuseSpec.AdoptionPolicy = crmv1alpha1.AdoptionPolicyRefuse
	refused := waitFor(t, create(t, ns, "adoption-refused", refuseSpec), metav1.ConditionFalse, crmv1alpha1.ReasonAdoptionRefused)
	refusedMessage := condition(t, refused, crmv1alpha1.ConditionStalled).Message
	refusedJSON := served(t, refused)
	if !strings.Contains(refusedMessage, takenID) {
		t.Errorf("the AdoptionRefused message %q does not name the record %s", refusedMessage, takenID)
	}

	// deletionPolicy Delete, deleted while the record has active bookings: the finalizer
	// stays and the Customer reports DeletionBlocked.
	busyID := id + "_busy"
	seed(t, busyID, nil)
	if !sb.SetActiveBookings(busyID, 2) {
		t.Fatalf("no record %s to give bookings to", busyID)
	}
	busySpec := matchingSpec(busyID)
	busySpec.DeletionPolicy = crmv1alpha1.DeletionPolicyDelete
	busy := waitFor(t, create(t, ns, "deletion-blocked", busySpec), metav1.ConditionTrue, crmv1alpha1.ReasonSynced)
	eventually(t, 10*time.Second, func() error {
		if got := get(t, busy); !slices.Contains(got.Finalizers, crmv1alpha1.DeletionFinalizer) {
			return errorf("no deletion finalizer yet: %v", got.Finalizers)
		}
		return nil
	})
	if err := k8sClient.Delete(context.Background(), busy); err != nil {
		t.Fatal(err)
	}
	blocked := waitFor(t, busy, metav1.ConditionFalse, crmv1alpha1.ReasonDeletionBlocked)
	blockedMessage := condition(t, blocked, crmv1alpha1.ConditionStalled).Message
	if !strings.Contains(blockedMessage, "2") {
		t.Errorf("the DeletionBlocked message %q does not give the 2 active bookings", blockedMessage)
	}
	blockedJSON := served(t, blocked)
	// Once the bookings are over, the operator deletes the record and releases the Customer.
	t.Cleanup(func() { sb.SetActiveBookings(busyID, 0) })

	// Creating: the POST was sent and its answer never came (the record is stored, the
	// answer hangs past the client's timeout), and the lookup that follows fails too (an
	// outage starts meanwhile). The operator cannot know yet whether the record exists.
	newEmail := id + "_new@example.com"
	withFaults(t, sandbox.Faults{StoreThenHangRate: 1})
	creatingObj := create(t, ns, "creating", declaredSpec(newEmail))
	eventually(t, 10*time.Second, func() error {
		for _, r := range sb.Requests() {
			if r.Method == http.MethodPost && strings.Contains(string(r.Body), newEmail) {
				return nil
			}
		}
		return errorf("no POST for the Customer yet")
	})
	withFaults(t, sandbox.Faults{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable})
	creating := waitFor(t, creatingObj, metav1.ConditionFalse, crmv1alpha1.ReasonCreating)
	if r := condition(t, creating, crmv1alpha1.ConditionReconciling); r.Status != metav1.ConditionTrue {
		t.Errorf("a Creating Customer has Reconciling %s, want True", r.Status)
	}
	creatingJSON := served(t, creating)

	outageID := id + "_outage"
	seed(t, outageID, nil)
	withFaults(t, sandbox.Faults{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable})
	outage := waitFor(t, create(t, ns, "outage", matchingSpec(outageID)), metav1.ConditionFalse, crmv1alpha1.ReasonAPIUnavailable)
	// The synced Customer's routine resyncs now fail too; that must not change its health.
	eventually(t, 4*resyncInterval, func() error {
		if count(statuses(id), http.StatusServiceUnavailable) == 0 {
			return errorf("no failed resync of the synced Customer yet")
		}
		return nil
	})
	resyncFailing := waitFor(t, synced, metav1.ConditionTrue, crmv1alpha1.ReasonSynced)

	notFoundJSON, outageJSON := served(t, notFound), served(t, outage)
	healthStates = []healthState{
		{name: "synced", obj: syncedJSON, argoCD: "Healthy", flux: "Current"},
		{name: "synced, routine resync failing", obj: served(t, resyncFailing), argoCD: "Healthy", flux: "Current"},
		{name: "not found", obj: notFoundJSON, argoCD: "Degraded", argoCDMessage: stalledMessage, flux: "Failed"},
		{name: "API unavailable", obj: outageJSON, argoCD: "Progressing", flux: "InProgress"},
		// As each object is between a spec change and the reconcile that observes it.
		{name: "synced, generation bumped", obj: mutateJSON(t, syncedJSON, bumpGeneration),
			argoCD: "Progressing", flux: "InProgress"},
		{name: "not found, generation bumped", obj: mutateJSON(t, notFoundJSON, bumpGeneration),
			argoCD: "Progressing", flux: "InProgress"},
		{name: "API unavailable, generation bumped", obj: mutateJSON(t, outageJSON, bumpGeneration),
			argoCD: "Progressing", flux: "InProgress"},
		// Suspension is the user's choice, not a failure or work in progress; Flux has no
		// Suspended status, so it is Current there.
		{name: "synced, then suspended", obj: suspendedSynced, argoCD: "Suspended", flux: "Current"},
		{name: "not found, then suspended", obj: suspendedStalled, argoCD: "Suspended", flux: "Current"},
		// Observe policy: pending changes are information, not a failure.
		{name: "observed drift", obj: driftedJSON, argoCD: "Healthy", flux: "Current"},
		// Created in Tiquo, or not: work in progress, never a failure.
		{name: "creating", obj: creatingJSON, argoCD: "Progressing", flux: "InProgress"},
		// A record has the email and adoptionPolicy is Refuse: the user must decide.
		{name: "adoption refused", obj: refusedJSON, argoCD: "Degraded", argoCDMessage: refusedMessage, flux: "Failed"},
		// Argo CD shows every object being deleted as Progressing without running the script
		// (gitops-engine's GetResourceHealth); the script, run anyway, says why it waits.
		{name: "deletion blocked", obj: blockedJSON, argoCD: "Progressing", argoCDMessage: "Pending deletion",
			script: "Degraded", scriptMessage: blockedMessage, flux: "Failed"},
		// Just created: the API server drops status on create and the operator has not yet
		// written one.
		{name: "no status yet", obj: mutateJSON(t, syncedJSON, func(o map[string]any) {
			delete(o, "status")
		}), argoCD: "Progressing", flux: "Unknown"},
	}
	return healthStates
}

// served returns the Customer as JSON, read back from the API server as an unstructured
// object, the way Argo CD and Flux read it.
func served(t *testing.T, c *crmv1alpha1.Customer) []byte {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(crmv1alpha1.GroupVersion.WithKind("Customer"))
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), u); err != nil {
		t.Fatalf("get Customer %s: %v", c.Name, err)
	}
	b, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mutateJSON(t *testing.T, obj []byte, mutate func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bumpGeneration(o map[string]any) {
	md := o["metadata"].(map[string]any)
	md["generation"] = md["generation"].(float64) + 1
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// argoCDScript returns the Lua script from the argocd-cm patch, after checking that it is
// exactly config/argocd/customer-health.lua.
func argoCDScript(t *testing.T) string {
	t.Helper()
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict([]byte(readFile(t, argoCDPatchPath)), &cm); err != nil {
		t.Fatalf("%s: %v", argoCDPatchPath, err)
	}
	if cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" {
		t.Errorf("%s patches %s %q, want the ConfigMap argocd-cm", argoCDPatchPath, cm.Kind, cm.Name)
	}
	script, ok := cm.Data[argoCDHealthKey]
	if !ok {
		t.Fatalf("%s has no data key %s", argoCDPatchPath, argoCDHealthKey)
	}
	if want := readFile(t, luaScriptPath); script != want {
		t.Fatalf("the script in %s differs from %s; embed the .lua file verbatim, indented by four spaces, "+
			"under the key %s", argoCDPatchPath, luaScriptPath, argoCDHealthKey)
	}
	return script
}

func TestArgoCDLuaHealthCheck(t *testing.T) {
	script := argoCDScript(t)
	for _, st := range customersInEveryState(t) {
		var obj map[string]any
		if err := json.Unmarshal(st.obj, &obj); err != nil {
			t.Fatal(err)
		}
		status, message, err := argoCDHealth(script, obj)
		if err != nil {
			t.Errorf("%s: %v", st.name, err)
			continue
		}
		t.Logf("%s: %s: %s", st.name, status, message)
		if status != st.argoCD {
			t.Errorf("%s: Argo CD shows %q, want %q (message %q)", st.name, status, st.argoCD, message)
		}
		if message == "" {
			t.Errorf("%s: hs.message is empty", st.name)
		}
		if st.argoCDMessage != "" && message != st.argoCDMessage {
			t.Errorf("%s: Argo CD's message is %q, want %q", st.name, message, st.argoCDMessage)
		}
		if st.script == "" {
			continue
		}
		status, message, err = runArgoCDHealth(script, obj)
		if err != nil {
			t.Errorf("%s: the script alone: %v", st.name, err)
			continue
		}
		if status != st.script || message != st.scriptMessage {
			t.Errorf("%s: the script alone returns %s %q, want %s %q", st.name, status, message, st.script, st.scriptMessage)
		}
	}
}

// argoCDHealth is the health Argo CD shows for obj with script registered for Customers:
// like gitops-engine's health.GetResourceHealth, it shows an object being deleted (one
// with metadata.deletionTimestamp, and no hook finalizer, which a Customer never has) as
// Progressing, "Pending deletion", without running the script, and otherwise what the
// script returns.
func argoCDHealth(script string, obj map[string]any) (status, message string, err error) {
	if md, ok := obj["metadata"].(map[string]any); ok && md["deletionTimestamp"] != nil {
		return "Progressing", "Pending deletion", nil
	}
	return runArgoCDHealth(script, obj)
}

// TestArgoCDRunnerOpensWhatArgoCDOpens checks that runArgoCDHealth fails a script that would
// fail in Argo CD for a library argocd-cm scripts do not get, and passes one that uses only
// what they get; otherwise TestArgoCDLuaHealthCheck could pass a script Argo CD shows Unknown.
func TestArgoCDRunnerOpensWhatArgoCDOpens(t *testing.T) {
	obj := map[string]any{"metadata": map[string]any{"generation": float64(1)}}
	for name, tc := range map[string]struct {
		script string
		works  bool
	}{
		"string.format":      {`return {status = string.format("%s", "Healthy"), message = "x"}`, false},
		"string method":      {`return {status = "Healthy", message = ("x"):upper()}`, false},
		"math.floor":         {`return {status = "Healthy", message = tostring(math.floor(1.5))}`, false},
		"os.getenv":          {`return {status = "Healthy", message = os.getenv("HOME")}`, false},
		"io":                 {`return {status = "Healthy", message = io.read()}`, false},
		"base and table":     {`local t = {} table.insert(t, "x") return {status = "Healthy", message = tostring(#t) .. t[1]}`, true},
		"pairs and tostring": {`local n = 0 for _ in pairs(obj) do n = n + 1 end return {status = "Healthy", message = tostring(n)}`, true},
	} {
		_, _, err := runArgoCDHealth(tc.script, obj)
		if tc.works && err != nil {
			t.Errorf("%s: %v; Argo CD runs it", name, err)
		}
		if !tc.works && err == nil {
			t.Errorf("%s: the script ran; in Argo CD it fails and the health is Unknown", name)
		}
	}
}

// TestArgoCDPatchAppliesWithKustomize applies config/argocd/argocd-cm-patch.yaml, with
// kustomize's own API, as a patch over an argocd-cm like the one of Argo CD's install.yaml
// (which names no namespace), with and without a kustomization namespace, as docs/health.md
// shows.
func TestArgoCDPatchAppliesWithKustomize(t *testing.T) {
	const installCM = `apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
  name: argocd-cm
`
	script := argoCDScript(t)
	for name, namespace := range map[string]string{"no namespace": "", "namespace argocd": "argocd"} {
		t.Run(name, func(t *testing.T) {
			fs := filesys.MakeFsInMemory()
			kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
				"resources:\n- install.yaml\npatches:\n- path: argocd-cm-patch.yaml\n"
			if namespace != "" {
				kustomization += "namespace: " + namespace + "\n"
			}
			for file, content := range map[string]string{"kustomization.yaml": kustomization,
				"install.yaml": installCM, "argocd-cm-patch.yaml": readFile(t, argoCDPatchPath)} {
				if err := fs.WriteFile(filepath.Join("/app", file), []byte(content)); err != nil {
					t.Fatal(err)
				}
			}
			resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/app")
			if err != nil {
				t.Fatalf("kustomize build: %v", err)
			}
			out, err := resources.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			var cm corev1.ConfigMap
			if err := yaml.UnmarshalStrict(out, &cm); err != nil {
				t.Fatalf("kustomize built %s: %v", out, err)
			}
			if cm.Name != "argocd-cm" || cm.Namespace != namespace || cm.Labels["app.kubernetes.io/part-of"] != "argocd" {
				t.Errorf("kustomize built %s/%s with labels %v, want argocd-cm in %q with Argo CD's labels",
					cm.Namespace, cm.Name, cm.Labels, namespace)
			}
			if cm.Data[argoCDHealthKey] != script {
				t.Errorf("the built argocd-cm has %s = %q, want the script", argoCDHealthKey, cm.Data[argoCDHealthKey])
			}
		})
	}
}

// argoCDHealthStatuses are the health statuses Argo CD accepts from a health script.
var argoCDHealthStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

// runArgoCDHealth runs a health script the way Argo CD runs one registered in argocd-cm: the
// object, decoded from JSON into a map, becomes the Lua table in the global obj, and the script
// returns a table with status and message.
//
// Only the libraries Argo CD opens are opened. Argo CD's VM.runLua (util/lua/lua.go in
// argoproj/argo-cd) creates the state with SkipOpenLibs: !UseOpenLibs, and UseOpenLibs is
// false for a script from argocd-cm unless resource.customizations.useOpenLibs.<group_kind> is
// set; it then opens only package, base and table, plus a "safe os" with time and date
// (util/lua/oslib_safe.go). string, math, io, os and the string methods (s:upper()) are
// absent. The safe os is left out here too: the script has no use for the clock, and a test
// without it is only stricter.
func runArgoCDHealth(script string, obj map[string]any) (status, message string, err error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.SetContext(ctx)

	value, err := toLua(l, obj)
	if err != nil {
		return "", "", err
	}
	l.SetGlobal("obj", value)
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	hs, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, want a table", l.Get(-1).Type())
	}
	s, ok := hs.RawGetString("status").(lua.LString)
	if !ok || !argoCDHealthStatuses[string(s)] {
		return "", "", fmt.Errorf("hs.status is %v, not a health status Argo CD knows", hs.RawGetString("status"))
	}
	switch m := hs.RawGetString("message").(type) {
	case lua.LString:
		message = string(m)
	case *lua.LNilType:
	default:
		return "", "", fmt.Errorf("hs.message is a %s, want a string", m.Type())
	}
	return string(s), message, nil
}

// toLua converts a value decoded from JSON into Lua values: objects and arrays become tables,
// numbers Lua numbers, null nil.
func toLua(l *lua.LState, v any) (lua.LValue, error) {
	switch v := v.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(v), nil
	case string:
		return lua.LString(v), nil
	case float64:
		return lua.LNumber(v), nil
	case []any:
		tbl := l.CreateTable(len(v), 0)
		for _, item := range v {
			lv, err := toLua(l, item)
			if err != nil {
				return nil, err
			}
			tbl.Append(lv)
		}
		return tbl, nil
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for k, item := range v {
			lv, err := toLua(l, item)
			if err != nil {
				return nil, err
			}
			tbl.RawSetString(k, lv)
		}
		return tbl, nil
	}
	return nil, fmt.Errorf("cannot convert %T to Lua", v)
}

// fluxHealthCheck is one entry of a Flux Kustomization's spec.healthCheckExprs.
type fluxHealthCheck struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	InProgress string `json:"inProgress,omitempty"`
	Failed     string `json:"failed,omitempty"`
	Current    string `json:"current"`
}

// customerHealthCheck returns the Customer entry of config/flux/customer-healthcheck.yaml.
func customerHealthCheck(t *testing.T) fluxHealthCheck {
	t.Helper()
	var checks []fluxHealthCheck
	if err := yaml.UnmarshalStrict([]byte(readFile(t, fluxExprsPath)), &checks); err != nil {
		t.Fatalf("%s: %v", fluxExprsPath, err)
	}
	if len(checks) != 1 {
		t.Fatalf("%s has %d entries, want one for Customer", fluxExprsPath, len(checks))
	}
	hc := checks[0]
	if hc.APIVersion != crmv1alpha1.GroupVersion.String() || hc.Kind != "Customer" {
		t.Fatalf("%s is for %s %s, want %s Customer", fluxExprsPath, hc.APIVersion, hc.Kind, crmv1alpha1.GroupVersion)
	}
	if hc.Current == "" || hc.InProgress == "" || hc.Failed == "" {
		t.Fatalf("%s must set current, inProgress and failed: %+v", fluxExprsPath, hc)
	}
	return hc
}

func TestFluxHealthCheckExprs(t *testing.T) {
	eval, err := newFluxEvaluator(customerHealthCheck(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range customersInEveryState(t) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(st.obj); err != nil {
			t.Fatal(err)
		}
		got, err := eval(u)
		if err != nil {
			t.Logf("%s: %v", st.name, err)
			got = "Unknown"
		}
		t.Logf("%s: %s", st.name, got)
		if got != st.flux {
			t.Errorf("%s: Flux status %s, want %s (err %v)", st.name, got, st.flux, err)
		}
	}
}

// newFluxEvaluator mimics Flux's CEL status evaluator (fluxcd/pkg runtime/cel): each
// expression is parsed, not type-checked, in Flux's CEL environment and evaluated with the
// object's top-level fields (apiVersion, kind, metadata, spec, status) as variables.
// An object whose status.observedGeneration differs from metadata.generation is InProgress
// without evaluating anything; then inProgress, failed and current are evaluated in that
// order and the first that is true decides; none being true means InProgress.
func newFluxEvaluator(hc fluxHealthCheck) (func(*unstructured.Unstructured) (string, error), error) {
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		return nil, err
	}
	type step struct {
		status string
		prog   cel.Program
	}
	var steps []step
	for _, e := range []struct{ status, expr string }{
		{"InProgress", hc.InProgress}, {"Failed", hc.Failed}, {"Current", hc.Current},
	} {
		if e.expr == "" {
			continue
		}
		ast, issues := env.Parse(e.expr)
		if issues != nil && issues.Err() != nil {
			return nil, fmt.Errorf("parse the %s expression: %w", e.status, issues.Err())
		}
		prog, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
		if err != nil {
			return nil, err
		}
		steps = append(steps, step{e.status, prog})
	}
	return func(u *unstructured.Unstructured) (string, error) {
		obj := u.UnstructuredContent()
		observed, ok, err := unstructured.NestedInt64(obj, "status", "observedGeneration")
		if err != nil {
			return "", err
		}
		if ok {
			generation, ok, err := unstructured.NestedInt64(obj, "metadata", "generation")
			if err != nil {
				return "", err
			}
			if ok && observed != generation {
				return "InProgress", nil
			}
		}
		for _, s := range steps {
			val, _, err := s.prog.ContextEval(context.Background(), obj)
			if err != nil {
				return "", fmt.Errorf("evaluate the %s expression: %w", s.status, err)
			}
			b, ok := val.(types.Bool)
			if !ok {
				return "", fmt.Errorf("the %s expression returned %v, want a bool", s.status, val)
			}
			if b {
				return s.status, nil
			}
		}
		return "InProgress", nil
	}, nil
}

// TestHealthDocsShowTheChecks checks that docs/health.md shows the Argo CD script and the Flux
// expressions exactly as config/ holds them.
func TestHealthDocsShowTheChecks(t *testing.T) {
	doc := readFile(t, healthDocPath)
	if script := readFile(t, luaScriptPath); !strings.Contains(doc, "```lua\n"+script+"```\n") {
		t.Errorf("%s does not show %s verbatim in a lua code block", healthDocPath, luaScriptPath)
	}
	// The list, without its comment header, as the healthCheckExprs of a Kustomization spec.
	var list strings.Builder
	for line := range strings.Lines(readFile(t, fluxExprsPath)) {
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			list.WriteString(line)
		default:
			list.WriteString("  " + line)
		}
	}
	if want := "  healthCheckExprs:\n" + list.String(); !strings.Contains(doc, want) {
		t.Errorf("%s does not show the healthCheckExprs of %s; want it to contain\n%s", healthDocPath, fluxExprsPath, want)
	}
	argoCDScript(t)
}

// declaredSpec returns the spec of a Customer without customerId that declares a customer
// with email: the operator finds it by email or creates it.
func declaredSpec(email string) crmv1alpha1.CustomerSpec {
	return crmv1alpha1.CustomerSpec{FirstName: new("Ann"), LastName: new("Lee"), Email: new(email)}
}
