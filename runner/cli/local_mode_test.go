package cli

import (
	"os"
	"testing"

	"path/filepath"

	"github.com/gofrs/flock"
	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// TestLocalSyncAndIncrementalRerun: the CLI contract of `runner sync`: the run record on
// stdout, exit 0, the sink equal to the source, the checkpoint at the source's max; a
// rerun re-reads only the safety gap and rewrites nothing unchanged; a changed invoice is
// updated.
func TestLocalSyncAndIncrementalRerun(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 1000, "2026-06-30 12:00:00+00")

	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseSucceeded))
	g.Expect(rec.Trigger).To(Equal("Local"))
	g.Expect(rec.Read).To(Equal(int64(1000)))
	g.Expect(rec.Upserted).To(Equal(int64(1000)))
	g.Expect(rec.Failed).To(BeZero())
	g.Expect(rec.CursorEnd.ID).To(Equal("1000"))
	g.Expect(rec.CursorEnd.UpdatedAt).To(Equal("2026-06-30T12:00:00.999Z"))
	g.Expect(rec.SampleIDs).NotTo(BeEmpty())
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(1000)))
	g.Expect(synctest.String(t, e.sink, `SELECT total::text FROM crm_invoices WHERE billing_invoice_id = 'billing:7'`)).To(Equal("49.07"))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE sync_run_id = $1`, rec.RunID)).To(Equal(int64(1000)))
	g.Expect(e.cursorOf()).To(Equal("2026-06-30T12:00:00.999Z/1000"))

	// Nothing new: the rerun re-reads the 5-minute gap (all 1000 rows here) and writes none:
	// the sink holds every re-read record's version (the overlap's version check).
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec = r.record(t)
	g.Expect(rec.CursorStart.UpdatedAt).To(Equal("2026-06-30T11:55:00.999Z"))
	g.Expect(rec.Upserted).To(BeZero())
	g.Expect(rec.Unchanged).To(BeZero())
	g.Expect(rec.SameVersion).To(Equal(int64(1000)))

	// A payment clears: one invoice changes and moves the cursor.
	synctest.Exec(t, e.src, `UPDATE invoices SET status = 'paid', updated_at = '2026-06-30 13:00:00.123456+00' WHERE id = 10`)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec = r.record(t)
	g.Expect(rec.Upserted).To(Equal(int64(1)))
	g.Expect(synctest.String(t, e.sink, `SELECT status FROM crm_invoices WHERE billing_invoice_id = 'billing:10'`)).To(Equal("paid"))
	g.Expect(e.cursorOf()).To(Equal("2026-06-30T13:00:00.123456Z/10"))
}

// TestLateCommitsAndTheSafetyGap: a row committed late with an updated_at inside the
// safety gap behind the cursor is picked up by the next run; one older than the gap is
// missed — the documented limit of the gap (a reset or a backfill recovers it).
func TestLateCommitsAndTheSafetyGap(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")
	g.Expect(e.sync().code).To(Equal(0))

	// Committed after the run, stamped before the cursor (12:00:00.009).
	synctest.Exec(t, e.src,
		`INSERT INTO invoices VALUES (500, 'cus_1', 'open', '1.00', '2026-06-30 11:57:00+00')`, // inside the 5m gap
		`INSERT INTO invoices VALUES (600, 'cus_1', 'open', '2.00', '2026-06-30 11:50:00+00')`, // outside it
	)
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id = 'billing:500'`)).To(Equal(int64(1)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id = 'billing:600'`)).To(BeZero(),
		"a row older than the safety gap is missed by design")

	// A reset to the beginning recovers it.
	r = e.run("checkpoint", "reset", "--to", "beginning", "--state-dir", e.state)
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(e.sync().code).To(Equal(0))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id = 'billing:600'`)).To(Equal(int64(1)))
}

// TestPlanWritesNothing: `runner plan` reads and maps, prints counts and the first
// records, and writes neither the sink nor the checkpoint.
func TestPlanWritesNothing(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 250, "2026-06-30 12:00:00+00")
	r := e.run("plan", "-f", e.jobFile, "--state-dir", e.state, "--limit", "3")
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.stdout).To(ContainSubstring(`"writes": 250`))
	g.Expect(r.stdout).To(ContainSubstring(`"key": "billing:1"`))
	g.Expect(r.stdout).To(ContainSubstring(`"total": "7.01"`))
	g.Expect(r.stdout).NotTo(ContainSubstring(`"billing:4"`), "only the first 3 records are shown")
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeZero())
	_, err := os.Stat(filepath.Join(e.state, "checkpoint.json"))
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "plan stored a checkpoint")
}

// TestCheckpointShowAndReset: reset --to a time makes the next run start there (less the
// safety gap); a bad target is a usage error.
func TestCheckpointShowAndReset(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 100, "2026-06-30 12:00:00+00")
	g.Expect(e.sync().code).To(Equal(0))
	st := e.checkpoint()
	g.Expect(st["job"]).To(Equal("invoices-to-crm"))

	r := e.run("checkpoint", "reset", "--to", "2026-06-30T12:00:00.050Z", "--state-dir", e.state)
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(e.cursorOf()).To(Equal("2026-06-30T12:00:00.05Z/"))
	r = e.run("checkpoint", "reset", "--to", "yesterday", "--state-dir", e.state)
	g.Expect(r.code).To(Equal(2))
	g.Expect(r.stderr).To(ContainSubstring(`"yesterday" is neither 'beginning' nor an RFC3339 time`))
}

// TestCheckpointResetClearFailedKeys: a reset keeps the failed keys unless asked with
// --clear-failed-keys, which also works alone (the cursor then stays).
func TestCheckpointResetClearFailedKeys(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	g.Expect(os.MkdirAll(e.state, 0o700)).To(Succeed())
	stored := `{"job": "invoices-to-crm", "cursor": {"updatedAt": "2026-06-30T12:00:00.1Z", "id": "100"},
		"failedKeys": ["7", "9"], "failedUpdatedAt": {"7": "2026-06-30T12:00:00.007Z", "9": "2026-06-30T12:00:00.009Z"}}`
	g.Expect(os.WriteFile(filepath.Join(e.state, "checkpoint.json"), []byte(stored), 0o600)).To(Succeed())

	r := e.run("checkpoint", "reset", "--to", "beginning", "--state-dir", e.state)
	g.Expect(r.code).To(Equal(0), r.stderr)
	st := e.checkpoint()
	g.Expect(st).NotTo(HaveKey("cursor"))
	g.Expect(st["failedKeys"]).To(Equal([]any{"7", "9"}), "a reset keeps the failed keys")
	g.Expect(st).To(HaveKey("failedUpdatedAt"))

	r = e.run("checkpoint", "reset", "--to", "2026-06-30T12:00:00.050Z", "--clear-failed-keys", "--state-dir", e.state)
	g.Expect(r.code).To(Equal(0), r.stderr)
	st = e.checkpoint()
	g.Expect(e.cursorOf()).To(Equal("2026-06-30T12:00:00.05Z/"))
	g.Expect(st).NotTo(HaveKey("failedKeys"))
	g.Expect(st).NotTo(HaveKey("failedUpdatedAt"))

	g.Expect(os.WriteFile(filepath.Join(e.state, "checkpoint.json"), []byte(stored), 0o600)).To(Succeed())
	r = e.run("checkpoint", "reset", "--clear-failed-keys", "--state-dir", e.state)
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(e.cursorOf()).To(Equal("2026-06-30T12:00:00.1Z/100"), "--clear-failed-keys alone keeps the cursor")
	g.Expect(e.checkpoint()).NotTo(HaveKey("failedKeys"))

	r = e.run("checkpoint", "reset", "--state-dir", e.state)
	g.Expect(r.code).To(Equal(2))
	g.Expect(r.stderr).To(ContainSubstring("reset needs --to RFC3339|beginning, --clear-failed-keys or both"))
}

// TestSecondRunnerIsRefused: while another runner holds the lock, a run exits 0 with a
// clear message and records nothing: no record on stdout, the checkpoint untouched.
func TestSecondRunnerIsRefused(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")
	g.Expect(os.MkdirAll(e.state, 0o700)).To(Succeed())
	lock := flock.New(filepath.Join(e.state, "run.lock"))
	ok, err := lock.TryLock()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	defer lock.Unlock()

	r := e.sync()
	g.Expect(r.code).To(Equal(0))
	g.Expect(r.stderr).To(ContainSubstring("another run holds the lock"))
	g.Expect(r.stdout).To(BeEmpty())
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeZero())
	_, err = os.Stat(filepath.Join(e.state, "checkpoint.json"))
	g.Expect(os.IsNotExist(err)).To(BeTrue())
}
