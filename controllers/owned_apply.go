package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	batchac "k8s.io/client-go/applyconfigurations/batch/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacac "k8s.io/client-go/applyconfigurations/rbac/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// applyOwned applies want (server-side apply under the controller's field manager,
// forced) unless live, the object as the cache holds it (empty when it does not exist),
// already holds exactly want: the fields the controller's field manager owns in live
// (client-go's Extract* from managedFields) equal want. A field someone else edited or
// took over, a field the controller no longer sets, or a missing object all differ and
// are applied, so an edit of ours is still put back; a reconcile that finds everything in
// line sends nothing (not even a no-op patch per owned object).
func (r *SyncJobReconciler) applyOwned(ctx context.Context, live client.Object, want runtime.ApplyConfiguration) error {
	if appliedAsWanted(live, want) {
		return nil
	}
	return r.Apply(ctx, want, client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership)
}

// createOwned makes the object that want describes with one plain create, for the objects
// the controller only ever creates and never keeps in line (the run Lease, a preflight
// Job): the apiserver creates an object more cheaply than it applies one, which counts when
// thousands of SyncJobs are new at once. obj is an empty object of want's kind. When an
// object of that name already exists (the cache did not show it yet, or it is not
// labelled as ours), the apply with opts decides as it always did.
func (r *SyncJobReconciler) createOwned(ctx context.Context, obj client.Object, want runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	data, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("render %T: %w", want, err)
	}
	if err := json.Unmarshal(data, obj); err != nil {
		return fmt.Errorf("render %T as %T: %w", want, obj, err)
	}
	err = r.Create(ctx, obj, client.FieldOwner(runcontract.ControllerFieldManager))
	if apierrors.IsAlreadyExists(err) {
		return r.Apply(ctx, want, opts...)
	}
	return err
}

// appliedAsWanted reports whether the fields the controller's field manager owns in live
// are exactly want. Kinds the controller does not apply this way, an object without a
// resourceVersion (not found) and managedFields that cannot be read are never in line.
func appliedAsWanted(live client.Object, want runtime.ApplyConfiguration) bool {
	if live == nil || live.GetResourceVersion() == "" {
		return false
	}
	var got any
	var err error
	switch o := live.(type) {
	case *corev1.ServiceAccount:
		got, err = coreac.ExtractServiceAccount(o, runcontract.ControllerFieldManager)
	case *rbacv1.Role:
		got, err = rbacac.ExtractRole(o, runcontract.ControllerFieldManager)
	case *rbacv1.RoleBinding:
		got, err = rbacac.ExtractRoleBinding(o, runcontract.ControllerFieldManager)
	case *batchv1.CronJob:
		got, err = batchac.ExtractCronJob(o, runcontract.ControllerFieldManager)
	default:
		return false
	}
	if err != nil {
		return false
	}
	return equality.Semantic.DeepEqual(got, want)
}

// notPreflightCreate drops the create event of a preflight Job (labelled
// runcontract.LabelPreflight): only the controller makes them.
func notPreflightCreate() predicate.Predicate {
	return predicate.Funcs{CreateFunc: func(e event.CreateEvent) bool {
		return e.Object.GetLabels()[runcontract.LabelPreflight] == ""
	}}
}

// cacheTransform trims an object before the manager's cache keeps it: managedFields go,
// except, with keepOwnApply, the controller's own apply entry (applyOwned compares it).
// An Update of an object read from the cache (the checkpoint ConfigMap's metadata) sends
// no managedFields, and the apiserver keeps the ones it has.
func cacheTransform(keepOwnApply bool) toolscache.TransformFunc {
	return func(in any) (any, error) {
		obj, err := meta.Accessor(in)
		if err != nil {
			return in, nil // a tombstone: nothing to trim
		}
		if mf := obj.GetManagedFields(); mf != nil {
			var keep []metav1.ManagedFieldsEntry // nil: omitted from any write
			if keepOwnApply {
				for _, e := range mf {
					if e.Manager == runcontract.ControllerFieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
						keep = append(keep, e)
					}
				}
			}
			obj.SetManagedFields(keep)
		}
		return in, nil
	}
}

// syncJobTransform trims a SyncJob for the cache: no managedFields and no kubectl
// last-applied-configuration annotation (a second copy of the spec). The controller never
// writes a SyncJob read from the cache (it applies status only).
func syncJobTransform(in any) (any, error) {
	in, _ = cacheTransform(false)(in)
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil
	}
	if ann := obj.GetAnnotations(); ann[corev1.LastAppliedConfigAnnotation] != "" {
		trimmed := make(map[string]string, len(ann)-1)
		for k, v := range ann {
			if k != corev1.LastAppliedConfigAnnotation {
				trimmed[k] = v
			}
		}
		obj.SetAnnotations(trimmed)
	}
	return in, nil
}

// Cache indexes: a SyncJob's Jobs and a Job's Pods are found by key rather than by a label
// selector, which the cache answers by scanning every Job (Pod) of the namespace: with n
// SyncJobs in one namespace that made each reconcile O(n) and a resync O(n²).
const (
	indexJobsOfSyncJob = "sync.checkpointed.io/jobs-of-syncjob"
	indexPodsOfJob     = "sync.checkpointed.io/pods-of-job"
)

// indexRuns registers indexJobsOfSyncJob and indexPodsOfJob with the manager's cache.
func indexRuns(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &batchv1.Job{}, indexJobsOfSyncJob, func(o client.Object) []string {
		if name := o.GetLabels()[runcontract.LabelJob]; name != "" {
			return []string{name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Jobs by SyncJob: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, indexPodsOfJob, func(o client.Object) []string {
		if name := o.GetLabels()[batchv1.JobNameLabel]; name != "" {
			return []string{name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Pods by Job: %w", err)
	}
	return nil
}
