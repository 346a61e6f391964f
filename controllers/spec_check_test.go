package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestSpecMistakesStallAtOnce: mistakes admission accepts but the first run would fail on
// (an expression that does not compile, an impossible startAt, a lookup URL that is not
// absolute) make the SyncJob Stalled and Ready=False with reason InvalidSpec within
// seconds, the field named; no CronJob and no preflight Job is made. Fixing it recovers.
func TestSpecMistakesStallAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*syncv1.SyncJobSpec)
		want   []string
	}{
		{"key expr", func(s *syncv1.SyncJobSpec) { s.Key.Expr = `"inv-" + ` },
			[]string{"spec.key.expr", "does not compile"}},
		{"mapping expr", func(s *syncv1.SyncJobSpec) { s.Mapping[0].Expr, s.Mapping[0].From = `cents(record.total)`, "" },
			[]string{"spec.mapping[0].expr", "undeclared reference to 'cents'"}},
		{"startAt February 30", func(s *syncv1.SyncJobSpec) { s.Cursor.StartAt = "2026-02-30T00:00:00Z" },
			[]string{"spec.cursor.startAt", `"2026-02-30T00:00:00Z"`, "day out of range"}},
		{"lookup URL", func(s *syncv1.SyncJobSpec) {
			s.Mapping[0].Lookup = &syncv1.MappingLookup{URL: "/users?email={value}"}
		}, []string{"spec.mapping[0].lookup.url", "absolute http:// or https:// URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ns := newNamespace(t)
			sj := sampleSyncJob(ns, "mistake")
			good := *sj.Spec.DeepCopy()
			tc.mutate(&sj.Spec)
			g.Expect(k8sClient.Create(ctx, sj)).To(Succeed(), "admission accepts it")

			g.Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
				stalled := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled)
				g.Expect(stalled).NotTo(BeNil())
				g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(stalled.Reason).To(Equal(syncv1.ReasonInvalidSpec))
				for _, w := range tc.want {
					g.Expect(stalled.Message).To(ContainSubstring(w))
				}
				ready := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
				g.Expect(ready).NotTo(BeNil())
				g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(ready.Reason).To(Equal(syncv1.ReasonInvalidSpec))
			}, 5*time.Second, interval).Should(Succeed())
			g.Consistently(func(g Gomega) {
				g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "mistake"}, &batchv1.CronJob{}))).To(BeTrue())
				jobs := &batchv1.JobList{}
				g.Expect(k8sClient.List(ctx, jobs, client.InNamespace(ns))).To(Succeed())
				g.Expect(jobs.Items).To(BeEmpty())
			}, 2*time.Second, interval).Should(Succeed())

			updateSpec(g, sj, func(s *syncv1.SyncJobSpec) { *s = good })
			g.Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
				g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled)).To(BeNil())
				g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: runcontract.PreflightJobName("mistake", sj.Generation)}, &batchv1.Job{})).To(Succeed())
			}, timeout, interval).Should(Succeed())
		})
	}
}
