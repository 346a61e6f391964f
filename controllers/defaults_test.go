package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"

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

	for _, sj := range []*syncv1.SyncJob{sampleSyncJob(ns, "pg-defaults"), httpJob} {
		t.Run(sj.Name, func(t *testing.T) {
			g := NewWithT(t)
			local := sj.DeepCopy()
			local.Default()
			g.Expect(local.Validate()).To(Succeed())
			g.Expect(k8sClient.Create(context.Background(), sj)).To(Succeed())
			g.Expect(local.Spec).To(Equal(sj.Spec))
		})
	}
}
