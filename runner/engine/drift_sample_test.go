package engine

import (
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSameValue: the drift check compares a mapped value with the sink's by the type's own
// equality.
func TestSameValue(t *testing.T) {
	at := time.Date(2026, 6, 30, 12, 0, 0, 123456000, time.UTC)
	berlin := at.In(time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		name      string
		want, got any
		same      bool
	}{
		{"nil and nil", nil, nil, true},
		{"nil and a value", nil, "x", false},
		{"a value and nil", "x", nil, false},
		{"strings", "open", "open", true},
		{"strings differ", "open", "paid", false},
		{"a string is not a number", "12", json.Number("12"), false},
		{"ints", int64(7), int64(7), true},
		{"ints differ", int64(7), int64(8), false},
		{"int and a JSON number", int64(7), json.Number("7"), true},
		{"int and a float", int64(7), float64(7), true},
		{"decimals by value", connector.Decimal("120.50"), connector.Decimal("120.5"), true},
		{"decimals differ", connector.Decimal("120.50"), connector.Decimal("120.51"), false},
		{"decimal and a JSON number", connector.Decimal("120.50"), json.Number("120.5"), true},
		{"decimal and a float in shortest form", connector.Decimal("0.10"), 0.1, true},
		{"decimal and a decimal string", connector.Decimal("120.50"), "120.500", true},
		{"decimal and a text that is no number", connector.Decimal("1"), "one", false},
		{"decimal and a fraction text", connector.Decimal("0.5"), "1/2", false},
		{"bools", true, true, true},
		{"bools differ", true, false, false},
		{"bool and a string", true, "true", false},
		{"times by instant", at, berlin, true},
		{"time and an RFC 3339 string", at, "2026-06-30T14:00:00.123456+02:00", true},
		{"times differ by a microsecond", at, at.Add(time.Microsecond), false},
		{"time and a text that is no time", at, "yesterday", false},
		{"JSON by value: key order and spaces", connector.JSON(`{"a":1,"b":[true,"x"]}`), connector.JSON(`{ "b": [true, "x"], "a": 1 }`), true},
		{"JSON by value: number spelling", connector.JSON(`{"a":1.50}`), connector.JSON(`{"a":1.5}`), true},
		{"JSON and a decoded document", connector.JSON(`{"a":1,"b":null}`), map[string]any{"a": float64(1), "b": nil}, true},
		{"JSON differs in a nested value", connector.JSON(`{"a":{"b":1}}`), connector.JSON(`{"a":{"b":2}}`), false},
		{"JSON differs in a key", connector.JSON(`{"a":1}`), connector.JSON(`{"a":1,"c":1}`), false},
		{"JSON arrays in order", connector.JSON(`[1,2]`), connector.JSON(`[2,1]`), false},
		{"JSON null and nil", connector.JSON(`null`), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(sameValue(tc.want, tc.got)).To(Equal(tc.same))
		})
	}
}

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
