package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// countAdvice is the warning about the sink's missing index, as the postgres sink words it.
const countAdvice = `sink table "crm_invoices" has no index on its source updated-at column "source_updated_at": ` +
	`the drift check's count over spec.reconcile.window reads the whole table on every run, ` +
	`and the safety gap's version check looks each re-read key up instead of reading the gap's versions by range; ` +
	`create one: CREATE INDEX ON "crm_invoices" ("source_updated_at") INCLUDE ("billing_invoice_id")`

// coveringIndex is the index the README asks for.
const coveringIndex = `CREATE INDEX ON crm_invoices (source_updated_at) INCLUDE (billing_invoice_id)`

// TestPlanWarnsMissingCountIndex: `runner plan` warns, naming the table and the column,
// when the sink has no index on its source updated-at column and the drift check is on
// (the default); no warning once the index exists (with the key included, as the README
// asks, or without), nor with the drift check off.
func TestPlanWarnsMissingCountIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		index string
		want  []string
	}{
		{name: "missing", want: []string{countAdvice}},
		{name: "present", index: coveringIndex},
		{name: "present without the key", index: `CREATE INDEX ON crm_invoices (source_updated_at)`},
		{name: "drift check off", extra: "  reconcile: {sample: 0}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, job{Extra: tc.extra})
			if tc.index != "" {
				synctest.Exec(t, e.sink, tc.index)
			}
			insertInvoices(t, e.src, 1, 3, "2026-06-30 12:00:00+00")
			r := e.run("plan", "-f", e.jobFile, "--state-dir", e.state)
			g.Expect(r.code).To(Equal(0), r.stderr)
			var out planOutput
			g.Expect(json.Unmarshal([]byte(r.stdout), &out)).To(Succeed(), r.stdout)
			g.Expect(out.Warnings).To(Equal(tc.want))
			g.Expect(out.Writes).To(Equal(int64(3)))
		})
	}
}

// TestPreflightWarnsMissingCountIndex: the preflight passes either way; its verdict carries
// the missing index as a warning, and none once the index exists.
func TestPreflightWarnsMissingCountIndex(t *testing.T) {
	for _, index := range []bool{false, true} {
		g := NewWithT(t)
		e := newEnv(t, job{})
		if index {
			synctest.Exec(t, e.sink, coveringIndex)
		}
		insertInvoices(t, e.src, 1, 3, "2026-06-30 12:00:00+00")
		c := setUpInCluster(t, e, 100)
		code, msg, out := c.preflight(t)
		g.Expect(code).To(Equal(runcontract.ExitOK), msg)
		passed, text, ok := runcontract.ParsePreflightMessage(msg)
		g.Expect(ok && passed).To(BeTrue(), msg)
		if index {
			g.Expect(text).NotTo(ContainSubstring("warning"))
			g.Expect(out).NotTo(ContainSubstring("no index"))
			continue
		}
		g.Expect(text).To(HaveSuffix("; warning: " + countAdvice))
		var plan planOutput
		g.Expect(json.Unmarshal([]byte(out), &plan)).To(Succeed(), out)
		g.Expect(plan.Warnings).To(Equal([]string{countAdvice}))
	}
}

// TestDriftCheckSameWithCountIndex: the drift check's result (counts, sample, mismatches)
// over a sink edited by hand is the same with the index on the source updated-at column as
// without it.
func TestDriftCheckSameWithCountIndex(t *testing.T) {
	g := NewWithT(t)
	var got [2]any
	for i, index := range []bool{false, true} {
		e := newEnv(t, job{Extra: driftJob})
		if index {
			synctest.Exec(t, e.sink, coveringIndex)
		}
		insertInvoices(t, e.src, 1, 50, "2026-06-30 12:00:00+00")
		r := e.sync()
		g.Expect(r.code).To(Equal(0), r.stderr)
		synctest.Exec(t, e.sink,
			`UPDATE crm_invoices SET status = 'void' WHERE billing_invoice_id = 'billing:7'`,
			`DELETE FROM crm_invoices WHERE billing_invoice_id = 'billing:9'`)
		r = e.sync()
		g.Expect(r.code).To(Equal(0), r.stderr)
		rc := r.record(t).Reconciliation
		g.Expect(rc).NotTo(BeNil())
		g.Expect(rc.SourceCount).To(Equal(int64(50)))
		g.Expect(rc.SinkCount).To(Equal(int64(49)))
		g.Expect(rc.Mismatched).To(Equal(int64(2)))
		got[i] = *rc
	}
	g.Expect(got[1]).To(Equal(got[0]))
}

// TestNoOpRerunStoresNothing: a rerun with nothing new re-reads the safety gap, writes no
// sink row (synced-at and run id stay the first run's), counts the re-read records as
// sameVersion, and leaves the checkpoint and the record log files untouched.
func TestNoOpRerunStoresNothing(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 50, "2026-06-30 12:00:00+00")
	r := e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(50)))
	files := []string{filepath.Join(e.state, "checkpoint.json"), filepath.Join(e.state, "record-log.json")}
	var before [2]os.FileInfo
	var data [2][]byte
	for i, f := range files {
		st, err := os.Stat(f)
		g.Expect(err).NotTo(HaveOccurred())
		before[i] = st
		data[i], err = os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
	}
	runIDs := synctest.String(t, e.sink, `SELECT string_agg(DISTINCT sync_run_id, ',') FROM crm_invoices`)

	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Read).To(Equal(int64(50)))
	g.Expect(rec.Upserted).To(BeZero())
	g.Expect(rec.Unchanged).To(BeZero())
	g.Expect(rec.SameVersion).To(Equal(int64(50)))
	g.Expect(rec.Reconciliation).NotTo(BeNil())
	g.Expect(rec.Reconciliation.Drift).To(BeFalse())
	g.Expect(rec.RecordLog).NotTo(BeNil())
	g.Expect(synctest.String(t, e.sink, `SELECT string_agg(DISTINCT sync_run_id, ',') FROM crm_invoices`)).To(Equal(runIDs))
	for i, f := range files {
		st, err := os.Stat(f)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st.ModTime()).To(Equal(before[i].ModTime()), "%s not rewritten", f)
		now, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(now).To(Equal(data[i]))
	}
}
