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
	got := map[string]map[string]bool{}
	for _, r := range role.Rules {
		g.Expect(r.ResourceNames).To(BeEmpty())
		for _, grp := range r.APIGroups {
			for _, res := range r.Resources {
				k := grp + "/" + res
				if got[k] == nil {
					got[k] = map[string]bool{}
				}
				for _, v := range r.Verbs {
					g.Expect(v).NotTo(Equal("*"), "%s: wildcard verb", k)
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
	g.Expect(flat).To(Equal(want))
}
