package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// deletedLines returns the "record deleted" audit lines of a local run (stderr).
func deletedLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, `"msg":"record deleted"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestFullReconcileDeletePostgres: spec.deletes.mode Delete with fullReconcile everyRuns 1:
// invoices deleted in billing are deleted from the CRM table at the next run (byte order
// of the keys: billing:10 < billing:5), each with a "record deleted" line.
func TestFullReconcileDeletePostgres(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Extra: "  deletes: {mode: Delete, fullReconcile: {everyRuns: 1}}\n"})
	insertInvoices(t, e.src, 1, 100, "2026-06-30 12:00:00+00")
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(BeZero())

	synctest.Exec(t, e.src, `DELETE FROM invoices WHERE id IN (5, 10, 100)`)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(3)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(97)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id IN ('billing:5', 'billing:10', 'billing:100')`)).To(BeZero())
	lines := deletedLines(r.stderr)
	g.Expect(lines).To(HaveLen(3))
	g.Expect(strings.Join(lines, "\n")).To(ContainSubstring(`"key":"billing:5","reason":"absent from source"`))
	g.Expect(e.checkpoint()).NotTo(HaveKey("runsSinceFullReconcile"), "0 right after a reconciliation")

	// Nothing more to delete.
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(BeZero())
}

// TestFullReconcileSoftDeletePostgres: under SoftDelete the row stays, its deletes.sinkField
// is set and nothing else changes; a marked row is not counted or marked again.
func TestFullReconcileSoftDeletePostgres(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Extra: "  deletes: {mode: SoftDelete, fullReconcile: {everyRuns: 1}}\n"})
	synctest.Exec(t, e.sink, `ALTER TABLE crm_invoices ADD COLUMN deleted_at timestamptz`)
	insertInvoices(t, e.src, 1, 50, "2026-06-30 12:00:00+00")
	g.Expect(e.sync().code).To(Equal(0))
	before := synctest.String(t, e.sink, `SELECT status || ' ' || total::text || ' ' || source_updated_at::text FROM crm_invoices WHERE billing_invoice_id = 'billing:7'`)

	synctest.Exec(t, e.src, `DELETE FROM invoices WHERE id = 7`)
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(1)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(50)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE deleted_at IS NOT NULL`)).To(Equal(int64(1)))
	g.Expect(synctest.String(t, e.sink, `SELECT billing_invoice_id FROM crm_invoices WHERE deleted_at IS NOT NULL`)).To(Equal("billing:7"))
	g.Expect(synctest.String(t, e.sink, `SELECT status || ' ' || total::text || ' ' || source_updated_at::text FROM crm_invoices WHERE billing_invoice_id = 'billing:7'`)).To(Equal(before))

	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(BeZero(), "an already marked row is not deleted again")
}

// TestDeleteValvePostgres: an emptied source would delete every CRM row; the run refuses,
// deletes nothing, says how to confirm; the printed token confirms.
func TestDeleteValvePostgres(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Extra: "  deletes: {mode: Delete, fullReconcile: {everyRuns: 1}}\n"})
	insertInvoices(t, e.src, 1, 40, "2026-06-30 12:00:00+00")
	g.Expect(e.sync().code).To(Equal(0))

	synctest.Exec(t, e.src, `DELETE FROM invoices`)
	r := e.sync()
	g.Expect(r.code).To(Equal(runcontract.ExitFailed), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseFailed))
	g.Expect(rec.Reason).To(Equal(runcontract.ReasonDeleteValve))
	g.Expect(rec.Message).To(ContainSubstring("40 of the sink's 40 keys absent from the source"))
	g.Expect(rec.Message).To(ContainSubstring("nothing was deleted"))
	g.Expect(rec.Deleted).To(BeZero())
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(40)))
	token := regexp.MustCompile(`--confirm-deletes (\S+)\)`).FindStringSubmatch(rec.Message)
	g.Expect(token).To(HaveLen(2), rec.Message)
	g.Expect(rec.Message).To(ContainSubstring("sync.checkpointed.io/confirm-deletes=" + token[1]))

	r = e.run("sync", "-f", e.jobFile, "--state-dir", e.state, "--confirm-deletes", token[1])
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(40)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeZero())
}

// TestSourceMarkerDeletePostgres: the source soft-delete marker (deletes.sourceField)
// deletes the CRM row under Delete, logged with reason "marker".
func TestSourceMarkerDeletePostgres(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Extra: "  deletes: {mode: Delete, sourceField: deleted_at}\n"})
	synctest.Exec(t, e.src, `ALTER TABLE invoices ADD COLUMN deleted_at timestamptz`)
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")
	g.Expect(e.sync().code).To(Equal(0))
	synctest.Exec(t, e.src, `UPDATE invoices SET deleted_at = now(), updated_at = '2026-06-30 13:00:00+00' WHERE id = 3`)
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(1)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id = 'billing:3'`)).To(BeZero())
	g.Expect(deletedLines(r.stderr)).To(ConsistOf(And(ContainSubstring(`"key":"billing:3"`), ContainSubstring(`"reason":"marker"`))))
}

// TestIgnoreDeletesNothingPostgres: under mode Ignore nothing is deleted, even when a full
// reconciliation is requested.
func TestIgnoreDeletesNothingPostgres(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")
	g.Expect(e.sync().code).To(Equal(0))
	synctest.Exec(t, e.src, `DELETE FROM invoices`)
	r := e.run("sync", "-f", e.jobFile, "--state-dir", e.state, "--full-reconcile")
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(BeZero())
	g.Expect(r.stderr).To(ContainSubstring("spec.deletes.mode is Ignore"))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(10)))
}

// TestForcedFullReconcile: --full-reconcile reconciles a job whose schedule does not (no
// everyRuns: on demand only).
func TestForcedFullReconcile(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Extra: "  deletes: {mode: Delete, sourceField: gone, maxFractionPercent: 50}\n"})
	synctest.Exec(t, e.src, `ALTER TABLE invoices ADD COLUMN gone timestamptz`)
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")
	g.Expect(e.sync().code).To(Equal(0))
	synctest.Exec(t, e.src, `DELETE FROM invoices WHERE id = 4`)
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(BeZero(), "not scheduled")
	r = e.run("sync", "-f", e.jobFile, "--state-dir", e.state, "--full-reconcile")
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(1)))
}

// TestTombstonesDemoCRM: the billing API's deleted-invoices listing (deletedUrl) deletes
// the purged invoices from the demo CRM under mode Delete, each logged with reason
// "tombstone"; the CRM again equals billing. The HTTP sink cannot count its objects, so
// the valve asks for a confirmation first.
func TestTombstonesDemoCRM(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 60, extra: "  deletes: {mode: Delete, maxFractionPercent: 10}\n"})
	withDeletedURL(t, s)
	g.Expect(s.sync().code).To(Equal(0))
	s.expectCRMEqualsBilling()

	invs := s.billing.Invoices()
	for _, inv := range invs[:3] {
		g.Expect(s.billing.Purge(inv.ID, time.Time{})).To(Succeed())
	}
	r := s.sync()
	g.Expect(r.code).To(Equal(runcontract.ExitFailed), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Reason).To(Equal(runcontract.ReasonDeleteValve), rec.Message)
	g.Expect(rec.Message).To(ContainSubstring("this sink cannot count its keys"))
	g.Expect(s.crm.Count()).To(Equal(60), "nothing deleted")
	token := regexp.MustCompile(`--confirm-deletes (\S+)\)`).FindStringSubmatch(rec.Message)
	g.Expect(token).To(HaveLen(2), rec.Message)

	r = s.run("sync", "-f", s.jobFile, "--confirm-deletes", token[1])
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(3)))
	s.expectCRMEqualsBilling()
	lines := deletedLines(r.stderr)
	g.Expect(lines).To(HaveLen(3))
	g.Expect(lines[0]).To(ContainSubstring(`"reason":"tombstone"`))
}

// TestTombstonesPostgresSinkAndValve: tombstones from the billing API delete rows of a
// PostgreSQL sink; purging most invoices trips the valve until confirmed.
func TestTombstonesPostgresSinkAndValve(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 20})
	withDeletedURL(t, s)
	sink := newDB(t, `CREATE TABLE crm_invoices (billing_invoice_id text PRIMARY KEY, status text, total numeric(12,2), source_updated_at timestamptz NOT NULL)`)
	job, err := os.ReadFile(s.jobFile)
	g.Expect(err).NotTo(HaveOccurred())
	text := string(job)
	i, j := strings.Index(text, "  sink:\n"), strings.Index(text, "  key:\n")
	text = text[:i] + "  sink:\n    postgres:\n      dsn: {name: crm-db, key: dsn}\n      table: crm_invoices\n" + text[j:]
	text = strings.Replace(text, `  - {to: account_id, from: customer_id, required: true, lookup: {url: "`+s.cURL+`/accounts?billing_customer_id={value}"}}`+"\n", "", 1)
	text += "  deletes: {mode: Delete}\n"
	g.Expect(os.WriteFile(s.jobFile, []byte(text), 0o600)).To(Succeed())
	sync := func(args ...string) result {
		cmd := append([]string{"sync", "-f", s.jobFile}, args...)
		t.Setenv("CRM_DB_DSN", sink)
		return s.run(cmd...)
	}
	r := sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(synctest.Int(t, sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(20)))

	invs := s.billing.Invoices()
	g.Expect(s.billing.Purge(invs[0].ID, time.Time{})).To(Succeed())
	g.Expect(s.billing.Purge(invs[1].ID, time.Time{})).To(Succeed())
	r = sync()
	g.Expect(r.code).To(Equal(runcontract.ExitFailed), "2 of 20 is over 5 %%: %s", r.stdout)
	rec := r.record(t)
	g.Expect(rec.Reason).To(Equal(runcontract.ReasonDeleteValve))
	g.Expect(synctest.Int(t, sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(20)))
	token := regexp.MustCompile(`--confirm-deletes (\S+)\)`).FindStringSubmatch(rec.Message)
	g.Expect(token).To(HaveLen(2), rec.Message)

	r = sync("--confirm-deletes", token[1])
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(2)))
	g.Expect(synctest.Int(t, sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id = $1`, invs[0].ID)).To(BeZero())
	g.Expect(synctest.Int(t, sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(18)))
}

// withDeletedURL adds spec.source.http.deletedUrl (the billing API's tombstones) to the
// seed's job.
func withDeletedURL(t *testing.T, s *seed) {
	job, err := os.ReadFile(s.jobFile)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	text := strings.Replace(string(job), "      getByIdUrl:", "      deletedUrl: "+s.bURL+"/invoices/deleted?since={since}\n      getByIdUrl:", 1)
	NewWithT(t).Expect(text).To(ContainSubstring("deletedUrl"))
	NewWithT(t).Expect(os.WriteFile(s.jobFile, []byte(text), 0o600)).To(Succeed())
}

// TestFullReconcileDemoCRM: full key reconciliation between the billing API (idsUrl) and
// the demo CRM (keysUrl) deletes the CRM objects of purged invoices under mode Delete.
func TestFullReconcileDemoCRM(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 80, extra: "  deletes: {mode: Delete, fullReconcile: {everyRuns: 1}}\n"})
	job, err := os.ReadFile(s.jobFile)
	g.Expect(err).NotTo(HaveOccurred())
	text := strings.Replace(string(job), "      getByIdUrl:", "      idsUrl: "+s.bURL+"/invoices/ids?after={after}&limit=7\n      getByIdUrl:", 1)
	text = strings.Replace(text, "      auth: {type: Bearer, secret: {name: crm-api", "      keysUrl: "+s.cURL+"/invoices/keys?after={after}&limit=9\n      auth: {type: Bearer, secret: {name: crm-api", 1)
	g.Expect(os.WriteFile(s.jobFile, []byte(text), 0o600)).To(Succeed())
	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(BeZero())
	s.expectCRMEqualsBilling()

	invs := s.billing.Invoices()
	g.Expect(s.billing.Purge(invs[5].ID, time.Time{})).To(Succeed())
	g.Expect(s.billing.Purge(invs[40].ID, time.Time{})).To(Succeed())
	r = s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Deleted).To(Equal(int64(2)))
	s.expectCRMEqualsBilling()
	g.Expect(strings.Join(deletedLines(r.stderr), "\n")).To(ContainSubstring(`"key":"` + invs[40].ID + `","reason":"absent from source"`))
}
