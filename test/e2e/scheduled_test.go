package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestScheduledRun: a SyncJob scheduled every minute runs on its own — no annotation —
// through its CronJob, and the run writes the cursor and lastRun (trigger Scheduled) into
// status; its rows land in the sink.
func TestScheduledRun(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	e := newEnv(t)
	const name = "every-minute"
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	insertInvoices(t, e.src, 1, 1000, t0)
	e.syncJob(name, func(s *syncv1.SyncJobSpec) {
		s.Schedule = "* * * * *"
		s.Suspend = ptr.To(false)
		// A run that cannot start within 50 s of its minute is skipped rather than
		// started late, into the next minute's slot.
		s.StartingDeadlineSeconds = ptr.To[int64](50)
	})

	// The next minute boundary, plus starting and running the Pod.
	var sj *syncv1.SyncJob
	g.Eventually(func(g Gomega) {
		sj = e.get(g, name)
		last := sj.Status.LastRun
		g.Expect(last).NotTo(BeNil(), "no run yet")
		g.Expect(finished(last.Phase)).To(BeTrue(), "run %s is %s", last.RunID, last.Phase)
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())

	run := sj.Status.LastRun
	g.Expect(run.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", run.Reason, run.Message)
	g.Expect(run.Trigger).To(Equal("Scheduled"))
	g.Expect(run.RunID).To(HavePrefix(name+"-"), "the run ID is the CronJob's Pod name")
	g.Expect(run.Read).To(BeEquivalentTo(1000))
	g.Expect(run.Upserted).To(BeEquivalentTo(1000))
	g.Expect(sj.Status.LastHandledRunRequest).To(BeEmpty(), "no run was requested")
	g.Expect(sj.Annotations).NotTo(HaveKey(syncv1.RunRequestedAnnotation))
	expectCursor(g, sj.Status.Cursor, t0.Add(999*time.Second), "1000")
	g.Expect(sj.Status.LastSuccessfulRunTime).NotTo(BeNil())
	expectSinkEqualsSource(t, e)

	g.Eventually(func(g Gomega) {
		c := ready(e.get(g, name))
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(syncv1.ReasonSucceeded))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// The run came from the CronJob: its Job is owned by it.
	jobs := e.jobs(g, name)
	g.Expect(jobs).NotTo(BeEmpty())
	g.Expect(jobs[0].OwnerReferences).To(ContainElement(HaveField("Kind", "CronJob")))
}
