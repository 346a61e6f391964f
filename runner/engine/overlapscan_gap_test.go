package engine

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestOverlapScanReadsTheGapsVersionsOnce: with a sink that reads its versions by range,
// the overlap's version scan reads the versions of the whole gap, [stored cursor - safety
// gap, stored cursor], in one range read and no page looks its keys up, and still writes exactly
// the records whose version the sink does not hold: a newer version inside the gap, a
// record the sink lost, and one that moved past the stored cursor (the main loop's).
func TestOverlapScanReadsTheGapsVersionsOnce(t *testing.T) {
	g := NewWithT(t)
	e, vs, _, cfg := scanEnv(t)
	rs := &rangeSink{versionSink: vs}
	cfg.Sink = rs
	recs := genRecords(100, 1)
	recs[79].UpdatedAt = t0.Add(85*time.Second + 500*time.Millisecond) // record 80, still before the cursor
	recs[79].Fields = map[string]any{"n": int64(80), "v": "v1"}
	recs[74].UpdatedAt = t0.Add(150 * time.Second) // record 75, now after the cursor
	recs[74].Fields = map[string]any{"n": int64(75), "v": "v2"}
	e.src.set(recs)
	e.sink.mu.Lock()
	delete(e.sink.rows, "src:90")
	e.sink.mu.Unlock()
	stored := *e.store.get().Cursor

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rs.asked).To(Equal([][2]time.Time{{stored.Rewind(cfg.SafetyGap).UpdatedAt, stored.UpdatedAt}}), "one read: the gap's times")
	g.Expect(vs.lookups).To(Equal([][]string{{"src:80", "src:90"}}), "no page's lookup by key: only the write's own check of the fetched records")
	var fetched []string
	for _, f := range e.src.fetches {
		fetched = append(fetched, f...)
	}
	g.Expect(fetched).To(ConsistOf("80", "90"), "only the records whose version the sink lacks")
	g.Expect(vs.upserted).To(ConsistOf("src:80", "src:90", "src:75"))
	g.Expect(res.Record.Upserted).To(Equal(int64(3)))
	g.Expect(res.Record.SameVersion).To(Equal(int64(28)))
	g.Expect(e.sinkMismatch()).To(BeEmpty())
	g.Expect(*res.Cursor).To(Equal(recs[74].Cursor()))
}

// failingRangeSink's range reads fail.
type failingRangeSink struct{ *versionSink }

func (failingRangeSink) StoredVersionsBetween(ctx context.Context, from, to time.Time, limit int) (map[string]time.Time, bool, error) {
	return nil, false, context.DeadlineExceeded
}

// TestOverlapScanGapReadFailureFallsBack: when the gap's range read fails, each page reads
// its versions by key, with the same outcome.
func TestOverlapScanGapReadFailureFallsBack(t *testing.T) {
	g := NewWithT(t)
	_, vs, _, cfg := scanEnv(t)
	cfg.Sink = failingRangeSink{vs}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).To(HaveOccurred(), "a page's own range read fails too: the sink cannot read its versions")
	g.Expect(res.Record.Upserted).To(BeZero())
}

var _ connector.VersionRangeReader = failingRangeSink{}
