package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/jobstate"
	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// requestRun asks for a run and returns its Job once the Job controller gave it a Pod.
func requestRun(g Gomega, sj *syncv1.SyncJob, token string) batchv1.Job {
	annotate(g, sj, map[string]string{syncv1.RunRequestedAnnotation: token})
	var job batchv1.Job
	g.Eventually(func(g Gomega) {
		jobs := runJobs(g, sj)
		g.Expect(jobs).NotTo(BeEmpty())
		job = jobs[len(jobs)-1]
	}, timeout, interval).Should(Succeed())
	return job
}

// waitLastRun waits for a lastRun with the given reason and returns the SyncJob.
func waitLastRun(g Gomega, sj *syncv1.SyncJob, reason string) *syncv1.SyncJob {
	cur := &syncv1.SyncJob{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sj), cur)).To(Succeed())
		g.Expect(cur.Status.LastRun).NotTo(BeNil())
		g.Expect(cur.Status.LastRun.Reason).To(Equal(reason))
	}, timeout, interval).Should(Succeed())
	return cur
}

// TestRunsThatCannotReportStillFail: a runner Pod that was OOMKilled, could not pull its
// image, or referred to a Secret that does not exist never writes status itself; the
// controller records the run as Failed with the reason, Ready turns False with reason
// RunFailed, and a Warning event is recorded.
func TestRunsThatCannotReportStillFail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		state   corev1.ContainerState
		phase   corev1.PodPhase
		reason  string
		message string
		deleted bool
	}{
		{name: "OOMKilled",
			state:  corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
			phase:  corev1.PodFailed,
			reason: runcontract.ReasonOOMKilled, message: "killed for exceeding its memory limit"},
		{name: "image missing",
			state:  corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "example.com/nope:v1"`}},
			phase:  corev1.PodPending,
			reason: "ImagePullBackOff", message: `Back-off pulling image "example.com/nope:v1"`, deleted: true},
		{name: "missing Secret",
			state:  corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: `secret "crm-db" not found`}},
			phase:  corev1.PodPending,
			reason: "CreateContainerConfigError", message: `secret "crm-db" not found`, deleted: true},
		{name: "crash before reporting",
			state:  corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: "panic: boom\ngoroutine 1 [running]"}},
			phase:  corev1.PodFailed,
			reason: runcontract.ReasonRunnerCrashed, message: "exited with code 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sj := readySyncJob(t, "dies")
			job := requestRun(g, sj, "go")
			finishJob(g, &job, tc.state, tc.phase)

			cur := waitLastRun(g, sj, tc.reason)
			g.Expect(cur.Status.LastRun.Phase).To(Equal(syncv1.RunPhaseFailed))
			g.Expect(cur.Status.LastRun.RunID).To(Equal(job.Name))
			g.Expect(cur.Status.LastRun.Trigger).To(Equal("Manual"))
			g.Expect(cur.Status.LastRun.Message).To(ContainSubstring(tc.message))
			g.Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), cur)).To(Succeed())
				ready := meta.FindStatusCondition(cur.Status.Conditions, syncv1.ConditionReady)
				g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(ready.Reason).To(Equal(syncv1.ReasonRunFailed))
				g.Expect(ready.Message).To(ContainSubstring(tc.reason))
			}, timeout, interval).Should(Succeed())
			g.Eventually(func(g Gomega) {
				evs := &corev1.EventList{}
				g.Expect(k8sClient.List(ctx, evs, client.InNamespace(sj.Namespace))).To(Succeed())
				found := false
				for _, e := range evs.Items {
					found = found || (e.Type == corev1.EventTypeWarning && e.Reason == "RunFailed")
				}
				g.Expect(found).To(BeTrue(), "no Warning RunFailed event")
			}, timeout, interval).Should(Succeed())
			if tc.deleted {
				g.Eventually(func() bool {
					return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(&job), &batchv1.Job{}))
				}, timeout, interval).Should(BeTrue(), "a Job that cannot start must not block the schedule")
			}
			// Recorded once: the history holds one line for the Job.
			g.Consistently(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), cur)).To(Succeed())
				g.Expect(cur.Status.History).To(HaveLen(1))
			}, 2*time.Second, interval).Should(Succeed())
		})
	}
}

// TestAReportedFailureIsNotOverwritten: when the runner itself recorded its failed run
// (its run ID is its Pod's name), the controller leaves that record alone.
func TestAReportedFailureIsNotOverwritten(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "reported")
	job := requestRun(g, sj, "go")
	pods := &corev1.PodList{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.List(ctx, pods, client.InNamespace(sj.Namespace), client.MatchingLabels{"batch.kubernetes.io/job-name": job.Name})).To(Succeed())
		g.Expect(pods.Items).NotTo(BeEmpty())
	}, timeout, interval).Should(Succeed())
	runnerApply(g, sj, syncv1.SyncJobStatus{LastRun: &syncv1.RunRecord{RunID: pods.Items[0].Name, Phase: syncv1.RunPhaseFailed, Reason: "SinkError", Message: "connection refused"}})
	finishJob(g, &job, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "Failed: read 0, upserted 0"}}, corev1.PodFailed)

	g.Eventually(func(g Gomega) {
		j := &batchv1.Job{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&job), j)).To(Succeed())
		_, failed := jobstate.Finished(j)
		g.Expect(failed).To(BeTrue())
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) {
		cur := &syncv1.SyncJob{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), cur)).To(Succeed())
		g.Expect(cur.Status.LastRun.Reason).To(Equal("SinkError"))
	}, 2*time.Second, interval).Should(Succeed())
}

// TestStaleAfterTwoMissedRuns: a SyncJob whose last success is older than two schedule
// intervals is Ready=False with reason Stale (time comes from the injected clock); a new
// success makes it Ready again.
func TestStaleAfterTwoMissedRuns(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	defer fakeClock.SetTime(time.Now())
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "stale")
	sj.Spec.Schedule = "*/5 * * * *"
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
	}, timeout, interval).Should(Succeed())

	fakeClock.SetTime(sj.CreationTimestamp.Add(11 * time.Minute))
	annotate(g, sj, map[string]string{"example.com/poke": "1"}) // any change makes it look again
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		ready := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(syncv1.ReasonStale))
		g.Expect(ready.Message).To(ContainSubstring("two scheduled runs were missed"))
	}, timeout, interval).Should(Succeed())

	now := metav1.NewTime(fakeClock.Now())
	runnerApply(g, sj, syncv1.SyncJobStatus{
		LastRun:               &syncv1.RunRecord{RunID: "r1", Phase: syncv1.RunPhaseSucceeded},
		LastSuccessfulRunTime: &now,
	})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
	}, timeout, interval).Should(Succeed())
}
