package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// versionScanSource is a fakeSource that scans versions (connector.VersionScanner): each record's
// id and updatedAt, and only the fields asked for.
type versionScanSource struct {
	*fakeSource
	scans      []cursor.Cursor // `after` of each ScanVersions
	beforeScan func()          // called at the start of each ScanVersions, if set
}

func (s *versionScanSource) ScanVersions(ctx context.Context, after, until cursor.Cursor, fields []string, limit int) (connector.Page, error) {
	if s.beforeScan != nil {
		s.beforeScan()
	}
	if err := ctx.Err(); err != nil {
		return connector.Page{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scans = append(s.scans, after)
	s.events = append(s.events, "scan")
	if err := s.scanErrAt[len(s.scans)]; err != nil {
		return connector.Page{}, err
	}
	recs, more := s.after(after, limit)
	out := connector.Page{More: more}
	for _, r := range recs {
		if cursor.Compare(r.Cursor(), until, s.order) > 0 {
			out.More = false
			break
		}
		v := connector.Record{ID: r.ID, UpdatedAt: r.UpdatedAt, Fields: map[string]any{}}
		for _, f := range fields {
			if x, ok := r.Fields[f]; ok {
				v.Fields[f] = x
			}
		}
		out.Records = append(out.Records, v)
	}
	return out, nil
}

// KeyFields: the fake mapper's key is the id alone.
func (m *fakeMapper) KeyFields() ([]string, bool) { return nil, true }

// KeyOf is the fake mapper's key, "src:<id>".
func (m *fakeMapper) KeyOf(r connector.Record) (string, bool, error) {
	return "src:" + r.ID, false, nil
}

// scanEnv is overlapEnv with a source that scans versions.
func scanEnv(t *testing.T) (*env, *versionSink, *versionScanSource, Config) {
	t.Helper()
	e, vs, cfg := overlapEnv(t)
	ss := &versionScanSource{fakeSource: e.src}
	cfg.Source = ss
	cfg.versionScanPage = cfg.PageSize // a scanned page of positions as large as a page (overlapscan_pages_test.go: larger)
	e.src.mu.Lock()
	e.src.reads, e.src.fetches, e.src.events = nil, nil, nil
	e.src.mu.Unlock()
	return e, vs, ss, cfg
}

// fullReadsUpTo returns the `after` of every ReadPage (full records) that could return a
// record at or before c.
func fullReadsUpTo(e *env, c cursor.Cursor) []cursor.Cursor {
	var out []cursor.Cursor
	for _, a := range e.src.readAfters() {
		if cursor.Compare(a, c, e.src.order) < 0 {
			out = append(out, a)
		}
	}
	return out
}

// TestOverlapScanReadsNoFullRecord: a rerun with nothing new scans the safety gap's
// versions page by page, looks each page's keys up in one query, reads no full record of
// the gap (no ReadPage before the stored cursor, no fetch), writes nothing and counts the
// 31 re-read records as read and SameVersion, as the full re-read did.
func TestOverlapScanReadsNoFullRecord(t *testing.T) {
	g := NewWithT(t)
	e, vs, ss, cfg := scanEnv(t)
	stored := e.store.get()
	calls, saves := e.sink.calls, e.store.saveCalls

	cfg.RunID = "rerun"
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Read).To(Equal(int64(31)))
	g.Expect(res.Record.SameVersion).To(Equal(int64(31)))
	g.Expect(res.Record.Upserted + res.Record.Unchanged).To(BeZero())
	g.Expect(ss.scans).To(HaveLen(7), "31 positions in pages of 5")
	g.Expect(ss.scans[0]).To(Equal(stored.Cursor.Rewind(cfg.SafetyGap)))
	g.Expect(vs.lookups).To(HaveLen(7), "one lookup per scanned page")
	g.Expect(fullReadsUpTo(e, *stored.Cursor)).To(BeEmpty(), "no full record of the gap is read")
	g.Expect(e.src.readAfters()).To(Equal([]cursor.Cursor{*stored.Cursor}), "the main loop reads after the stored cursor")
	g.Expect(e.src.fetches).To(BeEmpty())
	g.Expect(e.sink.calls).To(Equal(calls), "no Upsert call")
	g.Expect(e.store.saveCalls).To(Equal(saves), "nothing stored")
	g.Expect(res.Cursor).To(Equal(stored.Cursor))
}

// TestOverlapScanWritesChangedVersions: inside the gap, a record with a newer version
// still before the stored cursor and a record the sink does not hold are fetched by id
// (only they), mapped and written; a record that moved past the stored cursor is the main
// loop's; the sink ends equal to the mapped source.
func TestOverlapScanWritesChangedVersions(t *testing.T) {
	g := NewWithT(t)
	e, vs, _, cfg := scanEnv(t)
	recs := genRecords(100, 1)
	recs[79].UpdatedAt = t0.Add(85*time.Second + 500*time.Millisecond) // record 80, still before the cursor
	recs[79].Fields = map[string]any{"n": int64(80), "v": "v1"}
	recs[74].UpdatedAt = t0.Add(150 * time.Second) // record 75, now after the cursor
	recs[74].Fields = map[string]any{"n": int64(75), "v": "v2"}
	late := connector.Record{ID: "1000", UpdatedAt: t0.Add(90*time.Second + 500*time.Millisecond), Fields: map[string]any{"n": int64(1000), "v": "v0"}}
	e.src.set(append(recs, late))
	stored := e.store.get()

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	var fetched []string
	for _, f := range e.src.fetches {
		fetched = append(fetched, f...)
	}
	g.Expect(fetched).To(ConsistOf("80", "1000"), "only the records whose version the sink lacks")
	g.Expect(vs.upserted).To(ConsistOf("src:80", "src:1000", "src:75"))
	g.Expect(fullReadsUpTo(e, *stored.Cursor)).To(BeEmpty())
	g.Expect(res.Record.Upserted).To(Equal(int64(3)))
	g.Expect(res.Record.SameVersion).To(Equal(int64(29)))
	g.Expect(res.Record.Read).To(Equal(int64(32)), "31 positions in the gap, record 75 after it")
	g.Expect(e.sinkMismatch()).To(BeEmpty())
	g.Expect(*res.Cursor).To(Equal(recs[74].Cursor()))
}

// TestOverlapScanRetriesFailedKeys: a record of the gap waiting in the failed keys is read
// in full and written although the sink holds its version (here its first retry fails
// again in the sink, so the gap's write is what clears it); under policy Skip a record of
// the gap that fails again stays in the failed keys and the cursor stays where it was.
func TestOverlapScanRetriesFailedKeys(t *testing.T) {
	g := NewWithT(t)
	e, vs, _, cfg := scanEnv(t)
	e.store.state.FailedKeys = []string{"90", "95"}
	e.store.state.FailedUpdatedAt = map[string]time.Time{"90": t0.Add(89 * time.Second), "95": t0.Add(94 * time.Second)}
	e.sink.failOnce = map[string]int{"90": 1}
	e.sink.failAlways = map[string]bool{"95": true}
	stored := e.store.get()

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.src.fetches).To(Equal([][]string{{"90", "95"}, {"90"}, {"95"}}), "the retry, then each in its page of the gap")
	g.Expect(vs.upserted).To(Equal([]string{"src:90", "src:95", "src:90", "src:95"}))
	g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded))
	g.Expect(res.Record.Unchanged).To(Equal(int64(1)), "record 90, as the sink held it")
	g.Expect(res.Record.SameVersion).To(Equal(int64(29)))
	g.Expect(e.store.get().FailedKeys).To(Equal([]string{"95"}))
	g.Expect(*e.store.get().Cursor).To(Equal(*stored.Cursor))
	g.Expect(fullReadsUpTo(e, *stored.Cursor)).To(BeEmpty())
}

// TestOverlapScanHaltsOnFailure: under policy Halt a record of the gap that fails stops
// the run, and the cursor stays at the stored one (it never moves back, and never past a
// later record).
func TestOverlapScanHaltsOnFailure(t *testing.T) {
	g := NewWithT(t)
	e, _, _, cfg := scanEnv(t)
	cfg.ErrorPolicy = Halt
	recs := genRecords(100, 1)
	recs[79].UpdatedAt = t0.Add(85*time.Second + 500*time.Millisecond)
	recs[79].Fields = map[string]any{"n": int64(80), "v": "v1"}
	recs = append(recs, connector.Record{ID: "101", UpdatedAt: t0.Add(120 * time.Second), Fields: map[string]any{"n": int64(101), "v": "v0"}})
	e.src.set(recs)
	e.sink.failAlways = map[string]bool{"80": true}
	stored := e.store.get()

	res, err := Run(context.Background(), cfg)
	g.Expect(runErr(t, err).Reason).To(Equal("RecordError"))
	g.Expect(res.Cursor).To(Equal(stored.Cursor))
	g.Expect(e.sink.snapshot()).NotTo(HaveKey("src:101"), "the main loop never started")
	g.Expect(slices.Contains(e.src.events, "read")).To(BeFalse())
}

// TestOverlapScanNeedsEveryCapability: without a key the mapping can compute from named
// fields, or a source that fetches by id, the gap is re-read in full as before.
func TestOverlapScanNeedsEveryCapability(t *testing.T) {
	g := NewWithT(t)
	e, _, ss, cfg := scanEnv(t)
	cfg.Mapper = wholeKeyMapper{e.mp}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ss.scans).To(BeEmpty())
	g.Expect(res.Record.SameVersion).To(Equal(int64(31)))
	g.Expect(fullReadsUpTo(e, *e.store.get().Cursor)).NotTo(BeEmpty())

	cfg.Mapper = e.mp
	cfg.Source = unfetchableVersionScanSource{ss}
	_, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ss.scans).To(BeEmpty())
}

// wholeKeyMapper's key fields cannot be named.
type wholeKeyMapper struct{ *fakeMapper }

func (wholeKeyMapper) KeyFields() ([]string, bool) { return nil, false }

// unfetchableVersionScanSource scans versions but cannot fetch by id.
type unfetchableVersionScanSource struct{ *versionScanSource }

func (unfetchableVersionScanSource) CanFetchByID() bool { return false }

// rangeSink is a versionSink that also reads the versions it holds by range
// (connector.VersionRangeReader), at most limit of them.
type rangeSink struct {
	*versionSink
	ranges int
}

func (s *rangeSink) StoredVersionsBetween(ctx context.Context, from, to time.Time, limit int) (map[string]time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ranges++
	out := map[string]time.Time{}
	for k, w := range s.rows {
		if w.SourceUpdatedAt.Before(from) || w.SourceUpdatedAt.After(to) {
			continue
		}
		if out[k] = w.SourceUpdatedAt; len(out) > limit {
			return nil, false, nil
		}
	}
	return out, true, nil
}

// TestOverlapScanReadsVersionRanges: a sink that reads its versions by range answers each
// scanned page with one range read instead of a lookup by key; a page inside a group of
// records at one time larger than the range's limit falls back to the lookup by key. The
// outcome is the same: nothing written, every record SameVersion.
func TestOverlapScanReadsVersionRanges(t *testing.T) {
	g := NewWithT(t)
	e, vs, _, cfg := scanEnv(t)
	rs := &rangeSink{versionSink: vs}
	cfg.Sink = rs
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.SameVersion).To(Equal(int64(31)))
	g.Expect(rs.ranges).To(Equal(7))
	g.Expect(vs.lookups).To(BeEmpty())
	g.Expect(vs.upserted).To(BeEmpty())

	// 40 records a second: a page's range [t, t] holds 40, more than 2×5+16.
	e = newEnv(genRecords(120, 40))
	vs = &versionSink{fakeSink: e.sink}
	rs = &rangeSink{versionSink: vs}
	cfg = e.config()
	cfg.Sink = rs
	cfg.SafetyGap = time.Second
	_, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	cfg.Source = &versionScanSource{fakeSource: e.src}
	cfg.versionScanPage = cfg.PageSize
	rs.ranges, vs.lookups, vs.upserted = 0, nil, nil
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.SameVersion).To(Equal(int64(80)))
	g.Expect(rs.ranges).To(Equal(16))
	g.Expect(vs.lookups).To(HaveLen(16), "each page falls back to the lookup by key")
	g.Expect(vs.upserted).To(BeEmpty())
	g.Expect(e.sinkMismatch()).To(BeEmpty())
}
