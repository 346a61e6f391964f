package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// TestRecreateResumesAtOldCursor is a GitOps replace (or a prune and re-sync): after a run,
// the SyncJob is deleted and applied again. The garbage collector removes what the SyncJob
// owned, but its checkpoint ConfigMap stays (findable by label); the SyncJob applied again
// adopts it, and its next run starts at the old cursor minus the safety gap instead of
// re-reading the whole table.
func TestRecreateResumesAtOldCursor(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	e := newEnv(t)
	const name = "invoices"
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	last := t0.Add(299 * time.Second)
	insertInvoices(t, e.src, 1, 300, t0) // invoice i at t0 + (i-1)s
	sj := e.syncJob(name, nil)           // suspended: only requested runs; safety gap 1m

	job := e.requestRun(name, "before")
	run := e.waitRunOf(name, job, runTimeout).Status.LastRun
	g.Expect(run.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", run.Reason, run.Message)
	g.Expect(run.Read).To(BeEquivalentTo(300))
	expectCursor(g, wire(e.checkpointState(g, name).Cursor), last, "300")
	cmKey := client.ObjectKey{Namespace: e.ns, Name: name + "-checkpoint"}
	before := &corev1.ConfigMap{}
	g.Expect(kube.Get(ctx, cmKey, before)).To(Succeed())
	e.waitLeaseFree(name, time.Minute)

	// Delete as kubectl and Argo CD do, and wait for the garbage collector to remove what
	// the SyncJob owned (the runner's ServiceAccount and the run Lease).
	g.Expect(kube.Delete(ctx, sj, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(kube.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, &syncv1.SyncJob{})) &&
			apierrors.IsNotFound(kube.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name + "-runner"}, &corev1.ServiceAccount{})) &&
			apierrors.IsNotFound(kube.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name + "-run"}, &coordinationv1.Lease{}))
	}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(BeTrue(), "the garbage collector did not remove the SyncJob's objects")

	// The checkpoint is still there, unchanged, and findable by the SyncJob's label.
	cms := &corev1.ConfigMapList{}
	g.Expect(kube.List(ctx, cms, client.InNamespace(e.ns), client.MatchingLabels{"sync.checkpointed.io/syncjob": name})).To(Succeed())
	g.Expect(cms.Items).To(HaveLen(1))
	g.Expect(cms.Items[0].UID).To(Equal(before.UID))
	g.Expect(cms.Items[0].Data).To(Equal(before.Data))

	// New invoices after the cursor, then the same SyncJob applied again.
	insertInvoices(t, e.src, 301, 20, last.Add(time.Second))
	newLast := last.Add(20 * time.Second)
	again := e.syncJob(name, nil)
	g.Expect(again.UID).NotTo(Equal(sj.UID))
	g.Eventually(func(g Gomega) {
		evs := &eventsv1.EventList{}
		g.Expect(kube.List(ctx, evs, client.InNamespace(e.ns))).To(Succeed())
		adopted := 0
		for _, ev := range evs.Items {
			if ev.Reason == "CheckpointAdopted" && ev.Regarding.UID == again.UID {
				adopted++
			}
		}
		g.Expect(adopted).To(Equal(1))
	}).WithTimeout(time.Minute).Should(Succeed(), "no CheckpointAdopted Event")

	job = e.requestRun(name, "after")
	got := e.waitRunOf(name, job, runTimeout)
	run = got.Status.LastRun
	g.Expect(run.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", run.Reason, run.Message)
	expectCursor(g, run.CursorStart, last.Add(-time.Minute), "")
	fromOld := synctest.Int(t, e.src, `SELECT count(*) FROM invoices WHERE updated_at >= $1`, last.Add(-time.Minute))
	g.Expect(run.Read).To(Equal(fromOld), "the run did not resume at the old cursor minus the safety gap")
	g.Expect(run.Read).To(BeNumerically("<", 320), "the run re-read the whole table")
	g.Expect(run.Upserted).To(BeEquivalentTo(20), "only the new invoices were written")
	expectCursor(g, wire(e.checkpointState(g, name).Cursor), newLast, "320")
	g.Expect(got.Status.CheckpointArchived).To(BeEmpty())
	expectSinkEqualsSource(t, e)
}
