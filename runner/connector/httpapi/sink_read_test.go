package httpapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/test/demoapi"
)

// TestReadByKeysAndCountAgainstDemoCRM: the sink reads objects back by key (Upsert and
// LookupThenWrite modes; Batch mode says it cannot), missing and soft-deleted keys are
// absent, and the count URL counts the window, soft-deleted objects left out.
func TestReadByKeysAndCountAgainstDemoCRM(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			crm := demoapi.NewCRM(demoapi.CRMOptions{APIKey: testToken})
			srv := httptest.NewServer(crm)
			t.Cleanup(srv.Close)
			client := mustClient(transport.Options{Auth: transport.BearerAuth(testToken), Retry: retryPolicy(2)})
			spec := demoSpec(srv.URL, mode)
			spec.DeleteMode = DeleteSoft
			spec.KeyField, spec.Fields = "billing_invoice_id", []string{"status", "total"}
			spec.CountURL = srv.URL + "/invoices/count?source_updated_from={from}&source_updated_to={to}&unset=deleted_at"
			sink, err := NewSink(spec, client, SinkOptions{})
			g.Expect(err).NotTo(HaveOccurred())

			rec := func(key string, at time.Time, status string) connector.WriteRecord {
				return connector.WriteRecord{Key: key, SourceID: key, SourceUpdatedAt: at,
					Values: map[string]any{"status": status, "total": connector.Decimal("120.50")}}
			}
			gone := rec("c", t0.Add(3*time.Second), "open")
			gone.Deleted = true
			res, err := sink.Upsert(ctx, []connector.WriteRecord{rec("a", t0.Add(time.Second), "open"), rec("b", t0.Add(2*time.Second), "paid"), gone})
			g.Expect(err).NotTo(HaveOccurred())
			for _, r := range res {
				g.Expect(r.Outcome).To(Equal(connector.Written), "%v", r.Err)
			}

			n, err := sink.CountWindow(ctx, t0, t0.Add(time.Minute))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n).To(Equal(int64(2)), "c is soft-deleted")
			n, err = sink.CountWindow(ctx, t0, t0.Add(time.Second))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n).To(Equal(int64(1)))
			g.Expect(sink.CanCount()).To(BeTrue())

			g.Expect(sink.CanReadByKey()).To(Equal(mode != ModeBatch))
			if mode == ModeBatch {
				_, err := sink.ReadByKeys(ctx, []string{"a"})
				g.Expect(err).To(MatchError(ContainSubstring("Batch")))
				return
			}
			got, err := sink.ReadByKeys(ctx, []string{"a", "b", "c", "missing"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(ConsistOf(
				connector.SinkRecord{Key: "a", SourceUpdatedAt: t0.Add(time.Second), Values: map[string]any{"status": "open", "total": json.Number("120.50")}},
				connector.SinkRecord{Key: "b", SourceUpdatedAt: t0.Add(2 * time.Second), Values: map[string]any{"status": "paid", "total": json.Number("120.50")}},
			))
		})
	}
}

// TestCountURLIsValidated: a count URL must be absolute and hold both placeholders; without
// one the sink cannot count.
func TestCountURLIsValidated(t *testing.T) {
	g := NewWithT(t)
	spec := demoSpec("http://crm", ModeUpsert)
	spec.KeyField = "billing_invoice_id"
	for _, bad := range []string{"/invoices/count?f={from}&t={to}", "http://crm/count?f={from}", "http://crm/count?t={to}"} {
		spec.CountURL = bad
		g.Expect(spec.Validate()).To(MatchError(ContainSubstring("countUrl")), bad)
	}
	spec.CountURL = ""
	sink, err := NewSink(spec, mustClient(transport.Options{Retry: retryPolicy(1)}), SinkOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sink.CanCount()).To(BeFalse())
}
