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

// TestBackfillLeavesTheMainCursorAndResumes: a backfill over [10s, 30s) writes exactly that
// range, keeps its progress under its key, never touches the main cursor, and a rerun after
// an interruption resumes after its own cursor.
func TestBackfillLeavesTheMainCursorAndResumes(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(50, 1)) // id i at t0 + (i-1)s
	main := cursor.Cursor{UpdatedAt: t0.Add(45 * time.Second), ID: "46"}
	e.store.state = runcontract.Checkpoint{Job: "inv", Cursor: &main, SafetyGap: "5m"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.sink.cancelAfter = map[int]context.CancelFunc{2: cancel}
	cfg := e.config()
	cfg.SafetyGap = 5 * time.Minute
	cfg.Range = &Range{From: t0.Add(10 * time.Second), To: t0.Add(30 * time.Second), Key: "tok-1"}

	_, err := Run(ctx, cfg)
	g.Expect(runErr(t, err).Phase).To(Equal(audit.PhaseInterrupted))
	st := e.store.get()
	g.Expect(*st.Cursor).To(Equal(main))
	g.Expect(st.SafetyGap).To(Equal("5m"))
	bf := st.Backfills["tok-1"]
	g.Expect(bf.Done).To(BeFalse())
	g.Expect(*bf.Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(19 * time.Second), ID: "20"}))
	g.Expect(bf.From).To(Equal("2026-06-30T12:00:10Z"))
	g.Expect(bf.To).To(Equal("2026-06-30T12:00:30Z"))

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.readAfters()).To(ContainElement(*bf.Cursor), "the rerun resumes after the backfill's cursor")
	g.Expect(res.Record.Read).To(BeEquivalentTo(10))
	st = e.store.get()
	g.Expect(*st.Cursor).To(Equal(main))
	g.Expect(st.Backfills["tok-1"].Done).To(BeTrue())
	g.Expect(*st.Backfills["tok-1"].Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(29 * time.Second), ID: "30"}))
	g.Expect(sortedKeys(e.sink.snapshot())).To(HaveLen(20))
	for id := 11; id <= 30; id++ {
		g.Expect(e.sink.snapshot()).To(HaveKey("src:" + itoa(id)))
	}
	g.Expect(e.pub.cursors[len(e.pub.cursors)-1]).To(Equal(&cursor.Cursor{UpdatedAt: main.UpdatedAt, ID: "46"}), "status shows the main cursor")

	// A finished backfill reads nothing.
	reads := len(e.src.readAfters())
	_, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.readAfters()).To(HaveLen(reads))
}

// TestUnsortedBackfill: a backfill over an unsorted source asks every page after From,
// writes exactly the records before To, and stores the highest position within the range
// as its own progress at the end; the main cursor stays.
func TestUnsortedBackfill(t *testing.T) {
	g := NewWithT(t)
	e := newUnsortedEnv() // ids 2k-1 and 2k at t0 + (k-1)s, shuffled; older versions of 5 and 9
	main := cursor.Cursor{UpdatedAt: t0.Add(-2 * time.Hour), ID: "0"}
	e.store.state = runcontract.Checkpoint{Job: "inv", Cursor: &main}
	cfg := e.config()
	cfg.Unsorted = true
	cfg.PageSize = 10
	cfg.Range = &Range{From: t0.Add(5 * time.Second), To: t0.Add(10 * time.Second), Key: "tok-u"}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	for _, after := range e.src.readAfters() {
		g.Expect(after).To(Equal(cursor.Cursor{UpdatedAt: cfg.Range.From}), "every page is asked after From")
	}
	var want []string
	for id := 11; id <= 20; id++ {
		want = append(want, "src:"+itoa(id))
	}
	g.Expect(sortedKeys(e.sink.snapshot())).To(ConsistOf(want))
	g.Expect(res.Record.Read).To(BeEquivalentTo(10))
	st := e.store.get()
	g.Expect(*st.Cursor).To(Equal(main))
	bf := st.Backfills["tok-u"]
	g.Expect(bf.Done).To(BeTrue())
	g.Expect(*bf.Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(9 * time.Second), ID: "20"}))
	g.Expect(*res.Cursor).To(Equal(*bf.Cursor))
	for _, mid := range e.store.saves[:len(e.store.saves)-1] {
		g.Expect(mid.Backfills["tok-u"].Cursor).To(BeNil(), "an unsorted backfill moves only at the end")
	}
}
