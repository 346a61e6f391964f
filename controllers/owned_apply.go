package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	batchac "k8s.io/client-go/applyconfigurations/batch/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacac "k8s.io/client-go/applyconfigurations/rbac/v1"
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
func (r *SyncJobReconciler) applyOwned(ctx context.Context, live client.Object, want appliedConfiguration) error {
	digest := wantedDigest(want)
	if appliedAsWanted(live, digest) {
		return nil
	}
	k := recentKey{*want.GetKind(), client.ObjectKey{Namespace: *want.GetNamespace(), Name: *want.GetName()}}
	if rw, ok := r.recent.lookup(k, r.Clock.Now()); ok && rw.digest == digest && (live == nil || live.GetResourceVersion() == "") {
		return nil // applied a moment ago, exactly so; the cache does not show it yet
	}
	if err := r.Apply(ctx, want, client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
		return err
	}
	r.recent.record(k, digest, r.Clock.Now())
	return nil
}

// wantedDigest is the digest appliedAsWanted compares with what an object holds when it
// holds exactly want: the proof of fieldproof.go for a CronJob (which must be stamped:
// stampCronJob), which the cache holds as metadata only, the digest of the configuration
// for the other kinds.
func wantedDigest(want appliedConfiguration) string {
	if cj, ok := want.(*batchac.CronJobApplyConfiguration); ok {
		return wantedProof(cj)
	}
	return digestOf(want)
}

// appliedConfiguration is the apply configuration of a kind the controller applies: it
// names its kind, namespace and name (all set by the desired builders).
type appliedConfiguration interface {
	runtime.ApplyConfiguration
	GetKind() *string
	GetNamespace() *string
	GetName() *string
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
// are exactly what a configuration of digest want (wantedDigest) sets. An object from
// the cache carries that digest (appliedTransform keeps nothing else of an applied kind);
// an object read past the cache (the cache did not hold it yet) has its managedFields, from
// which it is taken. An object not found, or whose managedFields cannot be read, is never
// in line.
func appliedAsWanted(live client.Object, want string) bool {
	if live == nil || live.GetResourceVersion() == "" {
		return false
	}
	got := cachedDigest(live)
	if len(live.GetManagedFields()) > 0 {
		got = ownedDigest(live)
	}
	return got != "" && got == want
}

// ownedDigest is the digest of the fields the controller's field manager owns in obj, as
// client-go's Extract* returns them, or for a CronJob (held as metadata only) the proof of
// fieldproof.go; "" for a kind the controller does not apply this way or managedFields
// that cannot be read.
func ownedDigest(obj client.Object) string {
	var got runtime.ApplyConfiguration
	var err error
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata, *batchv1.CronJob:
		return heldProof(obj)
	case *corev1.ServiceAccount:
		got, err = coreac.ExtractServiceAccount(o, runcontract.ControllerFieldManager)
	case *rbacv1.Role:
		got, err = rbacac.ExtractRole(o, runcontract.ControllerFieldManager)
	case *rbacv1.RoleBinding:
		got, err = rbacac.ExtractRoleBinding(o, runcontract.ControllerFieldManager)
	default:
		return ""
	}
	if err != nil {
		return ""
	}
	return digestOf(got)
}

// digestOf is the SHA-256 of an apply configuration's JSON, in hex. Two configurations of
// one kind have the same digest exactly when they render the same JSON: the same fields
// set to the same values (quantities in their canonical form, as both the desired
// builders and Extract* give them).
func digestOf(ac runtime.ApplyConfiguration) string {
	data, err := json.Marshal(ac)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// notPreflightCreate drops the create event of a preflight Job (labelled
// runcontract.LabelPreflight): only the controller makes them.
func notPreflightCreate() predicate.Predicate {
	return predicate.Funcs{CreateFunc: func(e event.CreateEvent) bool {
		return e.Object.GetLabels()[runcontract.LabelPreflight] == ""
	}}
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
