package engine

import (
	"context"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
)

// TestFailedRecordCountedOncePerRun: a record that fails when retried from the failed
// keys and again when the safety gap re-reads it is one failed record of the run: counted
// once, sampled once, logged once, and it uses up maxErrors once.
func TestFailedRecordCountedOncePerRun(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(20, 1))
	stored := cursor.Cursor{UpdatedAt: t0.Add(17 * time.Second), ID: "18"}
	e.store.state = runcontract.Checkpoint{Job: "inv", Cursor: &stored, FailedKeys: []string{"15"}}
	e.mp.fail = set("15")
	var out auditBuffer
	cfg := e.config()
	cfg.SafetyGap = 5 * time.Second // re-reads from 13 on: 15 again
	cfg.MaxErrors = 1               // one failed record is allowed
	cfg.AuditOut = &out

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.fetches).To(ContainElement([]string{"15"}), "retried first")
	g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded), "%+v", res.Record)
	g.Expect(res.Record.Failed).To(BeEquivalentTo(1))
	g.Expect(res.Record.ErrorSummary).To(HaveLen(1))
	g.Expect(res.Record.ErrorSummary[0].Count).To(BeEquivalentTo(1))
	g.Expect(res.Record.ErrorSummary[0].SampleIDs).To(Equal([]string{"15"}))
	failedLines := 0
	for _, l := range out.lines(t) {
		if l["msg"] == "record failed" {
			failedLines++
		}
	}
	g.Expect(failedLines).To(Equal(1))
	g.Expect(e.store.get().FailedKeys).To(Equal([]string{"15"}))
}
