package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// readySyncJob creates the sample SyncJob and waits until it is set up.
func readySyncJob(t *testing.T, name string) *syncv1.SyncJob {
	g := NewWithT(t)
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, name)
	g.Expect(k8sClient.Create(context.Background(), sj)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
	}, timeout, interval).Should(Succeed())
	return sj
}

// annotate sets annotations on the SyncJob.
func annotate(g Gomega, sj *syncv1.SyncJob, kv map[string]string) {
	g.Eventually(func() error {
		cur := &syncv1.SyncJob{}
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sj), cur); err != nil {
			return err
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		for k, v := range kv {
			cur.Annotations[k] = v
		}
		return k8sClient.Update(context.Background(), cur)
	}, timeout, interval).Should(Succeed())
}

// runJobs lists the Jobs of the SyncJob's runs.
func runJobs(g Gomega, sj *syncv1.SyncJob) []batchv1.Job {
	jobs := &batchv1.JobList{}
	g.Expect(k8sClient.List(context.Background(), jobs, client.InNamespace(sj.Namespace),
		client.MatchingLabels{runcontract.LabelJob: sj.Name})).To(Succeed())
	return jobs.Items
}

// finishJob makes the Job's Pod succeed (there is no kubelet in this suite), so that the
// Job controller completes the Job.
func finishJob(g Gomega, job *batchv1.Job, state corev1.ContainerState, phase corev1.PodPhase) {
	ctx := context.Background()
	var pod corev1.Pod
	g.Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(k8sClient.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{"batch.kubernetes.io/job-name": job.Name})).To(Succeed())
		g.Expect(pods.Items).NotTo(BeEmpty())
		pod = pods.Items[0]
	}, timeout, interval).Should(Succeed())
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", Image: "runner", State: state}}
	g.Expect(k8sClient.Status().Update(ctx, &pod)).To(Succeed())
}

// TestRunRequestIsHandledOnce: a run-requested-at token starts exactly one Job from the
// CronJob's template (trigger Manual), is recorded in status, and is not acted on again;
// a second token while that run is active waits politely, then runs after it.
func TestRunRequestIsHandledOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "run-req")

	annotate(g, sj, map[string]string{syncv1.RunRequestedAnnotation: "2026-07-01T09:00:00Z"})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledRunRequest).To(Equal("2026-07-01T09:00:00Z"), "%+v", sj.Status)
	}, timeout, interval).Should(Succeed())
	jobs := runJobs(g, sj)
	g.Expect(jobs).To(HaveLen(1))
	job := jobs[0]
	g.Expect(job.Annotations[runcontract.AnnotationRequest]).To(Equal("2026-07-01T09:00:00Z"))
	g.Expect(metav1.GetControllerOf(&job).UID).To(Equal(sj.UID))
	c := job.Spec.Template.Spec.Containers[0]
	g.Expect(c.Args).To(Equal([]string{"sync", "--in-cluster"}))
	g.Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: runcontract.EnvTrigger, Value: "Manual"}))
	g.Expect(job.Spec.Template.Spec.ServiceAccountName).To(Equal("run-req-runner"))

	// A new token while the run is active waits, visibly.
	annotate(g, sj, map[string]string{syncv1.RunRequestedAnnotation: "second"})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		rec := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReconciling)
		g.Expect(rec).NotTo(BeNil())
		g.Expect(rec.Reason).To(Equal(ReasonRequestPending))
		g.Expect(rec.Message).To(ContainSubstring(`run request "second" waits for the active run (Job ` + job.Name))
	}, timeout, interval).Should(Succeed())
	g.Expect(sj.Status.LastHandledRunRequest).To(Equal("2026-07-01T09:00:00Z"))
	g.Expect(runJobs(g, sj)).To(HaveLen(1))

	// The run ends: the waiting request is handled, once.
	finishJob(g, &job, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, corev1.PodSucceeded)
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledRunRequest).To(Equal("second"))
		g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReconciling)).To(BeNil())
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) { g.Expect(runJobs(g, sj)).To(HaveLen(2)) }, 2*time.Second, interval).Should(Succeed())
}

// TestInvalidRequestsWarnAndDoNotLoop: a reset to a malformed time and a backfill with
// from after to give a Warning event, are recorded as handled, and create nothing.
func TestInvalidRequestsWarnAndDoNotLoop(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "bad-req")
	annotate(g, sj, map[string]string{
		syncv1.ResetRequestedAnnotation:    "r1",
		syncv1.ResetToAnnotation:           "last tuesday",
		syncv1.BackfillRequestedAnnotation: "b1",
		syncv1.BackfillFromAnnotation:      "2026-07-02T00:00:00Z",
		syncv1.BackfillToAnnotation:        "2026-07-01T00:00:00Z",
	})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledResetRequest).To(Equal("r1"))
		g.Expect(sj.Status.LastHandledBackfillRequest).To(Equal("b1"))
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		evs := &eventsv1.EventList{}
		g.Expect(k8sClient.List(ctx, evs, client.InNamespace(sj.Namespace))).To(Succeed())
		notes := map[string]string{}
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning {
				notes[e.Reason] = e.Note
			}
		}
		g.Expect(notes).To(HaveKeyWithValue("InvalidResetRequest", ContainSubstring(`"last tuesday" is neither 'beginning' nor an RFC3339 time`)))
		g.Expect(notes).To(HaveKeyWithValue("InvalidBackfillRequest", ContainSubstring("backfill-from must be before")))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) { g.Expect(runJobs(g, sj)).To(BeEmpty()) }, 2*time.Second, interval).Should(Succeed())
}

// TestResetRewritesTheCheckpoint: a reset request rewrites the stored cursor through the
// run Lease, keeping the rest of the checkpoint, and is handled once.
func TestResetRewritesTheCheckpoint(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "reset")
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: sj.Namespace, Name: "reset-checkpoint"}
	g.Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
	cm.Data = map[string]string{"checkpoint.json": `{"job":"reset","cursor":{"updatedAt":"2026-06-30T23:55:00.123456Z","id":"inv_10492"},"failedKeys":["7"]}`}
	g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())

	annotate(g, sj, map[string]string{syncv1.ResetRequestedAnnotation: "r1", syncv1.ResetToAnnotation: "2026-06-01T00:00:00Z"})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledResetRequest).To(Equal("r1"))
	}, timeout, interval).Should(Succeed())
	g.Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
	g.Expect(cm.Data["checkpoint.json"]).To(ContainSubstring(`"updatedAt": "2026-06-01T00:00:00Z"`))
	g.Expect(cm.Data["checkpoint.json"]).NotTo(ContainSubstring("inv_10492"))
	g.Expect(cm.Data["checkpoint.json"]).To(ContainSubstring(`"7"`), "the failed keys survive a reset")

	// To the beginning.
	annotate(g, sj, map[string]string{syncv1.ResetRequestedAnnotation: "r2", syncv1.ResetToAnnotation: "beginning"})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
		g.Expect(cm.Data["checkpoint.json"]).NotTo(ContainSubstring(`"cursor"`))
	}, timeout, interval).Should(Succeed())
}

// TestBackfillRequestStartsARangeRun: a backfill request starts one Job with trigger
// Backfill and its range and key in the environment.
func TestBackfillRequestStartsARangeRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "backfill")
	annotate(g, sj, map[string]string{
		syncv1.BackfillRequestedAnnotation: "bf-1",
		syncv1.BackfillFromAnnotation:      "2026-05-01T00:00:00Z",
		syncv1.BackfillToAnnotation:        "2026-06-01T00:00:00+02:00",
	})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledBackfillRequest).To(Equal("bf-1"))
	}, timeout, interval).Should(Succeed())
	jobs := runJobs(g, sj)
	g.Expect(jobs).To(HaveLen(1))
	env := jobs[0].Spec.Template.Spec.Containers[0].Env
	g.Expect(env).To(ContainElements(
		corev1.EnvVar{Name: runcontract.EnvTrigger, Value: "Backfill"},
		corev1.EnvVar{Name: runcontract.EnvBackfillFrom, Value: "2026-05-01T00:00:00Z"},
		corev1.EnvVar{Name: runcontract.EnvBackfillTo, Value: "2026-05-31T22:00:00Z"},
		corev1.EnvVar{Name: runcontract.EnvBackfillKey, Value: "bf-1"},
	))
	g.Expect(*jobs[0].Spec.BackoffLimit).To(Equal(int32(2)))
}
