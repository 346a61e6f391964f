package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/checkpointed/checkpointed/internal/kubectlsyncjob"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// buildPlugin builds cmd/kubectl-syncjob into a temp dir and returns its path.
func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kubectl-syncjob")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-syncjob")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build kubectl-syncjob: %v: %s", err, out)
	}
	return bin
}

// plugin runs the kubectl-syncjob binary as the cluster's admin in namespace ns and returns
// its exit code, stdout and stderr.
func plugin(t *testing.T, bin, ns string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append(args, "-n", ns, "--kubeconfig", kubeconfig)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("run kubectl-syncjob %s: %v", strings.Join(args, " "), err)
	return 0, "", ""
}

// TestKubectlSyncjobPlugin: on the real cluster, `kubectl syncjob run --wait` follows a
// requested run to its end and exits 3 for a run with a failed record; `status` names the
// failed record's explain command; `explain` answers in-cluster, from a one-off Job with the
// SyncJob's credentials, with the Failed verdict, and removes its Job; `history` lists the
// run and `logs` prints its Pod's log.
func TestKubectlSyncjobPlugin(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	bin := buildPlugin(t)
	e := newEnv(t)
	insertInvoices(t, e.src, 1, 20, time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC))
	synctest.Exec(t, e.src, `UPDATE invoices SET total = 'abc' WHERE id = 7`)
	e.syncJob("plugin", nil)

	code, out, errOut := plugin(t, bin, e.ns, "run", "plugin", "--wait", "--timeout", "4m")
	g.Expect(code).To(Equal(3), "PartiallySucceeded: %s\n%s", out, errOut)
	g.Expect(out).To(ContainSubstring(`"phase": "PartiallySucceeded"`))
	g.Expect(out).To(ContainSubstring(`"failed": 1`))

	code, out, errOut = plugin(t, bin, e.ns, "status", "plugin")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring("Did it run?"))
	g.Expect(out).To(ContainSubstring("PartiallySucceeded, trigger Manual"))
	g.Expect(out).To(ContainSubstring("kubectl syncjob explain plugin 7 -n " + e.ns))

	code, out, errOut = plugin(t, bin, e.ns, "explain", "plugin", "7", "--timeout", "3m")
	g.Expect(code).To(Equal(0), "%s\n%s", out, errOut)
	g.Expect(out).To(HavePrefix("Failed: 7 fails to map: field total: "), out)
	g.Expect(out).To(ContainSubstring("kubectl annotate syncjob plugin -n " + e.ns))
	g.Eventually(func(g Gomega) {
		jobs := &batchv1.JobList{}
		g.Expect(kube.List(context.Background(), jobs, client.InNamespace(e.ns),
			client.MatchingLabels{kubectlsyncjob.LabelExplainFor: "plugin"})).To(Succeed())
		g.Expect(jobs.Items).To(BeEmpty(), "explain removes its Job")
	}).WithTimeout(time.Minute).Should(Succeed())
	// The explain Job is not a run: the SyncJob's last run is still the requested one.
	g.Expect(e.get(g, "plugin").Status.LastRun.Trigger).To(Equal("Manual"))

	code, out, errOut = plugin(t, bin, e.ns, "history", "plugin")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring("PartiallySucceeded"))

	code, out, errOut = plugin(t, bin, e.ns, "logs", "plugin")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring(`"msg":"run finished"`))
}
