package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

// TestAppliedObjectsCachedAsDigest: of the objects the controller applies, the cache keeps
// metadata and the digest of the fields the controller owns, nothing of their spec,
// rules, subjects or status and no managedFields; the digest of each object as the
// apiserver holds it equals the digest of what the controller wants, so a converged
// SyncJob needs no apply (TestReconcileOfConvergedSyncJobWritesNothing).
func TestAppliedObjectsCachedAsDigest(t *testing.T) {
	sj := convergedSyncJob(t, "digest")
	opts := desired.Options{RunnerImage: testRunner}
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: sj.Namespace, Name: name} }
	for _, tc := range []struct {
		name    string
		obj     client.Object
		want    appliedConfiguration
		trimmed func(g Gomega, o client.Object)
	}{
		{"CronJob", cronJobMetadata(), stampCronJob(desired.CronJob(sj, opts)), func(g Gomega, o client.Object) {
			g.Expect(o.GetAnnotations()).To(HaveKeyWithValue(appliedDigestAnnotation, digestOf(desired.CronJob(sj, opts))),
				"the stamp of the configuration applied")
		}},
		{"ServiceAccount", &corev1.ServiceAccount{}, desired.ServiceAccount(sj), func(g Gomega, o client.Object) {
			g.Expect(o.(*corev1.ServiceAccount).AutomountServiceAccountToken).To(BeNil())
		}},
		{"Role", &rbacv1.Role{}, desired.Role(sj), func(g Gomega, o client.Object) {
			g.Expect(o.(*rbacv1.Role).Rules).To(BeNil())
		}},
		{"RoleBinding", &rbacv1.RoleBinding{}, desired.RoleBinding(sj), func(g Gomega, o client.Object) {
			g.Expect(o.(*rbacv1.RoleBinding).Subjects).To(BeNil())
			g.Expect(o.(*rbacv1.RoleBinding).RoleRef).To(Equal(rbacv1.RoleRef{}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			name := tc.obj.GetName()
			if name == "" {
				name = sj.Name
				if tc.name != "CronJob" {
					name = desired.ServiceAccountName(sj)
				}
			}
			g.Expect(k8sClient.Get(context.Background(), key(name), tc.obj)).To(Succeed())
			g.Expect(tc.obj.GetManagedFields()).NotTo(BeEmpty(), "the apiserver's object has its managedFields")
			out, err := appliedTransform(tc.obj.DeepCopyObject())
			g.Expect(err).NotTo(HaveOccurred())
			cached := out.(client.Object)
			g.Expect(cached.GetManagedFields()).To(BeNil())
			g.Expect(cached.GetOwnerReferences()).To(Equal(tc.obj.GetOwnerReferences()), "owner references are kept")
			g.Expect(cached.GetLabels()).To(Equal(tc.obj.GetLabels()), "labels are kept")
			g.Expect(cached.GetResourceVersion()).To(Equal(tc.obj.GetResourceVersion()))
			tc.trimmed(g, cached)
			g.Expect(cachedDigest(cached)).To(Equal(wantedDigest(tc.want)))
			g.Expect(cachedDigest(cached)).NotTo(BeEmpty())
			g.Expect(cached.GetAnnotations()).To(Equal(tc.obj.GetAnnotations()), "annotations are kept as they are")
			g.Expect(cachedDigest(tc.obj)).To(BeEmpty(), "the apiserver's object has no generateName")
			g.Expect(appliedAsWanted(cached, wantedDigest(tc.want))).To(BeTrue())
			g.Expect(appliedAsWanted(tc.obj, wantedDigest(tc.want))).To(BeTrue(), "an object read past the cache: the digest of its managedFields")
			again, err := appliedTransform(cached.DeepCopyObject())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(again).To(Equal(cached), "the transform of a trimmed object changes nothing (an informer may apply it twice)")
		})
	}
}

// TestRestartedCacheHoldsTheDigests: a cache started after the objects exist (a manager's
// restart: its informers' initial lists) holds for each applied object the digest of what
// the controller wants, so a restart writes nothing. (An informer's initial list hands an
// object to the transform twice; the second time, without managedFields, it once made the
// digest that of no field at all, and a restart re-applied every object.)
func TestRestartedCacheHoldsTheDigests(t *testing.T) {
	g := NewWithT(t)
	sj := convergedSyncJob(t, "restarted")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := cache.New(env.Config, cache.Options{Scheme: kubetest.Scheme(), ByObject: CacheOptions(),
		DefaultNamespaces: map[string]cache.Config{sj.Namespace: {}}})
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = c.Start(ctx) }()
	g.Expect(c.WaitForCacheSync(ctx)).To(BeTrue())
	opts := desired.Options{RunnerImage: testRunner}
	for _, tc := range []struct {
		obj  client.Object
		name string
		want appliedConfiguration
	}{
		{cronJobMetadata(), desired.CronJobName(sj), stampCronJob(desired.CronJob(sj, opts))},
		{&corev1.ServiceAccount{}, desired.ServiceAccountName(sj), desired.ServiceAccount(sj)},
		{&rbacv1.Role{}, desired.ServiceAccountName(sj), desired.Role(sj)},
		{&rbacv1.RoleBinding{}, desired.ServiceAccountName(sj), desired.RoleBinding(sj)},
	} {
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: tc.name}, tc.obj)).To(Succeed())
		g.Expect(appliedAsWanted(tc.obj, wantedDigest(tc.want))).To(BeTrue(), "%T %s in a fresh cache", tc.obj, tc.name)
	}
}

// TestEditsOfAppliedObjectsArePutBack: with only a digest in the cache, an edit of a field
// the controller owns (a Role's rules, a RoleBinding's subjects, by another field manager)
// is still seen and put back, while an edit of a field the controller does not own (a
// label of someone else's) brings no write.
func TestEditsOfAppliedObjectsArePutBack(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := convergedSyncJob(t, "edited")
	key := client.ObjectKey{Namespace: sj.Namespace, Name: desired.ServiceAccountName(sj)}

	role := &rbacv1.Role{}
	g.Expect(k8sClient.Get(ctx, key, role)).To(Succeed())
	wantRules := role.Rules
	g.Expect(wantRules).NotTo(BeEmpty())
	role.Rules = append(role.Rules[:0:0], rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}})
	g.Expect(k8sClient.Update(ctx, role, client.FieldOwner("kubectl-edit"))).To(Succeed())

	binding := &rbacv1.RoleBinding{}
	g.Expect(k8sClient.Get(ctx, key, binding)).To(Succeed())
	wantSubjects := binding.Subjects
	binding.Subjects = []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: sj.Namespace}}
	g.Expect(k8sClient.Update(ctx, binding, client.FieldOwner("kubectl-edit"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key, role)).To(Succeed())
		g.Expect(role.Rules).To(Equal(wantRules))
		g.Expect(k8sClient.Get(ctx, key, binding)).To(Succeed())
		g.Expect(binding.Subjects).To(Equal(wantSubjects))
	}, timeout, interval).Should(Succeed())

	// Settle, then a label of someone else's: the controller's fields are unchanged.
	settle(g, sj.Namespace)
	before, reconcilesBefore := writesIn.get(sj.Namespace), reconcilesIn.get(sj.Namespace)
	g.Expect(k8sClient.Get(ctx, key, role)).To(Succeed())
	role.Labels["example.com/team"] = "data"
	g.Expect(k8sClient.Update(ctx, role, client.FieldOwner("kubectl-label"))).To(Succeed())
	g.Eventually(func() int64 { return reconcilesIn.get(sj.Namespace) }, timeout, interval).Should(BeNumerically(">", reconcilesBefore),
		"the Role's change brings a reconcile")
	g.Consistently(func() int64 { return writesIn.get(sj.Namespace) - before }, 3*time.Second, interval).Should(BeZero(),
		"writes after an edit of no field of the controller's")
}

// TestCacheTransform: the cache keeps no managedFields of the kinds the controller only
// creates or reads (data and annotations kept); a SyncJob loses kubectl's last-applied
// annotation and keeps every other (request tokens among them); a tombstone passes
// unchanged. (The applied kinds: cache_digest_test.go.)
func TestCacheTransform(t *testing.T) {
	entries := func() []metav1.ManagedFieldsEntry {
		return []metav1.ManagedFieldsEntry{
			{Manager: runcontract.ControllerFieldManager, Operation: metav1.ManagedFieldsOperationApply},
			{Manager: runcontract.ControllerFieldManager, Operation: metav1.ManagedFieldsOperationUpdate},
			{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate},
			{Manager: runcontract.RunnerFieldManager, Operation: metav1.ManagedFieldsOperationApply},
		}
	}
	t.Run("ConfigMap", func(t *testing.T) {
		g := NewWithT(t)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", ManagedFields: entries(), Annotations: map[string]string{"a": "b"}},
			Data: map[string]string{"checkpoint.json": "{}"}}
		out, err := cacheTransform(cm)
		g.Expect(err).NotTo(HaveOccurred())
		got := out.(*corev1.ConfigMap)
		g.Expect(got.ManagedFields).To(BeNil())
		g.Expect(got.Annotations).To(Equal(map[string]string{"a": "b"}))
		g.Expect(got.Data).To(HaveKeyWithValue("checkpoint.json", "{}"), "data is kept")
	})

	t.Run("SyncJob", func(t *testing.T) {
		g := NewWithT(t)
		sj := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Name: "x", ManagedFields: entries(), Annotations: map[string]string{
			corev1.LastAppliedConfigAnnotation: `{"spec":{}}`,
			syncv1.RunRequestedAnnotation:      "t1",
		}}}
		out, err := syncJobTransform(sj)
		g.Expect(err).NotTo(HaveOccurred())
		got := out.(*syncv1.SyncJob)
		g.Expect(got.ManagedFields).To(BeNil())
		g.Expect(got.Annotations).To(Equal(map[string]string{syncv1.RunRequestedAnnotation: "t1"}))
	})

	t.Run("tombstone", func(t *testing.T) {
		g := NewWithT(t)
		tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/x", Obj: &corev1.ConfigMap{}}
		for _, transform := range []toolscache.TransformFunc{cacheTransform, appliedTransform} {
			out, err := transform(tomb)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal(tomb))
		}
	})
}

// TestRunTransform: the cache keeps of a run's Job its metadata (no managedFields), its
// status, its activeDeadlineSeconds and its containers' trigger variable, nothing else of
// its Pod template; of a Pod its metadata, status and containers' resource limits.
func TestRunTransform(t *testing.T) {
	g := NewWithT(t)
	deadline := int64(3600)
	started := metav1.Now()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "run-1", Labels: map[string]string{runcontract.LabelJob: "sj"},
			Annotations: map[string]string{runcontract.AnnotationRequest: "t1"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}},
		Spec: batchv1.JobSpec{ActiveDeadlineSeconds: &deadline, BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
			Spec: corev1.PodSpec{ServiceAccountName: "sj-runner", Containers: []corev1.Container{{
				Name: "runner", Image: "example.com/runner:1", Args: []string{"sync"},
				Env: []corev1.EnvVar{{Name: "DSN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "dsn"}}},
					{Name: runcontract.EnvTrigger, Value: "Manual"}},
			}}},
		}},
		Status: batchv1.JobStatus{StartTime: &started, Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}},
	}
	want := job.DeepCopy()
	want.ManagedFields = nil
	want.Spec = batchv1.JobSpec{ActiveDeadlineSeconds: &deadline, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "runner", Env: []corev1.EnvVar{{Name: runcontract.EnvTrigger, Value: "Manual"}}}}}}}
	out, err := runTransform(job)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(want))
	g.Expect(triggerOf(out.(*batchv1.Job))).To(Equal(triggerOf(want)))

	limits := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "run-1-x", Labels: map[string]string{runcontract.LabelJob: "sj"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "runner", Image: "example.com/runner:1",
			Resources: corev1.ResourceRequirements{Limits: limits, Requests: limits}, Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "runner",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, Message: "m"}}}}},
	}
	wantPod := pod.DeepCopy()
	wantPod.Spec = corev1.PodSpec{Containers: []corev1.Container{{Name: "runner", Resources: corev1.ResourceRequirements{Limits: limits}}}}
	out, err = runTransform(pod)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(wantPod))
}
