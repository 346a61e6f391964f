package cli

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// The invoices mapping with status written through an expression (another mapping).
const prefixedStatusMapping = `  - {to: billing_customer_id, from: customer_id, required: true}
  - {to: status, expr: '"s-" + record.status', required: true}
  - {to: total, from: total, type: decimal, required: true}`

// TestMappingChangeIsReported: a run under a changed spec.mapping says, in its run record,
// that the records synced before carry the previous mapping (both fingerprints, what to
// do), on every run, while the checkpoint keeps the previous fingerprint; the first run
// is not a change.
func TestMappingChangeIsReported(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 50, "2026-06-30 12:00:00+00")
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).MappingChange).To(BeNil(), "the first run is not a mapping change")
	first, _ := e.checkpoint()["mappingFingerprint"].(string)
	g.Expect(first).To(HavePrefix("m1-"))

	e.writeJob(job{Mapping: prefixedStatusMapping})
	for range 2 {
		r = e.sync()
		g.Expect(r.code).To(Equal(0), r.stderr)
		mc := r.record(t).MappingChange
		g.Expect(mc).NotTo(BeNil())
		g.Expect(mc.Previous).To(Equal(first))
		g.Expect(mc.Current).To(HavePrefix("m1-"))
		g.Expect(mc.Current).NotTo(Equal(first))
		g.Expect(mc.Resync).To(Equal("None"))
		g.Expect(mc.Message).To(ContainSubstring("still carry the previous mapping"))
		g.Expect(mc.Message).To(ContainSubstring("runner checkpoint reset --to beginning"))
		g.Expect(e.checkpoint()["mappingFingerprint"]).To(Equal(first), "the fingerprint moves only with a full re-sync")
	}

	// The plan says so too.
	r = e.run("plan", "-f", e.jobFile, "--state-dir", e.state)
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.stdout).To(ContainSubstring(`"mappingChange"`))

	// A reset to the beginning: the next run is the full re-sync.
	r = e.run("checkpoint", "reset", "--to", "beginning", "--state-dir", e.state)
	g.Expect(r.code).To(Equal(0), r.stderr)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).MappingChange).NotTo(BeNil())
	g.Expect(r.record(t).MappingChange.Resync).To(Equal("Completed"))
	r = e.sync()
	g.Expect(r.record(t).MappingChange).To(BeNil())
}

// TestMappingChangeBackfillResyncsEverything: with onMappingChange Backfill, the run after a
// mapping change re-reads from the beginning and rewrites every record under the new
// mapping, once: the next run re-reads only the safety gap again.
func TestMappingChangeBackfillResyncsEverything(t *testing.T) {
	g := NewWithT(t)
	backfill := "  onMappingChange: Backfill\n  cursor: {safetyGap: 1ms}\n"
	e := newEnv(t, job{Extra: backfill})
	insertInvoices(t, e.src, 1, 300, "2026-06-30 12:00:00+00")
	g.Expect(e.sync().code).To(Equal(0))

	e.writeJob(job{Mapping: prefixedStatusMapping, Extra: backfill})
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec := r.record(t)
	g.Expect(rec.CursorStart).To(BeNil(), "the re-sync starts at the beginning")
	g.Expect(rec.Upserted).To(Equal(int64(300)))
	g.Expect(rec.MappingChange).NotTo(BeNil())
	g.Expect(rec.MappingChange.Resync).To(Equal("Completed"))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE status NOT LIKE 's-%'`)).To(BeZero())

	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec = r.record(t)
	g.Expect(rec.MappingChange).To(BeNil())
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseSucceeded))
	g.Expect(rec.Upserted).To(BeZero(), "a completed re-sync is not repeated")
	g.Expect(rec.Read).To(BeNumerically("<", 300))
}
