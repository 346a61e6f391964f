package engine

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestFailedKeysRereadWithoutFetchByID: a source that cannot fetch by id (no Fetcher, or an
// HTTP source without getByIdUrl) does not block on its failed keys: the next run reads
// again from the oldest failed record (the checkpoint keeps its updatedAt), new records
// are still read, a record that fails again stays, and once it maps it leaves the list.
func TestFailedKeysRereadWithoutFetchByID(t *testing.T) {
	sources := map[string]func(*fakeSource) connector.Source{
		"no fetcher":  func(s *fakeSource) connector.Source { return plainSource{s} },
		"unfetchable": func(s *fakeSource) connector.Source { return unfetchableSource{s} },
	}
	for name, source := range sources {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			recs := genRecords(25, 1)
			e := newEnv(recs[:20])
			e.mp.fail = set("7")
			cfg := e.config()
			cfg.Source = source(e.src)
			cfg.SafetyGap = 2 * time.Second

			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded))
			st := e.store.get()
			g.Expect(st.FailedKeys).To(Equal([]string{"7"}))
			g.Expect(st.FailedUpdatedAt).To(Equal(map[string]time.Time{"7": recs[6].UpdatedAt}), "the checkpoint keeps where the failed record was")

			// The record still fails; new records arrive.
			e.src.set(recs)
			reads := len(e.src.readAfters())
			res, err = Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred(), "a source that cannot fetch by id is not blocked by its failed keys")
			g.Expect(e.src.readAfters()[reads]).To(Equal(cursor.Cursor{UpdatedAt: recs[6].UpdatedAt}),
				"re-read from the oldest failed record, not from the stored cursor less the gap")
			g.Expect(res.Record.CursorStart).To(Equal(&cursor.Cursor{UpdatedAt: recs[6].UpdatedAt}))
			g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded))
			g.Expect(e.sink.snapshot()).To(HaveKey("src:25"), "new records are read")
			st = e.store.get()
			g.Expect(st.FailedKeys).To(Equal([]string{"7"}))
			g.Expect(*st.Cursor).To(Equal(recs[24].Cursor()))

			// Fixed: the re-read writes it and the list empties; the next run reads from the
			// stored cursor less the gap again.
			e.mp.fail = nil
			res, err = Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Phase).To(Equal(audit.PhaseSucceeded))
			g.Expect(e.store.get().FailedKeys).To(BeEmpty())
			g.Expect(e.store.get().FailedUpdatedAt).To(BeEmpty())
			g.Expect(e.sinkMismatch()).To(BeEmpty())
			reads = len(e.src.readAfters())
			_, err = Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.src.readAfters()[reads]).To(Equal(cursor.Cursor{UpdatedAt: recs[22].UpdatedAt}))
			g.Expect(e.src.fetches).To(BeEmpty())
		})
	}
}

// TestFailedKeysRereadDropsGoneRecords: a failed record the re-read never meets in a
// complete run is no longer in the source and leaves the list (as a fetch that finds
// nothing); a key whose position is unknown is kept (only a reset deals with it).
func TestFailedKeysRereadDropsGoneRecords(t *testing.T) {
	g := NewWithT(t)
	recs := genRecords(20, 1)
	e := newEnv(append(recs[:4:4], recs[5:]...)) // record 5 was deleted
	stored := recs[19].Cursor()
	e.store.state.Job = "inv"
	e.store.state.Cursor = &stored
	e.store.state.FailedKeys = []string{"legacy", "5", "9"}
	e.store.state.FailedUpdatedAt = map[string]time.Time{"5": recs[4].UpdatedAt, "9": recs[8].UpdatedAt}
	e.mp.fail = set("9")
	cfg := e.config()
	cfg.Source = plainSource{e.src}

	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.readAfters()[0]).To(Equal(cursor.Cursor{UpdatedAt: recs[4].UpdatedAt}))
	st := e.store.get()
	g.Expect(st.FailedKeys).To(Equal([]string{"legacy", "9"}))
	g.Expect(st.FailedUpdatedAt).To(Equal(map[string]time.Time{"9": recs[8].UpdatedAt}))
	g.Expect(*st.Cursor).To(Equal(stored), "the cursor never moves back")
}
