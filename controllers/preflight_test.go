package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// preflightJob waits for the preflight Job named name.
func preflightJob(g Gomega, ns, name string) batchv1.Job {
	var job batchv1.Job
	g.Eventually(func() error {
		return k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &job)
	}, timeout, interval).Should(Succeed())
	return job
}

// waitPreflight waits for the Ready and Preflight conditions and returns the SyncJob.
func waitPreflight(g Gomega, sj *syncv1.SyncJob, ready metav1.ConditionStatus, readyReason string, pf metav1.ConditionStatus, msg string) *syncv1.SyncJob {
	cur := &syncv1.SyncJob{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sj), cur)).To(Succeed())
		r := meta.FindStatusCondition(cur.Status.Conditions, syncv1.ConditionReady)
		g.Expect(r).NotTo(BeNil())
		g.Expect(r.Status).To(Equal(ready), "%+v", r)
		g.Expect(r.Reason).To(Equal(readyReason))
		p := meta.FindStatusCondition(cur.Status.Conditions, syncv1.ConditionPreflight)
		g.Expect(p).NotTo(BeNil())
		g.Expect(p.Status).To(Equal(pf), "%+v", p)
		g.Expect(p.Message).To(ContainSubstring(msg))
	}, timeout, interval).Should(Succeed())
	return cur
}

// TestPreflightMissingSecretTurnsReadyFalse: creating a SyncJob starts one preflight Job
// (named by the generation, labelled as a preflight, running `runner plan --in-cluster`);
// its Pod cannot be built because a Secret is missing, and the SyncJob turns Ready=False
// with reason PreflightFailed naming the Secret, without any run being recorded. A spec
// change starts the next generation's preflight, whose pass makes Ready follow the runs.
func TestPreflightMissingSecretTurnsReadyFalse(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "nosecret")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())

	job := preflightJob(g, ns, runcontract.PreflightJobName("nosecret", 1))
	g.Expect(job.Labels[runcontract.LabelPreflight]).To(Equal("1"))
	g.Expect(job.Spec.Template.Spec.Containers[0].Args).To(Equal(runcontract.PlanArgs))
	g.Expect(job.Spec.TTLSecondsAfterFinished).NotTo(BeNil())
	finishJob(g, &job, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "CreateContainerConfigError", Message: `secret "crm-db" not found`}}, corev1.PodPending)

	cur := waitPreflight(g, sj, metav1.ConditionFalse, syncv1.ReasonPreflightFailed, metav1.ConditionFalse, `secret "crm-db" not found`)
	g.Expect(meta.FindStatusCondition(cur.Status.Conditions, syncv1.ConditionReady).Message).To(ContainSubstring(`secret "crm-db" not found`))
	g.Expect(cur.Status.Preflight).NotTo(BeNil())
	g.Expect(cur.Status.Preflight.Generation).To(Equal(int64(1)))
	g.Expect(cur.Status.Preflight.Result).To(Equal(syncv1.PreflightFailed))
	g.Expect(cur.Status.LastRun).To(BeNil(), "a preflight is not a run")
	g.Expect(cur.Status.History).To(BeEmpty())
	g.Expect(cur.Status.Cursor).To(BeNil())
	// Exactly once per generation: the Job is bounded by its deadline and not made again.
	g.Expect(job.Spec.ActiveDeadlineSeconds).To(Equal(ptr.To(runcontract.PreflightDeadlineSeconds)))
	g.Consistently(func(g Gomega) {
		jobs := &batchv1.JobList{}
		g.Expect(k8sClient.List(ctx, jobs, client.InNamespace(ns))).To(Succeed())
		g.Expect(jobs.Items).To(HaveLen(1))
	}, 2*time.Second, interval).Should(Succeed())

	updateSpec(g, cur, func(s *syncv1.SyncJobSpec) { s.Schedule = "0 3 * * *" })
	next := preflightJob(g, ns, runcontract.PreflightJobName("nosecret", 2))
	finishJob(g, &next, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, Reason: "Completed", Message: runcontract.PreflightMessage(true, "read 1 page, 3 records map")}}, corev1.PodSucceeded)
	cur = waitPreflight(g, sj, metav1.ConditionTrue, syncv1.ReasonSucceeded, metav1.ConditionTrue, "3 records map")
	g.Expect(cur.Status.Preflight.Generation).To(Equal(int64(2)))
	g.Expect(cur.Status.LastRun).To(BeNil())
}

// TestPlanRequestRunsPreflightOnce: a plan-requested-at token starts one preflight Job
// named for the token and is recorded in status.lastHandledPlanRequest; the runner's
// failure message (a missing column) becomes Ready=False PreflightFailed.
func TestPlanRequestRunsPreflightOnce(t *testing.T) {
	g := NewWithT(t)
	sj := readySyncJob(t, "planreq")
	first := preflightJob(g, sj.Namespace, runcontract.PreflightJobName("planreq", 1))
	finishJob(g, &first, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, Reason: "Completed", Message: runcontract.PreflightMessage(true, "ok")}}, corev1.PodSucceeded)
	waitPreflight(g, sj, metav1.ConditionTrue, syncv1.ReasonSucceeded, metav1.ConditionTrue, "ok")

	annotate(g, sj, map[string]string{syncv1.PlanRequestedAnnotation: "t1"})
	job := preflightJob(g, sj.Namespace, runcontract.RequestedJobName("planreq", runcontract.KindPlan, "t1"))
	finishJob(g, &job, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 1, Reason: "Error", Message: runcontract.PreflightMessage(false, `sink table "crm_invoices" has no column "status"`)}}, corev1.PodFailed)
	cur := waitPreflight(g, sj, metav1.ConditionFalse, syncv1.ReasonPreflightFailed, metav1.ConditionFalse, `no column "status"`)
	g.Expect(cur.Status.LastHandledPlanRequest).To(Equal("t1"))
	g.Expect(cur.Status.LastRun).To(BeNil())
	g.Expect(runJobs(g, sj)).To(BeEmpty(), "a preflight is not a run")
	// The token is handled once: it stays failed and no second Job appears.
	g.Consistently(func(g Gomega) {
		jobs := &batchv1.JobList{}
		g.Expect(k8sClient.List(context.Background(), jobs, client.InNamespace(sj.Namespace))).To(Succeed())
		g.Expect(jobs.Items).To(HaveLen(2))
	}, 2*time.Second, interval).Should(Succeed())
}

// TestPreflightThatCannotStartIsPending: a preflight Pod whose image cannot be pulled
// leaves the preflight pending (Preflight=Unknown naming the reason), not passed, and does
// not fail Ready.
func TestPreflightThatCannotStartIsPending(t *testing.T) {
	g := NewWithT(t)
	sj := readySyncJob(t, "noimage")
	job := preflightJob(g, sj.Namespace, runcontract.PreflightJobName("noimage", 1))
	finishJob(g, &job, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ImagePullBackOff", Message: `Back-off pulling image "example.com/nope:v1"`}}, corev1.PodPending)
	cur := waitPreflight(g, sj, metav1.ConditionTrue, syncv1.ReasonSucceeded, metav1.ConditionUnknown, "ImagePullBackOff")
	g.Expect(cur.Status.Preflight.Result).To(Equal(syncv1.PreflightPending))
}
