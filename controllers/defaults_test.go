package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestLocalDefaultsMatchTheSchema: SyncJob.Default (used by local mode, where no apiserver
// defaults anything) fills in exactly what the CRD schema's defaults fill in.
func TestLocalDefaultsMatchTheSchema(t *testing.T) {
	ns := newNamespace(t)
	httpJob := sampleSyncJob(ns, "http-defaults")
	httpJob.Spec.Source = syncv1.SourceSpec{HTTP: &syncv1.HTTPSource{URL: "http://billing.example/invoices",
		Auth: &syncv1.HTTPAuth{Type: "APIKey", Secret: syncv1.SecretKeyRef{Name: "billing", Key: "key"}}}}
	httpJob.Spec.Sink = syncv1.SinkSpec{HTTP: &syncv1.HTTPSink{Mode: "Batch", URL: "http://crm.example/batch"}}
	httpJob.Spec.RateLimit = &syncv1.RateLimitSpec{RequestsPerSecond: resource.MustParse("50")}
	httpJob.Spec.Mapping = append(httpJob.Spec.Mapping, syncv1.FieldMapping{To: "account_id", From: "customer_id",
		Lookup: &syncv1.MappingLookup{URL: "http://crm.example/accounts?billing_customer_id={value}"}})

	// Explicit zeros are values, not "unset": maxErrors 0 halts at the first record error,
	// sample 0 turns the drift check off. Neither the schema nor Default may replace them.
	zeros := sampleSyncJob(ns, "explicit-zeros")
	zeros.Spec.Errors.MaxErrors = ptr.To[int32](0)
	zeros.Spec.Reconcile.Sample = ptr.To[int32](0)

	// Snapshot mode: the same defaults (hashColumn among them), the mode kept.
	snapshot := sampleSyncJob(ns, "snapshot-defaults")
	snapshot.Spec.Cursor.Mode = syncv1.CursorSnapshot

	for _, sj := range []*syncv1.SyncJob{sampleSyncJob(ns, "pg-defaults"), httpJob, zeros, snapshot} {
		t.Run(sj.Name, func(t *testing.T) {
			g := NewWithT(t)
			local := sj.DeepCopy()
			local.Default()
			g.Expect(local.Validate()).To(Succeed())
			g.Expect(k8sClient.Create(context.Background(), sj)).To(Succeed())
			g.Expect(local.Spec).To(Equal(sj.Spec))
			if sj.Name == zeros.Name {
				g.Expect(sj.Spec.Errors.MaxErrors).To(HaveValue(BeZero()), "the apiserver defaulted an explicit maxErrors: 0")
				g.Expect(sj.Spec.Reconcile.Sample).To(HaveValue(BeZero()), "the apiserver defaulted an explicit sample: 0")
				// The in-cluster runner defaults what it reads again: that changes nothing.
				again := sj.DeepCopy()
				again.Default()
				g.Expect(again.Spec).To(Equal(sj.Spec))
			}
		})
	}
}
