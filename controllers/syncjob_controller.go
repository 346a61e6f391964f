// Package controllers holds the SyncJob reconciler: it turns each SyncJob into a CronJob
// that runs the runner, with the runner's identity and checkpoint, and reports the
// SyncJob's health in kstatus conditions.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/schedule"
)

// SyncJobReconciler reconciles SyncJobs.
type SyncJobReconciler struct {
	client.Client
	// Events records Kubernetes Events on SyncJobs.
	Events events.EventRecorder
	// Clock decides time-based status (staleness); a fake in tests.
	Clock clock.PassiveClock
	// Options shape the owned objects (the default runner image).
	Options desired.Options
	// Clientset rewrites checkpoints for reset requests (through the run Lease).
	Clientset kubernetes.Interface
}

// +kubebuilder:rbac:groups=sync.checkpointed.io,resources=syncjobs,verbs=get;list;watch
// +kubebuilder:rbac:groups=sync.checkpointed.io,resources=syncjobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one SyncJob's owned objects in line with its spec and rebuilds the
// controller's part of its status. It never writes the spec, patches the status at most
// once, and only when something changed.
func (r *SyncJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sj := &syncv1.SyncJob{}
	if err := r.Get(ctx, req.NamespacedName, sj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sj.DeletionTimestamp.IsZero() {
		// Owner references let the garbage collector remove what the SyncJob owns.
		return ctrl.Result{}, nil
	}

	st := controllerStatus(sj)
	result, recErr := r.reconcile(ctx, sj, &st)
	if apierrors.HasStatusCause(recErr, corev1.NamespaceTerminatingCause) {
		// The namespace is going away with everything in it: nothing left to do.
		return ctrl.Result{}, nil
	}
	r.emitEvents(sj, &st)
	if err := r.patchStatus(ctx, sj, st); err != nil {
		return ctrl.Result{}, errors.Join(recErr, err)
	}
	return result, recErr
}

// reconcile runs the steps in order; a step that returns an error or stops (an invalid
// spec) ends the list. Each step records its outcome in st.
func (r *SyncJobReconciler) reconcile(ctx context.Context, sj *syncv1.SyncJob, st *syncv1.SyncJobStatus) (ctrl.Result, error) {
	steps := []func(context.Context, *syncv1.SyncJob, *syncv1.SyncJobStatus) (bool, error){
		r.validateSpec,
		r.reconcileRunnerIdentity,
		r.reconcileCheckpoint,
		r.reconcileCronJob,
	}
	fail := func(err error) (ctrl.Result, error) {
		setCondition(st, sj, syncv1.ConditionReconciling, metav1.ConditionTrue, syncv1.ReasonProgressing, err.Error())
		setCondition(st, sj, syncv1.ConditionReady, metav1.ConditionFalse, syncv1.ReasonProgressing, err.Error())
		return ctrl.Result{}, err
	}
	for _, step := range steps {
		proceed, err := step(ctx, sj, st)
		if err != nil {
			return fail(err)
		}
		if !proceed {
			return ctrl.Result{}, nil
		}
	}
	seen, err := r.observeRuns(ctx, sj)
	if err != nil {
		return fail(err)
	}
	requests, err := r.handleRequests(ctx, sj, st, seen)
	if err != nil {
		return fail(err)
	}
	return r.summarizeRuns(sj, st, requests), nil
}

// validateSpec catches what admission cannot: an unparseable schedule or unknown time zone.
// Such a SyncJob is Stalled with reason InvalidSpec, and no owned object is touched.
func (r *SyncJobReconciler) validateSpec(_ context.Context, sj *syncv1.SyncJob, st *syncv1.SyncJobStatus) (bool, error) {
	if _, err := parseSchedule(sj); err != nil {
		setCondition(st, sj, syncv1.ConditionStalled, metav1.ConditionTrue, syncv1.ReasonInvalidSpec, err.Error())
		setCondition(st, sj, syncv1.ConditionReady, metav1.ConditionFalse, syncv1.ReasonInvalidSpec, err.Error())
		meta.RemoveStatusCondition(&st.Conditions, syncv1.ConditionReconciling)
		return false, nil
	}
	meta.RemoveStatusCondition(&st.Conditions, syncv1.ConditionStalled)
	return true, nil
}

// reconcileRunnerIdentity applies the runner's ServiceAccount, its least-privilege Role
// and their RoleBinding.
func (r *SyncJobReconciler) reconcileRunnerIdentity(ctx context.Context, sj *syncv1.SyncJob, _ *syncv1.SyncJobStatus) (bool, error) {
	if err := r.Apply(ctx, desired.ServiceAccount(sj), client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply ServiceAccount %s: %w", desired.ServiceAccountName(sj), err)
	}
	if err := r.Apply(ctx, desired.Role(sj), client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply Role %s: %w", desired.ServiceAccountName(sj), err)
	}
	if err := r.Apply(ctx, desired.RoleBinding(sj), client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply RoleBinding %s: %w", desired.ServiceAccountName(sj), err)
	}
	return true, nil
}

// reconcileCheckpoint creates the checkpoint ConfigMap and the run Lease when they are
// missing. Existing ones are never written: they belong to the runner from then on.
func (r *SyncJobReconciler) reconcileCheckpoint(ctx context.Context, sj *syncv1.SyncJob, st *syncv1.SyncJobStatus) (bool, error) {
	cm := desired.CheckpointConfigMap(sj)
	if err := r.createIfMissing(ctx, cm); err != nil {
		return false, fmt.Errorf("create checkpoint ConfigMap %s: %w", cm.Name, err)
	}
	st.CheckpointConfigMap = cm.Name

	lease := &coordinationv1.Lease{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: desired.LeaseName(sj)}, lease); apierrors.IsNotFound(err) {
		if err := r.Apply(ctx, desired.Lease(sj), client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
			return false, fmt.Errorf("create run Lease %s: %w", desired.LeaseName(sj), err)
		}
	} else if err != nil {
		return false, fmt.Errorf("get run Lease %s: %w", desired.LeaseName(sj), err)
	}
	return true, nil
}

// createIfMissing creates obj unless an object of that name exists.
func (r *SyncJobReconciler) createIfMissing(ctx context.Context, obj client.Object) error {
	existing := obj.DeepCopyObject().(client.Object)
	err := r.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	if err := r.Create(ctx, obj, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// reconcileCronJob applies the CronJob. Server-side apply makes this a no-op when nothing
// changed, and puts back any field of ours that someone edited.
func (r *SyncJobReconciler) reconcileCronJob(ctx context.Context, sj *syncv1.SyncJob, st *syncv1.SyncJobStatus) (bool, error) {
	if err := r.Apply(ctx, desired.CronJob(sj, r.Options), client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply CronJob %s: %w", desired.CronJobName(sj), err)
	}
	st.CronJobName = desired.CronJobName(sj)
	return true, nil
}

// summarizeRuns sets Ready from the last run the runner recorded and from staleness,
// and Reconciling while an operator request waits. It asks to be called again when a
// request waits or when the SyncJob will turn stale.
func (r *SyncJobReconciler) summarizeRuns(sj *syncv1.SyncJob, st *syncv1.SyncJobStatus, req actionOutcome) ctrl.Result {
	var result ctrl.Result
	if req.pending != "" {
		setCondition(st, sj, syncv1.ConditionReconciling, metav1.ConditionTrue, ReasonRequestPending, req.pending)
		result.RequeueAfter = requestRetry
	} else {
		meta.RemoveStatusCondition(&st.Conditions, syncv1.ConditionReconciling)
	}
	status, reason, msg := readiness(sj.Status.LastRun)
	if status == metav1.ConditionTrue {
		if staleAt, ok := staleness(sj); ok {
			now := r.Clock.Now()
			if !now.Before(staleAt) {
				status, reason = metav1.ConditionFalse, syncv1.ReasonStale
				msg = staleMessage(sj, staleAt)
			} else if wait := staleAt.Sub(now); result.RequeueAfter == 0 || wait < result.RequeueAfter {
				result.RequeueAfter = wait
			}
		}
	}
	setCondition(st, sj, syncv1.ConditionReady, status, reason, msg)
	return result
}

// staleMessage says since when the SyncJob has not succeeded.
func staleMessage(sj *syncv1.SyncJob, staleAt time.Time) string {
	if t := sj.Status.LastSuccessfulRunTime; t != nil {
		return fmt.Sprintf("no successful run since %s: two scheduled runs were missed (stale since %s)",
			t.UTC().Format(time.RFC3339), staleAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("no successful run since the SyncJob was created: two scheduled runs were missed (stale since %s)",
		staleAt.UTC().Format(time.RFC3339))
}

// parseSchedule parses the SyncJob's schedule in its time zone.
func parseSchedule(sj *syncv1.SyncJob) (*schedule.Schedule, error) {
	return schedule.Parse(sj.Spec.Schedule, ptr.Deref(sj.Spec.TimeZone, ""))
}

// readiness is the policy that turns the last run into the Ready condition.
func readiness(last *syncv1.RunRecord) (metav1.ConditionStatus, string, string) {
	if last == nil {
		return metav1.ConditionTrue, syncv1.ReasonSucceeded, "SyncJob is set up; no run yet"
	}
	switch last.Phase {
	case syncv1.RunPhaseFailed, syncv1.RunPhaseInterrupted:
		msg := fmt.Sprintf("run %s %s", last.RunID, last.Phase)
		if last.Reason != "" {
			msg += ": " + last.Reason
		}
		if last.Message != "" {
			msg += ": " + last.Message
		}
		return metav1.ConditionFalse, syncv1.ReasonRunFailed, msg
	case syncv1.RunPhasePartiallySucceeded:
		return metav1.ConditionTrue, syncv1.ReasonPartiallyFailed,
			fmt.Sprintf("run %s finished with %d failed records", last.RunID, last.Failed)
	}
	if rec := last.Reconciliation; rec != nil && rec.Drift {
		return metav1.ConditionFalse, syncv1.ReasonDriftDetected,
			fmt.Sprintf("run %s: drift check found source %d vs sink %d records in the window, %d mismatched",
				last.RunID, rec.SourceCount, rec.SinkCount, rec.Mismatched)
	}
	return metav1.ConditionTrue, syncv1.ReasonSucceeded, fmt.Sprintf("run %s succeeded", last.RunID)
}

// controllerStatus copies the fields of sj's status that the controller owns.
func controllerStatus(sj *syncv1.SyncJob) syncv1.SyncJobStatus {
	cur := sj.Status
	return syncv1.SyncJobStatus{
		ObservedGeneration:         sj.Generation,
		Conditions:                 append([]metav1.Condition(nil), cur.Conditions...),
		CronJobName:                cur.CronJobName,
		CheckpointConfigMap:        cur.CheckpointConfigMap,
		LastHandledRunRequest:      cur.LastHandledRunRequest,
		LastHandledResetRequest:    cur.LastHandledResetRequest,
		LastHandledBackfillRequest: cur.LastHandledBackfillRequest,
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

// emitEvents records an Event when the Ready condition changes, and never otherwise.
func (r *SyncJobReconciler) emitEvents(sj *syncv1.SyncJob, st *syncv1.SyncJobStatus) {
	before := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
	after := meta.FindStatusCondition(st.Conditions, syncv1.ConditionReady)
	if after == nil {
		return
	}
	if before != nil && before.Status == after.Status && before.Reason == after.Reason {
		return
	}
	typ := corev1.EventTypeNormal
	if after.Status != metav1.ConditionTrue {
		typ = corev1.EventTypeWarning
	}
	r.event(sj, typ, after.Reason, after.Message)
}

// patchStatus applies the controller-owned status fields with server-side apply, when they
// differ from what is stored. The runner's fields are owned by the runner and left alone.
func (r *SyncJobReconciler) patchStatus(ctx context.Context, sj *syncv1.SyncJob, st syncv1.SyncJobStatus) error {
	if equalControllerStatus(controllerStatus(sj), st) && sj.Status.ObservedGeneration == sj.Generation {
		return nil
	}
	ac, err := statusApplyConfiguration(sj, st)
	if err != nil {
		return err
	}
	if err := r.Status().Apply(ctx, ac, client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply status of SyncJob %s/%s: %w", sj.Namespace, sj.Name, err)
	}
	log.FromContext(ctx).V(1).Info("status applied", "generation", sj.Generation)
	return nil
}

// SetupWithManager registers the reconciler with up to concurrency parallel reconciles.
// SyncJob events trigger a reconcile only for a spec change (generation), an annotation
// change (operator requests) or a change of the runner-owned status — never for the
// controller's own status writes. Owned objects trigger on changes made by others and on
// deletion, never on their creation (the controller made them): CronJobs on spec changes,
// the runner identity on any change, the checkpoint ConfigMap and Lease only on deletion
// (the runner writes them all the time).
func (r *SyncJobReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	notCreated := predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}
	return ctrl.NewControllerManagedBy(mgr).
		Named("syncjob").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(concurrency, 1)}).
		For(&syncv1.SyncJob{}, builder.WithPredicates(syncJobChanged{})).
		Owns(&batchv1.CronJob{}, builder.WithPredicates(notCreated, predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ServiceAccount{}, builder.WithPredicates(notCreated)).
		Owns(&rbacv1.Role{}, builder.WithPredicates(notCreated)).
		Owns(&rbacv1.RoleBinding{}, builder.WithPredicates(notCreated)).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(onlyDeletes())).
		Owns(&coordinationv1.Lease{}, builder.WithPredicates(onlyDeletes())).
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(runToSyncJob)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(runToSyncJob)).
		Complete(r)
}

// CacheOptions limits the manager's cache of owned kinds to objects the controller labels
// as its own, so that memory does not grow with the cluster's other ConfigMaps, Pods, ...
func CacheOptions() map[client.Object]cache.ByObject {
	own := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{runcontract.LabelManagedBy: runcontract.ManagedBy})}
	return map[client.Object]cache.ByObject{
		&batchv1.CronJob{}:       own,
		&batchv1.Job{}:           own,
		&corev1.Pod{}:            own,
		&corev1.ServiceAccount{}: own,
		&corev1.ConfigMap{}:      own,
		&coordinationv1.Lease{}:  own,
		&rbacv1.Role{}:           own,
		&rbacv1.RoleBinding{}:    own,
	}
}

// onlyDeletes passes delete events only.
func onlyDeletes() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
	}
}
