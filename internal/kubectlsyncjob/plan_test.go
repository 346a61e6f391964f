package kubectlsyncjob

import (
	"bytes"
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestPlanRequestAndWait: `plan` sets plan-requested-at with a fresh token; --wait ends
// only when status.preflight names the token's Job with a final result: Passed → exit 0,
// Failed → exit 1, both printing the runner's message; an earlier preflight's result (another
// Job) is not taken for this one's.
func TestPlanRequestAndWait(t *testing.T) {
	g := NewWithT(t)
	sj := testSyncJob()
	c := fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(sj).WithStatusSubresource(sj).Build()
	var out bytes.Buffer
	p := &Plugin{Client: c, Namespace: sj.Namespace, Out: &out, Err: &out, Poll: time.Millisecond,
		Now: func() time.Time { return time.Date(2026, 7, 1, 9, 0, 0, 1, time.UTC) }}
	ctx := context.Background()
	token, err := p.Request(ctx, sj.Name, Request{Kind: KindPlan})
	g.Expect(err).NotTo(HaveOccurred())
	got := &syncv1.SyncJob{}
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(sj), got)).To(Succeed())
	g.Expect(got.Annotations).To(HaveKeyWithValue(syncv1.PlanRequestedAnnotation, token))

	jobName := runcontract.RequestedJobName(sj.Name, runcontract.KindPlan, token)
	for _, tc := range []struct {
		result, message string
		code            int
	}{
		{"Passed", "source billing.invoices and sink crm_invoices ready; 1 page mapped", ExitOK},
		{"Failed", `secret "crm-db" not found`, ExitFailed},
	} {
		out.Reset()
		// First an older preflight (generation's Job) with a final result, then ours.
		got.Status.LastHandledPlanRequest = token
		got.Status.Preflight = &syncv1.PreflightStatus{Generation: 1, Job: sj.Name + "-pf-1", Result: "Passed"}
		g.Expect(c.Status().Update(ctx, got)).To(Succeed())
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		code, err := p.WaitPlan(wctx, sj.Name, token)
		cancel()
		g.Expect(err).To(HaveOccurred(), "another Job's preflight is not this request's")
		g.Expect(code).To(Equal(ExitFailed))

		got.Status.Preflight = &syncv1.PreflightStatus{Generation: 1, Job: jobName, Result: tc.result, Message: tc.message}
		g.Expect(c.Status().Update(ctx, got)).To(Succeed())
		out.Reset()
		code, err = p.WaitPlan(ctx, sj.Name, token)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(tc.code))
		g.Expect(out.String()).To(ContainSubstring(tc.message))
	}
}

// TestForget: forget refuses while the SyncJob exists (its checkpoint is in use) and
// deletes nothing; once it is gone, every ConfigMap labelled for it (the live checkpoint and
// an archived one) is deleted, and nothing else.
func TestForget(t *testing.T) {
	g := NewWithT(t)
	sj := testSyncJob()
	cm := func(name, job string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: sj.Namespace, Name: name,
			Labels: map[string]string{runcontract.LabelJob: job}}}
	}
	c := fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(sj,
		cm(runcontract.CheckpointConfigMapName(sj.Name), sj.Name),
		cm(sj.Name+"-checkpoint-archived-0b5e9a5c", sj.Name),
		cm("other-checkpoint", "other")).Build()
	var out bytes.Buffer
	p := &Plugin{Client: c, Namespace: sj.Namespace, Out: &out, Err: &out}
	ctx := context.Background()
	code, err := p.Forget(ctx, sj.Name)
	g.Expect(code).To(Equal(ExitFailed))
	g.Expect(err).To(MatchError(ContainSubstring(syncv1.DeleteCheckpointOnDeleteAnnotation)))
	var cms corev1.ConfigMapList
	g.Expect(c.List(ctx, &cms)).To(Succeed())
	g.Expect(cms.Items).To(HaveLen(3))

	g.Expect(c.Delete(ctx, sj)).To(Succeed())
	code, err = p.Forget(ctx, sj.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(ExitOK))
	g.Expect(c.List(ctx, &cms)).To(Succeed())
	g.Expect(cms.Items).To(HaveLen(1))
	g.Expect(cms.Items[0].Name).To(Equal("other-checkpoint"))
	g.Expect(out.String()).To(ContainSubstring("deleted checkpoint ConfigMap billing/invoices-checkpoint"))

	out.Reset()
	code, err = p.Forget(ctx, sj.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(ExitOK))
	g.Expect(out.String()).To(ContainSubstring("nothing to forget"))
}
