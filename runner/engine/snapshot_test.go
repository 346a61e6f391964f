package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestRecordHash: what changes a record's content hash and what does not.
func TestRecordHash(t *testing.T) {
	at := time.Date(2026, 6, 30, 12, 0, 0, 123456789, time.UTC)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	base := func() connector.WriteRecord {
		return connector.WriteRecord{Key: "inv_1", SourceID: "1", SourceUpdatedAt: at, Values: map[string]any{
			"n": int64(1), "s": "a", "d": connector.Decimal("12.30"), "b": true, "t": at,
			"j": connector.JSON(`{"a":1}`), "null": nil,
		}}
	}
	h0 := RecordHash(base())
	for _, tc := range []struct {
		name   string
		change func(*connector.WriteRecord)
		same   bool
	}{
		{"nothing changed", func(*connector.WriteRecord) {}, true},
		{"source id and updatedAt are not content", func(w *connector.WriteRecord) {
			w.SourceID, w.SourceUpdatedAt = "2", at.Add(time.Hour)
		}, true},
		{"a time in another location, same instant", func(w *connector.WriteRecord) { w.Values["t"] = at.In(paris) }, true},
		{"the key", func(w *connector.WriteRecord) { w.Key = "inv_2" }, false},
		{"deleted", func(w *connector.WriteRecord) { w.Deleted = true }, false},
		{"an int value", func(w *connector.WriteRecord) { w.Values["n"] = int64(2) }, false},
		{"int 1 vs string 1", func(w *connector.WriteRecord) { w.Values["n"] = "1" }, false},
		{"decimal vs the same text", func(w *connector.WriteRecord) { w.Values["d"] = "12.30" }, false},
		{"decimal scale", func(w *connector.WriteRecord) { w.Values["d"] = connector.Decimal("12.3") }, false},
		{"bool", func(w *connector.WriteRecord) { w.Values["b"] = false }, false},
		{"a nanosecond", func(w *connector.WriteRecord) { w.Values["t"] = at.Add(time.Nanosecond) }, false},
		{"json vs the same text", func(w *connector.WriteRecord) { w.Values["j"] = `{"a":1}` }, false},
		{"null vs missing field", func(w *connector.WriteRecord) { delete(w.Values, "null") }, false},
		{"null vs empty string", func(w *connector.WriteRecord) { w.Values["null"] = "" }, false},
		{"a new field", func(w *connector.WriteRecord) { w.Values["x"] = nil }, false},
		{"a field renamed", func(w *connector.WriteRecord) { w.Values["s2"] = w.Values["s"]; delete(w.Values, "s") }, false},
		{"value moved across a field boundary", func(w *connector.WriteRecord) { w.Values["s"] = "as" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := base()
			tc.change(&w)
			if tc.same {
				NewWithT(t).Expect(RecordHash(w)).To(Equal(h0))
			} else {
				NewWithT(t).Expect(RecordHash(w)).NotTo(Equal(h0))
			}
		})
	}
	t.Run("stable across runs and map orders: a fixed value", func(t *testing.T) {
		g := NewWithT(t)
		for range 20 { // map iteration order varies between calls
			g.Expect(RecordHash(base())).To(Equal(h0))
		}
		// A change of the encoding rewrites every Snapshot sink once: it must be deliberate.
		g.Expect(RecordHash(connector.WriteRecord{Key: "k", Values: map[string]any{"a": int64(1), "b": "x"}})).
			To(Equal(fixedHash))
		g.Expect(h0).To(HaveLen(32))
	})
}

// fixedHash is RecordHash of {Key: "k", Values: {a: 1, b: "x"}}, pinned so that a change
// of the encoding fails this test.
const fixedHash = "fec1dfdf207632f15ad61414432cab8a"

// scanSource serves a fakeSource's records by id (connector.Scanner), with no cursor time.
type scanSource struct {
	*fakeSource
	mu    sync.Mutex
	scans []string // afterID of each ScanPage
}

func (s *scanSource) ScanPage(ctx context.Context, afterID string, limit int) (connector.Page, error) {
	s.mu.Lock()
	s.scans = append(s.scans, afterID)
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return connector.Page{}, err
	}
	s.fakeSource.mu.Lock()
	recs := slices.Clone(s.fakeSource.recs)
	s.fakeSource.mu.Unlock()
	slices.SortFunc(recs, func(a, b connector.Record) int { return numericIDs(a.ID, b.ID) })
	var out []connector.Record
	for _, r := range recs {
		if afterID != "" && numericIDs(r.ID, afterID) <= 0 {
			continue
		}
		if len(out) == limit {
			return connector.Page{Records: out, More: true}, nil
		}
		r.UpdatedAt = time.Time{}
		out = append(out, r)
	}
	return connector.Page{Records: out}, nil
}

// FetchByIDs serves the records without a cursor time, as a scanned source does.
func (s *scanSource) FetchByIDs(ctx context.Context, ids []string) ([]connector.Record, error) {
	recs, err := s.fakeSource.FetchByIDs(ctx, ids)
	for i := range recs {
		recs[i].UpdatedAt = time.Time{}
	}
	return recs, err
}

// hashSink is a fakeSink that stores hashes (connector.HashReader) and counts the keys
// each lookup asked for.
type hashSink struct {
	*fakeSink
	lookups []int
}

func (s *hashSink) StoredHashes(_ context.Context, keys []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups = append(s.lookups, len(keys))
	out := map[string]string{}
	for _, k := range keys {
		if w, ok := s.rows[k]; ok && w.Hash != "" {
			out[k] = w.Hash
		}
	}
	return out, nil
}

// snapshotMismatch describes how the sink's rows differ from the source's mapped values
// ("" when they hold exactly the source; records of a scan carry no updatedAt).
func snapshotMismatch(e *env) string {
	e.src.mu.Lock()
	want := map[string]map[string]any{}
	for _, r := range e.src.recs {
		want["src:"+r.ID] = r.Fields
	}
	e.src.mu.Unlock()
	rows := e.sink.snapshot()
	var out []string
	for k, v := range want {
		w, ok := rows[k]
		if !ok || !maps.Equal(w.Values, v) || !w.SourceUpdatedAt.IsZero() {
			out = append(out, fmt.Sprintf("%s holds %v (found %t), want %v", k, w.Values, ok, v))
		}
	}
	if len(rows) != len(want) {
		out = append(out, fmt.Sprintf("%d rows, want %d", len(rows), len(want)))
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// snapshotEnv is an env whose source scans by id and whose sink stores hashes.
func snapshotEnv(n int) (*env, *scanSource, *hashSink, Config) {
	e := newEnv(genRecords(n, 1))
	src := &scanSource{fakeSource: e.src}
	sink := &hashSink{fakeSink: e.sink}
	cfg := e.config()
	cfg.Source, cfg.Sink, cfg.Snapshot = src, sink, true
	return e, src, sink, cfg
}

// TestSnapshotWritesOnlyChangedRecords: a second run over an unchanged source writes
// nothing; after changes it writes exactly the changed and new records; hashes are looked
// up one page at a time; a complete scan stores no position.
func TestSnapshotWritesOnlyChangedRecords(t *testing.T) {
	g := NewWithT(t)
	e, src, sink, cfg := snapshotEnv(23)

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(23)))
	g.Expect(e.store.get().Cursor).To(BeNil(), "a complete scan stores no position: the next run scans everything")

	e.sink.writes = map[string]int{}
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Read).To(Equal(int64(23)))
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(res.Record.Unchanged).To(Equal(int64(23)))
	g.Expect(e.sink.writes).To(BeEmpty(), "nothing unchanged reaches the sink")
	g.Expect(src.scans[len(src.scans)-5]).To(Equal(""), "the second run scanned from the first id")

	recs := genRecords(24, 1)
	recs[4].Fields["v"] = "v1"
	recs[17].Fields["n"] = "18" // typed: "18" is not 18
	recs[20].Fields["v"] = nil
	e.src.set(recs)
	e.sink.writes = map[string]int{}
	sink.lookups = nil
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(4)))
	g.Expect(res.Record.Unchanged).To(Equal(int64(20)))
	g.Expect(e.sink.writes).To(Equal(map[string]int{"src:5": 1, "src:18": 1, "src:21": 1, "src:24": 1}))
	g.Expect(sink.lookups).To(Equal([]int{5, 5, 5, 5, 4}), "one lookup per page, bounded by the page")
	g.Expect(snapshotMismatch(e)).To(BeEmpty())
	for k, w := range e.sink.snapshot() {
		g.Expect(w.Hash).To(Equal(RecordHash(w)), "row %s stores its own hash", k)
	}
}

// TestSnapshotResumesAScanCutShort: a run cancelled after some pages stores the last
// confirmed id; the next run scans on from there, rewrites none of the confirmed records,
// and ends with the whole source in the sink.
func TestSnapshotResumesAScanCutShort(t *testing.T) {
	g := NewWithT(t)
	e, src, _, cfg := snapshotEnv(23)
	ctx, cancel := context.WithCancel(context.Background())
	e.sink.cancelAfter = map[int]context.CancelFunc{2: cancel}
	_, err := Run(ctx, cfg)
	var re *RunError
	g.Expect(errors.As(err, &re)).To(BeTrue())
	g.Expect(re.Phase).To(Equal(audit.PhaseInterrupted))
	st := e.store.get()
	g.Expect(st.Cursor).To(Equal(&cursor.Cursor{ID: "10"}), "the scan position is the last confirmed id")

	src.scans = nil
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(src.scans[0]).To(Equal("10"), "the scan resumed after the last confirmed id")
	g.Expect(res.Record.Upserted).To(Equal(int64(13)))
	g.Expect(snapshotMismatch(e)).To(BeEmpty())
	for i := range 23 {
		g.Expect(e.sink.writes["src:"+strconv.Itoa(i+1)]).To(Equal(1), "record %d written once", i+1)
	}
	g.Expect(e.store.get().Cursor).To(BeNil())
}

// TestSnapshotConfigRefusals: Snapshot mode needs a source that scans by id and a sink that
// stores hashes, and excludes backfills.
func TestSnapshotConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*env, *Config)
		want   string
	}{
		{"source without a scanner", func(e *env, c *Config) { c.Source = e.src }, "source cannot be scanned by id"},
		{"sink without hashes", func(e *env, c *Config) { c.Sink = e.sink }, "sink cannot store content hashes"},
		{"backfill", func(_ *env, c *Config) { c.Range = &Range{From: t0, To: t0.Add(time.Hour), Key: "b"} }, "backfill range does not apply"},
		{"unsorted", func(_ *env, c *Config) { c.Unsorted = true }, "not unsorted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _, _, cfg := snapshotEnv(3)
			tc.mutate(e, &cfg)
			_, err := Run(context.Background(), cfg)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.want)))
			NewWithT(t).Expect(e.sink.calls).To(BeZero())
		})
	}
}
