package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestCreateBuildsOwnedObjects: a new SyncJob gets its CronJob, runner identity,
// checkpoint ConfigMap and Lease, all controlled by it, and Ready=True with the
// observed generation.
func TestCreateBuildsOwnedObjects(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "invoices")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())

	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
	cj := &batchv1.CronJob{}
	g.Eventually(func() error { return k8sClient.Get(ctx, key("invoices"), cj) }, timeout, interval).Should(Succeed())

	// The CronJob.
	g.Expect(cj.Spec.Schedule).To(Equal("0 2 * * *"))
	g.Expect(*cj.Spec.TimeZone).To(Equal("Europe/Berlin"))
	g.Expect(cj.Spec.ConcurrencyPolicy).To(Equal(batchv1.ForbidConcurrent))
	g.Expect(*cj.Spec.Suspend).To(BeFalse())
	g.Expect(*cj.Spec.SuccessfulJobsHistoryLimit).To(Equal(int32(3)))
	g.Expect(*cj.Spec.FailedJobsHistoryLimit).To(Equal(int32(3)))
	job := cj.Spec.JobTemplate.Spec
	g.Expect(*job.BackoffLimit).To(Equal(int32(0)))
	g.Expect(*job.ActiveDeadlineSeconds).To(Equal(int64(3600)))
	pod := job.Template.Spec
	g.Expect(pod.ServiceAccountName).To(Equal("invoices-runner"))
	g.Expect(pod.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
	g.Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(pod.Containers).To(HaveLen(1))
	c := pod.Containers[0]
	g.Expect(c.Image).To(Equal(testRunner))
	g.Expect(c.Args).To(Equal([]string{"sync", "--in-cluster"}))
	g.Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	g.Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
	g.Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	g.Expect(env["CHECKPOINTED_SYNCJOB"].Value).To(Equal("invoices"))
	g.Expect(env["CHECKPOINTED_NAMESPACE"].Value).To(Equal(ns))
	// Credentials only as secretKeyRef, never as values.
	g.Expect(env["BILLING_DB_DSN"].Value).To(BeEmpty())
	g.Expect(env["BILLING_DB_DSN"].ValueFrom.SecretKeyRef.Name).To(Equal("billing-db"))
	g.Expect(env["BILLING_DB_DSN"].ValueFrom.SecretKeyRef.Key).To(Equal("dsn"))
	g.Expect(env["CRM_DB_DSN"].ValueFrom.SecretKeyRef.Name).To(Equal("crm-db"))

	// The runner's identity: least privilege, by resourceNames.
	sa := &corev1.ServiceAccount{}
	g.Expect(k8sClient.Get(ctx, key("invoices-runner"), sa)).To(Succeed())
	role := &rbacv1.Role{}
	g.Expect(k8sClient.Get(ctx, key("invoices-runner"), role)).To(Succeed())
	names := map[string][]string{}
	unnamed := map[string][]string{} // resource -> verbs of the rules no resourceNames limit
	for _, r := range role.Rules {
		g.Expect(r.Resources).NotTo(ContainElement("secrets"))
		for _, res := range r.Resources {
			names[res] = r.ResourceNames
			if len(r.ResourceNames) == 0 {
				unnamed[res] = r.Verbs
			}
		}
	}
	// Only two rules cannot name their objects: Events are created, and a run reads the
	// Job it runs in (any name: `kubectl create job --from=cronjob`), get only.
	g.Expect(unnamed).To(Equal(map[string][]string{"events": {"create", "patch"}, "jobs": {"get"}}))
	g.Expect(names).To(HaveKeyWithValue("syncjobs", []string{"invoices"}))
	g.Expect(names).To(HaveKeyWithValue("syncjobs/status", []string{"invoices"}))
	g.Expect(names).To(HaveKeyWithValue("configmaps", []string{"invoices-checkpoint"}))
	g.Expect(names).To(HaveKeyWithValue("leases", []string{"invoices-run"}))
	rb := &rbacv1.RoleBinding{}
	g.Expect(k8sClient.Get(ctx, key("invoices-runner"), rb)).To(Succeed())
	g.Expect(rb.RoleRef.Name).To(Equal("invoices-runner"))
	g.Expect(rb.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "invoices-runner", Namespace: ns}))

	// The checkpoint and the run lock.
	cm := &corev1.ConfigMap{}
	g.Expect(k8sClient.Get(ctx, key("invoices-checkpoint"), cm)).To(Succeed())
	lease := &coordinationv1.Lease{}
	g.Expect(k8sClient.Get(ctx, key("invoices-run"), lease)).To(Succeed())

	// Every owned object is controlled by the SyncJob; the checkpoint is not owned (it
	// outlives the SyncJob) but labelled with its name and marked with its UID.
	g.Expect(k8sClient.Get(ctx, key("invoices"), sj)).To(Succeed())
	g.Expect(cm.OwnerReferences).To(BeEmpty())
	g.Expect(cm.Labels).To(HaveKeyWithValue("sync.checkpointed.io/syncjob", "invoices"))
	g.Expect(cm.Annotations).To(HaveKeyWithValue("sync.checkpointed.io/syncjob-uid", string(sj.UID)))
	g.Expect(cm.Data).To(BeEmpty(), "the controller creates the checkpoint empty")
	for _, obj := range []metav1.Object{cj, sa, role, rb, lease} {
		ref := metav1.GetControllerOf(obj)
		g.Expect(ref).NotTo(BeNil(), "%s has no controller", obj.GetName())
		g.Expect(ref.UID).To(Equal(sj.UID))
		g.Expect(ref.Kind).To(Equal("SyncJob"))
	}

	// Status: set up, Ready with the observed generation, no Stalled or Reconciling.
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key("invoices"), sj)).To(Succeed())
		ready := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(ready.ObservedGeneration).To(Equal(sj.Generation))
	}, timeout, interval).Should(Succeed())
	g.Expect(sj.Status.ObservedGeneration).To(Equal(sj.Generation))
	g.Expect(sj.Status.CronJobName).To(Equal("invoices"))
	g.Expect(sj.Status.CheckpointConfigMap).To(Equal("invoices-checkpoint"))
	g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled)).To(BeNil())
	g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReconciling)).To(BeNil())
}

// TestCheckpointIsNeverOverwritten: the runner's data in the checkpoint ConfigMap survives
// later reconciles.
func TestCheckpointIsNeverOverwritten(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "keep")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: ns, Name: "keep-checkpoint"}
	g.Eventually(func() error { return k8sClient.Get(ctx, key, cm) }, timeout, interval).Should(Succeed())
	cm.Data = map[string]string{"checkpoint.json": `{"job":"keep","cursor":{"updatedAt":"2026-06-30T23:55:00.123456Z","id":"inv_10492"}}`}
	g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())

	// A spec change makes the controller reconcile everything again.
	updateSpec(g, sj, func(s *syncv1.SyncJobSpec) { s.Schedule = "30 3 * * *" })
	g.Eventually(func(g Gomega) {
		cj := &batchv1.CronJob{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keep"}, cj)).To(Succeed())
		g.Expect(cj.Spec.Schedule).To(Equal("30 3 * * *"))
	}, timeout, interval).Should(Succeed())
	g.Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
	g.Expect(cm.Data["checkpoint.json"]).To(ContainSubstring("inv_10492"))
}

// TestDeleteRemovesOwnedObjects: deleting the SyncJob lets the garbage collector (a real
// kube-controller-manager in this suite) remove everything it owns, and keeps its
// checkpoint (checkpoint_retention_test.go).
func TestDeleteRemovesOwnedObjects(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "gone")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
	g.Eventually(func() error { return k8sClient.Get(ctx, key("gone"), &batchv1.CronJob{}) }, timeout, interval).Should(Succeed())

	g.Expect(k8sClient.Delete(ctx, sj, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
	for _, o := range []struct {
		name string
		obj  client.Object
	}{
		{"gone", &batchv1.CronJob{}},
		{"gone-runner", &corev1.ServiceAccount{}},
		{"gone-runner", &rbacv1.Role{}},
		{"gone-runner", &rbacv1.RoleBinding{}},
		{"gone-run", &coordinationv1.Lease{}},
	} {
		g.Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(o.name), o.obj))
		}, 60*timeout/20, interval).Should(BeTrue(), "%T %s still exists", o.obj, o.name)
	}
	g.Expect(k8sClient.Get(ctx, key("gone-checkpoint"), &corev1.ConfigMap{})).To(Succeed(), "the checkpoint outlives its SyncJob")
}
