package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// countLog records the windows counted on one side, and when.
type countLog struct {
	mu      sync.Mutex
	windows [][2]time.Time
}

func (c *countLog) add(from, to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.windows = append(c.windows, [2]time.Time{from, to})
}

// countingSource counts the windows its CountWindow is asked for.
type countingSource struct {
	*versionScanSource
	log     countLog
	started func() // called at the start of CountWindow, if set
}

func (s *countingSource) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	if s.started != nil {
		s.started()
	}
	s.log.add(from, to)
	return s.fakeSource.CountWindow(ctx, from, to)
}

// countingSink counts the windows its CountWindow is asked for.
type countingSink struct {
	*rangeSink
	log countLog
}

func (s *countingSink) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	s.log.add(from, to)
	return s.fakeSink.CountWindow(ctx, from, to)
}

// TestDriftCountsOfARerunStartEarly: a rerun with nothing new counts the drift window
// once per side, started before the overlap is scanned (the counts run alongside it), and
// reports them; a rerun that writes inside the window counts again at its end, so that
// the counts include its writes and find no drift.
func TestDriftCountsOfARerunStartEarly(t *testing.T) {
	g := NewWithT(t)
	e, vs, ss, cfg := scanEnv(t)
	src := &countingSource{versionScanSource: ss}
	dst := &countingSink{rangeSink: &rangeSink{versionSink: vs}}
	cfg.Source, cfg.Sink = src, dst
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 3}
	stored := *e.store.get().Cursor
	window := [2]time.Time{stored.UpdatedAt.Add(-time.Hour), stored.UpdatedAt}

	// The scan waits for the count to begin: counts taken only after it would never come.
	counting := make(chan struct{})
	src.started = func() { close(counting) }
	var first sync.Once
	ss.beforeScan = func() {
		first.Do(func() {
			select {
			case <-counting:
			case <-time.After(10 * time.Second):
				t.Error("the overlap was scanned before the drift counts began")
			}
		})
	}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	ss.beforeScan, src.started = nil, nil
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(src.log.windows).To(Equal([][2]time.Time{window}))
	g.Expect(dst.log.windows).To(Equal([][2]time.Time{window}))
	rc := res.Record.Reconciliation
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.SourceCount).To(Equal(int64(100)))
	g.Expect(rc.SinkCount).To(Equal(int64(100)))
	g.Expect(rc.Drift).To(BeFalse())

	// A record of the gap the sink lost is written again: the early counts (99 in the
	// sink) are dropped and the end counts 100.
	e.sink.mu.Lock()
	delete(e.sink.rows, "src:90")
	e.sink.mu.Unlock()
	src.log, dst.log = countLog{}, countLog{}
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(1)))
	g.Expect(src.log.windows).To(Equal([][2]time.Time{window, window}), "early, then at the end")
	g.Expect(dst.log.windows).To(Equal([][2]time.Time{window, window}))
	rc = res.Record.Reconciliation
	g.Expect(rc.SinkCount).To(Equal(int64(100)))
	g.Expect(rc.Drift).To(BeFalse())
	g.Expect(e.sinkMismatch()).To(BeEmpty())

	// A run whose cursor moves counts the window ending at its new cursor at the end.
	recs := genRecords(101, 1)
	e.src.set(recs)
	src.log, dst.log = countLog{}, countLog{}
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(src.log.windows).To(ConsistOf(window, [2]time.Time{recs[100].UpdatedAt.Add(-time.Hour), recs[100].UpdatedAt}), "early, then at the end")
	g.Expect(res.Record.Reconciliation.SourceCount).To(Equal(int64(101)))
	g.Expect(res.Record.Reconciliation.SinkCount).To(Equal(int64(101)))
}

var _ connector.Counter = (*countingSource)(nil)
