package cli

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/test/synctest"
)

// TestOverlapVersionDigestsPostgres: on a PostgreSQL pair whose sink has the index on its
// source updated-at column, a rerun with nothing new confirms the safety gap by version
// digests (no position scanned) and writes nothing; a late commit inside the gap and a
// sink row edited back to an older version make the digests differ, and the gap's scan
// writes exactly those two; the next rerun is confirmed by digests again.
func TestOverlapVersionDigestsPostgres(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	synctest.Exec(t, e.sink, `CREATE INDEX ON crm_invoices (source_updated_at)`)
	insertInvoices(t, e.src, 1, 200, "2026-06-30 12:00:00+00")
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(200)))

	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec := r.record(t)
	g.Expect(r.stderr).To(ContainSubstring(`"msg":"overlap confirmed by version digests"`))
	g.Expect(rec.Read).To(Equal(int64(200)))
	g.Expect(rec.SameVersion).To(Equal(int64(200)))
	g.Expect(rec.Upserted + rec.Unchanged).To(BeZero())

	synctest.Exec(t, e.src, `INSERT INTO invoices VALUES (500, 'cus_1', 'open', '1.00', '2026-06-30 11:58:00+00')`) // a late commit in the gap
	synctest.Exec(t, e.sink, `UPDATE crm_invoices SET source_updated_at = source_updated_at - interval '1 microsecond', status = 'edited' WHERE billing_invoice_id = 'billing:7'`)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec = r.record(t)
	g.Expect(r.stderr).To(ContainSubstring(`"msg":"overlap: the version digests differ, scanning the gap"`))
	g.Expect(rec.Upserted).To(Equal(int64(2)))
	g.Expect(rec.SameVersion).To(Equal(int64(199)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id = 'billing:500'`)).To(Equal(int64(1)))
	g.Expect(synctest.String(t, e.sink, `SELECT status FROM crm_invoices WHERE billing_invoice_id = 'billing:7'`)).NotTo(Equal("edited"))

	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.stderr).To(ContainSubstring(`"msg":"overlap confirmed by version digests"`))
	g.Expect(r.record(t).SameVersion).To(Equal(int64(201)))
}
