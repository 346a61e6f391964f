package kubectlsyncjob

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestStatusShowsTheActiveRun: `status` answers "running now" and "next run" from the
// controller's status.activeRun and status.nextScheduledTime as stored.
func TestStatusShowsTheActiveRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newCluster(t)
	sj := c.get(g)
	now := time.Date(2031, 7, 1, 9, 0, 0, 0, time.UTC)
	started := metav1.NewTime(now.Add(-90 * time.Second))
	next := metav1.NewTime(now.Add(17 * time.Hour))
	sj.Status.ActiveRun = &syncv1.ActiveRun{Name: "invoices-m-1a2b3c4d", Trigger: runcontract.TriggerManual, StartTime: &started,
		PodPhase: "Pending", PendingReason: "Unschedulable: 0/1 nodes are available: insufficient memory"}
	sj.Status.NextScheduledTime = &next
	g.Expect(c.admin.Status().Update(ctx, sj)).To(Succeed())

	var out, errOut bytes.Buffer
	p, err := NewPlugin(kube.Config, sj.Namespace, &out, &errOut)
	g.Expect(err).NotTo(HaveOccurred())
	p.Now = func() time.Time { return now }
	g.Expect(p.Status(ctx, sj.Name)).To(Succeed())
	lines := strings.Split(out.String(), "\n")
	g.Expect(lines).To(ContainElement("  running now: invoices-m-1a2b3c4d (Manual), started 1m30s ago, Pod Pending: Unschedulable: 0/1 nodes are available: insufficient memory"), out.String())
	g.Expect(lines).To(ContainElement(`  next scheduled run 2031-07-02T02:00:00Z (in 17h, schedule "0 2 * * *")`), out.String())
	g.Expect(lines).To(ContainElement("  suggested: a run is under way; follow it"), out.String())
}

// TestStatusActiveJobMadeByHand: without status.activeRun (an older controller, or before
// it caught up) the active run is read from the SyncJob's unfinished Job, and a Job made
// with `kubectl create job --from=cronjob/…` is Manual, as the controller says.
func TestStatusActiveJobMadeByHand(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newCluster(t)
	sj := c.get(g)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: sj.Namespace, Labels: map[string]string{runcontract.LabelJob: sj.Name},
			Annotations: map[string]string{runcontract.AnnotationInstantiate: runcontract.InstantiateManual}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "runner", Image: "x", Env: []corev1.EnvVar{{Name: runcontract.EnvTrigger, Value: runcontract.TriggerScheduled}}}}}}},
	}
	g.Expect(c.admin.Create(ctx, job)).To(Succeed())

	code, out, errOut := c.plugin("status", sj.Name, "-n", sj.Namespace)
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring("  running now: by-hand (Manual)"))
}
