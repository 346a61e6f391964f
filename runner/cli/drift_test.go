package cli

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// driftJob keeps the edits out of the re-read safety gap and samples every record.
const driftJob = "  cursor: {safetyGap: 1ms}\n  reconcile: {window: 24h, sample: 50}\n"

// TestDriftCheckReportsHandEdits: rows edited by hand in the PostgreSQL sink are reported
// by key and field on the next run (which reads nothing new), and a run over an untouched
// sink reports no drift.
func TestDriftCheckReportsHandEdits(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Extra: driftJob})
	insertInvoices(t, e.src, 1, 50, "2026-06-30 12:00:00+00")

	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rc := r.record(t).Reconciliation
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.SourceCount).To(Equal(int64(50)))
	g.Expect(rc.SinkCount).To(Equal(int64(50)))
	g.Expect(rc.Sampled).To(Equal(int64(50)))
	g.Expect(rc.Mismatched).To(BeZero())
	g.Expect(rc.Mismatches).To(BeEmpty())
	g.Expect(rc.Drift).To(BeFalse())

	synctest.Exec(t, e.sink,
		`UPDATE crm_invoices SET status = 'void' WHERE billing_invoice_id = 'billing:7'`,
		`UPDATE crm_invoices SET status = 'void', total = total + 1 WHERE billing_invoice_id = 'billing:20'`,
		`UPDATE crm_invoices SET total = total * 1 WHERE billing_invoice_id = 'billing:30'`, // the same value: no drift
	)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseSucceeded), "drift never fails a run")
	g.Expect(rec.Upserted).To(BeZero())
	rc = rec.Reconciliation
	g.Expect(rc.Sampled).To(Equal(int64(50)))
	g.Expect(rc.Mismatched).To(Equal(int64(2)))
	g.Expect(rc.Mismatches).To(Equal([]syncv1.Mismatch{
		{Key: "billing:7", Fields: []string{"status"}},
		{Key: "billing:20", Fields: []string{"status", "total"}},
	}))
	g.Expect(rc.MismatchedIDs).To(Equal([]string{"7", "20"}))
	g.Expect(rc.SourceCount).To(Equal(rc.SinkCount))
	g.Expect(rc.Drift).To(BeTrue())
}

// TestDeletionsAreNotDrift: records deleted in the source and propagated under SoftDelete
// or Delete are left out on both sides: the counts agree and the sample finds nothing.
func TestDeletionsAreNotDrift(t *testing.T) {
	for _, mode := range []string{"SoftDelete", "Delete"} {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, job{Extra: driftJob + "  deletes: {mode: " + mode + ", sourceField: deleted_at}\n"})
			synctest.Exec(t, e.src, `ALTER TABLE invoices ADD COLUMN deleted_at timestamptz`)
			synctest.Exec(t, e.sink, `ALTER TABLE crm_invoices ADD COLUMN deleted_at timestamptz`)
			insertInvoices(t, e.src, 1, 50, "2026-06-30 12:00:00+00")
			r := e.sync()
			g.Expect(r.code).To(Equal(0), r.stderr)
			g.Expect(r.record(t).Reconciliation.Drift).To(BeFalse())

			synctest.Exec(t, e.src, `UPDATE invoices SET deleted_at = '2026-06-30 13:00:00+00', updated_at = '2026-06-30 13:00:00+00' WHERE id IN (5, 6)`)
			r = e.sync()
			g.Expect(r.code).To(Equal(0), r.stderr)
			rec := r.record(t)
			g.Expect(rec.Deleted).To(Equal(int64(2)))
			rc := rec.Reconciliation
			g.Expect(rc.SourceCount).To(Equal(int64(48)))
			g.Expect(rc.SinkCount).To(Equal(int64(48)))
			g.Expect(rc.Sampled).To(Equal(int64(48)))
			g.Expect(rc.Mismatches).To(BeEmpty())
			g.Expect(rc.Drift).To(BeFalse())
		})
	}
}

// TestDriftCheckReportsCRMEdits: invoices edited in the demo CRM through its API are
// reported by key and field on the next run; the billing API cannot count, so only the
// sample speaks (the CRM's count URL still answers).
func TestDriftCheckReportsCRMEdits(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 100})
	s.writeJob(seedOpts{invoices: 100, extra: "  reconcile: {window: 72h, sample: 100}\n",
		sinkHTTP: "      countUrl: \"" + s.cURL + "/invoices/count?source_updated_from={from}&source_updated_to={to}&unset=deleted_at\"\n"})

	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rc := r.record(t).Reconciliation
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.Uncounted).To(BeTrue(), "the billing API has no count endpoint")
	g.Expect(rc.Sampled).To(Equal(int64(100)))
	g.Expect(rc.Mismatches).To(BeEmpty())
	g.Expect(rc.Drift).To(BeFalse())

	invoices := sortedInvoices(s.billing)
	first, second := invoices[3], invoices[10]
	other := "void"
	if first.Status == "void" {
		other = "paid"
	}
	crmPatch(t, s, first.ID, fmt.Sprintf(`{"status": %q}`, other))
	crmPatch(t, s, second.ID, `{"total": "99999.99"}`)

	r = s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rc = r.record(t).Reconciliation
	g.Expect(rc.Sampled).To(Equal(int64(100)))
	g.Expect(rc.Mismatches).To(Equal([]syncv1.Mismatch{
		{Key: first.ID, Fields: []string{"status"}},
		{Key: second.ID, Fields: []string{"total"}},
	}))
	g.Expect(rc.Drift).To(BeTrue())
}

// crmPatch changes an invoice object in the CRM by hand, through its API (PATCH by the
// CRM's own id, as a person editing it in the CRM would).
func crmPatch(t *testing.T, s *seed, invoiceID, body string) {
	t.Helper()
	objs := s.crm.Find(invoiceID)
	if len(objs) != 1 {
		t.Fatalf("invoice %s: %d CRM objects", invoiceID, len(objs))
	}
	req, err := http.NewRequest(http.MethodPatch, s.cURL+"/invoices/"+objs[0].ID, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+crmToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH invoice %s: %s", invoiceID, resp.Status)
	}
}
