package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
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
	var out []batchv1.Job
	for _, j := range jobs.Items {
		if j.Labels[runcontract.LabelPreflight] == "" { // a preflight is not a run
			out = append(out, j)
		}
	}
	return out
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

// TestResetRequestStartsAResetJob: a reset request starts exactly one reset Job per token
// (the runner's checkpoint reset, from the run template, with the target and the token in
// its environment), is recorded in status, and the controller itself touches neither the
// checkpoint ConfigMap nor the run Lease. A second token waits while the reset Job is
// active, and a reset Job that cannot start gives one Warning ResetFailed, not a failed
// run.
func TestResetRequestStartsAResetJob(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "reset")
	cmKey := client.ObjectKey{Namespace: sj.Namespace, Name: runcontract.CheckpointConfigMapName(sj.Name)}
	leaseKey := client.ObjectKey{Namespace: sj.Namespace, Name: runcontract.LeaseName(sj.Name)}
	cm := &corev1.ConfigMap{}
	g.Expect(k8sClient.Get(ctx, cmKey, cm)).To(Succeed())
	cm.Data = map[string]string{runcontract.CheckpointKey: `{"job":"reset","cursor":{"updatedAt":"2026-06-30T23:55:00.123456Z","id":"inv_10492"},"failedKeys":["7"]}`}
	g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())
	lease := &coordinationv1.Lease{}
	g.Expect(k8sClient.Get(ctx, leaseKey, lease)).To(Succeed())

	annotate(g, sj, map[string]string{syncv1.ResetRequestedAnnotation: "r1", syncv1.ResetToAnnotation: "2026-06-01T02:00:00+02:00"})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledResetRequest).To(Equal("r1"))
	}, timeout, interval).Should(Succeed())
	var job batchv1.Job
	g.Consistently(func(g Gomega) {
		jobs := runJobs(g, sj)
		g.Expect(jobs).To(HaveLen(1), "one Job per token")
		job = jobs[0]
	}, 2*time.Second, interval).Should(Succeed())
	g.Expect(job.Name).To(Equal(runcontract.RequestedJobName(sj.Name, runcontract.KindReset, "r1")))
	g.Expect(job.Annotations[runcontract.AnnotationRequest]).To(Equal("r1"))
	g.Expect(metav1.GetControllerOf(&job).UID).To(Equal(sj.UID))
	g.Expect(*job.Spec.BackoffLimit).To(Equal(int32(2)))
	g.Expect(job.Spec.Template.Spec.ServiceAccountName).To(Equal(runcontract.ServiceAccountName(sj.Name)))
	c := job.Spec.Template.Spec.Containers[0]
	g.Expect(c.Args).To(Equal(runcontract.ResetArgs))
	g.Expect(c.Env).To(ContainElements(
		corev1.EnvVar{Name: runcontract.EnvJobName, Value: sj.Name},
		corev1.EnvVar{Name: runcontract.EnvTrigger, Value: runcontract.TriggerReset},
		corev1.EnvVar{Name: runcontract.EnvResetTo, Value: "2026-06-01T00:00:00Z"},
		corev1.EnvVar{Name: runcontract.EnvRequestToken, Value: "r1"},
	))

	// The controller wrote neither the checkpoint nor the Lease: the reset is the Job's.
	after := &corev1.ConfigMap{}
	g.Expect(k8sClient.Get(ctx, cmKey, after)).To(Succeed())
	g.Expect(after.ResourceVersion).To(Equal(cm.ResourceVersion))
	g.Expect(after.Data).To(Equal(cm.Data))
	leaseAfter := &coordinationv1.Lease{}
	g.Expect(k8sClient.Get(ctx, leaseKey, leaseAfter)).To(Succeed())
	g.Expect(leaseAfter.ResourceVersion).To(Equal(lease.ResourceVersion))

	// A second token waits for the active reset Job.
	annotate(g, sj, map[string]string{syncv1.ResetRequestedAnnotation: "r2", syncv1.ResetToAnnotation: "beginning"})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		rec := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReconciling)
		g.Expect(rec).NotTo(BeNil())
		g.Expect(rec.Reason).To(Equal(ReasonRequestPending))
		g.Expect(rec.Message).To(ContainSubstring(`reset request "r2" waits for the active run (Job ` + job.Name))
	}, timeout, interval).Should(Succeed())
	g.Expect(sj.Status.LastHandledResetRequest).To(Equal("r1"))

	// The reset Job cannot start: one Warning ResetFailed, no failed run, and the Job is
	// removed, so the waiting request goes ahead.
	finishJob(g, &job, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}, corev1.PodPending)
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledResetRequest).To(Equal("r2"))
		g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReconciling)).To(BeNil())
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastRun).To(BeNil(), "a reset Job is not a run")
		g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
		evs := &eventsv1.EventList{}
		g.Expect(k8sClient.List(ctx, evs, client.InNamespace(sj.Namespace))).To(Succeed())
		failed := 0
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == ReasonResetFailed {
				failed++
				g.Expect(e.Note).To(ContainSubstring(`reset request "r1"`))
				g.Expect(e.Note).To(ContainSubstring("ImagePullBackOff"))
				g.Expect(e.DeprecatedCount).To(BeNumerically("<=", 1))
				g.Expect(e.Series).To(BeNil(), "ResetFailed repeated")
			}
		}
		g.Expect(failed).To(Equal(1))
	}, 3*time.Second, interval).Should(Succeed())
	jobs := runJobs(g, sj)
	names := []string{}
	for _, j := range jobs {
		if j.DeletionTimestamp.IsZero() {
			names = append(names, j.Name)
		}
	}
	g.Expect(names).To(ConsistOf(runcontract.RequestedJobName(sj.Name, runcontract.KindReset, "r2")))
	g.Expect(k8sClient.Get(ctx, cmKey, after)).To(Succeed())
	g.Expect(after.Data).To(Equal(cm.Data), "the controller never writes the checkpoint")
}

// TestResetCanForgetFailedKeys: reset-failed-keys "true" puts the runner's flag in the
// reset Job's environment (without it the variable is absent); any other value is an
// invalid request that warns, is recorded as handled and starts nothing.
func TestResetCanForgetFailedKeys(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	env := func(sj *syncv1.SyncJob, token string) []corev1.EnvVar {
		var job batchv1.Job
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: sj.Namespace,
			Name: runcontract.RequestedJobName(sj.Name, runcontract.KindReset, token)}, &job)).To(Succeed())
		return job.Spec.Template.Spec.Containers[0].Env
	}
	handled := func(sj *syncv1.SyncJob, token string) {
		g.Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
			g.Expect(sj.Status.LastHandledResetRequest).To(Equal(token))
		}, timeout, interval).Should(Succeed())
	}

	forget := readySyncJob(t, "reset-forget")
	annotate(g, forget, map[string]string{syncv1.ResetRequestedAnnotation: "f1", syncv1.ResetToAnnotation: "beginning",
		syncv1.ResetFailedKeysAnnotation: "true"})
	handled(forget, "f1")
	g.Expect(env(forget, "f1")).To(ContainElement(corev1.EnvVar{Name: runcontract.EnvResetClearFailedKeys, Value: "true"}))

	keep := readySyncJob(t, "reset-keep")
	annotate(g, keep, map[string]string{syncv1.ResetRequestedAnnotation: "k1", syncv1.ResetToAnnotation: "beginning"})
	handled(keep, "k1")
	for _, e := range env(keep, "k1") {
		g.Expect(e.Name).NotTo(Equal(runcontract.EnvResetClearFailedKeys))
	}

	bad := readySyncJob(t, "reset-bad")
	annotate(g, bad, map[string]string{syncv1.ResetRequestedAnnotation: "b1", syncv1.ResetToAnnotation: "beginning",
		syncv1.ResetFailedKeysAnnotation: "yes"})
	handled(bad, "b1")
	g.Eventually(func(g Gomega) {
		evs := &eventsv1.EventList{}
		g.Expect(k8sClient.List(ctx, evs, client.InNamespace(bad.Namespace))).To(Succeed())
		var notes []string
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == "InvalidResetRequest" {
				notes = append(notes, e.Note)
			}
		}
		g.Expect(notes).To(ContainElement(ContainSubstring(`annotation sync.checkpointed.io/reset-failed-keys: "yes" is neither 'true' nor 'false'`)))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) { g.Expect(runJobs(g, bad)).To(BeEmpty()) }, 2*time.Second, interval).Should(Succeed())
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
