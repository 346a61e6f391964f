package kubectlsyncjob

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/checkpointed/checkpointed/internal/desired"
)

// TestExplainCleansUpAfterATimeout: explain creates its Job from the SyncJob's CronJob in
// the cluster and, when no answer comes within --timeout (envtest runs no Pods), deletes
// the Job again and exits 1 naming the timeout.
func TestExplainCleansUpAfterATimeout(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newCluster(t)
	g.Expect(c.admin.Apply(ctx, desired.CronJob(c.sj, desired.Options{RunnerImage: "example.com/runner:test"}), client.FieldOwner("test"))).To(Succeed())

	seen := make(chan batchv1.Job, 1)
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			jobs := &batchv1.JobList{}
			if err := c.admin.List(ctx, jobs, client.InNamespace(c.sj.Namespace), client.MatchingLabels{LabelExplainFor: c.sj.Name}); err == nil && len(jobs.Items) > 0 {
				seen <- jobs.Items[0]
				return
			}
		}
		close(seen)
	}()
	code, _, errOut := c.plugin("explain", c.sj.Name, "inv_7", "-n", c.sj.Namespace, "--timeout", "2s")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("gave up waiting for Job"))

	job, ok := <-seen
	g.Expect(ok).To(BeTrue(), "the explain Job was created")
	g.Expect(job.Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"explain", "--in-cluster", "inv_7"}))
	g.Expect(job.Spec.Template.Spec.ServiceAccountName).To(Equal(c.sj.Name + "-runner"))
	g.Expect(*job.Spec.ActiveDeadlineSeconds).To(Equal(int64(2)))
	g.Eventually(func(g Gomega) {
		err := c.admin.Get(ctx, client.ObjectKeyFromObject(&job), &batchv1.Job{})
		if err == nil {
			got := &batchv1.Job{}
			g.Expect(c.admin.Get(ctx, client.ObjectKeyFromObject(&job), got)).To(Succeed())
			g.Expect(got.DeletionTimestamp).NotTo(BeNil(), "being deleted")
			return
		}
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}

// TestExplainNeedsTheCronJob: without the SyncJob's CronJob there is nothing to run the
// explain from; the error names it and no Job is left.
func TestExplainNeedsTheCronJob(t *testing.T) {
	g := NewWithT(t)
	c := newCluster(t)
	code, _, errOut := c.plugin("explain", c.sj.Name, "inv_7", "-n", c.sj.Namespace)
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("get CronJob " + c.sj.Namespace + "/" + c.sj.Name))
	jobs := &batchv1.JobList{}
	g.Expect(c.admin.List(context.Background(), jobs, client.InNamespace(c.sj.Namespace))).To(Succeed())
	g.Expect(jobs.Items).To(BeEmpty())
}
