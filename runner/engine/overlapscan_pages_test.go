package engine

import (
	"context"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// The overlap's version scan reads positions in pages larger than a page of records
// (versionScanLimit): fewer round trips for the gap, each scanned page still checked
// against the sink's stored versions in one lookup, and what must be written still
// written in pages of at most the page size.

// TestOverlapScanReadsPositionsInFewRoundTrips: at the default scan size a 31-record gap
// with pages of 5 is scanned in one round trip and checked in one lookup (by key, or by
// range), where a page-sized scan took 7; nothing is written or stored, every re-read
// record is SameVersion.
func TestOverlapScanReadsPositionsInFewRoundTrips(t *testing.T) {
	for _, byRange := range []bool{false, true} {
		t.Run("range="+strconv.FormatBool(byRange), func(t *testing.T) {
			g := NewWithT(t)
			e, vs, ss, cfg := scanEnv(t)
			cfg.versionScanPage = 0 // the default
			rs := &rangeSink{versionSink: vs}
			if byRange {
				cfg.Sink = rs
			}
			stored, calls, saves := e.store.get(), e.sink.calls, e.store.saveCalls

			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Read).To(Equal(int64(31)))
			g.Expect(res.Record.SameVersion).To(Equal(int64(31)))
			g.Expect(ss.scans).To(HaveLen(1), "the gap's 31 positions in one scan")
			if byRange {
				g.Expect(rs.ranges).To(Equal(1))
				g.Expect(vs.lookups).To(BeEmpty())
			} else {
				g.Expect(vs.lookups).To(HaveLen(1))
				g.Expect(vs.lookups[0]).To(HaveLen(31))
			}
			g.Expect(fullReadsUpTo(e, *stored.Cursor)).To(BeEmpty())
			g.Expect(e.src.fetches).To(BeEmpty())
			g.Expect(e.sink.calls).To(Equal(calls), "no Upsert call")
			g.Expect(e.store.saveCalls).To(Equal(saves), "nothing stored")
			g.Expect(res.Cursor).To(Equal(stored.Cursor))
		})
	}
}

// tieGapRecords is 130 records: 1..60 one second apart from t0, 61..105 all at t0+60s (a
// group of 45 records at one time, larger than a page of 5, a scanned page of 12 and a
// range read's limit of 2×12+16), 106..130 at t0+61s..t0+85s.
func tieGapRecords() []connector.Record {
	recs := make([]connector.Record, 130)
	for i := range recs {
		n := i + 1
		at := t0.Add(time.Duration(i) * time.Second)
		switch {
		case n > 60 && n <= 105:
			at = t0.Add(60 * time.Second)
		case n > 105:
			at = t0.Add(time.Duration(n-45) * time.Second)
		}
		recs[i] = connector.Record{ID: strconv.Itoa(n), UpdatedAt: at, Fields: map[string]any{"n": int64(n), "v": "v0"}}
	}
	return recs
}

// TestOverlapScanLargePagesFindLateCommits: with scanned pages of 12 positions and pages of
// 5 records, over a gap holding a group of 45 records at one time, a rerun finds every
// late commit — two inside the group, one between later records — and a newer version of a
// record of the group still before the stored cursor, fetches only those, writes them in
// pages of at most 5 without moving the cursor, and confirms every other re-read record
// as SameVersion; the sink ends equal to the mapped source. Versions are read by key and
// by range (a scanned page inside the group falls back to the lookup by key).
func TestOverlapScanLargePagesFindLateCommits(t *testing.T) {
	for _, byRange := range []bool{false, true} {
		t.Run("range="+strconv.FormatBool(byRange), func(t *testing.T) {
			g := NewWithT(t)
			recs := tieGapRecords()
			e := newEnv(recs)
			vs := &versionSink{fakeSink: e.sink}
			rs := &rangeSink{versionSink: vs}
			cfg := e.config()
			cfg.Sink = vs
			if byRange {
				cfg.Sink = rs
			}
			cfg.SafetyGap = 30 * time.Second // the gap: t0+55s..t0+85s, records 56..130
			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Upserted).To(Equal(int64(130)))
			stored := e.store.get()
			g.Expect(*stored.Cursor).To(Equal(recs[129].Cursor()))

			// Late commits inside the gap: two in the group (their ids after its records'),
			// one between records 110 and 111, and seven more at one time (more than a page
			// to write); record 80 of the group now has a newer version, still before the
			// stored cursor.
			late := []connector.Record{
				{ID: "1000", UpdatedAt: t0.Add(60 * time.Second), Fields: map[string]any{"n": int64(1000), "v": "late"}},
				{ID: "1001", UpdatedAt: t0.Add(60 * time.Second), Fields: map[string]any{"n": int64(1001), "v": "late"}},
				{ID: "2000", UpdatedAt: t0.Add(65*time.Second + 500*time.Millisecond), Fields: map[string]any{"n": int64(2000), "v": "late"}},
			}
			for i := range 7 {
				id := 3000 + i
				late = append(late, connector.Record{ID: strconv.Itoa(id), UpdatedAt: t0.Add(70*time.Second + 500*time.Millisecond), Fields: map[string]any{"n": int64(id), "v": "late"}})
			}
			now := append([]connector.Record{}, recs...)
			now[79].UpdatedAt, now[79].Fields = t0.Add(62*time.Second+500*time.Millisecond), map[string]any{"n": int64(80), "v": "v1"}
			now = append(now, late...)
			e.src.set(now)
			ss := &versionScanSource{fakeSource: e.src}
			cfg.Source, cfg.versionScanPage, cfg.RunID = ss, 12, "rerun"
			vs.upserted, vs.lookups, rs.ranges = nil, nil, 0
			e.sink.batches, e.src.fetches, e.src.reads = nil, nil, nil

			res, err = Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			var fetched []string
			for _, f := range e.src.fetches {
				g.Expect(len(f)).To(BeNumerically("<=", cfg.PageSize), "fetched a page at a time")
				fetched = append(fetched, f...)
			}
			want := []string{"80", "1000", "1001", "2000", "3000", "3001", "3002", "3003", "3004", "3005", "3006"}
			g.Expect(fetched).To(ConsistOf(want), "only the late commits and the newer version")
			wantKeys := make([]string, len(want))
			for i, id := range want {
				wantKeys[i] = "src:" + id
			}
			g.Expect(vs.upserted).To(ConsistOf(wantKeys))
			for _, n := range e.sink.batches {
				g.Expect(n).To(BeNumerically("<=", cfg.PageSize))
			}
			positions := int64(75 + 10) // records 56..130 and the ten new ones
			g.Expect(res.Record.Read).To(Equal(positions))
			g.Expect(res.Record.Upserted).To(Equal(int64(len(want))))
			g.Expect(res.Record.SameVersion).To(Equal(positions - int64(len(want))))
			g.Expect(ss.scans).To(HaveLen(8), "85 positions in scanned pages of 12")
			g.Expect(fullReadsUpTo(e, *stored.Cursor)).To(BeEmpty(), "no full read of the gap")
			g.Expect(res.Cursor).To(Equal(stored.Cursor), "every write is at or before the stored cursor")
			g.Expect(e.sinkMismatch()).To(BeEmpty())
			if byRange {
				g.Expect(rs.ranges).To(Equal(8))
				g.Expect(len(vs.lookups)).To(BeNumerically(">=", 1), "a scanned page inside the group of 45 falls back to the lookup by key")
			}
		})
	}
}
