package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/checkpointed/checkpointed/internal/desired"
)

// TestCronJobHeldAsMetadataSeesRemovals: the cache holds CronJobs as metadata only, and
// still sees an edit that removes a field the controller set (an environment variable of
// the runner, by another field manager: the controller's Apply entry loses it) or its stamp
// (appliedDigestAnnotation): both are put back.
func TestCronJobHeldAsMetadataSeesRemovals(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := convergedSyncJob(t, "meta")
	key := client.ObjectKey{Namespace: sj.Namespace, Name: desired.CronJobName(sj)}
	envOf := func(cj *batchv1.CronJob) []corev1.EnvVar {
		return cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env
	}

	cj := &batchv1.CronJob{}
	g.Expect(k8sClient.Get(ctx, key, cj)).To(Succeed())
	want := envOf(cj)
	g.Expect(len(want)).To(BeNumerically(">", 1))
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env = want[:len(want)-1]
	g.Expect(k8sClient.Update(ctx, cj, client.FieldOwner("kubectl-edit"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key, cj)).To(Succeed())
		g.Expect(envOf(cj)).To(Equal(want))
	}, timeout, interval).Should(Succeed())

	stamp := cj.Annotations[appliedDigestAnnotation]
	g.Expect(stamp).NotTo(BeEmpty())
	delete(cj.Annotations, appliedDigestAnnotation)
	// A spec change by the same edit brings the reconcile (CronJobs are watched for spec
	// changes); the annotation's removal alone is found at the next reconcile of any cause.
	cj.Spec.Schedule = "0 0 1 1 *"
	g.Expect(k8sClient.Update(ctx, cj, client.FieldOwner("kubectl-edit"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key, cj)).To(Succeed())
		g.Expect(cj.Annotations).To(HaveKeyWithValue(appliedDigestAnnotation, stamp))
		g.Expect(cj.Spec.Schedule).To(Equal(sj.Spec.Schedule))
	}, timeout, interval).Should(Succeed())
}

// TestProofDigest: the proof of fieldproof.go changes with the stamp and with any field
// the set loses, and is empty without either.
func TestProofDigest(t *testing.T) {
	g := NewWithT(t)
	full := fieldpath.NewSet(
		fieldpath.MakePathOrDie("spec", "schedule"),
		fieldpath.MakePathOrDie("spec", "suspend"),
		fieldpath.MakePathOrDie("metadata", "annotations", appliedDigestAnnotation),
	)
	lost := fieldpath.NewSet(
		fieldpath.MakePathOrDie("spec", "schedule"),
		fieldpath.MakePathOrDie("metadata", "annotations", appliedDigestAnnotation),
	)
	same := fieldpath.NewSet(
		fieldpath.MakePathOrDie("metadata", "annotations", appliedDigestAnnotation),
		fieldpath.MakePathOrDie("spec", "suspend"),
		fieldpath.MakePathOrDie("spec", "schedule"),
	)
	g.Expect(proofDigest("a", full)).NotTo(BeEmpty())
	g.Expect(proofDigest("a", full)).To(Equal(proofDigest("a", same)), "the same set, built in another order")
	g.Expect(proofDigest("a", full)).NotTo(Equal(proofDigest("b", full)), "another stamp")
	g.Expect(proofDigest("a", full)).NotTo(Equal(proofDigest("a", lost)), "a field lost")
	g.Expect(proofDigest("", full)).To(BeEmpty())
	g.Expect(proofDigest("a", nil)).To(BeEmpty())
}
