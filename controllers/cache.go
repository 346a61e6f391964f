package controllers

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// The manager's cache holds, per SyncJob, the SyncJob and seven or more objects: with
// thousands of SyncJobs it is most of the manager's memory. Each kind is trimmed before
// the cache keeps it to what the controller reads of it (CacheOptions).

// cacheTransform trims an object of a kind the controller only creates or reads (Jobs,
// Pods, ConfigMaps, Leases) before the manager's cache keeps it: no managedFields. An
// Update of an object read from the cache (the checkpoint ConfigMap's metadata) sends
// none, so the apiserver keeps the ones it has.
func cacheTransform(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil && obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	return in, nil // a tombstone passes as it is
}

// appliedTransform trims an object of a kind the controller applies (applyOwned: the
// CronJob, the runner's ServiceAccount, Role and RoleBinding) to what the controller
// reads of it: its metadata, without managedFields, and the digest of the fields the
// controller's field manager owns (setCachedDigest), computed from those managedFields
// before they go. Spec, rules, subjects and status are not kept: with
// thousands of SyncJobs the CronJobs' pod templates and the apply entries were most of
// the cache. CronJobs arrive as metadata only (a typed CronJob is 1.5 KB before any
// field is set), their digest the proof of fieldproof.go. Watches still see every change
// (generation, owner references, deletion).
func appliedTransform(in any) (any, error) {
	obj, ok := in.(client.Object)
	if !ok || len(obj.GetManagedFields()) == 0 {
		// A tombstone passes as it is, and so does an object trimmed already: an informer
		// may hand the same object to its transform twice (its initial list), and without
		// managedFields the digest would be that of no field at all.
		return in, nil
	}
	digest := ownedDigest(obj)
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		// A CronJob, watched as metadata only (SetupWithManager): its digest is the proof
		// of fieldproof.go, and the stamp it is made of stays with the annotations.
	case *batchv1.CronJob:
		o.Spec, o.Status = batchv1.CronJobSpec{}, batchv1.CronJobStatus{}
	case *corev1.ServiceAccount:
		o.Secrets, o.ImagePullSecrets, o.AutomountServiceAccountToken = nil, nil, nil
	case *rbacv1.Role:
		o.Rules = nil
	case *rbacv1.RoleBinding:
		o.Subjects, o.RoleRef = nil, rbacv1.RoleRef{}
	}
	obj.SetManagedFields(nil)
	setCachedDigest(obj, digest)
	return obj, nil
}

// setCachedDigest makes the cache's copy of an applied object carry the digest of the
// fields the controller's field manager owns in it (ownedDigest); cachedDigest reads it.
// It is held in metadata.generateName, which the apiserver reads only when it creates an
// object without a name and which the controller's objects, all named, never need: the
// cache's copy of these kinds is never written back (the controller applies desired
// configurations), and a field costs the cache nothing where an annotation cost every
// object a map of its own (about 400 bytes, 4 objects per SyncJob).
func setCachedDigest(obj client.Object, digest string) { obj.SetGenerateName(digest) }

// cachedDigest is the digest setCachedDigest put on the cache's copy of an applied
// object; "" for an object that did not come from the cache.
func cachedDigest(obj client.Object) string { return obj.GetGenerateName() }

// syncJobTransform trims a SyncJob for the cache: no managedFields and no kubectl
// last-applied-configuration annotation (a second copy of the spec). The controller never
// writes a SyncJob read from the cache (it applies status only).
func syncJobTransform(in any) (any, error) {
	in, _ = cacheTransform(in)
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

// runTransform trims a run's Job or Pod (and a preflight's) to what the controller reads
// of it: metadata without managedFields, the status, and of the spec only a Job's
// activeDeadlineSeconds (the DeadlineExceeded message) and its containers' trigger
// variable (triggerOf), a Pod's containers' resource limits (the OOMKilled message).
// The Pod templates of thousands of preflight Jobs were otherwise a large part of the
// cache.
func runTransform(in any) (any, error) {
	in, _ = cacheTransform(in)
	switch o := in.(type) {
	case *batchv1.Job:
		var kept []corev1.Container
		for _, c := range o.Spec.Template.Spec.Containers {
			k := corev1.Container{Name: c.Name}
			for _, e := range c.Env {
				if e.Name == runcontract.EnvTrigger {
					k.Env = []corev1.EnvVar{e}
				}
			}
			kept = append(kept, k)
		}
		o.Spec = batchv1.JobSpec{ActiveDeadlineSeconds: o.Spec.ActiveDeadlineSeconds}
		o.Spec.Template.Spec.Containers = kept
	case *corev1.Pod:
		var kept []corev1.Container
		for _, c := range o.Spec.Containers {
			kept = append(kept, corev1.Container{Name: c.Name, Resources: corev1.ResourceRequirements{Limits: c.Resources.Limits}})
		}
		o.Spec = corev1.PodSpec{Containers: kept}
	}
	return in, nil
}

// warmDigests builds client-go's managedFields parsers for the applied kinds (each is built
// once, on first use, from a large schema) before the manager starts, so that the first
// events of the informers, whose transform takes a digest (appliedTransform), do not wait
// for them: a cache that lagged behind the first reconcile made the next one read the new
// objects past it.
func warmDigests() {
	for _, obj := range []client.Object{&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}} {
		_ = ownedDigest(obj)
	}
	_ = typeConverter() // CronJobs: fieldproof.go
}
