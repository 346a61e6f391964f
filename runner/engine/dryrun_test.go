package engine

import (
	"context"
	"strconv"
	"testing"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
)

// TestDryRunWritesNothing: a plan reads and maps, counts what it would write, previews the
// first records, and writes, stores, locks and publishes nothing.
func TestDryRunWritesNothing(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(30, 1))
	e.store.state = runcontract.Checkpoint{FailedKeys: []string{"2"}}
	e.mp.fail = set("4")
	var out auditBuffer
	cfg := e.config()
	cfg.DryRun = true
	cfg.PreviewLimit = 3
	cfg.AuditOut = &out

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Plan).NotTo(BeNil())
	g.Expect(res.Plan.Writes).To(BeEquivalentTo(29))
	g.Expect(res.Plan.Records).To(HaveLen(3))
	g.Expect(res.Plan.Records[0].Key).To(Equal("src:1"))
	g.Expect(res.Record.Failed).To(BeEquivalentTo(1))
	g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded))
	g.Expect(res.Cursor.ID).To(Equal("30"), "where the cursor would be")
	g.Expect(e.sink.calls).To(BeZero())
	g.Expect(e.store.saveCalls).To(BeZero())
	g.Expect(e.lock.acquired).To(BeZero())
	g.Expect(e.pub.recs).To(BeEmpty())
	g.Expect(e.src.fetches).To(BeEmpty(), "no retries in a plan")
	g.Expect(out.lines(t)).To(HaveLen(2), "one failed record, one run line")
}

// TestDryRunWithoutStoreOrSink: plan mode needs neither.
func TestDryRunWithoutStoreOrSink(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(3, 1))
	cfg := e.config()
	cfg.DryRun, cfg.Store, cfg.Sink = true, nil, nil
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Plan.Writes).To(BeEquivalentTo(3))
}

// TestDriftCheck counts the window on both sides after a run.
func TestDriftCheck(t *testing.T) {
	cases := []struct {
		name  string
		fail  []string
		drift bool
	}{
		{"in step", nil, false},
		{"a skipped record is missing from the sink", []string{"18"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(genRecords(20, 1))
			e.mp.fail = set(tc.fail...)
			cfg := e.config()
			cfg.Reconcile = Reconcile{Window: 10 * 1e9, Sample: 5}
			res, _ := Run(context.Background(), cfg)
			rc := res.Record.Reconciliation
			g.Expect(rc).NotTo(BeNil())
			g.Expect(rc.SourceCount).To(BeEquivalentTo(11), "ids 10..20 are within 10s of the cursor")
			g.Expect(rc.SinkCount).To(BeEquivalentTo(11 - len(tc.fail)))
			g.Expect(rc.Drift).To(Equal(tc.drift))
			g.Expect(rc.WindowEnd).To(Equal(res.Cursor.UpdatedAt))
		})
	}
	t.Run("off without counters", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(genRecords(5, 1))
		cfg := e.config()
		cfg.Source = plainSource{e.src}
		cfg.Reconcile = Reconcile{Window: 1e9, Sample: 5}
		res, err := Run(context.Background(), cfg)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Record.Reconciliation).To(BeNil())
	})
}

func itoa(i int) string { return strconv.Itoa(i) }
