package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// pairDigest is an exact fake digest: the sorted pairs "key@version", so that two digests
// are equal exactly when the multisets of pairs are.
func pairDigest(pairs []string, seeds [2]int64) connector.KeyDigest {
	slices.Sort(pairs)
	return connector.KeyDigest{Method: fmt.Sprintf("fake pairs %d/%d", seeds[0], seeds[1]), Keys: int64(len(pairs)), Digest: strings.Join(pairs, ",")}
}

// versionDigestSource is a versionScanSource that digests the (key, updatedAt) pairs of its
// records in a range (connector.VersionDigester), its key being prefix + the record id.
type versionDigestSource struct {
	*versionScanSource
	calls []string // "from/to" of each VersionDigest
	seeds [][2]int64
	err   error
}

func (s *versionDigestSource) VersionDigest(ctx context.Context, field, prefix string, from, to time.Time, seeds [2]int64) (connector.KeyDigest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, from.Format(time.RFC3339)+"/"+to.Format(time.RFC3339))
	s.seeds = append(s.seeds, seeds)
	if s.err != nil {
		return connector.KeyDigest{}, s.err
	}
	if field != "id" {
		return connector.KeyDigest{}, fmt.Errorf("fake source digests the id only, not %q", field)
	}
	var pairs []string
	for _, r := range s.recs {
		if !r.UpdatedAt.Before(from) && !r.UpdatedAt.After(to) {
			pairs = append(pairs, prefix+r.ID+"@"+r.UpdatedAt.UTC().Format(time.RFC3339Nano))
		}
	}
	return pairDigest(pairs, seeds), nil
}

// versionDigestSink is a versionSink that digests the (key, version) pairs it holds in a range
// (connector.StoredVersionDigester).
type versionDigestSink struct {
	*versionSink
	seeds [][2]int64
	err   error
}

func (s *versionDigestSink) StoredVersionDigest(ctx context.Context, from, to time.Time, seeds [2]int64) (connector.KeyDigest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seeds = append(s.seeds, seeds)
	if s.err != nil {
		return connector.KeyDigest{}, s.err
	}
	var pairs []string
	for k, w := range s.rows {
		if !w.SourceUpdatedAt.Before(from) && !w.SourceUpdatedAt.After(to) {
			pairs = append(pairs, k+"@"+w.SourceUpdatedAt.UTC().Format(time.RFC3339Nano))
		}
	}
	return pairDigest(pairs, seeds), nil
}

// digestEnv is scanEnv whose source and sink digest the gap's versions, the key made as
// the fake mapper makes it ("src:" + id).
func digestEnv(t *testing.T) (*env, *versionDigestSink, *versionDigestSource, Config) {
	t.Helper()
	e, vs, ss, cfg := scanEnv(t)
	ds := &versionDigestSource{versionScanSource: ss}
	dk := &versionDigestSink{versionSink: vs}
	cfg.Source, cfg.Sink = ds, dk
	cfg.OverlapKey = &SourceKey{Field: "id", Prefix: "src:"}
	return e, dk, ds, cfg
}

// TestOverlapConfirmedByVersionDigests: a rerun with nothing new digests the gap's versions
// on both sides, once each, under the same fresh seeds, over the time range from the gap's
// start to the stored cursor; the digests are equal, so no position is scanned, no key
// looked up, no record fetched or read in full before the stored cursor, nothing is
// written or stored, and the gap's 31 records count as read and SameVersion. The next run
// draws other seeds.
func TestOverlapConfirmedByVersionDigests(t *testing.T) {
	g := NewWithT(t)
	e, dk, ds, cfg := digestEnv(t)
	stored := e.store.get()
	calls, saves := e.sink.calls, e.store.saveCalls

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ds.calls).To(Equal([]string{stored.Cursor.Rewind(cfg.SafetyGap).UpdatedAt.Format(time.RFC3339) + "/" + stored.Cursor.UpdatedAt.Format(time.RFC3339)}))
	g.Expect(dk.seeds).To(Equal(ds.seeds), "both sides under the same seeds")
	g.Expect(ds.scans).To(BeEmpty(), "no position scanned")
	g.Expect(dk.lookups).To(BeEmpty(), "no key looked up")
	g.Expect(e.src.fetches).To(BeEmpty())
	g.Expect(fullReadsUpTo(e, *stored.Cursor)).To(BeEmpty(), "no full record of the gap is read")
	g.Expect(e.src.readAfters()).To(Equal([]cursor.Cursor{*stored.Cursor}), "the main loop reads after the stored cursor")
	g.Expect(res.Record.Read).To(Equal(int64(31)))
	g.Expect(res.Record.SameVersion).To(Equal(int64(31)))
	g.Expect(res.Record.Upserted + res.Record.Unchanged).To(BeZero())
	g.Expect(e.sink.calls).To(Equal(calls), "no Upsert call")
	g.Expect(e.store.saveCalls).To(Equal(saves), "nothing stored")
	g.Expect(res.Cursor).To(Equal(stored.Cursor))

	_, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ds.seeds).To(HaveLen(2))
	g.Expect(ds.seeds[1]).NotTo(Equal(ds.seeds[0]), "fresh seeds for each run")
}

// TestOverlapVersionDigestsDifferScan: when the digests differ — a late commit inside the
// gap that the sink does not hold, and a record with a newer version still before the
// stored cursor — the gap is scanned as without digests: exactly those two are fetched
// and written, the others confirmed SameVersion by the scan, and the sink ends equal to
// the mapped source.
func TestOverlapVersionDigestsDifferScan(t *testing.T) {
	g := NewWithT(t)
	e, dk, ds, cfg := digestEnv(t)
	recs := genRecords(100, 1)
	recs[79].UpdatedAt = t0.Add(85*time.Second + 500*time.Millisecond) // record 80, still before the cursor
	recs[79].Fields = map[string]any{"n": int64(80), "v": "v1"}
	late := connector.Record{ID: "1000", UpdatedAt: t0.Add(90*time.Second + 500*time.Millisecond), Fields: map[string]any{"n": int64(1000), "v": "v0"}}
	e.src.set(append(recs, late))

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ds.calls).To(HaveLen(1))
	g.Expect(ds.scans).NotTo(BeEmpty(), "the gap is scanned")
	var fetched []string
	for _, f := range e.src.fetches {
		fetched = append(fetched, f...)
	}
	g.Expect(fetched).To(ConsistOf("80", "1000"))
	g.Expect(dk.upserted).To(ConsistOf("src:80", "src:1000"))
	g.Expect(res.Record.Upserted).To(Equal(int64(2)))
	g.Expect(res.Record.SameVersion).To(Equal(int64(30)))
	g.Expect(e.sinkMismatch()).To(BeEmpty())
}

// TestOverlapVersionDigestsOnlyWhenTheyApply: the gap is scanned, not digested, while
// failed keys wait for a retry (they are written whatever the sink holds; here one whose
// retry failed again), without the
// key's source field (Config.OverlapKey), and when a side fails to digest (logged; the
// scan decides). Each run still confirms the gap's 31 records.
func TestOverlapVersionDigestsOnlyWhenTheyApply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *env, dk *versionDigestSink, ds *versionDigestSource, cfg *Config)
		digest bool // VersionDigest is called
	}{
		{"failed keys wait", func(e *env, _ *versionDigestSink, _ *versionDigestSource, _ *Config) {
			e.store.state.FailedKeys = []string{"95"}
			e.store.state.FailedUpdatedAt = map[string]time.Time{"95": t0.Add(94 * time.Second)}
			e.sink.failAlways = map[string]bool{"95": true} // its retry fails: it still waits
		}, false},
		{"no key field", func(_ *env, _ *versionDigestSink, _ *versionDigestSource, cfg *Config) { cfg.OverlapKey = nil }, false},
		{"the source cannot digest", func(_ *env, _ *versionDigestSink, ds *versionDigestSource, _ *Config) {
			ds.err = errors.New("updated_at column is not timestamptz")
		}, true},
		{"the sink cannot digest", func(_ *env, dk *versionDigestSink, _ *versionDigestSource, _ *Config) {
			dk.err = errors.New("no index")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e, dk, ds, cfg := digestEnv(t)
			tc.change(e, dk, ds, &cfg)
			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(len(ds.calls) > 0).To(Equal(tc.digest))
			g.Expect(ds.scans).NotTo(BeEmpty(), "the gap is scanned")
			g.Expect(res.Record.SameVersion).To(BeNumerically(">=", 30))
		})
	}
}
