package cli

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/test/synctest"
)

// byDigests and digestsDiffer are the log lines of a full key reconciliation that ended on
// equal key digests (no key listed) and of one that went on to merge the keys.
const (
	byDigests     = `"by":"equal key digests"`
	digestsDiffer = "the key digests differ, merging the keys"
)

// TestFullReconcileByKeyDigestsPostgres: integer source ids against the CRM's text keys
// ("billing:" + id): equal key sets end the reconciliation on equal digests; a CRM row the
// source lacks makes the digests differ, and the merge finds and deletes that row only;
// then the digests are equal again. Under SoftDelete, a marked row is left out of the
// digest as from the listing: the next run's digests are equal and nothing is marked again.
func TestFullReconcileByKeyDigestsPostgres(t *testing.T) {
	for _, mode := range []string{"Delete", "SoftDelete"} {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, job{Extra: "  deletes: {mode: " + mode + ", fullReconcile: {everyRuns: 1}}\n"})
			if mode == "SoftDelete" {
				synctest.Exec(t, e.sink, `ALTER TABLE crm_invoices ADD COLUMN deleted_at timestamptz`)
			}
			insertInvoices(t, e.src, 1, 120, "2026-06-30 12:00:00+00")
			r := e.sync()
			g.Expect(r.code).To(Equal(0), r.stderr)
			g.Expect(r.stderr).To(ContainSubstring(byDigests), "the load wrote every key: equal sets")

			r = e.sync()
			g.Expect(r.code).To(Equal(0), r.stderr)
			g.Expect(r.record(t).Deleted).To(BeZero())
			g.Expect(r.stderr).To(ContainSubstring(byDigests))
			g.Expect(r.stderr).NotTo(ContainSubstring(digestsDiffer))

			synctest.Exec(t, e.sink, `INSERT INTO crm_invoices (billing_invoice_id, billing_customer_id, status, total, source_updated_at)
				VALUES ('billing:9999', 'cus_1', 'open', 1, '2026-06-30 12:00:00+00')`)
			r = e.sync()
			g.Expect(r.code).To(Equal(0), r.stderr)
			g.Expect(r.stderr).To(ContainSubstring(digestsDiffer))
			g.Expect(r.stderr).NotTo(ContainSubstring(byDigests))
			g.Expect(r.record(t).Deleted).To(Equal(int64(1)))
			lines := deletedLines(r.stderr)
			g.Expect(lines).To(HaveLen(1))
			g.Expect(lines[0]).To(ContainSubstring(`"key":"billing:9999","reason":"absent from source"`))
			live := `SELECT count(*) FROM crm_invoices`
			if mode == "SoftDelete" {
				live += ` WHERE deleted_at IS NULL`
			}
			g.Expect(synctest.Int(t, e.sink, live)).To(Equal(int64(120)))
			g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id LIKE 'billing:%' AND billing_invoice_id <> 'billing:9999'`)).To(Equal(int64(120)))

			r = e.sync()
			g.Expect(r.code).To(Equal(0), r.stderr)
			g.Expect(r.record(t).Deleted).To(BeZero())
			g.Expect(r.stderr).To(ContainSubstring(byDigests), "the deleted (or marked) key is gone from the digest")
			g.Expect(strings.Count(r.stderr, "record deleted")).To(BeZero())
		})
	}
}
