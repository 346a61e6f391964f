package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestSpecChangesReachTheCronJob: schedule, suspend and runner image changes follow, and
// an edit made to the CronJob behind the controller's back is put back.
func TestSpecChangesReachTheCronJob(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "follow")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	cjKey := client.ObjectKey{Namespace: ns, Name: "follow"}
	cronJob := func(g Gomega) *batchv1.CronJob {
		cj := &batchv1.CronJob{}
		g.Expect(k8sClient.Get(ctx, cjKey, cj)).To(Succeed())
		return cj
	}
	g.Eventually(func(g Gomega) { cronJob(g) }, timeout, interval).Should(Succeed())

	updateSpec(g, sj, func(s *syncv1.SyncJobSpec) {
		s.Schedule = "*/15 * * * *"
		s.Suspend = ptr.To(true)
		s.Runner.Image = "example.com/custom-runner:v2"
		s.TimeZone = nil
	})
	g.Eventually(func(g Gomega) {
		cj := cronJob(g)
		g.Expect(cj.Spec.Schedule).To(Equal("*/15 * * * *"))
		g.Expect(*cj.Spec.Suspend).To(BeTrue())
		g.Expect(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image).To(Equal("example.com/custom-runner:v2"))
		g.Expect(cj.Spec.TimeZone).To(BeNil())
	}, timeout, interval).Should(Succeed())

	// Someone edits the CronJob directly: the controller puts its fields back.
	cj := &batchv1.CronJob{}
	g.Expect(k8sClient.Get(ctx, cjKey, cj)).To(Succeed())
	cj.Spec.Schedule = "0 0 1 1 *"
	cj.Spec.Suspend = ptr.To(false)
	cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	g.Expect(k8sClient.Update(ctx, cj)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cj := cronJob(g)
		g.Expect(cj.Spec.Schedule).To(Equal("*/15 * * * *"))
		g.Expect(*cj.Spec.Suspend).To(BeTrue())
		g.Expect(cj.Spec.ConcurrencyPolicy).To(Equal(batchv1.ForbidConcurrent))
	}, timeout, interval).Should(Succeed())
}
