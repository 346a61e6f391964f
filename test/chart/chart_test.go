package chart

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// update rewrites the golden files: go test ./test/chart -update
var update = flag.Bool("update", false, "rewrite testdata/*.golden.* from the current output")

const (
	chartDir  = "../../charts/checkpointed"
	configDir = "../../config"
	// The release of the renders: a name containing the chart's, as a user's would.
	releaseName = "checkpointed"
	releaseNS   = "checkpointed-system"
)

// render renders the chart as `helm install --dry-run=client` does (no cluster) with the
// values of valuesFile ("" for the defaults) and returns the release.
func render(t *testing.T, valuesFile string) (*release.Release, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	vals := map[string]any{}
	if valuesFile != "" {
		v, err := common.ReadValuesFile(valuesFile)
		if err != nil {
			t.Fatalf("read %s: %v", valuesFile, err)
		}
		vals = v
	}
	return renderValues(ch, vals)
}

func renderValues(ch any, vals map[string]any) (*release.Release, error) {
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = releaseName
	install.Namespace = releaseNS
	rel, err := install.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	return rel.(*release.Release), nil
}

// object is one rendered manifest.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	raw string
}

// objects splits a release's manifest into its objects.
func objects(t *testing.T, manifest string) []object {
	t.Helper()
	var out []object
	for _, doc := range strings.Split(manifest, "\n---\n") {
		doc = strings.TrimPrefix(strings.TrimSpace(doc), "---")
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("parse a rendered object: %v\n%s", err, doc)
		}
		if o.Kind == "" {
			continue
		}
		o.raw = doc
		out = append(out, o)
	}
	return out
}

// find returns the rendered objects of a kind.
func find(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// decode unmarshals a rendered object into a typed one.
func decode[T any](t *testing.T, o object) *T {
	t.Helper()
	v := new(T)
	if err := yaml.UnmarshalStrict([]byte(o.raw), v); err != nil {
		t.Fatalf("decode %s %s: %v", o.Kind, o.Metadata.Name, err)
	}
	return v
}

// TestLint: `helm lint --strict` finds nothing, with the default values and with every
// non-default shape.
func TestLint(t *testing.T) {
	for _, tc := range []struct{ name, values string }{
		{"defaults", ""},
		{"full", "testdata/full-values.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			vals := map[string]any{}
			if tc.values != "" {
				v, err := common.ReadValuesFile(tc.values)
				g.Expect(err).NotTo(HaveOccurred())
				vals = v
			}
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = releaseNS
			res := lint.Run([]string{chartDir}, vals)
			g.Expect(res.TotalChartsLinted).To(Equal(1))
			var msgs []string
			for _, m := range res.Messages {
				msgs = append(msgs, m.Error())
			}
			g.Expect(res.Errors).To(BeEmpty(), "lint messages:\n%s", strings.Join(msgs, "\n"))
			g.Expect(action.HasWarningsOrErrors(res)).To(BeFalse(), "lint messages:\n%s", strings.Join(msgs, "\n"))
		})
	}
}

// TestGolden renders the chart with the default values and with testdata/full-values.yaml
// and compares the manifests and NOTES.txt with testdata/<name>.golden.{yaml,txt}.
func TestGolden(t *testing.T) {
	for _, tc := range []struct{ name, values string }{
		{"default", ""},
		{"full", "testdata/full-values.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rel, err := render(t, tc.values)
			g.Expect(err).NotTo(HaveOccurred())
			for path, got := range map[string]string{
				filepath.Join("testdata", tc.name+".golden.yaml"):      rel.Manifest,
				filepath.Join("testdata", tc.name+".notes.golden.txt"): rel.Info.Notes,
			} {
				if *update {
					g.Expect(os.WriteFile(path, []byte(got), 0o644)).To(Succeed())
				}
				want, err := os.ReadFile(path)
				g.Expect(err).NotTo(HaveOccurred(), "run go test ./test/chart -update to create it")
				g.Expect(got).To(Equal(string(want)), "%s differs; run go test ./test/chart -update if the change is intended", path)
			}
		})
	}
}

// readRules reads the rules of the Role or ClusterRole in a file of config/.
func readRules(t *testing.T, path string) []rbacv1.PolicyRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(configDir, path))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var r struct {
		Rules []rbacv1.PolicyRule `json:"rules"`
	}
	if err := yaml.Unmarshal(b, &r); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if len(r.Rules) == 0 {
		t.Fatalf("%s has no rules", path)
	}
	return r.Rules
}

// TestManagerRulesAreGenerated: the manager's ClusterRole (default) and each of its
// per-namespace Roles (rbac.namespaced) grant exactly the rules controller-gen generates
// into config/rbac/role.yaml, and its leader-election Role exactly those of
// config/rbac/leader_election_role.yaml.
func TestManagerRulesAreGenerated(t *testing.T) {
	g := NewWithT(t)
	managerRules := readRules(t, "rbac/role.yaml")
	leaderRules := readRules(t, "rbac/leader_election_role.yaml")

	rel, err := render(t, "")
	g.Expect(err).NotTo(HaveOccurred())
	objs := objects(t, rel.Manifest)
	crs := withoutAggregated(find(objs, "ClusterRole"))
	g.Expect(crs).To(HaveLen(1))
	g.Expect(decode[rbacv1.ClusterRole](t, crs[0]).Rules).To(Equal(managerRules))
	g.Expect(find(objs, "Role")).To(HaveLen(1), "only the leader-election Role")
	le := decode[rbacv1.Role](t, find(objs, "Role")[0])
	g.Expect(le.Namespace).To(Equal(releaseNS))
	g.Expect(le.Rules).To(Equal(leaderRules))
	crb := decode[rbacv1.ClusterRoleBinding](t, find(objs, "ClusterRoleBinding")[0])
	g.Expect(crb.RoleRef.Name).To(Equal(crs[0].Metadata.Name))
	g.Expect(crb.Subjects).To(Equal([]rbacv1.Subject{{Kind: "ServiceAccount", Name: "checkpointed", Namespace: releaseNS}}))

	rel, err = render(t, "testdata/full-values.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	objs = objects(t, rel.Manifest)
	g.Expect(withoutAggregated(find(objs, "ClusterRole"))).To(BeEmpty())
	g.Expect(find(objs, "ClusterRoleBinding")).To(BeEmpty())
	byNS := map[string][]rbacv1.PolicyRule{}
	for _, o := range find(objs, "Role") {
		byNS[o.Metadata.Namespace] = decode[rbacv1.Role](t, o).Rules
	}
	g.Expect(byNS).To(Equal(map[string][]rbacv1.PolicyRule{
		"billing": managerRules, "crm": managerRules, releaseNS: leaderRules,
	}))
	bound := map[string]string{}
	for _, o := range find(objs, "RoleBinding") {
		rb := decode[rbacv1.RoleBinding](t, o)
		g.Expect(rb.Subjects).To(Equal([]rbacv1.Subject{{Kind: "ServiceAccount", Name: "checkpointed", Namespace: releaseNS}}))
		bound[rb.Namespace] = rb.RoleRef.Name
	}
	g.Expect(bound).To(Equal(map[string]string{
		"billing": "checkpointed-manager", "crm": "checkpointed-manager", releaseNS: "checkpointed-leader-election",
	}))
}

// TestManagerArgs: the chart starts the manager with the flags config/manager/manager.yaml
// gives it, and restricts it to watchNamespaces when they are set.
func TestManagerArgs(t *testing.T) {
	g := NewWithT(t)
	b, err := os.ReadFile(filepath.Join(configDir, "manager/manager.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var kustomized *appsv1.Deployment
	for _, doc := range strings.Split(string(b), "\n---\n") {
		d := &appsv1.Deployment{}
		g.Expect(yaml.Unmarshal([]byte(doc), d)).To(Succeed())
		if d.Kind == "Deployment" {
			kustomized = d
		}
	}
	g.Expect(kustomized).NotTo(BeNil(), "config/manager/manager.yaml has a Deployment")
	want := kustomized.Spec.Template.Spec.Containers[0].Args

	rel, err := render(t, "")
	g.Expect(err).NotTo(HaveOccurred())
	deps := find(objects(t, rel.Manifest), "Deployment")
	g.Expect(deps).To(HaveLen(1))
	c := decode[appsv1.Deployment](t, deps[0]).Spec.Template.Spec.Containers[0]
	g.Expect(c.Args).To(ContainElements(want))
	g.Expect(c.Image).To(Equal(kustomized.Spec.Template.Spec.Containers[0].Image))
	g.Expect(strings.Join(c.Args, " ")).NotTo(ContainSubstring("--watch-namespace"))

	rel, err = render(t, "testdata/full-values.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	c = decode[appsv1.Deployment](t, find(objects(t, rel.Manifest), "Deployment")[0]).Spec.Template.Spec.Containers[0]
	g.Expect(c.Args).To(ContainElement("--watch-namespaces=billing,crm"))
	g.Expect(c.Image).To(Equal("registry.example.com/checkpointed/manager@sha256:1111111111111111111111111111111111111111111111111111111111111111"))
}

// TestNamespacedRBACNeedsNamespaces: namespaced RBAC without watchNamespaces would leave
// the manager watching every namespace with rights in none: the render fails and says why.
func TestNamespacedRBACNeedsNamespaces(t *testing.T) {
	g := NewWithT(t)
	ch, err := loader.Load(chartDir)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = renderValues(ch, map[string]any{"rbac": map[string]any{"namespaced": true}})
	g.Expect(err).To(MatchError(ContainSubstring("rbac.namespaced: true needs watchNamespaces")))
}

// TestPrometheusRuleShipsTheAlerts: an enabled PrometheusRule holds the alert groups of
// config/prometheus/rules.yaml (the chart's byte-equal copy), and the rules of
// metrics.prometheusRule.rules in a group of their own after them.
func TestPrometheusRuleShipsTheAlerts(t *testing.T) {
	g := NewWithT(t)
	ch, err := loader.Load(chartDir)
	g.Expect(err).NotTo(HaveOccurred())
	type group struct {
		Name  string           `json:"name"`
		Rules []map[string]any `json:"rules"`
	}
	b, err := os.ReadFile(filepath.Join(configDir, "prometheus/rules.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var want struct {
		Groups []group `json:"groups"`
	}
	g.Expect(yaml.Unmarshal(b, &want)).To(Succeed())
	g.Expect(want.Groups).NotTo(BeEmpty())
	for _, extra := range []bool{false, true} {
		pr := map[string]any{"enabled": true}
		if extra {
			pr["rules"] = []any{map[string]any{"alert": "Mine", "expr": "vector(1)"}}
		}
		rel, err := renderValues(ch, map[string]any{"metrics": map[string]any{"prometheusRule": pr}})
		g.Expect(err).NotTo(HaveOccurred())
		rules := find(objects(t, rel.Manifest), "PrometheusRule")
		g.Expect(rules).To(HaveLen(1))
		var got struct {
			Spec struct {
				Groups []group `json:"groups"`
			} `json:"spec"`
		}
		g.Expect(yaml.Unmarshal([]byte(rules[0].raw), &got)).To(Succeed())
		wantGroups := want.Groups
		if extra {
			wantGroups = append(append([]group(nil), want.Groups...), group{Name: "checkpointed-extra",
				Rules: []map[string]any{{"alert": "Mine", "expr": "vector(1)"}}})
		}
		g.Expect(got.Spec.Groups).To(Equal(wantGroups))
	}
}

// withoutAggregated leaves out the aggregated syncjob-editor/-viewer ClusterRoles.
func withoutAggregated(objs []object) []object {
	var out []object
	for _, o := range objs {
		if !strings.HasSuffix(o.Metadata.Name, "-syncjob-editor") && !strings.HasSuffix(o.Metadata.Name, "-syncjob-viewer") {
			out = append(out, o)
		}
	}
	return out
}

// TestAggregatedRolesAreConfigs: with rbac.aggregatedRoles (the default) the chart ships
// the syncjob-editor and syncjob-viewer ClusterRoles of config/rbac, with the same rules
// and aggregation labels; without it, none.
func TestAggregatedRolesAreConfigs(t *testing.T) {
	g := NewWithT(t)
	rel, err := render(t, "")
	g.Expect(err).NotTo(HaveOccurred())
	got := map[string]*rbacv1.ClusterRole{}
	for _, o := range find(objects(t, rel.Manifest), "ClusterRole") {
		for _, n := range []string{"syncjob-editor", "syncjob-viewer"} {
			if strings.HasSuffix(o.Metadata.Name, "-"+n) {
				got[n] = decode[rbacv1.ClusterRole](t, o)
			}
		}
	}
	g.Expect(got).To(HaveLen(2))
	for n, cr := range got {
		b, err := os.ReadFile(filepath.Join(configDir, "rbac", strings.ReplaceAll(n, "-", "_")+"_role.yaml"))
		g.Expect(err).NotTo(HaveOccurred())
		var want rbacv1.ClusterRole
		g.Expect(yaml.Unmarshal(b, &want)).To(Succeed())
		g.Expect(cr.Rules).To(Equal(want.Rules), n)
		for k, v := range want.Labels {
			g.Expect(cr.Labels).To(HaveKeyWithValue(k, v), n)
		}
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	g.Expect(os.WriteFile(f, []byte("rbac:\n  aggregatedRoles: false\n"), 0o600)).To(Succeed())
	rel, err = render(t, f)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(find(objects(t, rel.Manifest), "ClusterRole")).To(HaveLen(1))
}
