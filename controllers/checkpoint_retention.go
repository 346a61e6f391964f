package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// Reasons of the Events about a checkpoint found under the SyncJob's name.
const (
	// ReasonCheckpointAdopted: a SyncJob created again under a deleted one's name took
	// over its checkpoint (same source and sink) and resumes from it.
	ReasonCheckpointAdopted = "CheckpointAdopted"
	// ReasonCheckpointIdentityChanged: the checkpoint found was made for another source or
	// sink; it was kept aside (status.checkpointArchived) and the SyncJob starts fresh.
	ReasonCheckpointIdentityChanged = "CheckpointIdentityChanged"
)

// annotationCheckpointArchivedAs, on a checkpoint ConfigMap emptied for a SyncJob whose
// source or sink changed, names the archived copy of what it held: the source of
// status.checkpointArchived.
const annotationCheckpointArchivedAs = "sync.checkpointed.io/checkpoint-archived-as"

// ensureCheckpoint makes sure the SyncJob has its checkpoint ConfigMap. The ConfigMap
// outlives the SyncJob (no owner reference unless DeleteCheckpointOnDeleteAnnotation asks),
// so a SyncJob may find one left by a deleted SyncJob of the same name:
//   - made for the same source and sink (desired.CheckpointIdentity), or by hand with no
//     identity: adopted as it is (Event CheckpointAdopted) — the next run resumes from it;
//   - made for another source or sink: copied aside (desired.ArchivedCheckpoint, named in
//     status.checkpointArchived), then emptied for this SyncJob (Warning Event
//     CheckpointIdentityChanged); never merged;
//   - still owned by a deleted SyncJob (it asked for its checkpoint to go with it): the
//     reconcile waits for the garbage collector.
//
// This runs before the CronJob is applied, so no run of this SyncJob has read the
// checkpoint before the decision.
func (r *SyncJobReconciler) ensureCheckpoint(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState) error {
	want := desired.CheckpointConfigMap(sj)
	cur := &corev1.ConfigMap{}
	k := recentKey{"ConfigMap", client.ObjectKeyFromObject(want)}
	err := r.Get(ctx, k.key, cur)
	if apierrors.IsNotFound(err) {
		if rw, ok := r.recent.lookup(k, r.Clock.Now()); ok && rw.digest == string(sj.UID) {
			st.recentUnseen = true // created a moment ago for this SyncJob; the cache does not show it yet
			return nil
		}
		if err := r.Create(ctx, want, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create checkpoint ConfigMap %s: %w", want.Name, err)
		}
		r.recent.record(k, string(sj.UID), r.Clock.Now())
		return nil
	}
	if err != nil {
		return fmt.Errorf("get checkpoint ConfigMap %s: %w", want.Name, err)
	}
	r.recent.forget(k)
	if checkpointIsOurs(cur, sj) {
		// status.checkpointArchived is rebuilt from the ConfigMap each time, so an archive
		// made by a reconcile whose status write was lost is still named.
		if a := cur.Annotations[annotationCheckpointArchivedAs]; a != "" {
			st.status.CheckpointArchived = a
		}
		return nil // kept in line by reconcileCheckpointRetention
	}
	if !cur.DeletionTimestamp.IsZero() || ownedByOtherSyncJob(cur, sj) {
		return fmt.Errorf("checkpoint ConfigMap %s belongs to a deleted SyncJob that asked for it to be deleted (%s); waiting for the garbage collector",
			cur.Name, syncv1.DeleteCheckpointOnDeleteAnnotation)
	}

	identity := desired.CheckpointIdentity(sj)
	old, known := cur.Annotations[desired.AnnotationCheckpointIdentity]
	if !known || old == identity {
		setCheckpointMeta(cur, sj)
		if err := r.Update(ctx, cur, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
			return fmt.Errorf("adopt checkpoint ConfigMap %s: %w", cur.Name, err)
		}
		log.FromContext(ctx).Info("adopted checkpoint", "configMap", cur.Name, "identity", identity)
		r.Events.Eventf(sj, nil, corev1.EventTypeNormal, ReasonCheckpointAdopted, "Reconcile",
			"adopted checkpoint ConfigMap %s left by a deleted SyncJob of the same name (%s): runs resume from it", cur.Name, identity)
		return nil
	}

	archive := desired.ArchivedCheckpoint(sj, cur)
	if err := r.Create(ctx, archive, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("archive checkpoint ConfigMap %s as %s: %w", cur.Name, archive.Name, err)
	}
	cur.Data, cur.BinaryData = nil, nil
	setCheckpointMeta(cur, sj)
	cur.Annotations[annotationCheckpointArchivedAs] = archive.Name
	if err := r.Update(ctx, cur, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
		return fmt.Errorf("empty checkpoint ConfigMap %s after archiving it as %s: %w", cur.Name, archive.Name, err)
	}
	st.status.CheckpointArchived = archive.Name
	log.FromContext(ctx).Info("checkpoint identity changed: archived and started fresh", "configMap", cur.Name,
		"archive", archive.Name, "was", old, "now", identity)
	r.Events.Eventf(sj, nil, corev1.EventTypeWarning, ReasonCheckpointIdentityChanged, "Reconcile",
		"checkpoint ConfigMap %s was made for %s, this SyncJob reads and writes %s: kept it as ConfigMap %s and starting from an empty checkpoint",
		cur.Name, old, identity, archive.Name)
	return nil
}

// reconcileCheckpointRetention keeps the checkpoint ConfigMap's metadata in line with the
// SyncJob: its UID and identity annotations (an identity changed in place follows the
// spec), and an owner reference exactly when DeleteCheckpointOnDeleteAnnotation is "true".
// It writes only while no run is active, so that it never makes a runner's
// compare-and-swap of the checkpoint fail; the end of the run triggers another reconcile.
func (r *SyncJobReconciler) reconcileCheckpointRetention(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	if st.runs.active != nil {
		return stepResult{}, nil
	}
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: desired.CheckpointName(sj)}, cm); err != nil {
		return stepResult{}, client.IgnoreNotFound(err)
	}
	if !checkpointIsOurs(cm, sj) || checkpointMetaInLine(cm, sj) {
		return stepResult{}, nil
	}
	setCheckpointMeta(cm, sj)
	if err := r.Update(ctx, cm, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
		if apierrors.IsConflict(err) {
			return stepResult{requeueAfter: retentionRetry}, nil // a runner wrote it: look again
		}
		return stepResult{}, fmt.Errorf("update checkpoint ConfigMap %s metadata: %w", cm.Name, err)
	}
	return stepResult{}, nil
}

// retentionRetry is when the checkpoint's metadata is tried again after a runner's write
// got in between.
const retentionRetry = 5 * time.Second

// checkpointIsOurs reports whether cm is the checkpoint of this SyncJob (not of a deleted
// one of the same name): its UID annotation, or, for a ConfigMap made before the
// annotation existed, its controller owner reference.
func checkpointIsOurs(cm *corev1.ConfigMap, sj *syncv1.SyncJob) bool {
	if uid, ok := cm.Annotations[desired.AnnotationCheckpointOwnerUID]; ok {
		return uid == string(sj.UID)
	}
	ref := metav1.GetControllerOf(cm)
	return ref != nil && ref.UID == sj.UID
}

// ownedByOtherSyncJob reports whether cm has an owner reference to a SyncJob that is not sj.
func ownedByOtherSyncJob(cm *corev1.ConfigMap, sj *syncv1.SyncJob) bool {
	for _, ref := range cm.OwnerReferences {
		if ref.Kind == "SyncJob" && ref.UID != sj.UID {
			return true
		}
	}
	return false
}

// checkpointMetaInLine reports whether cm's annotations and owner references are what
// setCheckpointMeta would make them.
func checkpointMetaInLine(cm *corev1.ConfigMap, sj *syncv1.SyncJob) bool {
	if cm.Annotations[desired.AnnotationCheckpointOwnerUID] != string(sj.UID) ||
		cm.Annotations[desired.AnnotationCheckpointIdentity] != desired.CheckpointIdentity(sj) {
		return false
	}
	want := desired.CheckpointOwnerReferences(sj)
	if len(cm.OwnerReferences) != len(want) {
		return false
	}
	for i := range want {
		if cm.OwnerReferences[i].UID != want[i].UID {
			return false
		}
	}
	return true
}

// setCheckpointMeta gives cm this SyncJob's labels, UID and identity annotations and owner
// references, keeping its data and any other annotation.
func setCheckpointMeta(cm *corev1.ConfigMap, sj *syncv1.SyncJob) {
	want := desired.CheckpointConfigMap(sj)
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		cm.Labels[k] = v
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	for k, v := range want.Annotations {
		cm.Annotations[k] = v
	}
	cm.OwnerReferences = want.OwnerReferences
}
