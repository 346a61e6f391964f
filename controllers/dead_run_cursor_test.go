package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestADeadRunsCursorIsTheCheckpoints: a run killed after it saved pages in the
// checkpoint, but before it published its progress, is recorded by the controller with
// status.cursor set to the stored checkpoint's cursor, not left where the last report put
// it: how far the data got is what the checkpoint says.
func TestADeadRunsCursorIsTheCheckpoints(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "killed")
	g.Expect(sj.Status.Cursor).To(BeNil(), "no run has published a cursor")

	// The runner saves its checkpoint as it commits pages (the controller created the
	// ConfigMap empty).
	at := cursor.Cursor{UpdatedAt: time.Date(2026, 3, 1, 0, 0, 5, 123456000, time.UTC), ID: "5000"}
	data, err := runcontract.EncodeCheckpoint(sj.Name, runcontract.Checkpoint{Cursor: &at, SafetyGap: "5m"})
	g.Expect(err).NotTo(HaveOccurred())
	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: desired.CheckpointName(sj)}, cm)).To(Succeed())
		cm.Data = map[string]string{runcontract.CheckpointKey: string(data)}
		g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())
	}, timeout, interval).Should(Succeed())

	job := requestRun(g, sj, "go")
	finishJob(g, &job, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}, corev1.PodFailed)

	cur := waitLastRun(g, sj, runcontract.ReasonOOMKilled)
	g.Expect(cur.Status.LastRun.CountsUnknown).To(BeTrue())
	g.Expect(cur.Status.Cursor).To(Equal(&syncv1.Cursor{UpdatedAt: at.Format(), ID: "5000"}), "status.cursor is the stored checkpoint's")
	g.Expect(cur.Status.History).To(HaveLen(1))
	g.Expect(cur.Status.History[0].Summary).To(ContainSubstring("5000"), "the history line names the stored cursor")
}
