package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/imagepolicy"
)

// allowedTestImages is the suite's --allowed-runner-images: every example.com image.
var allowedTestImages = func() imagepolicy.Policy {
	p, err := imagepolicy.Parse("example.com/")
	if err != nil {
		panic(err)
	}
	return p
}()

// expectStalled waits until sj is Stalled and not Ready with reason, its message holding
// every part.
func expectStalled(g *WithT, sj *syncv1.SyncJob, reason string, parts ...string) {
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		stalled := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(reason))
		for _, p := range parts {
			g.Expect(stalled.Message).To(ContainSubstring(p))
		}
		ready := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(reason))
	}, timeout, interval).Should(Succeed())
}

// TestNameConflictCronJob: a CronJob of the SyncJob's name that the SyncJob does not
// control is never taken over: Stalled NameConflict naming it, the CronJob untouched.
// Once it is deleted the SyncJob gets its own.
func TestNameConflictCronJob(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	foreign := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken", Labels: map[string]string{"team": "other"}},
		Spec: batchv1.CronJobSpec{Schedule: "0 0 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "main", Image: "example.com/other:v1"}}}}}}},
	}
	g.Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
	sj := sampleSyncJob(ns, "taken")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())

	expectStalled(g, sj, syncv1.ReasonNameConflict, "CronJob "+ns+"/taken", "not controlled by this SyncJob")
	cur := &batchv1.CronJob{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), cur)).To(Succeed())
	g.Expect(cur.OwnerReferences).To(BeEmpty(), "the foreign CronJob was taken over")
	g.Expect(cur.Spec.Schedule).To(Equal("0 0 * * *"))
	g.Expect(cur.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image).To(Equal("example.com/other:v1"))

	g.Expect(k8sClient.Delete(ctx, foreign)).To(Succeed())
	// Any change of the SyncJob makes the controller look again.
	updateSpec(g, sj, func(s *syncv1.SyncJobSpec) { s.Schedule = "30 3 * * *" })
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), cur)).To(Succeed())
		ref := metav1.GetControllerOf(cur)
		g.Expect(ref).NotTo(BeNil())
		g.Expect(ref.UID).To(Equal(sj.UID))
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled)).To(BeNil())
	}, timeout, interval).Should(Succeed())
}

// TestNameConflictRunnerIdentity: a ServiceAccount or Role of the runner's name that the
// SyncJob does not control is never taken over (nor bound): Stalled NameConflict naming it.
func TestNameConflictRunnerIdentity(t *testing.T) {
	for _, tc := range []struct {
		kind string
		obj  func(ns string) client.Object
	}{
		{"ServiceAccount", func(ns string) client.Object {
			return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ident-runner"}}
		}},
		{"Role", func(ns string) client.Object {
			return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ident-runner"}}
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ns := newNamespace(t)
			foreign := tc.obj(ns)
			g.Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
			sj := sampleSyncJob(ns, "ident")
			g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
			expectStalled(g, sj, syncv1.ReasonNameConflict, tc.kind+" "+ns+"/ident-runner")
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), foreign)).To(Succeed())
			g.Expect(foreign.GetOwnerReferences()).To(BeEmpty())
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ident-runner"}, &rbacv1.RoleBinding{}))).
				To(BeTrue(), "nothing bound to a foreign identity")
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ident"}, &batchv1.CronJob{}))).To(BeTrue())
		})
	}
}

// TestRunnerImageNotAllowed: a runner image outside --allowed-runner-images makes the
// SyncJob Stalled with reason RunnerImageNotAllowed and no CronJob (no Pod runs it);
// changing to an allowed image recovers.
func TestRunnerImageNotAllowed(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "img")
	sj.Spec.Runner.Image = "evil.example.org/runner:v1"
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	expectStalled(g, sj, syncv1.ReasonRunnerImageNotAllowed, `"evil.example.org/runner:v1"`, "--allowed-runner-images", "example.com/")
	g.Consistently(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "img"}, &batchv1.CronJob{}))
	}, "1s", interval).Should(BeTrue(), "no CronJob may run a refused image")

	updateSpec(g, sj, func(s *syncv1.SyncJobSpec) { s.Runner.Image = "example.com/checkpointed/runner:v2" })
	g.Eventually(func(g Gomega) {
		cj := &batchv1.CronJob{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "img"}, cj)).To(Succeed())
		g.Expect(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image).To(Equal("example.com/checkpointed/runner:v2"))
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled)).To(BeNil())
	}, timeout, interval).Should(Succeed())
}
