package cli

import (
	"bytes"
	"context"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestInClusterTriggerOfItsJob: a run of the CronJob's template (trigger Scheduled in its
// environment) records the trigger of the Job it runs in, read with the runner's own Role:
// Manual for a Job made with `kubectl create job --from=cronjob/<name>` (annotated
// cronjob.kubernetes.io/instantiate: manual), Scheduled for one the CronJob made.
func TestInClusterTriggerOfItsJob(t *testing.T) {
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 20, "2026-06-30 12:00:00+00")
	c := setUpInCluster(t, e, 100)
	for _, tc := range []struct {
		job         string
		annotations map[string]string
		want        string
	}{
		{"by-hand", map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}, runcontract.TriggerManual},
		{"invoices-to-crm-29100000", map[string]string{"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-06-30T12:00:00Z"}, runcontract.TriggerScheduled},
	} {
		t.Run(tc.job, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			j := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Namespace: c.sj.Namespace, Name: tc.job, Annotations: tc.annotations},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "runner", Image: "example.com/runner:test"}},
				}}},
			}
			g.Expect(c.admin.Create(ctx, j)).To(Succeed())
			var out bytes.Buffer
			code, err := RunInCluster(ctx, logr.Discard(), c.runner, InCluster{Namespace: c.sj.Namespace, Name: c.sj.Name,
				Pod: tc.job + "-x7k2p", Job: tc.job, Trigger: runcontract.TriggerScheduled}, &out)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(runcontract.ExitOK), out.String())
			sj := c.get(g)
			g.Expect(sj.Status.LastRun).NotTo(BeNil())
			g.Expect(sj.Status.LastRun.RunID).To(Equal(tc.job + "-x7k2p"))
			g.Expect(sj.Status.LastRun.Trigger).To(Equal(tc.want))
		})
	}
}
