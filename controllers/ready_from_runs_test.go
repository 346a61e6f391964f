package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestReadyFollowsTheRunnersRecord: when the runner writes lastRun (with its own field
// manager), the controller reconciles and Ready follows the run's phase; the runner's
// fields survive the controller's status writes.
func TestReadyFollowsTheRunnersRecord(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "runs")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	waitReady := func(status metav1.ConditionStatus, reason string) {
		g.Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
			ready := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(status))
			g.Expect(ready.Reason).To(Equal(reason))
		}, timeout, interval).Should(Succeed())
	}
	waitReady(metav1.ConditionTrue, syncv1.ReasonSucceeded)

	for _, tc := range []struct {
		phase  syncv1.RunPhase
		status metav1.ConditionStatus
		reason string
	}{
		{syncv1.RunPhaseFailed, metav1.ConditionFalse, syncv1.ReasonRunFailed},
		{syncv1.RunPhasePartiallySucceeded, metav1.ConditionTrue, syncv1.ReasonPartiallyFailed},
		{syncv1.RunPhaseSucceeded, metav1.ConditionTrue, syncv1.ReasonSucceeded},
	} {
		runnerApply(g, sj, syncv1.SyncJobStatus{
			Cursor:  &syncv1.Cursor{UpdatedAt: "2026-06-30T23:55:00.123456Z", ID: "inv_10492"},
			LastRun: &syncv1.RunRecord{RunID: "run-" + string(tc.phase), Phase: tc.phase, Reason: "SinkError", Read: 10, Upserted: 9, Failed: 1},
		})
		waitReady(tc.status, tc.reason)
		g.Expect(sj.Status.Cursor.ID).To(Equal("inv_10492"), "the runner's cursor was lost")
		g.Expect(sj.Status.LastRun.RunID).To(Equal("run-" + string(tc.phase)))
	}
}

// runnerApply writes runner-owned status fields the way the runner does.
func runnerApply(g Gomega, sj *syncv1.SyncJob, st syncv1.SyncJobStatus) {
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	g.Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetAPIVersion(syncv1.GroupVersion.String())
	u.SetKind("SyncJob")
	u.SetNamespace(sj.Namespace)
	u.SetName(sj.Name)
	g.Expect(k8sClient.Status().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner("checkpointed-runner"), client.ForceOwnership)).To(Succeed())
}
