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

// TestFailedKeysRetriedFirst: records that failed in an earlier run are fetched by id before
// the first page; those that now succeed leave the list, those that fail again stay, those
// the source no longer has are dropped, and the cursor does not move for them.
func TestFailedKeysRetriedFirst(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(20, 1))
	stored := cursor.Cursor{UpdatedAt: t0.Add(19 * time.Second), ID: "20"}
	e.store.state = runcontract.Checkpoint{Job: "inv", Cursor: &stored, FailedKeys: []string{"3", "7", "gone", "12"}}
	e.mp.fail = set("7")
	cfg := e.config()

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.events[0]).To(Equal("fetch"), "retries come before the first page")
	g.Expect(e.src.fetches[0]).To(Equal([]string{"3", "7", "gone", "12"}))
	g.Expect(e.sink.snapshot()).To(HaveKey("src:3"))
	g.Expect(e.sink.snapshot()).To(HaveKey("src:12"))
	st := e.store.get()
	g.Expect(st.FailedKeys).To(Equal([]string{"7"}))
	g.Expect(*st.Cursor).To(Equal(stored))
	g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded))
	g.Expect(res.Record.Failed).To(BeEquivalentTo(1))
}

// TestFailedKeysNeedAFetcher: without Fetcher the list is kept as it is.
func TestFailedKeysNeedAFetcher(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(5, 1))
	e.store.state = runcontract.Checkpoint{FailedKeys: []string{"99"}}
	cfg := e.config()
	cfg.Source = plainSource{e.src}
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.fetches).To(BeEmpty())
	g.Expect(e.store.get().FailedKeys).To(Equal([]string{"99"}))
}
