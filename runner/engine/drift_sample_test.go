package engine

import (
	"context"
	"maps"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// readableSink is the fake sink with the KeyReader capability: it reads back what it holds.
type readableSink struct{ *fakeSink }

func (s readableSink) ReadByKeys(_ context.Context, keys []string) ([]connector.SinkRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []connector.SinkRecord
	for _, k := range keys {
		if w, ok := s.rows[k]; ok && !w.Deleted {
			out = append(out, connector.SinkRecord{Key: k, SourceUpdatedAt: w.SourceUpdatedAt, Values: maps.Clone(w.Values)})
		}
	}
	return out, nil
}

// edit changes one field of the row the sink holds for key, by hand.
func (s readableSink) edit(key, field string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.rows[key]
	w.Values = maps.Clone(w.Values)
	w.Values[field] = v
	s.rows[key] = w
}

// TestDriftSample: rows edited in the sink by hand are reported by key and field on the
// next run, even when that run reads nothing new; nothing is reported when nothing was
// edited; a record deleted in the sink is reported missing.
func TestDriftSample(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(20, 1))
	sink := readableSink{e.sink}
	cfg := e.config()
	cfg.Sink = sink
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 20}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	rc := res.Record.Reconciliation
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.Sampled).To(BeEquivalentTo(20))
	g.Expect(rc.Mismatched).To(BeZero())
	g.Expect(rc.Drift).To(BeFalse())

	sink.edit("src:3", "v", "edited")
	sink.edit("src:7", "n", int64(70))
	sink.edit("src:7", "v", "edited")
	sink.mu.Lock()
	delete(sink.rows, "src:9")
	sink.mu.Unlock()
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(BeZero(), "the second run rewrites nothing")
	rc = res.Record.Reconciliation
	g.Expect(rc.Sampled).To(BeEquivalentTo(20))
	g.Expect(rc.Mismatched).To(BeEquivalentTo(3))
	g.Expect(rc.Mismatches).To(Equal([]audit.Mismatch{
		{Key: "src:3", Fields: []string{"v"}},
		{Key: "src:7", Fields: []string{"n", "v"}},
		{Key: "src:9", Missing: true},
	}))
	g.Expect(rc.MismatchedIDs).To(Equal([]string{"3", "7", "9"}))
	g.Expect(rc.SourceCount).To(BeEquivalentTo(20))
	g.Expect(rc.SinkCount).To(BeEquivalentTo(19))
	g.Expect(rc.Drift).To(BeTrue())
}

// TestDriftSampleSkips: records that are not drift are left out of the sample: one updated
// in the source after the window's end, one the source no longer has, one deleted in the
// source, one that does not map.
func TestDriftSampleSkips(t *testing.T) {
	g := NewWithT(t)
	recs := genRecords(10, 1)
	e := newEnv(recs)
	sink := readableSink{e.sink}
	cfg := e.config()
	cfg.Sink = sink
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 10}
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())

	// The sink's copies of 2, 4, 6 and 8 differ from what the source now says, but none is drift.
	for _, k := range []string{"src:2", "src:4", "src:6", "src:8"} {
		sink.edit(k, "v", "old")
	}
	changed := []connector.Record{}
	for _, r := range recs {
		switch r.ID {
		case "2": // changed after the cursor: the next run writes it
			r.UpdatedAt = t0.Add(time.Hour)
			r.Fields = map[string]any{"n": int64(2), "v": "new"}
		case "4": // gone from the source
			continue
		case "6": // deleted in the source
			r.Fields = map[string]any{"n": int64(6), "v": "v0", "deleted": true}
		}
		changed = append(changed, r)
	}
	e.src.set(changed)
	e.mp.fail = set("8") // does not map any more: a record error, not drift
	del := deletingMapper{e.mp}
	cfg.Mapper = del
	cfg.Range = nil

	r := newRun(mustDefaults(t, cfg))
	r.committed = recs[9].Cursor()
	rc := r.driftCheck(context.Background())
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.Mismatches).To(BeEmpty())
	g.Expect(rc.Sampled).To(BeEquivalentTo(6), "1, 3, 5, 7, 9 and 10")
	g.Expect(rc.Drift).To(BeTrue(), "the count still sees one record fewer in the source")
}

// deletingMapper marks records whose "deleted" field is true as deleted.
type deletingMapper struct{ m *fakeMapper }

func (d deletingMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	w, err := d.m.Map(r)
	if err == nil && r.Fields["deleted"] == true {
		w.Deleted = true
	}
	return w, err
}

func mustDefaults(t *testing.T, cfg Config) Config {
	t.Helper()
	c, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDriftSampleOff: sample 0 turns the whole check off; a sink that cannot read by key
// leaves the sample out but keeps the counts.
func TestDriftSampleOff(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(5, 1))
	cfg := e.config()
	cfg.Sink = readableSink{e.sink}
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 0}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Reconciliation).To(BeNil())

	e2 := newEnv(genRecords(5, 1))
	cfg = e2.config()
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 5}
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	rc := res.Record.Reconciliation
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.Sampled).To(BeZero())
	g.Expect(rc.SourceCount).To(BeEquivalentTo(5))
	g.Expect(rc.Uncounted).To(BeFalse())
}
