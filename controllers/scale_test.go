package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/event"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

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

// TestPreflightCreationIsNoTrigger: the creation of a preflight Job (the controller's own,
// already in status.preflight) brings no reconcile; that of any other Job of a run does
// (a CronJob's scheduled run, a Job made by hand).
func TestPreflightCreationIsNoTrigger(t *testing.T) {
	g := NewWithT(t)
	p := notPreflightCreate()
	job := func(labels map[string]string) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Labels: labels}}
	}
	g.Expect(p.Create(event.CreateEvent{Object: job(map[string]string{runcontract.LabelJob: "a", runcontract.LabelPreflight: "1"})})).To(BeFalse())
	g.Expect(p.Create(event.CreateEvent{Object: job(map[string]string{runcontract.LabelJob: "a"})})).To(BeTrue())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: job(map[string]string{runcontract.LabelPreflight: "1"}),
		ObjectNew: job(map[string]string{runcontract.LabelPreflight: "1"})})).To(BeTrue(), "a preflight Job's changes still trigger")
}
