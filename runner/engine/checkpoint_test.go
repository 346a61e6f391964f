package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
)

// TestCheckpointInterval counts the Saves of a 10-page run whose clock moves 1s per page:
// the first stores the loaded checkpoint unchanged, before any write (the store is proven
// writable), the others follow the interval.
func TestCheckpointInterval(t *testing.T) {
	cases := []struct {
		interval time.Duration
		saves    int
	}{
		{0, 12},              // before the first write, after every page, and at the end
		{time.Second, 12},    // every page is 1s later
		{3 * time.Second, 5}, // before the first write, pages 3, 6, 9, and the end
		{time.Hour, 2},       // before the first write, and the end
	}
	for _, tc := range cases {
		t.Run(tc.interval.String(), func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(genRecords(50, 1))
			e.sink.after = func(int) { e.clock.advance(time.Second) }
			cfg := e.config()
			cfg.CheckpointInterval = tc.interval
			_, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.store.saveCount()).To(Equal(tc.saves))
			g.Expect(*e.store.get().Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(49 * time.Second), ID: "50"}))
			g.Expect(e.store.saves[0]).To(Equal(runcontract.Checkpoint{}), "the loaded checkpoint, unchanged")
			for i, st := range e.store.saves[1 : len(e.store.saves)-1] {
				g.Expect(st.LastRun.Phase).To(Equal(string(audit.PhaseRunning)), "save %d", i)
			}
			last := e.store.saves[len(e.store.saves)-1]
			g.Expect(last.LastRun).To(Equal(&runcontract.RunSummary{RunID: "run", Phase: "Succeeded", Processed: 50, Upserts: 50}))
			g.Expect(last.Job).To(Equal("inv"))
			g.Expect(last.SafetyGap).To(Equal("0s"))
		})
	}
}

// TestCheckpointConflictEndsTheRun: a Save that finds the checkpoint moved ends the run
// without further writes or saves.
func TestCheckpointConflictEndsTheRun(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(50, 1))
	e.store.saveErrAt = map[int]error{3: fmt.Errorf("configmap changed: %w", checkpoint.ErrConflict)} // 1: before the first write
	cfg := e.config()

	res, err := Run(context.Background(), cfg)
	g.Expect(runErr(t, err).Reason).To(Equal(runcontract.ReasonCheckpointConflict))
	g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
	g.Expect(e.store.saveCalls).To(Equal(3), "no save after the conflict")
	g.Expect(e.sink.upserts()).To(Equal(2), "no write after the conflict")
	g.Expect(*e.store.get().Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(4 * time.Second), ID: "5"}))
	g.Expect(res.Stored).To(Equal(e.store.get().Cursor))
}

// TestSafetyGapRewindsTheStoredCursor: a run starts at the stored cursor's time minus the
// gap with an empty id, re-reads the overlap idempotently, and never moves the cursor back.
func TestSafetyGapRewindsTheStoredCursor(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(30, 3)) // 3 records per second
	stored := cursor.Cursor{UpdatedAt: t0.Add(9 * time.Second), ID: "30"}
	e.store.state.Cursor = &stored
	cfg := e.config()
	cfg.SafetyGap = 2 * time.Second

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.readAfters()[0]).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(7 * time.Second)}))
	g.Expect(res.Record.CursorStart).To(Equal(&cursor.Cursor{UpdatedAt: t0.Add(7 * time.Second)}))
	g.Expect(res.Record.Read).To(BeEquivalentTo(9), "ids 22..30 are within the gap")
	g.Expect(sortedKeys(e.sink.snapshot())).To(HaveLen(9))
	g.Expect(*e.store.get().Cursor).To(Equal(stored), "the cursor does not move back")
	g.Expect(e.store.get().SafetyGap).To(Equal("2s"))
}

// TestStartAtWithoutCheckpoint: a first run starts at spec.cursor.startAt.
func TestStartAtWithoutCheckpoint(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(20, 1))
	cfg := e.config()
	cfg.StartAt = t0.Add(15 * time.Second)
	cfg.SafetyGap = time.Hour // no stored cursor: the gap does not apply

	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.readAfters()[0]).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(15 * time.Second)}))
	g.Expect(sortedKeys(e.sink.snapshot())).To(Equal([]string{"src:16", "src:17", "src:18", "src:19", "src:20"}))
}

// TestTiesAcrossPageBoundaries: many records share one time, pages split them, and ids
// compare in the source's native order ("9" < "10").
func TestTiesAcrossPageBoundaries(t *testing.T) {
	for _, page := range []int{1, 2, 3, 7, 25} {
		t.Run(fmt.Sprintf("page%d", page), func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(genRecords(25, 25)) // all at t0
			cfg := e.config()
			cfg.PageSize = page
			cfg.SafetyGap = time.Minute
			_, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.sink.snapshot()).To(HaveLen(25))
			g.Expect(*e.store.get().Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0, ID: "25"}))
			afters := e.src.readAfters()
			if page == 3 {
				g.Expect(afters[1:4]).To(Equal([]cursor.Cursor{{UpdatedAt: t0, ID: "3"}, {UpdatedAt: t0, ID: "6"}, {UpdatedAt: t0, ID: "9"}}))
				g.Expect(afters[4]).To(Equal(cursor.Cursor{UpdatedAt: t0, ID: "12"}), "12 comes after 9, numerically")
			}

			// The next run re-reads the whole tie from (t0 - gap, "") and writes nothing new.
			_, err = Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			afters = e.src.readAfters()
			g.Expect(afters).To(ContainElement(cursor.Cursor{UpdatedAt: t0.Add(-time.Minute)}))
			for k, n := range e.sink.writes {
				g.Expect(n).To(Equal(1), "%s written once; the rerun found it unchanged", k)
			}
		})
	}
}

// TestCancellation: the page in flight is committed if the sink confirmed it, and the last
// committed cursor is stored on a fresh context; the run is Interrupted.
func TestCancellation(t *testing.T) {
	cases := []struct {
		name      string
		confirmed bool
		cursorID  string
	}{
		{"after page 3 was confirmed", true, "15"},
		{"while page 3 was being written", false, "10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(genRecords(50, 1))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.confirmed {
				e.sink.cancelAfter = map[int]context.CancelFunc{3: cancel}
			} else {
				e.sink.before = func(_ context.Context, call int) {
					if call == 3 {
						cancel()
					}
				}
			}
			cfg := e.config()
			cfg.CheckpointInterval = time.Hour

			res, err := Run(ctx, cfg)
			re := runErr(t, err)
			g.Expect(re.Phase).To(Equal(audit.PhaseInterrupted))
			g.Expect(re.Reason).To(Equal(runcontract.ReasonCancelled))
			g.Expect(res.Record.Phase).To(Equal(audit.PhaseInterrupted))
			g.Expect(e.store.get().Cursor.ID).To(Equal(tc.cursorID))
			g.Expect(e.store.get().LastRun.Phase).To(Equal("Interrupted"))
			g.Expect(e.store.cancelled).To(BeZero(), "the final save runs on a fresh context")
			g.Expect(e.sink.upserts()).To(BeNumerically("<=", 3), "no page is taken after the cancellation")
			g.Expect(e.pub.recs).To(HaveLen(1))
		})
	}
}

// TestLockLostInterruptsTheRun: when the lock's held context ends, the run stops and
// stores its committed cursor.
func TestLockLostInterruptsTheRun(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(50, 1))
	e.sink.after = func(call int) {
		if call == 2 {
			e.lock.mu.Lock()
			e.lock.lose()
			e.lock.mu.Unlock()
		}
	}
	e.sink.before = func(ctx context.Context, call int) {
		if call == 3 {
			<-ctx.Done() // the run's context ends with the lock
		}
	}
	res, err := Run(context.Background(), e.config())
	g.Expect(runErr(t, err).Reason).To(Equal(runcontract.ReasonLockLost))
	g.Expect(res.Record.Phase).To(Equal(audit.PhaseInterrupted))
	g.Expect(e.store.get().Cursor.ID).To(Equal("10"))
}

// TestLockedRecordsNothing: a second runner returns ErrLocked and touches nothing.
func TestLockedRecordsNothing(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(10, 1))
	e.lock.heldBy = "runner-a"
	var out auditBuffer
	cfg := e.config()
	cfg.AuditOut = &out

	res, err := Run(context.Background(), cfg)
	g.Expect(err).To(MatchError(checkpoint.ErrLocked))
	g.Expect(res.Locked).To(BeTrue())
	g.Expect(e.store.loads).To(BeZero())
	g.Expect(e.store.saveCalls).To(BeZero())
	g.Expect(e.src.readAfters()).To(BeEmpty())
	g.Expect(e.sink.calls).To(BeZero())
	g.Expect(e.pub.recs).To(BeEmpty())
	g.Expect(out.lines(t)).To(BeEmpty())
}
