package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestReconcileRequestStartsFullReconcileJob: a reconcile-requested-at token starts one Job
// whose runner is told to reconcile keys (CHECKPOINTED_FULL_RECONCILE=true) and carries the
// confirm-deletes token; the token is recorded as handled.
func TestReconcileRequestStartsFullReconcileJob(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "recon-req")
	annotate(g, sj, map[string]string{
		syncv1.ReconcileRequestedAnnotation: "f1",
		syncv1.ConfirmDeletesAnnotation:     "20-of-20-abcd1234",
	})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledReconcileRequest).To(Equal("f1"), "%+v", sj.Status)
	}, timeout, interval).Should(Succeed())
	jobs := runJobs(g, sj)
	g.Expect(jobs).To(HaveLen(1))
	job := jobs[0]
	g.Expect(job.Name).To(Equal(runcontract.RequestedJobName(sj.Name, runcontract.KindReconcile, "f1")))
	c := job.Spec.Template.Spec.Containers[0]
	g.Expect(c.Args).To(Equal(runcontract.SyncArgs))
	g.Expect(c.Env).To(ContainElements(
		corev1.EnvVar{Name: runcontract.EnvTrigger, Value: runcontract.TriggerManual},
		corev1.EnvVar{Name: runcontract.EnvFullReconcile, Value: "true"},
		corev1.EnvVar{Name: runcontract.EnvConfirmDeletes, Value: "20-of-20-abcd1234"},
	))
}

// TestDeleteAnnotationNamesMatchTheRunner: the runner names these annotations in its
// DeleteValve message without importing the API.
func TestDeleteAnnotationNamesMatchTheRunner(t *testing.T) {
	g := NewWithT(t)
	g.Expect(runcontract.ConfirmDeletesAnnotation).To(Equal(syncv1.ConfirmDeletesAnnotation))
	g.Expect(runcontract.ReconcileRequestedAnnotation).To(Equal(syncv1.ReconcileRequestedAnnotation))
}

// TestAdmissionDeletes: a delete mode other than Ignore needs a detection method; the
// apiserver refuses one without and names the fields, and local mode's Validate agrees.
func TestAdmissionDeletes(t *testing.T) {
	ns := newNamespace(t)
	detect := "spec.deletes.sourceField, spec.deletes.fullReconcile, spec.cursor.mode Snapshot or spec.source.http.deletedUrl"
	for _, tc := range []struct {
		name   string
		mutate func(*syncv1.SyncJob)
		want   []string // nil: accepted
	}{
		{"SoftDelete without detection", func(sj *syncv1.SyncJob) { sj.Spec.Deletes.Mode = "SoftDelete" },
			[]string{"spec.deletes.mode SoftDelete or Delete needs a way to detect deletes", detect}},
		{"Delete without detection", func(sj *syncv1.SyncJob) { sj.Spec.Deletes.Mode = "Delete" },
			[]string{detect}},
		{"Delete with a source marker", func(sj *syncv1.SyncJob) {
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "Delete", SourceField: "deleted_at"}
		}, nil},
		{"SoftDelete with full reconciliation", func(sj *syncv1.SyncJob) {
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "SoftDelete", FullReconcile: &syncv1.FullReconcileSpec{EveryRuns: 24}}
		}, nil},
		{"Delete with an HTTP tombstone endpoint", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.Postgres = nil
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "http://billing.example/invoices", DeletedURL: "http://billing.example/invoices/deleted?since={since}"}
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "Delete"}
		}, nil},
		{"tombstone endpoint without {since}", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.Postgres = nil
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "http://billing.example/invoices", DeletedURL: "http://billing.example/invoices/deleted"}
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "Delete"}
		}, []string{"spec.source.http.deletedUrl must hold {since}"}},
		{"idsUrl without {after}", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.Postgres = nil
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "http://billing.example/invoices", IDsURL: "http://billing.example/invoices/ids"}
		}, []string{"spec.source.http.idsUrl must hold {after}"}},
		{"keysUrl without {after}", func(sj *syncv1.SyncJob) {
			sj.Spec.Sink.Postgres = nil
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "Upsert", URL: "http://crm.example/invoices/{key}", KeysURL: "http://crm.example/invoices/keys"}
		}, []string{"spec.sink.http.keysUrl must hold {after}"}},
		{"Delete in Snapshot mode (the snapshot detects deletes)", func(sj *syncv1.SyncJob) {
			sj.Spec.Cursor.Mode = syncv1.CursorSnapshot
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "Delete"}
		}, nil},
		{"SoftDelete in Snapshot mode", func(sj *syncv1.SyncJob) {
			sj.Spec.Cursor.Mode = syncv1.CursorSnapshot
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "SoftDelete"}
		}, nil},
		{"Delete in Incremental mode still needs detection", func(sj *syncv1.SyncJob) {
			sj.Spec.Cursor.Mode = syncv1.CursorIncremental
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "Delete"}
		}, []string{detect}},
		{"Ignore needs nothing", func(sj *syncv1.SyncJob) { sj.Spec.Deletes.Mode = "Ignore" }, nil},
		{"everyRuns 0", func(sj *syncv1.SyncJob) {
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "Delete", FullReconcile: &syncv1.FullReconcileSpec{EveryRuns: 0}}
		}, []string{"spec.deletes.fullReconcile.everyRuns"}},
		{"maxFractionPercent over 100", func(sj *syncv1.SyncJob) {
			sj.Spec.Deletes = syncv1.DeletesSpec{Mode: "Delete", SourceField: "gone", MaxFractionPercent: ptr.To[int32](101)}
		}, []string{"spec.deletes.maxFractionPercent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := sampleSyncJob(ns, "deletes")
			sj.GenerateName, sj.Name = "deletes-", ""
			tc.mutate(sj)
			local := sj.DeepCopy()
			local.Name = "deletes"
			local.Default()
			lerr := local.Validate()
			err := k8sClient.Create(context.Background(), sj)
			if tc.want == nil {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(lerr).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(HaveOccurred(), "the apiserver accepted an invalid SyncJob")
			g.Expect(lerr).To(HaveOccurred(), "local mode accepted what the apiserver refuses")
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
				g.Expect(lerr.Error()).To(ContainSubstring(w))
			}
		})
	}
}
