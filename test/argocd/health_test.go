package argocd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// customization is the health check's directory, in Argo CD's resource_customizations layout.
const customization = "../../resource_customizations/sync.checkpointed.io/SyncJob"

// healthStatus is what a health script returns (Argo CD's health.HealthStatus).
type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// healthCase is one entry of health_test.yaml.
type healthCase struct {
	HealthStatus healthStatus `json:"healthStatus"`
	InputPath    string       `json:"inputPath"`
}

// healthCases reads health_test.yaml, Argo CD's list of fixtures and expected verdicts.
func healthCases(t *testing.T) []healthCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(customization, "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []healthCase `json:"tests"`
	}
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		t.Fatalf("health_test.yaml: %v", err)
	}
	if len(f.Tests) == 0 {
		t.Fatal("health_test.yaml lists no tests")
	}
	return f.Tests
}

// healthScript is the health check's Lua source.
func healthScript(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(customization, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// fixture reads a fixture twice: as Argo CD's own tests do (YAML to JSON, numbers as
// float64) and as the application controller sees a live object (numbers as int64).
func fixture(t *testing.T, inputPath string) (fromYAML, live *unstructured.Unstructured) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(customization, inputPath))
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s: %v", inputPath, err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", inputPath, err)
	}
	live = &unstructured.Unstructured{}
	if err := live.UnmarshalJSON(js); err != nil {
		t.Fatalf("%s: %v", inputPath, err)
	}
	return &unstructured.Unstructured{Object: obj}, live
}

// runHealth runs script the way Argo CD runs a health check from argocd-cm: a fresh Lua
// state with only the package, base and table libraries (all libraries when openLibs, as
// for Argo CD's built-in checks), the object as the global obj, a one-second deadline, and
// the returned table read as {status, message}.
func runHealth(script string, obj map[string]any, openLibs bool) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	if !openLibs {
		for name, open := range map[string]lua.LGFunction{
			lua.LoadLibName: lua.OpenPackage,
			lua.BaseLibName: lua.OpenBase,
			lua.TabLibName:  lua.OpenTable,
		} {
			if err := l.CallByParam(lua.P{Fn: l.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
				return healthStatus{}, fmt.Errorf("open Lua library %s: %w", name, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return healthStatus{}, fmt.Errorf("run health.lua: %w", err)
	}
	tbl, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("health.lua returned %s, not a table", l.Get(-1).Type())
	}
	var hs healthStatus
	var bad []string
	tbl.ForEach(func(k, v lua.LValue) {
		s, isString := v.(lua.LString)
		switch {
		case k.String() == "status" && isString:
			hs.Status = string(s)
		case k.String() == "message" && isString:
			hs.Message = string(s)
		default:
			bad = append(bad, fmt.Sprintf("%s=%s (%s)", k, v, v.Type()))
		}
	})
	if len(bad) > 0 {
		return healthStatus{}, fmt.Errorf("health.lua returned unexpected fields %v", bad)
	}
	switch hs.Status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		return healthStatus{}, fmt.Errorf("health.lua returned status %q, which Argo CD does not know", hs.Status)
	}
	return hs, nil
}

// toLua converts a decoded Kubernetes object into Lua values: objects become tables with
// string keys, lists become 1-based arrays, numbers (float64 or int64) Lua numbers.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case json.Number:
		return lua.LString(x)
	case []any:
		arr := l.CreateTable(len(x), 0)
		for _, item := range x {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(x))
		for k, item := range x {
			tbl.RawSetString(k, toLua(l, item))
		}
		return tbl
	}
	panic(fmt.Sprintf("toLua: unexpected %T", v))
}

// TestHealthScript runs health.lua on every fixture health_test.yaml lists and expects
// its verdict, in Argo CD's default sandbox and with all libraries, for the object as
// read from YAML and as decoded from the apiserver's JSON.
func TestHealthScript(t *testing.T) {
	script := healthScript(t)
	for _, tc := range healthCases(t) {
		t.Run(tc.InputPath, func(t *testing.T) {
			g := NewWithT(t)
			fromYAML, live := fixture(t, tc.InputPath)
			for _, v := range []struct {
				name     string
				obj      *unstructured.Unstructured
				openLibs bool
			}{
				{"sandbox, YAML numbers", fromYAML, false},
				{"sandbox, live numbers", live, false},
				{"open libraries", fromYAML, true},
			} {
				got, err := runHealth(script, v.obj.Object, v.openLibs)
				g.Expect(err).NotTo(HaveOccurred(), v.name)
				g.Expect(got).To(Equal(tc.HealthStatus), v.name)
			}
		})
	}
}

// TestHealthScriptCoversEveryStatusAndFixture: health_test.yaml expects each of the four
// statuses at least once and lists every file under testdata/.
func TestHealthScriptCoversEveryStatusAndFixture(t *testing.T) {
	g := NewWithT(t)
	statuses := map[string]bool{}
	listed := map[string]bool{}
	for _, tc := range healthCases(t) {
		statuses[tc.HealthStatus.Status] = true
		g.Expect(listed).NotTo(HaveKey(tc.InputPath), "listed twice")
		listed[tc.InputPath] = true
	}
	g.Expect(statuses).To(Equal(map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true}))
	files, err := filepath.Glob(filepath.Join(customization, "testdata", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var onDisk, inTest []string
	for _, f := range files {
		onDisk = append(onDisk, "testdata/"+filepath.Base(f))
	}
	for p := range listed {
		inTest = append(inTest, p)
	}
	sort.Strings(inTest)
	g.Expect(inTest).To(Equal(onDisk))
}

// TestHealthScriptReadsTheAPIsNames: the condition types and reasons the script matches
// are the API's, so renaming one in api/v1alpha1 fails here rather than in a cluster.
func TestHealthScriptReadsTheAPIsNames(t *testing.T) {
	g := NewWithT(t)
	script := healthScript(t)
	for _, name := range []string{
		syncv1.ConditionReady, syncv1.ConditionReconciling, syncv1.ConditionStalled,
		syncv1.ReasonDriftDetected, syncv1.ReasonRunFailed, syncv1.ReasonPartiallyFailed, syncv1.ReasonStale,
		string(syncv1.RunPhaseFailed), string(syncv1.RunPhaseInterrupted),
		string(syncv1.RunPhasePartiallySucceeded), string(syncv1.RunPhaseRunning),
	} {
		g.Expect(script).To(ContainSubstring(`"`+name+`"`), "health.lua does not match %q", name)
	}
}

// kstatusFor is the correspondence between the two verdicts: what kstatus says of a
// SyncJob Argo CD calls Healthy, Progressing, Degraded or Suspended, when both see the
// same things. kstatus has no notion of suspension and reads the spec not at all.
var kstatusFor = map[string]status.Status{
	"Healthy":     status.CurrentStatus,
	"Progressing": status.InProgressStatus,
	"Degraded":    status.FailedStatus,
	"Suspended":   status.CurrentStatus,
}

// kstatusVerdicts is kstatus's verdict on each fixture and, where it is not kstatusFor's,
// why the Lua script deliberately says something else. kstatus (and so Flux and
// `kubectl wait --for=condition`-style tools) asks "has the controller finished acting on
// this spec?"; the Lua script asks "is this sync doing its job?". Our controller keeps
// Stalled for specs it cannot act on, so a failed, stale, drifting or partial run is
// Ready=False (kstatus: InProgress) or even Ready=True (kstatus: Current), never Failed.
var kstatusVerdicts = map[string]struct {
	want status.Status
	why  string
}{
	"testdata/no-status.yaml": {status.CurrentStatus,
		"kstatus cannot tell a SyncJob the controller has not seen (no observedGeneration, no conditions) from a resource without status; the script waits for the controller"},
	"testdata/generation-behind.yaml":           {status.InProgressStatus, ""},
	"testdata/stalled-invalid-spec.yaml":        {status.FailedStatus, ""},
	"testdata/reconciling-request-pending.yaml": {status.InProgressStatus, ""},
	"testdata/reconciling-error.yaml":           {status.InProgressStatus, ""},
	"testdata/no-ready-condition.yaml":          {status.CurrentStatus, "kstatus treats a resource without conditions as Current; the script waits for Ready, which the controller always sets"},
	"testdata/healthy-no-run-yet.yaml":          {status.CurrentStatus, ""},
	"testdata/healthy.yaml":                     {status.CurrentStatus, ""},
	"testdata/healthy-running.yaml":             {status.CurrentStatus, ""},
	"testdata/degraded-run-failed.yaml": {status.InProgressStatus,
		"kstatus reads Ready=False as not done yet; a failed run does not heal before the next scheduled run, so the script calls it Degraded"},
	"testdata/degraded-run-interrupted-not-yet-observed.yaml": {status.CurrentStatus,
		"kstatus sees only the conditions (Ready=True from the previous run); the script also reads status.lastRun, written by the runner before the controller reacts"},
	"testdata/degraded-partially-succeeded.yaml": {status.CurrentStatus,
		"the controller keeps Ready=True (reason PartiallyFailed) for a run that finished with record errors; records did not land, so the script calls it Degraded"},
	"testdata/degraded-stale.yaml": {status.InProgressStatus,
		"Ready=False (Stale): scheduled runs are being missed, which waiting does not fix"},
	"testdata/degraded-drift-detected.yaml": {status.InProgressStatus,
		"Ready=False (DriftDetected): the sink differs from the source, which waiting does not fix"},
	"testdata/degraded-drifted-condition.yaml": {status.CurrentStatus,
		"kstatus knows nothing of the Drifted condition; the script does"},
	"testdata/suspended.yaml": {status.CurrentStatus, ""},
	"testdata/suspended-run-failed.yaml": {status.InProgressStatus,
		"a failure outranks a suspension (requested runs still run); kstatus reads Ready=False as not done yet"},
}

// rank orders verdicts from good to bad, in both vocabularies.
var rank = map[string]int{
	"Healthy": 0, "Suspended": 0, string(status.CurrentStatus): 0,
	"Progressing": 1, string(status.InProgressStatus): 1,
	"Degraded": 2, string(status.FailedStatus): 2,
}

// TestHealthScriptAgreesWithKstatus runs kstatus (status.Compute) on the same fixtures:
// it must give the verdict kstatusVerdicts records; where that is not kstatusFor's
// counterpart of the Lua verdict the difference must be explained; and the Lua verdict
// is never rosier than kstatus's.
func TestHealthScriptAgreesWithKstatus(t *testing.T) {
	script := healthScript(t)
	cases := healthCases(t)
	listed := map[string]bool{}
	for _, tc := range cases {
		listed[tc.InputPath] = true
		t.Run(tc.InputPath, func(t *testing.T) {
			g := NewWithT(t)
			_, live := fixture(t, tc.InputPath)
			res, err := status.Compute(live)
			g.Expect(err).NotTo(HaveOccurred())
			want, ok := kstatusVerdicts[tc.InputPath]
			g.Expect(ok).To(BeTrue(), "kstatusVerdicts has no row for %s", tc.InputPath)
			g.Expect(res.Status).To(Equal(want.want), "kstatus: %s", res.Message)

			got, err := runHealth(script, live.Object, false)
			g.Expect(err).NotTo(HaveOccurred())
			if kstatusFor[got.Status] == res.Status {
				g.Expect(want.why).To(BeEmpty(), "the verdicts correspond; drop the explanation")
			} else {
				g.Expect(strings.TrimSpace(want.why)).NotTo(BeEmpty(),
					"Lua says %s, kstatus %s: explain the difference", got.Status, res.Status)
			}
			g.Expect(rank[got.Status]).To(BeNumerically(">=", rank[string(res.Status)]),
				"Lua says %s while kstatus says %s", got.Status, res.Status)
		})
	}
	for p := range kstatusVerdicts {
		if !listed[p] {
			t.Errorf("kstatusVerdicts has %s, which health_test.yaml does not list", p)
		}
	}
}

// TestSandboxIsArgoCDs: runHealth's default sandbox really lacks the string library, as
// Argo CD's does for an argocd-cm script, so TestHealthScript's sandbox runs mean something.
func TestSandboxIsArgoCDs(t *testing.T) {
	g := NewWithT(t)
	script := `return {status = "Healthy", message = string.format("%d", 1)}`
	_, err := runHealth(script, map[string]any{}, false)
	g.Expect(err).To(MatchError(ContainSubstring("string")))
	got, err := runHealth(script, map[string]any{}, true)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(healthStatus{Status: "Healthy", Message: "1"}))
}
