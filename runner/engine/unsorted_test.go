package engine

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// shuffled returns 40 records in random order plus older duplicates of ids 5 and 9 that
// arrive after their newer versions.
func shuffled() []connector.Record {
	recs := genRecords(40, 2)
	rng := rand.New(rand.NewPCG(7, 7))
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	for _, id := range []int{5, 9} {
		old := genRecords(40, 2)[id-1]
		old.UpdatedAt = old.UpdatedAt.Add(-time.Hour)
		old.Fields = map[string]any{"n": old.Fields["n"], "v": "old"}
		recs = append(recs, old)
	}
	return recs
}

func newUnsortedEnv() *env {
	e := newEnv(nil)
	e.src.unsorted = true
	e.src.set(shuffled())
	return e
}

// TestUnsortedSourceCursorMovesOnlyAtTheEnd: mid-run saves keep the stored cursor, the final
// save stores the highest (updatedAt, id) seen, and older duplicates are not written.
func TestUnsortedSourceCursorMovesOnlyAtTheEnd(t *testing.T) {
	g := NewWithT(t)
	e := newUnsortedEnv()
	start := cursor.Cursor{UpdatedAt: t0.Add(-2 * time.Hour), ID: "0"}
	e.store.state.Cursor = &start
	e.store.state.FailedKeys = []string{"7"}
	e.mp.fail = set("13", "7")
	cfg := e.config()
	cfg.Source = unsortedSource{e.src} // declared through the optional interface
	cfg.PageSize = 6

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded))
	for _, after := range e.src.readAfters() {
		g.Expect(after).To(Equal(start.Rewind(0)), "every page is asked after the run's start")
	}
	saves := e.store.saves
	g.Expect(saves).NotTo(BeEmpty())
	for _, st := range saves[:len(saves)-1] {
		g.Expect(*st.Cursor).To(Equal(start), "mid-run saves keep the cursor")
	}
	final := saves[len(saves)-1]
	g.Expect(*final.Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(19 * time.Second), ID: "40"}))
	g.Expect(final.FailedKeys).To(ConsistOf("7", "13"))
	rows := e.sink.snapshot()
	g.Expect(rows).To(HaveLen(38))
	g.Expect(rows["src:5"].Values["v"]).To(Equal("v0"), "the older duplicate did not overwrite")
	g.Expect(e.sink.writes["src:5"]).To(Equal(1), "the older duplicate was not even sent")
}

// TestUnsortedSourceIncompleteRunKeepsTheCursor: an interrupted or failed unsorted run does
// not move the cursor, and records no failed keys it would not have passed.
func TestUnsortedSourceIncompleteRunKeepsTheCursor(t *testing.T) {
	g := NewWithT(t)
	e := newUnsortedEnv()
	e.mp.fail = set("13")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.sink.cancelAfter = map[int]context.CancelFunc{3: cancel}
	cfg := e.config()
	cfg.Unsorted = true
	cfg.PageSize = 6

	res, err := Run(ctx, cfg)
	g.Expect(runErr(t, err).Phase).To(Equal(audit.PhaseInterrupted))
	g.Expect(res.Cursor).To(BeNil())
	st := e.store.get()
	g.Expect(st.Cursor).To(BeNil())
	g.Expect(st.FailedKeys).To(BeEmpty())
}
