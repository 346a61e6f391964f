package cli

import (
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
