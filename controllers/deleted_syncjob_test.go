package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestStatusOfADeletedSyncJobIsNoError: a SyncJob deleted while its reconcile ran (the
// cache still held it) has no status left to record; applying it is no reconcile error
// (which would be logged with a stack trace and retried with backoff), just nothing to do.
func TestStatusOfADeletedSyncJobIsNoError(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := sampleSyncJob(newNamespace(t), "gone")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	g.Expect(k8sClient.Delete(ctx, sj)).To(Succeed())

	r := &SyncJobReconciler{Client: k8sClient, Clock: fakeClock}
	st := controllerStatus(sj)
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: syncv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "as read before the delete",
	})
	g.Expect(r.patchStatus(ctx, sj, st)).To(Succeed())
}
