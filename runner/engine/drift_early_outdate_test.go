package engine

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// stallingCountSource's count of the window ending at `early` runs until its context
// ends, and closes stopped then; other windows are counted at once.
type stallingCountSource struct {
	*versionScanSource
	early   time.Time
	stopped chan struct{}
}

func (s *stallingCountSource) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	if to.Equal(s.early) {
		<-ctx.Done()
		close(s.stopped)
		return 0, ctx.Err()
	}
	return s.fakeSource.CountWindow(ctx, from, to)
}

// waitingSink's Upsert waits (at most 10 s) for the early count to stop.
type waitingSink struct {
	*versionSink
	stopped <-chan struct{}
	waited  bool
}

func (s *waitingSink) Upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	select {
	case <-s.stopped:
	case <-time.After(10 * time.Second):
		s.waited = true
	}
	return s.versionSink.Upsert(ctx, batch)
}

// TestEarlyDriftCountsStopWhenTheCursorMoves: a run that reads a record after the stored
// cursor counts another window at its end, so its early counts of the window ending at
// the stored cursor are stopped then, before the page is written (they no longer run
// alongside the run's writes), and the end's counts are reported.
func TestEarlyDriftCountsStopWhenTheCursorMoves(t *testing.T) {
	g := NewWithT(t)
	e, vs, ss, cfg := scanEnv(t)
	stored := *e.store.get().Cursor
	src := &stallingCountSource{versionScanSource: ss, early: stored.UpdatedAt, stopped: make(chan struct{})}
	dst := &waitingSink{versionSink: vs, stopped: src.stopped}
	cfg.Source, cfg.Sink = src, dst
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 3}
	recs := genRecords(101, 1)
	e.src.set(recs)

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(dst.waited).To(BeFalse(), "the early count was stopped before the new page was written")
	g.Expect(res.Record.Upserted).To(Equal(int64(1)))
	rc := res.Record.Reconciliation
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.WindowEnd).To(Equal(recs[100].UpdatedAt.UTC()))
	g.Expect(rc.SourceCount).To(Equal(int64(101)))
	g.Expect(rc.SinkCount).To(Equal(int64(101)))
	g.Expect(rc.Drift).To(BeFalse())
}
