package engine

import (
	"context"
	"iter"
	"time"

	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// snapshotDeleteSink is a hashSink that deletes by key and counts its keys
// (connector.KeyCounter); its CountWindow (fakeSink's) counts only rows whose source
// version is in the window, as a real sink does: none in Snapshot mode.
type snapshotDeleteSink struct{ *hashSink }

func (s snapshotDeleteSink) DeleteKeys(ctx context.Context, dels []connector.KeyDelete) ([]connector.Result, error) {
	return keySink{s.fakeSink}.DeleteKeys(ctx, dels)
}

func (s snapshotDeleteSink) CountKeys(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.rows)), nil
}

// tombstoneList lists fixed tombstones.
type tombstoneList []connector.Tombstone

func (l tombstoneList) DeletedSince(context.Context, time.Time) iter.Seq2[connector.Tombstone, error] {
	return func(yield func(connector.Tombstone, error) bool) {
		for _, ts := range l {
			if !yield(ts, nil) {
				return
			}
		}
	}
}

// TestDeleteValveCountsSnapshotSinkKeys: the delete valve weighs a source's deletions
// against the sink's keys counted as such (connector.KeyCounter), not through the drift
// check's window count, which misses every row of a Snapshot sink (no source version): 1
// deletion of 40 rows is under 5 % and goes ahead.
func TestDeleteValveCountsSnapshotSinkKeys(t *testing.T) {
	g := NewWithT(t)
	e, _, sink, cfg := snapshotEnv(40)
	cfg.Sink = snapshotDeleteSink{sink}
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.sink.snapshot()).To(HaveLen(40))
	n, err := e.sink.CountWindow(context.Background(), time.Unix(0, 0), time.Now().AddDate(100, 0, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero(), "the window count sees no Snapshot row")

	recs := genRecords(40, 1)
	e.src.set(append(recs[:6:6], recs[7:]...)) // id 7 deleted
	cfg.Deletes = Deletes{MaxFraction: 0.05, Tombstones: Tombstones{
		Lister: tombstoneList{{ID: "7", DeletedAt: t0.Add(time.Hour)}},
		KeyOf:  func(id string) string { return "src:" + id },
	}}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Deleted).To(Equal(int64(1)))
	g.Expect(e.sink.snapshot()).NotTo(HaveKey("src:7"))
	g.Expect(e.sink.snapshot()).To(HaveLen(39))
}
