// Package controllers holds the SyncJob reconciler: it turns each SyncJob into a CronJob
// that runs the runner, with the runner's identity and checkpoint, turns operator requests
// (run, backfill, checkpoint reset) into Jobs that run the runner, and reports the
// SyncJob's health in kstatus conditions. It imports no runner package: what it shares
// with the runner is internal/runcontract (see docs/architecture.md).
package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/internal/sharedmeta"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/imagepolicy"
	"github.com/checkpointed/checkpointed/internal/schedule"
	"github.com/checkpointed/checkpointed/internal/speccheck"
)

// SyncJobReconciler reconciles SyncJobs.
type SyncJobReconciler struct {
	client.Client
	// APIReader reads from the apiserver, not the cache (the manager's GetAPIReader(); nil
	// reads through Client): before a request's Job is started, which Jobs exist and which
	// is active (the cache may not show yet a Job just created); and an object of the same
	// name that the controller does not own (the cache holds only objects labelled as ours).
	APIReader client.Reader
	// Events records Kubernetes Events on SyncJobs.
	Events events.EventRecorder
	// Clock decides time-based status (staleness); a fake in tests.
	Clock clock.PassiveClock
	// Options shape the owned objects (the default runner image).
	Options desired.Options
	// AllowedRunnerImages are the runner images a SyncJob may name (--allowed-runner-images);
	// empty allows only Options.RunnerImage.
	AllowedRunnerImages imagepolicy.Policy

	// announced guards against announcing one change of a condition twice (announced.go).
	announced announcements
	// recent remembers the owned objects written in the last moments, until the cache
	// shows them (recent.go).
	recent recentWrites
}

// RBAC: exactly the verbs the code uses (controllers/rbac_test.go compares
// config/rbac/role.yaml with a table). Server-side apply is patch, plus create for an
// object that does not exist yet. The controller deletes only Jobs (a run that cannot
// start); everything else it owns goes with the SyncJob through owner references, and the
// checkpoint ConfigMap stays (or goes through its owner reference when the SyncJob asks).
// It holds update on configmaps (adopting a checkpoint, its owner reference) and on
// leases, and get/patch/update on syncjobs/status, also because the runner's Role grants
// them and RBAC lets the controller grant only what it holds itself.
//
// +kubebuilder:rbac:groups=sync.checkpointed.io,resources=syncjobs,verbs=get;list;watch
// +kubebuilder:rbac:groups=sync.checkpointed.io,resources=syncjobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// reconcileState is what the steps of one reconcile learn; summarize turns it into the
// conditions.
type reconcileState struct {
	// status is the controller-owned status being built.
	status syncv1.SyncJobStatus
	// invalidSpec is why the spec cannot be acted on (set by validateSpec); nil if valid.
	invalidSpec error
	// refused is why the controller will not act on the SyncJob for the cluster's safety
	// (set by checkRunnerImage and the ownership checks); nil if none.
	refused *condition
	// runs is what observeRuns saw of the SyncJob's Jobs.
	runs runs
	// pending explains an operator request that waits for the active Job; "" if none.
	pending string
	// recentUnseen is set when an owned object the controller created a moment ago was
	// taken as existing although the cache did not show it (recentWrites): the reconcile
	// asks for another look once that memory has expired.
	recentUnseen bool
}

// stepResult is what a step asks of the rest of the reconcile.
type stepResult struct {
	// requeueAfter asks for another look after this long; zero asks nothing.
	requeueAfter time.Duration
	// stop ends the list of steps without an error (the spec cannot be acted on).
	stop bool
}

// step is one sub-step of a reconcile. It records what it learns in the state; an error
// ends the list.
type step func(context.Context, *syncv1.SyncJob, *reconcileState) (stepResult, error)

// Reconcile brings one SyncJob's owned objects in line with its spec, acts on operator
// requests and rebuilds the controller's part of its status. It never writes the spec.
// Whatever the steps did, a deferred function summarises the status (summarize), records
// an Event if Ready changed, and patches the status at most once, only when it changed.
func (r *SyncJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	sj := &syncv1.SyncJob{}
	if err := r.Get(ctx, req.NamespacedName, sj); err != nil {
		if apierrors.IsNotFound(err) {
			r.announced.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sj.DeletionTimestamp.IsZero() {
		// Owner references let the garbage collector remove what the SyncJob owns.
		return ctrl.Result{}, nil
	}

	st := &reconcileState{status: controllerStatus(sj)}
	defer func() {
		if apierrors.HasStatusCause(retErr, corev1.NamespaceTerminatingCause) {
			// The namespace is going away with everything in it: nothing left to do.
			result, retErr = ctrl.Result{}, nil
			return
		}
		result.RequeueAfter = earliest(result.RequeueAfter, r.summarize(sj, st, retErr))
		r.emitEvents(sj, st.status)
		if err := r.patchStatus(ctx, sj, st.status); err != nil {
			retErr = errors.Join(retErr, err)
		}
		if retErr != nil {
			result = ctrl.Result{} // the error requeues with backoff
		}
	}()

	steps := []step{
		r.validateSpec,
		r.checkRunnerImage,
		r.reconcileRunnerIdentity,
		r.reconcileCheckpoint,
		r.reconcileCronJob,
		r.reconcilePreflight,
		r.observeRuns,
		r.reconcileCheckpointRetention,
		r.handleRequests,
	}
	for _, s := range steps {
		res, err := s(ctx, sj, st)
		if err != nil {
			return ctrl.Result{}, err
		}
		result.RequeueAfter = earliest(result.RequeueAfter, res.requeueAfter)
		if res.stop {
			break
		}
	}
	if st.recentUnseen {
		// Look again once the memory of those writes has expired, in case one of the
		// objects was deleted before the cache ever showed it.
		result.RequeueAfter = earliest(result.RequeueAfter, recentWriteTTL)
	}
	return result, nil
}

// earliest is the sooner of two requeue delays, zero meaning none.
func earliest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// validateSpec catches what admission cannot: an unparseable schedule or unknown time zone,
// an expression that does not compile, a malformed URL or template, an impossible startAt,
// a requestsPerSecond that is not positive.
// Such a SyncJob is not acted on: the list stops, no owned object is touched, and
// summarize makes it Stalled with reason InvalidSpec.
func (r *SyncJobReconciler) validateSpec(_ context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	if _, err := parseSchedule(sj); err != nil {
		st.invalidSpec = err
		return stepResult{stop: true}, nil
	}
	// CEL expressions, URLs, startAt and requestsPerSecond, checked as the runner would
	// use them (internal/speccheck), so that they fail now rather than at the first run.
	if err := speccheck.Check(sj); err != nil {
		st.invalidSpec = errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
		return stepResult{stop: true}, nil
	}
	return stepResult{}, nil
}

// reconcileRunnerIdentity applies the runner's ServiceAccount, its least-privilege Role
// and their RoleBinding.
func (r *SyncJobReconciler) reconcileRunnerIdentity(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	sa, role, binding := &corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}
	if res, err := r.refuseForeign(ctx, sj, st, sa, role, binding); err != nil || res.stop {
		return res, err
	}
	if err := r.applyOwned(ctx, sa, desired.ServiceAccount(sj)); err != nil {
		return stepResult{}, fmt.Errorf("apply ServiceAccount %s: %w", desired.ServiceAccountName(sj), err)
	}
	if err := r.applyOwned(ctx, role, desired.Role(sj)); err != nil {
		return stepResult{}, fmt.Errorf("apply Role %s: %w", desired.ServiceAccountName(sj), err)
	}
	if err := r.applyOwned(ctx, binding, desired.RoleBinding(sj)); err != nil {
		return stepResult{}, fmt.Errorf("apply RoleBinding %s: %w", desired.ServiceAccountName(sj), err)
	}
	return stepResult{}, nil
}

// reconcileCheckpoint creates the checkpoint ConfigMap (or adopts the one a deleted SyncJob
// of the same name left, see ensureCheckpoint) and the run Lease when they are missing.
// Their data is never written: it belongs to the runner.
func (r *SyncJobReconciler) reconcileCheckpoint(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	if err := r.ensureCheckpoint(ctx, sj, st); err != nil {
		return stepResult{}, err
	}
	st.status.CheckpointConfigMap = desired.CheckpointName(sj)

	lease := &coordinationv1.Lease{}
	leaseKey := recentKey{"Lease", client.ObjectKey{Namespace: sj.Namespace, Name: desired.LeaseName(sj)}}
	err := r.Get(ctx, leaseKey.key, lease)
	switch {
	case apierrors.IsNotFound(err):
		if rw, ok := r.recent.lookup(leaseKey, r.Clock.Now()); ok && rw.digest == string(sj.UID) {
			st.recentUnseen = true // created a moment ago for this SyncJob; the cache does not show it yet
			return stepResult{}, nil
		}
		if err := r.createOwned(ctx, &coordinationv1.Lease{}, desired.Lease(sj), client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
			return stepResult{}, fmt.Errorf("create run Lease %s: %w", desired.LeaseName(sj), err)
		}
		r.recent.record(leaseKey, string(sj.UID), r.Clock.Now())
	case err != nil:
		return stepResult{}, fmt.Errorf("get run Lease %s: %w", desired.LeaseName(sj), err)
	default:
		r.recent.forget(leaseKey)
	}
	return stepResult{}, nil
}

// reconcileCronJob applies the CronJob (applyOwned: nothing is sent when the cached
// CronJob already holds exactly our fields), and puts back any field of ours that someone
// edited.
func (r *SyncJobReconciler) reconcileCronJob(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	cj := cronJobMetadata()
	if res, err := r.refuseForeign(ctx, sj, st, cj); err != nil || res.stop {
		return res, err
	}
	if err := r.applyOwned(ctx, cj, stampCronJob(desired.CronJob(sj, r.Options))); err != nil {
		return stepResult{}, fmt.Errorf("apply CronJob %s: %w", desired.CronJobName(sj), err)
	}
	st.status.CronJobName = desired.CronJobName(sj)
	return stepResult{requeueAfter: r.setNextScheduledTime(sj, st)}, nil
}

// cronJobMetadata is an empty CronJob as the cache holds CronJobs: metadata only.
func cronJobMetadata() *metav1.PartialObjectMetadata {
	cj := &metav1.PartialObjectMetadata{}
	cj.SetGroupVersionKind(batchv1.SchemeGroupVersion.WithKind("CronJob"))
	return cj
}

// setNextScheduledTime records when the CronJob next starts a run (none while suspended)
// and returns how long until then, so that the time is renewed once it has passed.
func (r *SyncJobReconciler) setNextScheduledTime(sj *syncv1.SyncJob, st *reconcileState) time.Duration {
	st.status.NextScheduledTime = nil
	s, err := parseSchedule(sj)
	if err != nil || ptr.Deref(sj.Spec.Suspend, false) {
		return 0
	}
	now := r.Clock.Now()
	next := s.Next(now)
	if next.IsZero() {
		return 0
	}
	st.status.NextScheduledTime = &metav1.Time{Time: next.UTC().Truncate(time.Second)}
	return next.Sub(now) + time.Second
}

// parseSchedule parses the SyncJob's schedule in its time zone.
func parseSchedule(sj *syncv1.SyncJob) (*schedule.Schedule, error) {
	return schedule.Parse(sj.Spec.Schedule, ptr.Deref(sj.Spec.TimeZone, ""))
}

// SetupWithManager registers the reconciler with up to concurrency parallel reconciles.
// SyncJob events trigger a reconcile only for a spec change (generation), an annotation
// change (operator requests) or a change of the runner-owned status — never for the
// controller's own status writes. Owned objects trigger on changes made by others and on
// deletion, never on their creation (the controller made them): CronJobs on spec changes,
// the runner identity on any change, the checkpoint ConfigMap and Lease only on deletion
// (the runner writes them all the time). Jobs and Pods of runs trigger on every event but
// the creation of a preflight Job.
func (r *SyncJobReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	if err := indexRuns(context.Background(), mgr); err != nil {
		return err
	}
	warmDigests()
	notCreated := predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}
	return ctrl.NewControllerManagedBy(mgr).
		Named("syncjob").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(concurrency, 1)}).
		For(&syncv1.SyncJob{}, builder.WithPredicates(syncJobChanged{})).
		Owns(&batchv1.CronJob{}, builder.OnlyMetadata, builder.WithPredicates(notCreated, predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ServiceAccount{}, builder.WithPredicates(notCreated)).
		Owns(&rbacv1.Role{}, builder.WithPredicates(notCreated)).
		Owns(&rbacv1.RoleBinding{}, builder.WithPredicates(notCreated)).
		// The checkpoint ConfigMap is found by label, not owner: it outlives the SyncJob.
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(runToSyncJob), builder.WithPredicates(onlyDeletes())).
		Owns(&coordinationv1.Lease{}, builder.WithPredicates(onlyDeletes())).
		// A preflight Job's creation is the controller's own (recorded in status.preflight by
		// the reconcile that made it): its Pod and status changes bring the next reconciles.
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(runToSyncJob), builder.WithPredicates(notPreflightCreate())).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(runToSyncJob)).
		Complete(r)
}

// CacheOptions limits the manager's cache of owned kinds to objects the controller labels
// as its own, so that memory does not grow with the cluster's other ConfigMaps, Pods, ...,
// and trims what it keeps of each object: no managedFields (cacheTransform), of the kinds
// applyOwned applies only metadata and a digest (appliedTransform), of runs' Jobs and
// Pods what the run's record reads (runTransform), no kubectl last-applied annotation on
// SyncJobs. The objects of every kind then share equal label sets and owner references
// (sharedmeta: the seven or more objects made for one SyncJob carry the same ones).
func CacheOptions() map[client.Object]cache.ByObject {
	ours := labels.SelectorFromSet(labels.Set{runcontract.LabelManagedBy: runcontract.ManagedBy})
	shared := sharedmeta.New(sharedMetaSize)
	own := cache.ByObject{Label: ours, Transform: shared.Transform(cacheTransform)}
	applied := cache.ByObject{Label: ours, Transform: shared.Transform(appliedTransform)}
	run := cache.ByObject{Label: ours, Transform: shared.Transform(runTransform)}
	return map[client.Object]cache.ByObject{
		&syncv1.SyncJob{}:        {Transform: shared.Transform(syncJobTransform)},
		&batchv1.CronJob{}:       applied,
		&batchv1.Job{}:           run,
		&corev1.Pod{}:            run,
		&corev1.ServiceAccount{}: applied,
		&corev1.ConfigMap{}:      own,
		&coordinationv1.Lease{}:  own,
		&rbacv1.Role{}:           applied,
		&rbacv1.RoleBinding{}:    applied,
	}
}

// sharedMetaSize is how many label sets and owner reference lists the cache's sharedmeta
// Table remembers at least (about three per SyncJob). After a restart each kind's list
// streams at its own pace, so the objects of one SyncJob may arrive thousands of objects
// apart: with a table of 8,192 the manager restarted with 10,000 SyncJobs peaked at
// 415 MiB against 334 MiB while converging.
const sharedMetaSize = 1 << 16

// onlyDeletes passes delete events only.
func onlyDeletes() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
	}
}
