package controllers

import (
	"context"
	"testing"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/schedule"
)

// TestNextScheduledTime: status.nextScheduledTime is the schedule's next time after the
// controller's clock, in the SyncJob's time zone; a suspended SyncJob has none.
func TestNextScheduledTime(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "next-run")
	deleteWhenDone(t, sj)
	s, err := schedule.Parse(sj.Spec.Schedule, ptr.Deref(sj.Spec.TimeZone, ""))
	g.Expect(err).NotTo(HaveOccurred())
	want := s.Next(fakeClock.Now())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.NextScheduledTime).NotTo(BeNil())
		g.Expect(sj.Status.NextScheduledTime.Time).To(BeTemporally("~", want, 1e9))
	}, timeout, interval).Should(Succeed())

	updateSpec(g, sj, func(s *syncv1.SyncJobSpec) { s.Suspend = ptr.To(true) })
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.NextScheduledTime).To(BeNil())
	}, timeout, interval).Should(Succeed())
}

// TestCrashRecordHasNoCounts: a run the controller records for a runner that died does not
// claim "read 0": its record says the counts are unknown, and so do its history line and
// Event.
func TestCrashRecordHasNoCounts(t *testing.T) {
	g := NewWithT(t)
	sj := readySyncJob(t, "crash-counts")
	deleteWhenDone(t, sj)
	job := requestRun(g, sj, "go")
	finishJob(g, &job, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}, corev1.PodFailed)
	cur := waitLastRun(g, sj, runcontract.ReasonOOMKilled)
	g.Expect(cur.Status.LastRun.CountsUnknown).To(BeTrue())
	g.Expect(cur.Status.History).NotTo(BeEmpty())
	g.Expect(cur.Status.History[0].Summary).To(ContainSubstring("counts unknown"))
	g.Expect(cur.Status.History[0].Summary).NotTo(ContainSubstring("read 0"))

	// The stored object itself: counts the controller cannot know are absent, not zero.
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(syncv1.GroupVersion.WithKind("SyncJob"))
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sj), u)).To(Succeed())
	lastRun, found, err := unstructured.NestedMap(u.Object, "status", "lastRun")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue())
	g.Expect(lastRun).To(HaveKeyWithValue("countsUnknown", true))
	for _, count := range []string{"read", "upserted", "unchanged", "skipped", "failed", "deleted"} {
		g.Expect(lastRun).NotTo(HaveKey(count), "a crash record stores %q", count)
	}
}

// TestActiveRunAndFinishedRequest: while a requested run's Job is active, status.activeRun
// names it with its trigger, start and Pod phase (and why a Pending Pod waits), and
// lastFinishedRunRequest does not yet hold its token; when the Job ends activeRun is gone
// and lastFinishedRunRequest is the token (what `kubectl wait` waits for).
func TestActiveRunAndFinishedRequest(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "active-run")
	deleteWhenDone(t, sj)
	job := requestRun(g, sj, "wait-for-me")

	var pod corev1.Pod
	g.Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(k8sClient.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{"batch.kubernetes.io/job-name": job.Name})).To(Succeed())
		g.Expect(pods.Items).NotTo(BeEmpty())
		pod = pods.Items[0]
	}, timeout, interval).Should(Succeed())
	pod.Status.Phase = corev1.PodPending
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: insufficient memory"}}
	g.Expect(k8sClient.Status().Update(ctx, &pod)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		a := sj.Status.ActiveRun
		g.Expect(a).NotTo(BeNil())
		g.Expect(a.Name).To(Equal(job.Name))
		g.Expect(a.Trigger).To(Equal("Manual"))
		g.Expect(a.StartTime).NotTo(BeNil())
		g.Expect(a.PodPhase).To(Equal("Pending"))
		g.Expect(a.PendingReason).To(ContainSubstring("Unschedulable: 0/3 nodes are available"))
		g.Expect(sj.Status.LastFinishedRunRequest).To(BeEmpty())
	}, timeout, interval).Should(Succeed())

	finishJob(g, &job, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, corev1.PodSucceeded)
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.ActiveRun).To(BeNil())
		g.Expect(sj.Status.LastFinishedRunRequest).To(Equal("wait-for-me"))
	}, timeout, interval).Should(Succeed())
}

// TestManualJobFromCronJobIsManual: a Job made with `kubectl create job --from=cronjob/…`
// (the CronJob's job template, annotated cronjob.kubernetes.io/instantiate=manual) shows
// as an active run with trigger Manual, not Scheduled.
func TestManualJobFromCronJobIsManual(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "from-cron")
	deleteWhenDone(t, sj)
	cj := &batchv1.CronJob{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: sj.Name}, cj)).To(Succeed())
	annotations := map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: sj.Namespace, Name: "from-cron-manual-1", Labels: cj.Spec.JobTemplate.Labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))}},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	g.Expect(k8sClient.Create(ctx, job)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.ActiveRun).NotTo(BeNil())
		g.Expect(sj.Status.ActiveRun.Name).To(Equal(job.Name))
		g.Expect(sj.Status.ActiveRun.Trigger).To(Equal(runcontract.TriggerManual))
	}, timeout, interval).Should(Succeed())
}
