package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

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
