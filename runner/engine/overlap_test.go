package engine

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// versionSink is a fakeSink that reads the source versions it holds by key
// (connector.VersionReader) and records the keys of every lookup and every Upsert.
type versionSink struct {
	*fakeSink
	lookups  [][]string
	upserted []string
}

func (s *versionSink) StoredVersions(ctx context.Context, keys []string) (map[string]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups = append(s.lookups, slices.Clone(keys))
	out := map[string]time.Time{}
	for _, k := range keys {
		if w, ok := s.rows[k]; ok {
			out[k] = w.SourceUpdatedAt
		}
	}
	return out, nil
}

func (s *versionSink) Upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	s.mu.Lock()
	for _, w := range batch {
		s.upserted = append(s.upserted, w.Key)
	}
	s.mu.Unlock()
	return s.fakeSink.Upsert(ctx, batch)
}

// overlapEnv is 100 records one second apart, loaded once into a versionSink, with a 30s
// safety gap: a rerun re-reads records 70..100.
func overlapEnv(t *testing.T) (*env, *versionSink, Config) {
	t.Helper()
	e := newEnv(genRecords(100, 1))
	vs := &versionSink{fakeSink: e.sink}
	cfg := e.config()
	cfg.Sink = vs
	cfg.SafetyGap = 30 * time.Second
	res, err := Run(context.Background(), cfg)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	NewWithT(t).Expect(res.Record.Upserted).To(Equal(int64(100)))
	vs.upserted, vs.lookups = nil, nil
	return e, vs, cfg
}

// TestOverlapRerunWritesNothing: a rerun with nothing new re-reads the safety gap, checks
// each page's versions in one lookup by key, writes nothing to the sink (no Upsert call)
// and counts the re-read records as SameVersion; it stores nothing either: the checkpoint
// is left as the first run stored it, its LastRun naming that run.
func TestOverlapRerunWritesNothing(t *testing.T) {
	g := NewWithT(t)
	e, vs, cfg := overlapEnv(t)
	calls, saves, stored := e.sink.calls, e.store.saveCalls, e.store.get()

	cfg.RunID = "rerun"
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Read).To(Equal(int64(31)))
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(res.Record.Unchanged).To(BeZero())
	g.Expect(res.Record.SameVersion).To(Equal(int64(31)))
	g.Expect(e.sink.calls).To(Equal(calls), "no Upsert call")
	g.Expect(vs.upserted).To(BeEmpty())
	g.Expect(vs.lookups).To(HaveLen(7), "one lookup per page of 5")
	for _, l := range vs.lookups {
		g.Expect(len(l)).To(BeNumerically("<=", cfg.PageSize))
	}
	g.Expect(e.store.saveCalls).To(Equal(saves), "the checkpoint store is not written")
	g.Expect(e.store.get()).To(Equal(stored))
	g.Expect(e.store.get().LastRun.RunID).To(Equal("run"))
	g.Expect(res.Cursor).To(Equal(stored.Cursor))
	g.Expect(*res.Record.FailedKeys).To(BeZero())
	g.Expect(e.sinkMismatch()).To(BeEmpty())

	// The old behaviour stays available: every re-read record goes to the sink again.
	cfg.RewriteOverlap = true
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Unchanged).To(Equal(int64(31)))
	g.Expect(res.Record.SameVersion).To(BeZero())
	g.Expect(vs.upserted).To(HaveLen(31))
}

// TestOverlapWritesWhatChanged: inside the re-read gap, a record with a newer version (a
// late commit) and a record the sink does not hold are written, and so is a record waiting
// in the failed keys even though the sink holds its version; a sink row edited by hand
// while its version stayed is left as it is (drift, for the drift check), not rewritten.
func TestOverlapWritesWhatChanged(t *testing.T) {
	g := NewWithT(t)
	e, vs, cfg := overlapEnv(t)
	recs := genRecords(100, 1)
	recs[79].UpdatedAt = t0.Add(85*time.Second + 500*time.Millisecond) // record 80, still before the cursor
	recs[79].Fields = map[string]any{"n": int64(80), "v": "v1"}
	late := connector.Record{ID: "1000", UpdatedAt: t0.Add(90*time.Second + 500*time.Millisecond), Fields: map[string]any{"n": int64(1000), "v": "v0"}}
	e.src.set(append(recs, late))
	e.sink.mu.Lock()
	edited := e.sink.rows["src:75"]
	edited.Values = maps.Clone(edited.Values)
	edited.Values["v"] = "edited by hand"
	e.sink.rows["src:75"] = edited
	e.sink.mu.Unlock()
	e.store.state.FailedKeys = []string{"90"}
	e.store.state.FailedUpdatedAt = map[string]time.Time{"90": t0.Add(89 * time.Second)}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(vs.upserted).To(ConsistOf("src:90", "src:80", "src:1000"), "the retry, the newer version, the missing record")
	g.Expect(res.Record.Upserted).To(Equal(int64(2)))
	g.Expect(res.Record.Unchanged).To(Equal(int64(1)), "the retried record, as the sink held it")
	g.Expect(res.Record.SameVersion).To(Equal(int64(30)))
	g.Expect(res.Record.Read).To(Equal(int64(33)))
	rows := e.sink.snapshot()
	g.Expect(rows["src:80"].Values["v"]).To(Equal("v1"))
	g.Expect(rows).To(HaveKey("src:1000"))
	g.Expect(rows["src:75"].Values["v"]).To(Equal("edited by hand"), "a hand edit at the same version is drift, not rewritten")
	g.Expect(e.store.get().FailedKeys).To(BeEmpty())
}

// TestOverlapRetriesFailedKeysOnRewind: a source that cannot fetch by id re-reads failed
// records from their position; a failed record is written even though the sink holds its
// version, and the rest of the re-read range is checked by version.
func TestOverlapRetriesFailedKeysOnRewind(t *testing.T) {
	g := NewWithT(t)
	e, vs, cfg := overlapEnv(t)
	cfg.Source = unfetchableSource{e.src}
	e.store.state.FailedKeys = []string{"40"}
	e.store.state.FailedUpdatedAt = map[string]time.Time{"40": t0.Add(39 * time.Second)}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(vs.upserted).To(Equal([]string{"src:40"}))
	g.Expect(res.Record.Read).To(Equal(int64(61)))
	g.Expect(res.Record.SameVersion).To(Equal(int64(60)))
	g.Expect(e.store.get().FailedKeys).To(BeEmpty())
}
