package layout

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

const module = "github.com/checkpointed/checkpointed"

// rule forbids packages under from to depend (directly or not) on packages under to. Paths
// are relative to the module; "" matches the module's root package only.
type rule struct {
	from, to []string
	why      string
}

// rules are the dependency rules of docs/architecture.md, for non-test code.
var rules = []rule{
	{from: []string{"controllers", "internal"}, to: []string{"runner"},
		why: "the controller and the shared packages import no runner package: the contract is internal/runcontract"},
	{from: []string{"runner"}, to: []string{"controllers", "internal/desired"},
		why: "the runner imports no controller package"},
	{from: []string{"runner/connector"}, to: []string{"api", "runner/engine", "runner/jobconfig", "runner/mapping"},
		why: "connectors take their own config types and never import the API or the engine"},
	{from: []string{"runner/engine"}, to: []string{"api", "runner/connector/postgres", "runner/connector/httpapi", "runner/mapping", "runner/jobconfig"},
		why: "the engine drives connector contracts, never a concrete connector, the mapping or the API"},
	{from: []string{"cmd"}, to: []string{"runner", "controllers"},
		why: "the kubectl plugin is a client of the API: it never imports the runner or the controller"},
	{from: []string{"", "api", "cmd", "controllers", "internal", "runner"}, to: []string{"test"},
		why: "test rigs are imported only by tests and hack programs"},
}

// under reports whether pkg (module-relative) is p or below it.
func under(pkg, p string) bool {
	if p == "" {
		return pkg == ""
	}
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// violations checks deps (module-relative package → its module-relative dependencies)
// against rs and returns one line per broken rule.
func violations(deps map[string][]string, rs []rule) []string {
	var out []string
	for pkg, ds := range deps {
		for _, r := range rs {
			if !matchesAny(pkg, r.from) {
				continue
			}
			for _, d := range ds {
				if matchesAny(d, r.to) {
					out = append(out, fmt.Sprintf("%s imports %s: %s", pkg, d, r.why))
				}
			}
		}
	}
	return out
}

func matchesAny(pkg string, ps []string) bool {
	for _, p := range ps {
		if under(pkg, p) {
			return true
		}
	}
	return false
}

// moduleDeps runs `go list -deps` over the module: each package with the module's
// packages it depends on, without tests.
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pkg := rel(fields[0])
		deps[pkg] = nil
		for _, d := range fields[1:] {
			if d == module || strings.HasPrefix(d, module+"/") {
				deps[pkg] = append(deps[pkg], rel(d))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read go list output: %v", err)
	}
	return deps
}

func rel(pkg string) string {
	return strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
}

func TestDependencyRules(t *testing.T) {
	g := NewWithT(t)
	deps := moduleDeps(t)
	g.Expect(deps).To(HaveKey("controllers"), "go list saw the module")
	g.Expect(deps).To(HaveKey("runner/engine"))
	g.Expect(violations(deps, rules)).To(BeEmpty())
}

// TestRulesCatchViolations proves each rule fails on an import that breaks it.
func TestRulesCatchViolations(t *testing.T) {
	for _, tc := range []struct{ pkg, dep string }{
		{"controllers", "runner/checkpoint"},
		{"internal/desired", "runner/engine"},
		{"runner/cli", "internal/desired"},
		{"runner/cli", "controllers"},
		{"runner/connector/httpapi", "api/v1alpha1"},
		{"runner/connector/postgres", "runner/engine"},
		{"runner/engine", "runner/connector/postgres"},
		{"runner/engine", "api/v1alpha1"},
		{"", "test/pgtest"},
		{"runner/connector/postgres", "test/pgtest"},
		{"cmd/kubectl-syncjob", "runner/cli"},
		{"cmd/kubectl-syncjob", "controllers"},
		{"cmd/kubectl-syncjob", "test/kubetest"},
		{"internal/kubectlsyncjob", "runner/cli"},
	} {
		got := violations(map[string][]string{tc.pkg: {tc.dep}}, rules)
		NewWithT(t).Expect(got).NotTo(BeEmpty(), "%s → %s must break a rule", tc.pkg, tc.dep)
	}
	for _, tc := range []struct{ pkg, dep string }{
		{"controllers", "internal/runcontract"},
		{"runner/cli", "internal/runstatus"},
		{"runner/engine", "runner/connector"},
		{"hack/bench", "test/pgtest"},
		{"test/e2e", "internal/desired"},
	} {
		got := violations(map[string][]string{tc.pkg: {tc.dep}}, rules)
		NewWithT(t).Expect(got).To(BeEmpty(), "%s → %s is allowed", tc.pkg, tc.dep)
	}
}
