package engine

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestRunRecordCountsFailedKeysPending: the run record carries the number of failed keys
// left in the stored checkpoint (what the manager exports as checkpointed_syncjob_failed_keys),
// also when the run stored nothing new.
func TestRunRecordCountsFailedKeysPending(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(20, 1))
	stored := cursor.Cursor{UpdatedAt: t0.Add(19 * time.Second), ID: "20"}
	e.store.state = runcontract.Checkpoint{Job: "inv", Cursor: &stored, FailedKeys: []string{"3", "7", "12"}}
	e.mp.fail = set("7", "12")
	res, err := Run(context.Background(), e.config())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.store.get().FailedKeys).To(HaveLen(2))
	g.Expect(res.Record.FailedKeys).NotTo(BeNil())
	g.Expect(*res.Record.FailedKeys).To(BeEquivalentTo(2))

	// Nothing new: the count is the loaded list's.
	e.mp.fail = set("7", "12")
	res, err = Run(context.Background(), e.config())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.FailedKeys).NotTo(BeNil())
	g.Expect(*res.Record.FailedKeys).To(BeEquivalentTo(2))
}
