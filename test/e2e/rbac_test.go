package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestRunnerTokenIsLeastPrivilege: a token of a runner's ServiceAccount (what its Pod
// runs with) can do exactly what one run needs on its own SyncJob's objects — read the
// SyncJob, patch its status, read and update its checkpoint ConfigMap and run Lease,
// create Events, get (only) the Job it runs in — and nothing on another SyncJob, another
// ConfigMap, or any Secret.
func TestRunnerTokenIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	e := newEnv(t)
	e.syncJob("alpha", nil)
	e.syncJob("beta", nil)

	// The controller creates the runner's ServiceAccount, Role and RoleBinding.
	var token string
	g.Eventually(func() error {
		out, err := kubectl("-n", e.ns, "create", "token", "alpha-runner", "--duration=10m")
		token = strings.TrimSpace(out)
		return err
	}).WithTimeout(time.Minute).Should(Succeed())
	g.Eventually(func() (string, error) { return e.canI(token, "get", "syncjobs.sync.checkpointed.io/alpha") }).
		WithTimeout(time.Minute).Should(Equal("yes"), "the runner's Role never took effect")

	for _, c := range []struct {
		verb, resource string
		extra          []string
		want           string
	}{
		// What a run needs, on its own objects.
		{"get", "syncjobs.sync.checkpointed.io/alpha", nil, "yes"},
		{"patch", "syncjobs.sync.checkpointed.io/alpha", []string{"--subresource=status"}, "yes"},
		{"get", "configmaps/alpha-checkpoint", nil, "yes"},
		{"update", "configmaps/alpha-checkpoint", nil, "yes"},
		{"get", "leases.coordination.k8s.io/alpha-run", nil, "yes"},
		{"update", "leases.coordination.k8s.io/alpha-run", nil, "yes"},
		{"create", "events", nil, "yes"},
		// The Job it runs in, by name (a Job made by hand has any name): get only.
		{"get", "jobs.batch/alpha-by-hand", nil, "yes"},
		{"list", "jobs.batch", nil, "no"},
		{"watch", "jobs.batch", nil, "no"},
		{"create", "jobs.batch", nil, "no"},
		{"delete", "jobs.batch/alpha-by-hand", nil, "no"},
		// Nothing more on its own SyncJob: not its spec, not deleting it.
		{"patch", "syncjobs.sync.checkpointed.io/alpha", nil, "no"},
		{"delete", "syncjobs.sync.checkpointed.io/alpha", nil, "no"},
		// Another SyncJob and its objects.
		{"get", "syncjobs.sync.checkpointed.io/beta", nil, "no"},
		{"patch", "syncjobs.sync.checkpointed.io/beta", []string{"--subresource=status"}, "no"},
		{"list", "syncjobs.sync.checkpointed.io", nil, "no"},
		{"get", "configmaps/beta-checkpoint", nil, "no"},
		{"update", "configmaps/beta-checkpoint", nil, "no"},
		{"list", "configmaps", nil, "no"},
		{"get", "leases.coordination.k8s.io/beta-run", nil, "no"},
		{"update", "leases.coordination.k8s.io/beta-run", nil, "no"},
		// Secrets: credentials reach the Pod as environment variables, never by the API.
		{"get", "secrets/billing-db", nil, "no"},
		{"get", "secrets/crm-db", nil, "no"},
		{"list", "secrets", nil, "no"},
		{"watch", "secrets", nil, "no"},
		// Workloads, and other namespaces.
		{"create", "pods", nil, "no"},
		{"get", "pods", nil, "no"},
		{"get", "syncjobs.sync.checkpointed.io/alpha", []string{"--namespace=default"}, "no"},
		{"list", "secrets", []string{"--all-namespaces"}, "no"},
	} {
		args := append([]string{c.verb, c.resource}, c.extra...)
		got, err := e.canI(token, args...)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(c.want), "can-i %s", strings.Join(args, " "))
	}
}

// canI runs `kubectl auth can-i` with nothing but the bearer token and returns its
// answer, "yes" or "no".
func (e *env) canI(token string, args ...string) (string, error) {
	ca := filepath.Join(e.t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, restConfig.CAData, 0o600); err != nil {
		return "", err
	}
	full := append([]string{"--kubeconfig=/dev/null", "--server=" + restConfig.Host, "--certificate-authority=" + ca,
		"--token=" + token, "--namespace=" + e.ns, "auth", "can-i"}, args...)
	cmd := exec.Command(kubectlBin, full...)
	out, err := cmd.Output()
	answer := strings.TrimSpace(string(out))
	// can-i exits 1 for "no".
	if answer == "yes" || answer == "no" {
		return answer, nil
	}
	return answer, fmt.Errorf("kubectl auth can-i %s: %v", strings.Join(args, " "), err)
}
