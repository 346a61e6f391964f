package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
	"github.com/checkpointed/checkpointed/runner/mapping"
	"github.com/checkpointed/checkpointed/test/demoapi"
)

// demoSpec is the sink config of mode against the demo CRM, with the CRD defaults but a
// batch size of 7, PATCH upserts and staleWhen for its 409 "stale write refused"; the key
// and fields come from the mapping.
func demoSpec(base, mode string) SinkConfig {
	s := SinkConfig{Mode: mode, Method: "PUT", BatchSize: 7, SourceUpdatedAtField: "source_updated_at", DeleteMode: DeleteIgnore, DeleteField: "deleted_at",
		StaleWhen: &StaleMatch{Statuses: []int{http.StatusConflict}, BodyContains: "stale write refused"}}
	switch mode {
	case ModeUpsert:
		s.URL, s.Method = base+"/invoices/billing_invoice_id/{key}", "PATCH"
	case ModeBatch:
		s.URL = base + "/invoices/batch/upsert"
	case ModeLookupThenWrite:
		s.URL = base + "/invoices"
		s.SearchURL = base + "/invoices/search?billing_invoice_id={key}"
		s.UpdateURL = base + "/invoices/{id}"
	}
	return s
}

// TestSinkAgainstDemoCRM: the seed scenario against the demo CRM, in each mode: invoices
// linked to their customer's account by a lookup; a customer without account fails its
// record; three runs, the first through lost answers (failures after the write took
// effect), leave one object per invoice; a newer version lands the same way; an older one
// is Stale.
func TestSinkAgainstDemoCRM(t *testing.T) {
	customers := []string{"cus_00001", "cus_00002", "cus_00003"}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			crm := demoapi.NewCRM(demoapi.CRMOptions{Customers: customers, OmitAccounts: []string{"cus_00003"}, APIKey: testToken, RequireAccount: true})
			srv := httptest.NewServer(crm)
			t.Cleanup(srv.Close)
			client := mustClient(transport.Options{
				Auth:   transport.BearerAuth(testToken),
				Retry:  retryPolicy(4),
				Clock:  transporttest.NewClock(t0),
				Jitter: func(time.Duration) time.Duration { return 0 },
			})
			spec := demoSpec(srv.URL, mode)
			resolver, err := NewResolver(spec.URL, client, ResolverOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			m, err := mapping.New(mapping.Spec{SourceName: "billing", Key: mapping.Key{Field: "billing_invoice_id"}, Resolver: resolver,
				Fields: []mapping.Field{
					{To: "account_id", From: "customer_id", Type: connector.TypeString, Required: true,
						Lookup: &connector.Lookup{URL: srv.URL + "/accounts?billing_customer_id={value}", ResultsPath: "results", IDPath: "id"}},
					{To: "total", From: "total", Type: connector.TypeDecimal},
					{To: "status", From: "status", Type: connector.TypeString},
				}})
			g.Expect(err).NotTo(HaveOccurred())
			// One request at a time: "every 3rd request fails" then never fails a request and
			// its retry both, whatever the interleaving (with parallel requests a retry could
			// land on every 3rd request again and exhaust its attempts).
			spec.KeyField, spec.Fields = m.KeyField(), m.Fields()
			sink, err := NewSink(spec, client, SinkOptions{Concurrency: 1})
			g.Expect(err).NotTo(HaveOccurred())

			// mapAll maps 20 invoices at version v (minutes after t0); every 10th has the
			// customer without account.
			mapAll := func(v int) ([]connector.WriteRecord, []error) {
				var out []connector.WriteRecord
				var errs []error
				for i := range 20 {
					rec := connector.Record{ID: fmt.Sprintf("inv_%05d", i), UpdatedAt: t0.Add(time.Duration(v) * time.Minute),
						Fields: map[string]any{"customer_id": customers[i%2], "total": fmt.Sprintf("%d.%02d", i+v, i), "status": "open"}}
					if i%10 == 9 {
						rec.Fields["customer_id"] = "cus_00003"
					}
					w, err := m.MapContext(t.Context(), rec)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					out = append(out, w)
				}
				return out, errs
			}
			upsert := func(batch []connector.WriteRecord) []connector.Outcome {
				res, err := sink.Upsert(t.Context(), batch)
				g.Expect(err).NotTo(HaveOccurred())
				return outcomes(res)
			}

			batch, errs := mapAll(1)
			g.Expect(errs).To(HaveLen(2))
			var re *connector.RecordError
			g.Expect(errors.As(errs[0], &re)).To(BeTrue())
			g.Expect(re.Reason).To(Equal(mapping.ReasonLookupNotFound))
			g.Expect(re.Detail).To(ContainSubstring("billing_customer_id=cus_00003 found nothing"))

			// The first run through lost answers: every 3rd request fails after applying.
			crm.SetFaults(demoapi.Faults{FailEvery: 3, FailAfterApply: true})
			g.Expect(upsert(batch)).To(HaveEach(BeElementOf(connector.Written, connector.Unchanged)))
			g.Expect(crm.Stats().Injected).To(BeNumerically(">", 0))
			crm.SetFaults(demoapi.Faults{})
			g.Expect(crm.DuplicateKeys()).To(BeEmpty())
			for range 2 {
				g.Expect(upsert(batch)).To(HaveEach(connector.Unchanged))
			}
			g.Expect(crm.Count()).To(Equal(18))
			for _, o := range crm.Invoices() {
				acc, _ := crm.AccountForCustomer("cus_00001")
				if o.Key[len(o.Key)-1]%2 == 1 { // odd invoices belong to cus_00002
					acc, _ = crm.AccountForCustomer("cus_00002")
				}
				g.Expect(o.Properties["account_id"]).To(Equal(acc.ID), o.Key)
			}

			// A newer version through lost answers: every 3rd request fails after applying.
			newer, _ := mapAll(2)
			crm.SetFaults(demoapi.Faults{FailEvery: 3, FailAfterApply: true})
			g.Expect(upsert(newer)).To(HaveEach(BeElementOf(connector.Written, connector.Unchanged)))
			crm.SetFaults(demoapi.Faults{})
			g.Expect(crm.DuplicateKeys()).To(BeEmpty())
			g.Expect(crm.Count()).To(Equal(18))
			g.Expect(crm.Find("billing:inv_00004")[0].Properties["total"]).To(BeEquivalentTo("6.04"))

			g.Expect(upsert(batch)).To(HaveEach(connector.Stale))
		})
	}
}
