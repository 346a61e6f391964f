package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestFailedRun: the record of a run that died or could not start, read from its Job and
// Pods. A pure table test: no API server.
func TestFailedRun(t *testing.T) {
	now := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	started := metav1.NewTime(now.Add(-time.Minute))
	job := func(conds ...batchv1.JobCondition) *batchv1.Job {
		return &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "sj-m-0000abcd", CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Minute))},
			Spec: batchv1.JobSpec{
				ActiveDeadlineSeconds: ptr.To[int64](600),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "runner", Env: []corev1.EnvVar{{Name: runcontract.EnvTrigger, Value: runcontract.TriggerManual}},
				}}}},
			},
			Status: batchv1.JobStatus{StartTime: &started, Conditions: conds},
		}
	}
	failedCond := func(reason, msg string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: msg}
	}
	pod := func(state corev1.ContainerState, limit string) corev1.Pod {
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sj-m-0000abcd-xyz"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "runner"}}},
			Status:     corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "runner", State: state}}},
		}
		if limit != "" {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		job     *batchv1.Job
		pods    []corev1.Pod
		stuck   *corev1.ContainerStateWaiting
		reason  string
		message string
	}{
		{name: "OOMKilled with a limit",
			job:    job(failedCond("BackoffLimitExceeded", "Job has reached the specified backoff limit")),
			pods:   []corev1.Pod{pod(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}, "256Mi")},
			reason: runcontract.ReasonOOMKilled, message: "the runner Pod sj-m-0000abcd-xyz was killed for exceeding its memory limit of 256Mi"},
		{name: "OOMKilled without a limit",
			job:    job(failedCond("BackoffLimitExceeded", "")),
			pods:   []corev1.Pod{pod(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}, "")},
			reason: runcontract.ReasonOOMKilled, message: "the runner Pod sj-m-0000abcd-xyz was killed for exceeding its memory limit"},
		{name: "deadline exceeded",
			job:    job(failedCond(batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")),
			pods:   []corev1.Pod{pod(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error"}}, "")},
			reason: runcontract.ReasonDeadlineExceeded, message: "the run exceeded activeDeadlineSeconds=600: Job was active longer than specified deadline"},
		{name: "stuck on its image",
			job:    job(),
			pods:   []corev1.Pod{pod(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "x"`}}, "")},
			stuck:  &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "x"`},
			reason: "ImagePullBackOff", message: `the runner could not start: Back-off pulling image "x"`},
		{name: "stuck on its config (a missing Secret)",
			job:    job(),
			stuck:  &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: `secret "crm-db" not found`},
			reason: "CreateContainerConfigError", message: `the runner could not start: secret "crm-db" not found`},
		{name: "crashed with an exit code",
			job:    job(failedCond("BackoffLimitExceeded", "Job has reached the specified backoff limit")),
			pods:   []corev1.Pod{pod(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}, "")},
			reason: runcontract.ReasonRunnerCrashed, message: "the runner Pod sj-m-0000abcd-xyz exited with code 2 (Error) before reporting"},
		{name: "Job failed without Pods: the Job's reason",
			job:    job(failedCond("PodFailurePolicy", "Container runner failed")),
			reason: "PodFailurePolicy", message: "Container runner failed"},
		{name: "Job failed without Pods or a reason",
			job:    job(failedCond("", "")),
			reason: runcontract.ReasonRunnerCrashed, message: "the run's Job failed before the runner reported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rec := failedRun(tc.job, tc.pods, tc.stuck, now)
			g.Expect(rec.Reason).To(Equal(tc.reason))
			g.Expect(rec.Message).To(Equal(tc.message))
			g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseFailed))
			g.Expect(rec.RunID).To(Equal(tc.job.Name))
			g.Expect(rec.Trigger).To(Equal(runcontract.TriggerManual))
			g.Expect(rec.StartTime).To(Equal(&started))
			g.Expect(rec.CompletionTime.Time).To(Equal(now))
		})
	}
}
