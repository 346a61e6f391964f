package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
)

// createWithCheckpoint creates sj, waits for its checkpoint ConfigMap and writes runner
// data (checkpoint and record log) into it, as a run would.
func createWithCheckpoint(t *testing.T, g *WithT, sj *syncv1.SyncJob) *corev1.ConfigMap {
	t.Helper()
	ctx := context.Background()
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: sj.Namespace, Name: sj.Name + "-checkpoint"}
	g.Eventually(func() error { return k8sClient.Get(ctx, key, cm) }, timeout, interval).Should(Succeed())
	cm.Data = map[string]string{
		"checkpoint.json": `{"job":"` + sj.Name + `","cursor":{"updatedAt":"2026-06-30T23:55:00.123456Z","id":"inv_10492"}}`,
		"record-log.json": `{"job":"` + sj.Name + `","runs":[]}`,
	}
	g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())
	return cm
}

// deleteAndWaitGone deletes sj as kubectl does and waits until the garbage collector removed
// its CronJob (so that everything owned is gone).
func deleteAndWaitGone(g *WithT, sj *syncv1.SyncJob) {
	ctx := context.Background()
	g.Expect(k8sClient.Delete(ctx, sj, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), &syncv1.SyncJob{}))
	}, timeout, interval).Should(BeTrue())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: sj.Name + "-runner"}, &corev1.ServiceAccount{}))
	}, 3*timeout, interval).Should(BeTrue(), "the garbage collector did not remove the runner's ServiceAccount")
}

// eventNotes lists the notes of sj's Events with reason (of any incarnation of the name).
func eventNotes(g Gomega, ns, reason string, uid types.UID) []string {
	evs := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), evs, client.InNamespace(ns))).To(Succeed())
	var notes []string
	for _, e := range evs.Items {
		if e.Reason == reason && e.Regarding.UID == uid {
			notes = append(notes, e.Note)
		}
	}
	return notes
}

// TestCheckpointSurvivesRecreation: deleting a SyncJob keeps its checkpoint ConfigMap with
// the runner's data (findable by label, owned by nothing); the same SyncJob applied again
// adopts it as it is, says so in an Event, and does not archive anything.
func TestCheckpointSurvivesRecreation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "again")
	before := createWithCheckpoint(t, g, sj)
	g.Expect(before.OwnerReferences).To(BeEmpty(), "the checkpoint must not be garbage-collected with the SyncJob")

	deleteAndWaitGone(g, sj)
	cms := &corev1.ConfigMapList{}
	g.Expect(k8sClient.List(ctx, cms, client.InNamespace(ns), client.MatchingLabels{"sync.checkpointed.io/syncjob": "again"})).To(Succeed())
	g.Expect(cms.Items).To(HaveLen(1), "the orphaned checkpoint is findable by label")
	g.Expect(cms.Items[0].Data["checkpoint.json"]).To(ContainSubstring("inv_10492"))

	again := sampleSyncJob(ns, "again")
	g.Expect(k8sClient.Create(ctx, again)).To(Succeed())
	g.Expect(again.UID).NotTo(Equal(sj.UID))
	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "again-checkpoint"}, cm)).To(Succeed())
		g.Expect(cm.Annotations).To(HaveKeyWithValue(desired.AnnotationCheckpointOwnerUID, string(again.UID)))
	}, timeout, interval).Should(Succeed())
	g.Expect(cm.UID).To(Equal(before.UID), "the same ConfigMap, not a new one")
	g.Expect(cm.Data).To(Equal(before.Data), "the runner's data is kept as it was")
	g.Eventually(func(g Gomega) {
		g.Expect(eventNotes(g, ns, ReasonCheckpointAdopted, again.UID)).To(ConsistOf(ContainSubstring("again-checkpoint")))
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(again), again)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(again.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
	}, timeout, interval).Should(Succeed())
	g.Expect(again.Status.CheckpointArchived).To(BeEmpty())
	g.Expect(eventNotes(g, ns, ReasonCheckpointIdentityChanged, again.UID)).To(BeEmpty())
}

// TestCheckpointIdentityChangedStartsFresh: a SyncJob created under a deleted one's name
// but reading another table does not adopt its checkpoint: the old one is kept aside
// (labelled, named in status), this SyncJob's ConfigMap is emptied, and a Warning Event
// says what changed.
func TestCheckpointIdentityChangedStartsFresh(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "moved")
	before := createWithCheckpoint(t, g, sj)
	deleteAndWaitGone(g, sj)

	moved := sampleSyncJob(ns, "moved")
	moved.Spec.Source.Postgres.Table = "invoices_v2"
	g.Expect(k8sClient.Create(ctx, moved)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(moved), moved)).To(Succeed())
		g.Expect(moved.Status.CheckpointArchived).To(Equal("moved-checkpoint-archived-" + string(sj.UID)[:8]))
	}, timeout, interval).Should(Succeed())

	cm := &corev1.ConfigMap{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "moved-checkpoint"}, cm)).To(Succeed())
	g.Expect(cm.Data).To(BeEmpty(), "the new SyncJob starts from an empty checkpoint")
	g.Expect(cm.Annotations).To(HaveKeyWithValue(desired.AnnotationCheckpointIdentity, desired.CheckpointIdentity(moved)))
	g.Expect(cm.Annotations).To(HaveKeyWithValue(desired.AnnotationCheckpointOwnerUID, string(moved.UID)))

	archived := &corev1.ConfigMap{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: moved.Status.CheckpointArchived}, archived)).To(Succeed())
	g.Expect(archived.Data).To(Equal(before.Data), "the old checkpoint is kept whole")
	g.Expect(archived.Labels).To(HaveKeyWithValue(desired.LabelCheckpointArchived, "true"))
	g.Expect(archived.Labels).To(HaveKeyWithValue("sync.checkpointed.io/syncjob", "moved"))
	g.Expect(archived.OwnerReferences).To(BeEmpty())

	g.Eventually(func(g Gomega) {
		notes := eventNotes(g, ns, ReasonCheckpointIdentityChanged, moved.UID)
		g.Expect(notes).To(HaveLen(1))
		g.Expect(notes[0]).To(ContainSubstring(":invoices;"))
		g.Expect(notes[0]).To(ContainSubstring(":invoices_v2;"))
		g.Expect(notes[0]).To(ContainSubstring(moved.Status.CheckpointArchived))
	}, timeout, interval).Should(Succeed())
	g.Expect(eventNotes(g, ns, ReasonCheckpointAdopted, moved.UID)).To(BeEmpty())
}

// TestDeleteCheckpointAnnotation: with delete-checkpoint-on-delete "true" the controller
// gives the checkpoint an owner reference, and deleting the SyncJob deletes it; removing
// the annotation takes the owner reference away again.
func TestDeleteCheckpointAnnotation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "drop")
	createWithCheckpoint(t, g, sj)
	key := client.ObjectKey{Namespace: ns, Name: "drop-checkpoint"}

	setAnnotation := func(v string) {
		g.Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj); err != nil {
				return err
			}
			if sj.Annotations == nil {
				sj.Annotations = map[string]string{}
			}
			if v == "" {
				delete(sj.Annotations, syncv1.DeleteCheckpointOnDeleteAnnotation)
			} else {
				sj.Annotations[syncv1.DeleteCheckpointOnDeleteAnnotation] = v
			}
			return k8sClient.Update(ctx, sj)
		}, timeout, interval).Should(Succeed())
	}
	ownerUIDs := func(g Gomega) []types.UID {
		cm := &corev1.ConfigMap{}
		g.Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
		var uids []types.UID
		for _, r := range cm.OwnerReferences {
			uids = append(uids, r.UID)
		}
		return uids
	}

	setAnnotation("true")
	g.Eventually(ownerUIDs, timeout, interval).Should(ConsistOf(sj.UID))
	setAnnotation("")
	g.Eventually(ownerUIDs, timeout, interval).Should(BeEmpty())
	setAnnotation("true")
	g.Eventually(ownerUIDs, timeout, interval).Should(ConsistOf(sj.UID))

	g.Expect(k8sClient.Delete(ctx, sj, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, key, &corev1.ConfigMap{}))
	}, 3*timeout, interval).Should(BeTrue(), "the checkpoint was asked to go with its SyncJob")
}

// TestCheckpointFromBeforeRetentionIsMigrated: a checkpoint made by an earlier version
// (owned by its SyncJob, no annotations) keeps its data, loses the owner reference and
// gets the UID and identity annotations, so that it outlives the SyncJob from then on.
func TestCheckpointFromBeforeRetentionIsMigrated(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "old")
	cm := createWithCheckpoint(t, g, sj)
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
	cm.Annotations = nil
	cm.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(sj, syncv1.GroupVersion.WithKind("SyncJob"))}
	g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())

	updateSpec(g, sj, func(s *syncv1.SyncJobSpec) { s.Schedule = "30 3 * * *" })
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.OwnerReferences).To(BeEmpty())
		g.Expect(cm.Annotations).To(HaveKeyWithValue(desired.AnnotationCheckpointOwnerUID, string(sj.UID)))
		g.Expect(cm.Annotations).To(HaveKeyWithValue(desired.AnnotationCheckpointIdentity, desired.CheckpointIdentity(sj)))
	}, timeout, interval).Should(Succeed())
	g.Expect(cm.Data["checkpoint.json"]).To(ContainSubstring("inv_10492"))
	g.Expect(eventNotes(g, ns, ReasonCheckpointAdopted, sj.UID)).To(BeEmpty(), "its own checkpoint is not adopted")
}
