package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// summarize derives the controller's conditions from what the steps learned (st) and
// how the reconcile ended (recErr): the only place where Ready, Reconciling and Stalled
// are decided (by readiness). It returns when Ready will change by itself (the SyncJob
// turns stale), zero if never.
func (r *SyncJobReconciler) summarize(sj *syncv1.SyncJob, st *reconcileState, recErr error) time.Duration {
	v := readiness(readinessInput{
		invalidSpec: st.invalidSpec,
		refused:     st.refused,
		err:         recErr,
		pending:     st.pending,
		lastRun:     sj.Status.LastRun,
		lastSuccess: sj.Status.LastSuccessfulRunTime,
		freshness:   staleness(sj, r.Clock),
		name:        sj.Name,
		namespace:   sj.Namespace,
		preflight:   st.status.Preflight,
	})
	for _, tc := range []struct {
		typ string
		c   *condition
	}{
		{syncv1.ConditionReconciling, v.reconciling},
		{syncv1.ConditionStalled, v.stalled},
		{syncv1.ConditionReady, &v.ready},
		{syncv1.ConditionDrifted, v.drifted},
	} {
		typ, c := tc.typ, tc.c
		if c == nil && typ == syncv1.ConditionDrifted {
			continue // nothing learned about drift: leave the condition as it is
		}
		if c == nil {
			meta.RemoveStatusCondition(&st.status.Conditions, typ)
			continue
		}
		setCondition(&st.status, sj, typ, c.status, c.reason, c.message)
	}
	if c := v.preflight; c != nil {
		setCondition(&st.status, sj, syncv1.ConditionPreflight, c.status, c.reason, c.message)
	}
	switch c := v.mappingChanged; {
	case c != nil:
		setCondition(&st.status, sj, syncv1.ConditionMappingChanged, c.status, c.reason, c.message)
	case !v.keepMappingChanged:
		meta.RemoveStatusCondition(&st.status.Conditions, syncv1.ConditionMappingChanged)
	}
	return v.requeueAfter
}

// controllerStatus copies the fields of sj's status that the controller owns.
func controllerStatus(sj *syncv1.SyncJob) syncv1.SyncJobStatus {
	cur := sj.Status
	return syncv1.SyncJobStatus{
		ObservedGeneration:          sj.Generation,
		Conditions:                  append([]metav1.Condition(nil), cur.Conditions...),
		CronJobName:                 cur.CronJobName,
		CheckpointConfigMap:         cur.CheckpointConfigMap,
		CheckpointArchived:          cur.CheckpointArchived,
		LastHandledRunRequest:       cur.LastHandledRunRequest,
		LastHandledResetRequest:     cur.LastHandledResetRequest,
		LastHandledBackfillRequest:  cur.LastHandledBackfillRequest,
		LastHandledReconcileRequest: cur.LastHandledReconcileRequest,
		LastHandledPlanRequest:      cur.LastHandledPlanRequest,
		Preflight:                   cur.Preflight.DeepCopy(),
		NextScheduledTime:           cur.NextScheduledTime,
		LastFinishedRunRequest:      cur.LastFinishedRunRequest,
		ActiveRun:                   cur.ActiveRun.DeepCopy(),
	}
}

// setCondition sets a condition with the SyncJob's generation, keeping the transition
// time when the status did not change.
func setCondition(st *syncv1.SyncJobStatus, sj *syncv1.SyncJob, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		ObservedGeneration: sj.Generation,
	})
}

// emitEvents records an Event when the Ready condition changes, and a Warning
// DriftDetected Event when the Drifted condition turns True; never otherwise. When both
// happen at once for the same drift, the Drifted Event (which names keys and fields)
// stands for both.
func (r *SyncJobReconciler) emitEvents(sj *syncv1.SyncJob, st syncv1.SyncJobStatus) {
	key := client.ObjectKeyFromObject(sj)
	drifted := driftStarted(sj.Status.Conditions, st.Conditions)
	if drifted != nil && r.announced.first(key, sj.UID, *drifted) {
		r.event(sj, corev1.EventTypeWarning, drifted.Reason, drifted.Message)
	}
	before := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
	after := meta.FindStatusCondition(st.Conditions, syncv1.ConditionReady)
	if after == nil {
		return
	}
	if drifted != nil && after.Reason == syncv1.ReasonDriftDetected {
		return
	}
	if before != nil && before.Status == after.Status && before.Reason == after.Reason {
		return
	}
	if !r.announced.first(key, sj.UID, *after) {
		return // this reconcile's cache did not show yet the status that announced it
	}
	if toldByRun(sj.Status.LastRun, before, after) {
		return
	}
	typ := corev1.EventTypeNormal
	if after.Status != metav1.ConditionTrue {
		typ = corev1.EventTypeWarning
	}
	r.event(sj, typ, after.Reason, after.Message)
}

// runOutcomeReasons are the Ready reasons decided by the last run's outcome.
var runOutcomeReasons = map[string]bool{
	syncv1.ReasonSucceeded: true, syncv1.ReasonRunFailed: true, syncv1.ReasonPartiallyFailed: true,
}

// toldByRun reports whether a change of Ready from before to after is the outcome of the
// last run, whose own Event (the runner's RunSucceeded/RunPartiallySucceeded/RunFailed, or
// the controller's RunFailed for a runner that died) already tells it: one Event per run
// outcome. That is so when the previous Ready was a run's outcome too, or when the run
// finished after the previous Ready was set (a failed preflight, staleness: the run is the
// newer news). A change from another reason set after the run (a fixed spec) still gets
// its Event.
func toldByRun(last *syncv1.RunRecord, before, after *metav1.Condition) bool {
	if last == nil || !runOutcomeReasons[after.Reason] || !strings.Contains(after.Message, "run "+last.RunID) {
		return false
	}
	if before == nil || runOutcomeReasons[before.Reason] {
		return true
	}
	return last.CompletionTime != nil && !last.CompletionTime.Before(&before.LastTransitionTime)
}

// driftStarted returns the Drifted condition of after when it is True and was not True
// in before; nil otherwise.
func driftStarted(before, after []metav1.Condition) *metav1.Condition {
	a := meta.FindStatusCondition(after, syncv1.ConditionDrifted)
	if a == nil || a.Status != metav1.ConditionTrue {
		return nil
	}
	if b := meta.FindStatusCondition(before, syncv1.ConditionDrifted); b != nil && b.Status == metav1.ConditionTrue {
		return nil
	}
	return a
}

// patchStatus applies the controller-owned status fields with server-side apply, when they
// differ from what is stored. The runner's fields are owned by the runner and left alone.
// A SyncJob deleted meanwhile is no error: it has no status left to keep.
func (r *SyncJobReconciler) patchStatus(ctx context.Context, sj *syncv1.SyncJob, st syncv1.SyncJobStatus) error {
	if equalControllerStatus(controllerStatus(sj), st) && sj.Status.ObservedGeneration == sj.Generation {
		return nil
	}
	ac, err := statusApplyConfiguration(sj, st)
	if err != nil {
		return err
	}
	err = r.Status().Apply(ctx, ac, client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership)
	if apierrors.IsNotFound(err) {
		// Deleted while this reconcile ran (the cache still held it): no status to keep.
		log.FromContext(ctx).V(1).Info("SyncJob deleted before its status was applied")
		return nil
	}
	if err != nil {
		return fmt.Errorf("apply status of SyncJob %s/%s: %w", sj.Namespace, sj.Name, err)
	}
	log.FromContext(ctx).V(1).Info("status applied", "generation", sj.Generation)
	return nil
}

// equalControllerStatus reports whether two controller-owned statuses are the same,
// conditions' transition times included.
func equalControllerStatus(a, b syncv1.SyncJobStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// statusApplyConfiguration renders st as an apply configuration for the status
// subresource that holds only the controller-owned fields.
func statusApplyConfiguration(sj *syncv1.SyncJob, st syncv1.SyncJobStatus) (runtime.ApplyConfiguration, error) {
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		return nil, fmt.Errorf("render status of SyncJob %s/%s: %w", sj.Namespace, sj.Name, err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetAPIVersion(syncv1.GroupVersion.String())
	u.SetKind("SyncJob")
	u.SetNamespace(sj.Namespace)
	u.SetName(sj.Name)
	return client.ApplyConfigurationFromUnstructured(u), nil
}

// syncJobChanged passes SyncJob updates that need a reconcile: a new generation, changed
// annotations (operator requests), or a change to the status fields the runner owns.
// The controller's own status writes change none of these, so they never loop back.
type syncJobChanged struct{ predicate.Funcs }

// Update implements predicate.Predicate.
func (syncJobChanged) Update(e event.UpdateEvent) bool {
	oldSJ, ok1 := e.ObjectOld.(*syncv1.SyncJob)
	newSJ, ok2 := e.ObjectNew.(*syncv1.SyncJob)
	if !ok1 || !ok2 {
		return true
	}
	if oldSJ.Generation != newSJ.Generation {
		return true
	}
	if !equality.Semantic.DeepEqual(oldSJ.Annotations, newSJ.Annotations) {
		return true
	}
	return !equality.Semantic.DeepEqual(runnerStatus(oldSJ.Status), runnerStatus(newSJ.Status))
}

// runnerStatus keeps the runner-owned status fields.
func runnerStatus(s syncv1.SyncJobStatus) syncv1.SyncJobStatus {
	return syncv1.SyncJobStatus{
		Cursor:                s.Cursor,
		LastRun:               s.LastRun,
		LastSuccessfulRunTime: s.LastSuccessfulRunTime,
	}
}
