package argocd

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"text/template"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir = "../../charts/checkpointed"
	// healthKey is argocd-cm's key for the SyncJob health check.
	healthKey = "resource.customizations.health.sync.checkpointed.io_SyncJob"
)

// TestChartCopyIsTheUpstreamScript: the chart's copy of the health check is byte-equal to
// the one in resource_customizations.
func TestChartCopyIsTheUpstreamScript(t *testing.T) {
	g := NewWithT(t)
	chartCopy, err := os.ReadFile(chartDir + "/files/argocd-health.lua")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(chartCopy)).To(Equal(healthScript(t)),
		"cp resource_customizations/sync.checkpointed.io/SyncJob/health.lua charts/checkpointed/files/argocd-health.lua")
}

// TestREADMESnippetIsTheScript: the argocd-cm snippet in the README holds the health check
// exactly, under the argocd-cm key.
func TestREADMESnippetIsTheScript(t *testing.T) {
	g := NewWithT(t)
	readme, err := os.ReadFile("../../README.md")
	g.Expect(err).NotTo(HaveOccurred())
	lines := strings.Split(string(readme), "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == healthKey+": |" {
			g.Expect(start).To(Equal(-1), "the README has two snippets")
			start = i + 1
		}
	}
	g.Expect(start).NotTo(Equal(-1), "the README has no argocd-cm snippet with %s", healthKey)
	var script strings.Builder
	for _, l := range lines[start:] {
		if strings.HasPrefix(l, "```") {
			break
		}
		if l != "" {
			g.Expect(l).To(HavePrefix("    "), "a snippet line is not indented under the key")
			l = l[4:]
		}
		script.WriteString(l + "\n")
	}
	g.Expect(script.String()).To(Equal(healthScript(t)))
}

// chartFiles is Helm's .Files, reading the chart directory.
type chartFiles struct{}

// Get returns a chart file's content, "" if it does not exist (as Helm does).
func (chartFiles) Get(name string) string {
	b, err := os.ReadFile(chartDir + "/" + name)
	if err != nil {
		return ""
	}
	return string(b)
}

// renderTemplate renders one chart template with the chart's values.yaml overridden by
// set, using the few Helm functions the template is allowed (it is self-contained).
func renderTemplate(t *testing.T, name string, set map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	merge(values, set)
	src, err := os.ReadFile(chartDir + "/templates/" + name)
	if err != nil {
		t.Fatal(err)
	}
	funcs := template.FuncMap{
		"indent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"default": func(def, given any) any {
			if given == nil || reflect.ValueOf(given).IsZero() {
				return def
			}
			return given
		},
	}
	tmpl, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]any{"Values": values, "Files": chartFiles{}}); err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return out.String()
}

// merge sets src's leaves into dst, recursively.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if d, ok := dst[k].(map[string]any); ok {
				merge(d, sub)
				continue
			}
		}
		dst[k] = v
	}
}

// TestChartRendersTheHealthCheck: by default the chart renders no argocd-cm; with
// argocd.healthCheck.enabled it renders an argocd-cm patch in Argo CD's namespace, labelled
// as Argo CD's, holding the health check exactly.
func TestChartRendersTheHealthCheck(t *testing.T) {
	const name = "argocd-health-configmap.yaml"
	g := NewWithT(t)
	g.Expect(strings.TrimSpace(renderTemplate(t, name, nil))).To(BeEmpty(), "disabled by default")

	for _, tc := range []struct {
		set       map[string]any
		namespace string
	}{
		{map[string]any{"argocd": map[string]any{"healthCheck": map[string]any{"enabled": true}}}, "argocd"},
		{map[string]any{"argocd": map[string]any{"namespace": "gitops", "healthCheck": map[string]any{"enabled": true}}}, "gitops"},
		{map[string]any{"argocd": map[string]any{"namespace": "", "healthCheck": map[string]any{"enabled": true}}}, "argocd"},
	} {
		t.Run(fmt.Sprint(tc.set), func(t *testing.T) {
			g := NewWithT(t)
			out := renderTemplate(t, name, tc.set)
			var cm corev1.ConfigMap
			g.Expect(yaml.UnmarshalStrict([]byte(out), &cm)).To(Succeed(), out)
			g.Expect(cm.APIVersion).To(Equal("v1"))
			g.Expect(cm.Kind).To(Equal("ConfigMap"))
			g.Expect(cm.Name).To(Equal("argocd-cm"))
			g.Expect(cm.Namespace).To(Equal(tc.namespace))
			g.Expect(cm.Labels).To(HaveKeyWithValue("app.kubernetes.io/part-of", "argocd"))
			g.Expect(cm.Data).To(Equal(map[string]string{healthKey: healthScript(t)}))
		})
	}
}
