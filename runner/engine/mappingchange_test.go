package engine

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// versionMapper maps as the fake mapper does and writes the mapping's version in a field,
// so the sink shows which mapping each record was written with.
type versionMapper struct {
	m       *fakeMapper
	version string
}

func (v versionMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	w, err := v.m.Map(r)
	if err != nil {
		return w, err
	}
	w.Values = maps.Clone(w.Values)
	if w.Values == nil {
		w.Values = map[string]any{}
	}
	w.Values["mapping"] = v.version
	return w, nil
}

// withMapping is cfg writing with mapping version v (its fingerprint "fp-"+v) under policy.
func withMapping(cfg Config, e *env, v string, policy MappingChangePolicy) Config {
	cfg.Mapper = versionMapper{m: e.mp, version: v}
	cfg.MappingFingerprint = "fp-" + v
	cfg.OnMappingChange = policy
	return cfg
}

// versions counts the sink's records by the mapping version they were written with.
func versions(e *env) map[string]int {
	n := map[string]int{}
	for _, w := range e.sink.snapshot() {
		n[w.Values["mapping"].(string)]++
	}
	return n
}

// TestMappingFingerprintAdoptedSilently: the first run ever (a fresh checkpoint) and the
// first run over a checkpoint stored before fingerprints existed store the current
// fingerprint without reporting a change.
func TestMappingFingerprintAdoptedSilently(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(12, 1))
	res, err := Run(context.Background(), withMapping(e.config(), e, "a", MappingBackfill))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.MappingChange).To(BeNil(), "a fresh checkpoint is not a mapping change")
	g.Expect(e.store.get().MappingFingerprint).To(Equal("fp-a"))

	legacy := newEnv(genRecords(12, 1))
	stored := genRecords(12, 1)[7].Cursor()
	legacy.store.state.Job, legacy.store.state.Cursor = "inv", &stored
	res, err = Run(context.Background(), withMapping(legacy.config(), legacy, "b", MappingBackfill))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.MappingChange).To(BeNil(), "a checkpoint without a fingerprint adopts the current one")
	g.Expect(res.Record.CursorStart).To(Equal(&cursor.Cursor{UpdatedAt: stored.UpdatedAt}), "adopting rewinds nothing, even under Backfill")
	g.Expect(legacy.store.get().MappingFingerprint).To(Equal("fp-b"))
	g.Expect(legacy.store.saves[0].MappingFingerprint).To(Equal("fp-b"), "adopted with the first save, before any write")
}

// TestMappingChangeIgnoreReportsUntilResync: under Ignore a changed mapping is reported on
// every run, with what to do, and the stored fingerprint stays the old one; a reset to the
// beginning makes the next run the full re-sync, which completes the change.
func TestMappingChangeIgnoreReportsUntilResync(t *testing.T) {
	g := NewWithT(t)
	recs := genRecords(12, 1)
	e := newEnv(recs[:10])
	_, err := Run(context.Background(), withMapping(e.config(), e, "a", MappingIgnore))
	g.Expect(err).NotTo(HaveOccurred())

	e.src.set(recs)
	cfgB := withMapping(e.config(), e, "b", MappingIgnore)
	for range 2 {
		res, err := Run(context.Background(), cfgB)
		g.Expect(err).NotTo(HaveOccurred())
		mc := res.Record.MappingChange
		g.Expect(mc).NotTo(BeNil(), "every run reports the change until a full re-sync")
		g.Expect(*mc).To(mappingChangeIs(mc.Message, "fp-a", "fp-b", audit.ResyncNone))
		g.Expect(mc.Message).To(ContainSubstring("still carry the previous mapping"))
		g.Expect(mc.Message).To(ContainSubstring("reset"))
		g.Expect(mc.Message).To(ContainSubstring("onMappingChange: Backfill"))
		g.Expect(e.store.get().MappingFingerprint).To(Equal("fp-a"))
		g.Expect(e.store.get().MappingResync).To(BeNil())
	}
	// Only the last record before the cursor (re-read at its time) and the new ones.
	g.Expect(versions(e)).To(Equal(map[string]int{"a": 9, "b": 3}), "Ignore re-syncs nothing by itself")

	// A reset to the beginning: the next run re-syncs everything and completes the change.
	st := e.store.get()
	st.Cursor = nil
	e.store.state = st
	res, err := Run(context.Background(), cfgB)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.MappingChange).NotTo(BeNil())
	g.Expect(res.Record.MappingChange.Resync).To(Equal(audit.ResyncCompleted))
	g.Expect(res.Record.MappingChange.Message).To(ContainSubstring("completed the full re-sync"))
	g.Expect(versions(e)).To(Equal(map[string]int{"b": 12}))
	g.Expect(e.store.get().MappingFingerprint).To(Equal("fp-b"))
	g.Expect(e.store.get().MappingResync).To(BeNil())

	res, err = Run(context.Background(), cfgB)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.MappingChange).To(BeNil())
}

// mappingChangeIs matches a MappingChange by its fingerprints, resync state and message.
func mappingChangeIs(msg, previous, current, resync string) OmegaMatcher {
	return Equal(audit.MappingChange{Previous: previous, Current: current, Resync: resync, Message: msg})
}

// TestMappingChangeBackfillResyncsOnceAcrossACrash: under Backfill a changed mapping moves
// the main cursor back to the beginning once; a run that stops midway is resumed from its
// stored cursor by the next run (not started again); every record is rewritten under the
// new mapping exactly once; once complete, no later run re-syncs again.
func TestMappingChangeBackfillResyncsOnceAcrossACrash(t *testing.T) {
	g := NewWithT(t)
	recs := genRecords(20, 1)
	e := newEnv(recs)
	_, err := Run(context.Background(), withMapping(e.config(), e, "a", MappingBackfill))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(versions(e)).To(Equal(map[string]int{"a": 20}))
	endA := recs[19].Cursor()

	// The mapping changes; the sink fails on the third page of the re-sync.
	clear(e.sink.writes)
	calls := e.sink.calls
	e.sink.batchErrAt = map[int]error{calls + 3: errors.New("connection reset")}
	cfgB := withMapping(e.config(), e, "b", MappingBackfill)
	res, err := Run(context.Background(), cfgB)
	g.Expect(err).To(HaveOccurred())
	g.Expect(res.Record.CursorStart).To(BeNil(), "the re-sync starts at the beginning")
	g.Expect(res.Record.MappingChange).NotTo(BeNil())
	g.Expect(res.Record.MappingChange.Resync).To(Equal(audit.ResyncInProgress))
	g.Expect(res.Record.MappingChange.Previous).To(Equal("fp-a"))
	st := e.store.get()
	g.Expect(st.MappingFingerprint).To(Equal("fp-a"), "not the new fingerprint before the re-sync completed")
	g.Expect(st.MappingResync).NotTo(BeNil())
	g.Expect(st.MappingResync.Fingerprint).To(Equal("fp-b"))
	mid := recs[9].Cursor()
	g.Expect(st.Cursor).To(Equal(&mid), "two pages confirmed")
	g.Expect(cursor.Compare(*st.Cursor, endA, e.src.CompareIDs)).To(BeNumerically("<", 0))

	// The rerun resumes the re-sync from its cursor and completes it.
	e.sink.batchErrAt = nil
	res, err = Run(context.Background(), cfgB)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.CursorStart).To(Equal(&cursor.Cursor{UpdatedAt: mid.UpdatedAt}), "a crash mid-re-sync never restarts it from scratch")
	g.Expect(res.Record.MappingChange.Resync).To(Equal(audit.ResyncCompleted))
	g.Expect(versions(e)).To(Equal(map[string]int{"b": 20}))
	for _, r := range recs {
		g.Expect(e.sink.writes).To(HaveKeyWithValue("src:"+r.ID, 1), "record %s rewritten exactly once", r.ID)
	}
	st = e.store.get()
	g.Expect(st.MappingFingerprint).To(Equal("fp-b"))
	g.Expect(st.MappingResync).To(BeNil())
	g.Expect(st.Cursor).To(Equal(&endA))

	// A completed re-sync is never repeated.
	res, err = Run(context.Background(), cfgB)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.MappingChange).To(BeNil())
	g.Expect(res.Record.CursorStart).To(Equal(&cursor.Cursor{UpdatedAt: endA.UpdatedAt}))
	for _, r := range recs {
		g.Expect(e.sink.writes).To(HaveKeyWithValue("src:"+r.ID, 1))
	}
}

// TestMappingChangeBackfillRunOnlyReports: a backfill run over a range reports the change
// but neither starts nor completes a full re-sync.
func TestMappingChangeBackfillRunOnlyReports(t *testing.T) {
	g := NewWithT(t)
	recs := genRecords(10, 1)
	e := newEnv(recs)
	_, err := Run(context.Background(), withMapping(e.config(), e, "a", MappingBackfill))
	g.Expect(err).NotTo(HaveOccurred())
	cfg := withMapping(e.config(), e, "b", MappingBackfill)
	cfg.Range = &Range{From: t0, To: t0.Add(168 * time.Hour), Key: "bf-1"}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.MappingChange).NotTo(BeNil())
	g.Expect(res.Record.MappingChange.Resync).To(Equal(audit.ResyncNone))
	st := e.store.get()
	g.Expect(st.MappingFingerprint).To(Equal("fp-a"))
	g.Expect(st.MappingResync).To(BeNil())
	end := recs[9].Cursor()
	g.Expect(st.Cursor).To(Equal(&end), "the main cursor is untouched")
}
