package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// probingSource is a countingSource that says whether records follow a position
// (connector.AfterProber).
type probingSource struct {
	*countingSource
	probes []cursor.Cursor
	err    error
}

func (s *probingSource) HasAfter(ctx context.Context, after cursor.Cursor) (bool, error) {
	s.mu.Lock()
	s.probes = append(s.probes, after)
	s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	recs, _ := s.after(after, 1)
	return len(recs) > 0, nil
}

// TestEarlyDriftCountsOnlyWhenNothingFollows: a source that probes whether records follow
// the stored cursor is asked once, at the start of the run. Nothing follows: the early
// counts are taken and used, one count per side. Records follow: the window ending at the
// stored cursor is not counted at all, only the window ending at the new cursor, at the
// end. A failed probe proves nothing: the early counts are taken as without a probe.
func TestEarlyDriftCountsOnlyWhenNothingFollows(t *testing.T) {
	g := NewWithT(t)
	e, vs, ss, cfg := scanEnv(t)
	src := &probingSource{countingSource: &countingSource{versionScanSource: ss}}
	dst := &countingSink{rangeSink: &rangeSink{versionSink: vs}}
	cfg.Source, cfg.Sink = src, dst
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 3}
	stored := *e.store.get().Cursor
	window := [2]time.Time{stored.UpdatedAt.Add(-time.Hour), stored.UpdatedAt}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(src.probes).To(Equal([]cursor.Cursor{stored}))
	g.Expect(src.log.windows).To(Equal([][2]time.Time{window}))
	g.Expect(dst.log.windows).To(Equal([][2]time.Time{window}))
	g.Expect(res.Record.Reconciliation.SourceCount).To(Equal(int64(100)))

	recs := genRecords(101, 1)
	e.src.set(recs)
	src.log, dst.log, src.probes = countLog{}, countLog{}, nil
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(src.probes).To(Equal([]cursor.Cursor{stored}))
	moved := [2]time.Time{recs[100].UpdatedAt.Add(-time.Hour), recs[100].UpdatedAt}
	g.Expect(src.log.windows).To(Equal([][2]time.Time{moved}), "only at the end")
	g.Expect(dst.log.windows).To(Equal([][2]time.Time{moved}))
	g.Expect(res.Record.Reconciliation.SourceCount).To(Equal(int64(101)))
	g.Expect(res.Record.Reconciliation.SinkCount).To(Equal(int64(101)))

	src.err = errors.New("probe failed")
	src.log, dst.log = countLog{}, countLog{}
	stored = *e.store.get().Cursor
	window = [2]time.Time{stored.UpdatedAt.Add(-time.Hour), stored.UpdatedAt}
	_, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(src.log.windows).To(Equal([][2]time.Time{window}), "counted early, as without a probe")
}

var _ connector.AfterProber = (*probingSource)(nil)
