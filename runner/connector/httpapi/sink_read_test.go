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

// TestSinkReadByKeysDemoCRM: the demo CRM's object for a key, through the upsert URL's GET
// (Upsert mode) and the search URL (LookupThenWrite): its properties and stored
// source_updated_at; a key no object holds is absent. Batch mode without a search URL
// cannot read and says so.
func TestSinkReadByKeysDemoCRM(t *testing.T) {
	for _, mode := range []string{ModeUpsert, ModeLookupThenWrite, ModeBatch} {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			crm := demoapi.NewCRM(demoapi.CRMOptions{APIKey: testToken})
			srv := httptest.NewServer(crm)
			t.Cleanup(srv.Close)
			client := mustClient(transport.Options{Auth: transport.BearerAuth(testToken), Retry: retryPolicy(1)})
			spec := demoSpec(srv.URL, mode)
			spec.KeyField, spec.Fields = "billing_invoice_id", []string{"status", "total"}
			sink, err := NewSink(spec, client, SinkOptions{Concurrency: 1})
			g.Expect(err).NotTo(HaveOccurred())
			at := time.Date(2026, 6, 30, 23, 40, 0, 500_000_000, time.UTC)
			res, err := sink.Upsert(ctx, []connector.WriteRecord{{Key: "inv_1", SourceID: "inv_1", SourceUpdatedAt: at,
				Values: map[string]any{"status": "open", "total": connector.Decimal("12.30")}}})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res[0].Outcome).To(Equal(connector.Written))

			got, err := sink.ReadByKeys(ctx, []string{"inv_1", "inv_2"})
			if mode == ModeBatch {
				g.Expect(err).To(MatchError(ContainSubstring("no URL to read an object by key")))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(HaveLen(1))
			g.Expect(got[0].Key).To(Equal("inv_1"))
			g.Expect(got[0].SourceUpdatedAt).To(Equal(at))
			g.Expect(got[0].Values).To(Equal(map[string]any{"status": "open", "total": json.Number("12.30")}))
		})
	}
}
