package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestInvalidScheduleOrZoneStalls: what admission cannot check is caught before the
// CronJob is touched: Stalled=True, Ready=False with reason InvalidSpec and a message that
// names the field, a Warning event, and no CronJob. Fixing the spec recovers.
func TestInvalidScheduleOrZoneStalls(t *testing.T) {
	for _, tc := range []struct {
		name, schedule, zone, want string
	}{
		{"schedule", "every night at two", "", `spec.schedule "every night at two" is not a valid cron schedule`},
		{"time zone", "0 2 * * *", "Mars/Olympus", `spec.timeZone "Mars/Olympus" is not a known IANA time zone`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ns := newNamespace(t)
			sj := sampleSyncJob(ns, "bad")
			sj.Spec.Schedule = tc.schedule
			sj.Spec.TimeZone = ptr.To(tc.zone)
			g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())

			g.Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
				stalled := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled)
				g.Expect(stalled).NotTo(BeNil())
				g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(stalled.Reason).To(Equal(syncv1.ReasonInvalidSpec))
				g.Expect(stalled.Message).To(ContainSubstring(tc.want))
				ready := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
				g.Expect(ready).NotTo(BeNil())
				g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(ready.Reason).To(Equal(syncv1.ReasonInvalidSpec))
				g.Expect(sj.Status.ObservedGeneration).To(Equal(sj.Generation))
			}, timeout, interval).Should(Succeed())

			g.Eventually(func(g Gomega) {
				evs := &eventsv1.EventList{}
				g.Expect(k8sClient.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
				var found bool
				for _, e := range evs.Items {
					if e.Regarding.Name == "bad" && e.Type == "Warning" && e.Reason == syncv1.ReasonInvalidSpec {
						g.Expect(e.Note).To(ContainSubstring(tc.want))
						found = true
					}
				}
				g.Expect(found).To(BeTrue(), "no Warning InvalidSpec event")
			}, timeout, interval).Should(Succeed())

			// No CronJob was made, and none appears later.
			g.Consistently(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bad"}, &batchv1.CronJob{}))
			}, 2*time.Second, interval).Should(BeTrue())

			// Fixing the spec recovers.
			updateSpec(g, sj, func(s *syncv1.SyncJobSpec) {
				s.Schedule = "0 2 * * *"
				s.TimeZone = ptr.To("UTC")
			})
			g.Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
				g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled)).To(BeNil())
				g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bad"}, &batchv1.CronJob{})).To(Succeed())
			}, timeout, interval).Should(Succeed())
		})
	}
}
