package cli

import (
	"regexp"
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// snapshotEnv is a Snapshot-mode job (no source updatedAt, content hashes in the CRM table)
// with spec.deletes as given and no fullReconcile: the snapshot itself detects deletes.
func snapshotEnv(t *testing.T, deletes string) *env {
	e := newEnv(t, job{Extra: "  cursor: {mode: Snapshot}\n" + deletes})
	synctest.Exec(t, e.sink, `ALTER TABLE crm_invoices ADD COLUMN _checkpointed_hash text`,
		`ALTER TABLE crm_invoices ALTER COLUMN source_updated_at DROP NOT NULL`)
	insertInvoices(t, e.src, 1, 100, "2026-06-30 12:00:00+00")
	return e
}

// TestSnapshotDeletesPostgres: under spec.deletes.mode Delete, a Snapshot run deletes the
// CRM rows of invoices gone from billing (full key reconciliation after every complete
// run, no fullReconcile needed), through the delete valve: 3 of 100 (under 5 %) go at the
// next run; 10 more (over 5 %) are refused until confirmed with the printed token.
func TestSnapshotDeletesPostgres(t *testing.T) {
	g := NewWithT(t)
	e := snapshotEnv(t, "  deletes: {mode: Delete}\n")
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(100)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(100)))
	g.Expect(r.stderr).NotTo(ContainSubstring("drift check"), "a Snapshot run has no updatedAt window to check")

	synctest.Exec(t, e.src, `DELETE FROM invoices WHERE id IN (5, 10, 100)`)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(3)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(97)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id IN ('billing:5', 'billing:10', 'billing:100')`)).To(BeZero())
	g.Expect(deletedLines(r.stderr)).To(HaveLen(3))

	synctest.Exec(t, e.src, `DELETE FROM invoices WHERE id BETWEEN 20 AND 29`)
	r = e.sync()
	g.Expect(r.code).To(Equal(runcontract.ExitFailed), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Reason).To(Equal(runcontract.ReasonDeleteValve))
	g.Expect(rec.Message).To(ContainSubstring("10 of the sink's 97 keys absent from the source"))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(97)), "the valve deletes nothing")
	token := regexp.MustCompile(`--confirm-deletes (\S+)\)`).FindStringSubmatch(rec.Message)
	g.Expect(token).To(HaveLen(2), rec.Message)

	r = e.run("sync", "-f", e.jobFile, "--state-dir", e.state, "--confirm-deletes", token[1])
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(10)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(87)))
	g.Expect(r.record(t).Phase).To(Equal(syncv1.RunPhaseSucceeded))
}

// TestSnapshotSoftDeletesPostgres: under SoftDelete the row of a deleted invoice stays with
// its delete column set.
func TestSnapshotSoftDeletesPostgres(t *testing.T) {
	g := NewWithT(t)
	e := snapshotEnv(t, "  deletes: {mode: SoftDelete}\n")
	synctest.Exec(t, e.sink, `ALTER TABLE crm_invoices ADD COLUMN deleted_at timestamptz`)
	g.Expect(e.sync().code).To(Equal(0))
	synctest.Exec(t, e.src, `DELETE FROM invoices WHERE id = 7`)
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(1)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(100)))
	g.Expect(synctest.String(t, e.sink, `SELECT billing_invoice_id FROM crm_invoices WHERE deleted_at IS NOT NULL`)).To(Equal("billing:7"))
}

// TestSnapshotIgnoreDeletesNothingPostgres: under deletes.mode Ignore (the default) rows
// of deleted invoices stay in Snapshot mode.
func TestSnapshotIgnoreDeletesNothingPostgres(t *testing.T) {
	g := NewWithT(t)
	e := snapshotEnv(t, "")
	g.Expect(e.sync().code).To(Equal(0))
	synctest.Exec(t, e.src, `DELETE FROM invoices WHERE id IN (5, 10, 100)`)
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(BeZero())
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(100)))
}
