package controllers

import (
	"os"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestManagerRoleVerbs: the manager's ClusterRole (config/rbac/role.yaml, generated from
// the markers) grants exactly these verbs: each one is used by the controller's code or
// granted by it to the runner's Role (RBAC lets it grant only what it holds). A new verb
// must be added here on purpose.
func TestManagerRoleVerbs(t *testing.T) {
	want := map[string]string{
		"sync.checkpointed.io/syncjobs":          "get,list,watch",
		"sync.checkpointed.io/syncjobs/status":   "get,patch,update",
		"batch/cronjobs":                         "create,get,list,patch,watch",
		"batch/jobs":                             "create,delete,get,list,patch,watch",
		"/pods":                                  "get,list,watch",
		"/serviceaccounts":                       "create,get,list,patch,watch",
		"/configmaps":                            "create,get,list,update,watch",
		"coordination.k8s.io/leases":             "create,get,list,patch,update,watch",
		"rbac.authorization.k8s.io/roles":        "create,get,list,patch,watch",
		"rbac.authorization.k8s.io/rolebindings": "create,get,list,patch,watch",
		"/events":                                "create,patch",
		"events.k8s.io/events":                   "create,patch",
	}
	g := NewWithT(t)
	data, err := os.ReadFile("../config/rbac/role.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	role := rbacv1.ClusterRole{}
	g.Expect(yaml.Unmarshal(data, &role)).To(Succeed())
	for _, r := range role.Rules {
		g.Expect(r.ResourceNames).To(BeEmpty())
		g.Expect(r.Verbs).NotTo(ContainElement("*"), "wildcard verb")
	}
	flat := verbTable(role)
	g.Expect(flat).To(Equal(want))
}

// TestAggregatedRoles: syncjob-editor aggregates to edit (and admin) and syncjob-viewer to
// view; they grant SyncJobs and nothing else (no Secrets, no owned kinds, no status
// writes: status belongs to the controller and the runner).
func TestAggregatedRoles(t *testing.T) {
	for _, tc := range []struct {
		file, name string
		labels     []string
		want       map[string]string
	}{
		{"syncjob_editor_role.yaml", "syncjob-editor",
			[]string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"},
			map[string]string{
				"sync.checkpointed.io/syncjobs":        "create,delete,deletecollection,get,list,patch,update,watch",
				"sync.checkpointed.io/syncjobs/status": "get",
			}},
		{"syncjob_viewer_role.yaml", "syncjob-viewer",
			[]string{"rbac.authorization.k8s.io/aggregate-to-view"},
			map[string]string{
				"sync.checkpointed.io/syncjobs":        "get,list,watch",
				"sync.checkpointed.io/syncjobs/status": "get,list,watch",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			data, err := os.ReadFile("../config/rbac/" + tc.file)
			g.Expect(err).NotTo(HaveOccurred())
			role := rbacv1.ClusterRole{}
			g.Expect(yaml.Unmarshal(data, &role)).To(Succeed())
			g.Expect(role.Name).To(Equal(tc.name))
			for _, l := range tc.labels {
				g.Expect(role.Labels).To(HaveKeyWithValue(l, "true"))
			}
			g.Expect(verbTable(role)).To(Equal(tc.want))
			kust, err := os.ReadFile("../config/rbac/kustomization.yaml")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(kust)).To(ContainSubstring("- " + tc.file))
		})
	}
}

// verbTable is "group/resource" → sorted verbs of a ClusterRole.
func verbTable(role rbacv1.ClusterRole) map[string]string {
	got := map[string]map[string]bool{}
	for _, r := range role.Rules {
		for _, grp := range r.APIGroups {
			for _, res := range r.Resources {
				k := grp + "/" + res
				if got[k] == nil {
					got[k] = map[string]bool{}
				}
				for _, v := range r.Verbs {
					got[k][v] = true
				}
			}
		}
	}
	flat := map[string]string{}
	for k, verbs := range got {
		var vs []string
		for v := range verbs {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		flat[k] = strings.Join(vs, ",")
	}
	return flat
}
