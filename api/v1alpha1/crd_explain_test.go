package v1alpha1

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// crdFile is the generated CRD (make manifests), what `kubectl explain` shows.
const crdFile = "../../config/crd/bases/sync.checkpointed.io_syncjobs.yaml"

// foreign are the fields whose schema is a Kubernetes type's, described by Kubernetes: the
// field's own description is checked, not the type's fields.
var foreign = map[string]string{
	"spec.runner.pod.env[]":         "corev1.EnvVar",
	"spec.runner.pod.tolerations[]": "corev1.Toleration",
	"spec.runner.resources":         "corev1.ResourceRequirements",
	"status.conditions[]":           "metav1.Condition",
}

// listItem starts a line that may follow a line break: a Markdown list item.
var listItem = regexp.MustCompile(`^\s*([-*]|[0-9]+\.) `)

// TestExplainText: every field of the generated CRD has a description that reads well in
// `kubectl explain`, which wraps each paragraph itself:
//   - every property has a description, and so has every item of a list of objects (the
//     fields of Kubernetes types, foreign, are Kubernetes' to describe; the values of a
//     map and the items of a list of scalars are described by their field);
//   - a line break is a paragraph break (a blank line) or starts a list item, never a break
//     inside a sentence (Go comments wrap at about 100 characters; the API's are written
//     one line per paragraph);
//   - a field with a default names it: its description says "default" and, for a scalar
//     default, its value as written (an empty object default is not a value to name: its
//     fields name theirs).
func TestExplainText(t *testing.T) {
	raw, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, v := range crd.Spec.Versions {
		for _, name := range []string{"spec", "status"} {
			s := v.Schema.OpenAPIV3Schema.Properties[name]
			walk(v.Name+"."+name, &s, &problems)
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// walk checks the schema s of the field at path (version.field...) and the fields under it.
func walk(path string, s *apiextensionsv1.JSONSchemaProps, problems *[]string) {
	bad := func(format string, args ...any) {
		*problems = append(*problems, path+": "+fmt.Sprintf(format, args...))
	}
	d := s.Description
	if strings.TrimSpace(d) == "" {
		bad("no description")
	}
	if _, ok := foreign[path[strings.Index(path, ".")+1:]]; ok {
		return
	}
	lines := strings.Split(d, "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] == "" || lines[i-1] == "" || listItem.MatchString(lines[i]) {
			continue
		}
		bad("line break inside a paragraph: %q | %q", lines[i-1], lines[i])
	}
	if s.Default != nil {
		var v any
		if err := json.Unmarshal(s.Default.Raw, &v); err != nil {
			bad("default %s: %v", s.Default.Raw, err)
		}
		text, scalar := scalarText(v)
		switch {
		case string(s.Default.Raw) == "{}": // an empty object: its fields name their own defaults
		case !strings.Contains(strings.ToLower(d), "default"):
			bad("default %s not named in the description %q", s.Default.Raw, d)
		case scalar && !strings.Contains(d, text):
			bad("default %s not named in the description %q", text, d)
		}
	}
	for name, p := range s.Properties {
		walk(path+"."+name, &p, problems)
	}
	if s.Items != nil && s.Items.Schema != nil && s.Items.Schema.Type == "object" {
		walk(path+"[]", s.Items.Schema, problems)
	}
}

// scalarText is a scalar default as a person would write it; false for objects and lists.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	default:
		return "", false
	}
}
