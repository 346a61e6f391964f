package cli

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/test/synctest"
)

// TestSnapshotWritesNothingForColumnsTheMappingDoesNotRead: a Snapshot run reads only the
// columns the mapping reads, so that changes to other columns of the source table (its
// updated_at, a column added later) write nothing, while a change to a mapped column is
// written.
func TestSnapshotWritesNothingForColumnsTheMappingDoesNotRead(t *testing.T) {
	g := NewWithT(t)
	e := snapshotEnv(t, "")
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(100)))

	synctest.Exec(t, e.src, `UPDATE invoices SET updated_at = updated_at + interval '1 day' WHERE id <= 10`,
		`ALTER TABLE invoices ADD COLUMN note text`, `UPDATE invoices SET note = 'internal' WHERE id BETWEEN 20 AND 29`)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Upserted).To(BeZero(), "no mapped value changed")
	g.Expect(rec.Unchanged).To(Equal(int64(100)))

	synctest.Exec(t, e.src, `UPDATE invoices SET status = 'void' WHERE id IN (4, 40, 44)`)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(3)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE status = 'void'`)).To(Equal(int64(3)))
}
