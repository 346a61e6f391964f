package controllers

import (
	"context"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
)

// checkRunnerImage refuses a SyncJob whose runner image (spec.runner.image, or the
// manager's default) is not in the manager's allow-list (--allowed-runner-images; empty
// allows only the default image): Stalled with reason RunnerImageNotAllowed, and no owned
// object is touched, so no Pod ever runs the image.
func (r *SyncJobReconciler) checkRunnerImage(_ context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	image := sj.Spec.Runner.Image
	if image == "" || image == r.Options.RunnerImage || r.AllowedRunnerImages.Allows(image) {
		return stepResult{}, nil
	}
	allowed := r.AllowedRunnerImages.String()
	if r.AllowedRunnerImages.Empty() {
		allowed = r.Options.RunnerImage
	}
	msg := fmt.Sprintf("spec.runner.image %q is not allowed by the manager's --allowed-runner-images (%s)", image, allowed)
	st.refused = &condition{metav1.ConditionFalse, syncv1.ReasonRunnerImageNotAllowed, msg}
	return stepResult{stop: true}, nil
}

// refuseForeign stops the reconcile when an object the SyncJob needs (the kinds of objs,
// named as desired names them) exists and is not the SyncJob's own: Stalled with reason
// NameConflict naming it. The controller never takes over an object it does not control
// (server-side apply with force would). An object controlled by a deleted SyncJob of the
// same name is the SyncJob's own from before a re-creation: it is taken over. An object
// the controller applied a moment ago (recentWrites) that the cache does not show yet is
// its own without asking the apiserver.
func (r *SyncJobReconciler) refuseForeign(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState, objs ...client.Object) (stepResult, error) {
	for _, obj := range objs {
		kind, name := ownedKindName(sj, obj)
		key := client.ObjectKey{Namespace: sj.Namespace, Name: name}
		err := r.Get(ctx, key, obj)
		if err == nil {
			r.recent.forget(recentKey{kind, key})
		}
		if apierrors.IsNotFound(err) {
			if _, ok := r.recent.lookup(recentKey{kind, key}, r.Clock.Now()); ok {
				// Applied a moment ago, as the SyncJob's own: the cache has not shown it yet.
				st.recentUnseen = true
				continue
			}
			// The cache holds only objects labelled as ours: ask the apiserver.
			err = r.reader().Get(ctx, key, obj)
		}
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return stepResult{}, fmt.Errorf("get %s %s: %w", kind, name, err)
		}
		if ref := metav1.GetControllerOf(obj); ref != nil && ref.Kind == "SyncJob" &&
			strings.HasPrefix(ref.APIVersion, syncv1.GroupVersion.Group+"/") && ref.Name == sj.Name {
			continue
		}
		msg := fmt.Sprintf("%s %s/%s exists and is not controlled by this SyncJob; the controller does not take it over: delete or rename it, or rename the SyncJob",
			kind, sj.Namespace, name)
		st.refused = &condition{metav1.ConditionFalse, syncv1.ReasonNameConflict, msg}
		return stepResult{stop: true}, nil
	}
	return stepResult{}, nil
}

// reader reads past the cache.
func (r *SyncJobReconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// ownedKindName is the kind and name of the SyncJob's object of obj's type.
func ownedKindName(sj *syncv1.SyncJob, obj client.Object) (string, string) {
	switch o := obj.(type) {
	case *batchv1.CronJob:
		return "CronJob", desired.CronJobName(sj)
	case *metav1.PartialObjectMetadata:
		if o.GroupVersionKind() == batchv1.SchemeGroupVersion.WithKind("CronJob") {
			return "CronJob", desired.CronJobName(sj)
		}
	case *corev1.ServiceAccount:
		return "ServiceAccount", desired.ServiceAccountName(sj)
	case *rbacv1.Role:
		return "Role", desired.ServiceAccountName(sj)
	case *rbacv1.RoleBinding:
		return "RoleBinding", desired.ServiceAccountName(sj)
	}
	panic(fmt.Sprintf("ownedKindName: %T is not an owned kind", obj))
}
