package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestErrorPolicy covers what record and batch errors do to the run and to the cursor. The
// source holds ids 1..20 at distinct times, read 5 per page.
func TestErrorPolicy(t *testing.T) {
	recs := genRecords(20, 1)
	at := func(id int) *cursor.Cursor { c := recs[id-1].Cursor(); return &c }
	cases := []struct {
		name      string
		policy    ErrorPolicy
		maxErrors int
		mapFail   []string
		sinkFail  []string
		batchErr  map[int]error
		readErr   map[int]error

		phase      audit.Phase
		reason     string
		cursor     *cursor.Cursor
		failedKeys []string
		failed     int64
		inSink     []string // ids the sink must hold (nil: all but the failed)
		notInSink  []string
	}{
		{name: "clean run", policy: Skip, maxErrors: -1,
			phase: audit.PhaseSucceeded, cursor: at(20)},
		{name: "skip passes a mapping failure and keeps it for a retry", policy: Skip, maxErrors: -1, mapFail: []string{"7"},
			phase: audit.PhasePartiallySucceeded, cursor: at(20), failedKeys: []string{"7"}, failed: 1, notInSink: []string{"7"}},
		{name: "skip passes a sink rejection", policy: Skip, maxErrors: -1, sinkFail: []string{"7", "12"},
			phase: audit.PhasePartiallySucceeded, cursor: at(20), failedKeys: []string{"7", "12"}, failed: 2, notInSink: []string{"7", "12"}},
		{name: "halt stops before a mapping failure and writes nothing after it", policy: Halt, maxErrors: -1, mapFail: []string{"7"},
			phase: audit.PhaseFailed, reason: runcontract.ReasonRecordError, cursor: at(6), failed: 1,
			inSink: []string{"1", "2", "3", "4", "5", "6"}, notInSink: []string{"7", "8", "9", "10", "11"}},
		{name: "halt stops before a sink rejection", policy: Halt, maxErrors: -1, sinkFail: []string{"7"},
			phase: audit.PhaseFailed, reason: runcontract.ReasonRecordError, cursor: at(6), failed: 1,
			inSink: []string{"1", "6", "8", "10"}, notInSink: []string{"7", "11"}},
		{name: "halt on the first record of the first page stores nothing", policy: Halt, maxErrors: -1, mapFail: []string{"1"},
			phase: audit.PhaseFailed, reason: runcontract.ReasonRecordError, cursor: nil, failed: 1, notInSink: []string{"1", "2"}},
		{name: "more than maxErrors halts under skip before the record that exceeded", policy: Skip, maxErrors: 2, mapFail: []string{"3", "5", "8", "12"},
			phase: audit.PhaseFailed, reason: runcontract.ReasonTooManyErrors, cursor: at(7), failedKeys: []string{"3", "5"}, failed: 3,
			inSink: []string{"1", "2", "4", "6", "7"}, notInSink: []string{"8", "9"}},
		{name: "maxErrors 0 halts on the first error", policy: Skip, maxErrors: 0, sinkFail: []string{"9"},
			phase: audit.PhaseFailed, reason: runcontract.ReasonTooManyErrors, cursor: at(8), failed: 1},
		{name: "a batch error keeps the cursor at the last confirmed page", policy: Skip, maxErrors: -1, batchErr: map[int]error{3: errors.New("connection reset")},
			phase: audit.PhaseFailed, reason: runcontract.ReasonSinkError, cursor: at(10), notInSink: []string{"14", "15"}},
		{name: "a rate-limited sink", policy: Skip, maxErrors: -1, batchErr: map[int]error{1: fmt.Errorf("429 x6: %w", connector.ErrRateLimited)},
			phase: audit.PhaseFailed, reason: runcontract.ReasonRateLimited, cursor: nil},
		{name: "a read error after a confirmed page keeps that page", policy: Skip, maxErrors: -1, readErr: map[int]error{3: errors.New("connection refused")},
			phase: audit.PhaseFailed, reason: runcontract.ReasonSourceError, cursor: at(10), inSink: []string{"10"}, notInSink: []string{"11"}},
		{name: "a rate-limited source", policy: Skip, maxErrors: -1, readErr: map[int]error{2: fmt.Errorf("get: %w", connector.ErrRateLimited)},
			phase: audit.PhaseFailed, reason: runcontract.ReasonRateLimited, cursor: at(5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(recs)
			e.mp.fail = set(tc.mapFail...)
			e.sink.failAlways = set(tc.sinkFail...)
			e.sink.batchErrAt = tc.batchErr
			e.src.readErrAt = tc.readErr
			cfg := e.config()
			cfg.ErrorPolicy, cfg.MaxErrors = tc.policy, tc.maxErrors

			res, err := Run(context.Background(), cfg)

			g.Expect(res.Record.Phase).To(Equal(tc.phase))
			g.Expect(res.Record.Reason).To(Equal(tc.reason))
			g.Expect(res.Record.Failed).To(Equal(tc.failed))
			if tc.phase == audit.PhaseFailed {
				g.Expect(runErr(t, err).Reason).To(Equal(tc.reason))
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
			st := e.store.get()
			g.Expect(st.Cursor).To(Equal(tc.cursor))
			g.Expect(res.Cursor).To(Equal(tc.cursor))
			g.Expect(st.FailedKeys).To(Equal(tc.failedKeys))
			g.Expect(st.LastRun.Phase).To(Equal(string(tc.phase)))
			rows := e.sink.snapshot()
			for _, id := range tc.inSink {
				g.Expect(rows).To(HaveKey("src:"+id), "sink holds %s", id)
			}
			for _, id := range tc.notInSink {
				g.Expect(rows).NotTo(HaveKey("src:"+id), "sink does not hold %s", id)
			}
			if tc.phase != audit.PhaseFailed {
				g.Expect(rows).To(HaveLen(20 - len(tc.mapFail) - len(tc.sinkFail)))
			}
		})
	}
}

// TestStaleSkipsAreAuditedWithTheirKey: a record the sink refuses as stale (it holds a
// newer version) is counted as skipped and has one "record skipped" line naming the source
// id and the external key the sink refused.
func TestStaleSkipsAreAuditedWithTheirKey(t *testing.T) {
	g := NewWithT(t)
	recs := genRecords(5, 1)
	e := newEnv(recs)
	newer := mapRecord(recs[2])
	newer.SourceUpdatedAt = newer.SourceUpdatedAt.Add(time.Hour)
	e.sink.rows[newer.Key] = newer
	var out auditBuffer
	cfg := e.config()
	cfg.AuditOut = &out

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Skipped).To(BeEquivalentTo(1))
	var skipped []map[string]any
	for _, l := range out.lines(t) {
		if l["msg"] == "record skipped" {
			skipped = append(skipped, l)
		}
	}
	g.Expect(skipped).To(HaveLen(1))
	g.Expect(skipped[0]).To(HaveKeyWithValue("id", recs[2].ID))
	g.Expect(skipped[0]).To(HaveKeyWithValue("key", "src:"+recs[2].ID))
}

// TestRecordErrorsAreAudited checks the audit lines and summary of failed records.
func TestRecordErrorsAreAudited(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(10, 1))
	e.mp.fail = set("2", "4")
	e.sink.failAlways = set("6")
	var out auditBuffer
	cfg := e.config()
	cfg.AuditOut = &out

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.ErrorSummary).To(ConsistOf(
		audit.ErrorGroup{Reason: "not a decimal", Count: 2, SampleIDs: []string{"2", "4"}},
		audit.ErrorGroup{Reason: "rejected", Count: 1, SampleIDs: []string{"6"}},
	))
	ls := out.lines(t)
	g.Expect(ls).To(HaveLen(4))
	g.Expect(ls[0]).To(HaveKeyWithValue("msg", "record failed"))
	g.Expect(ls[0]).To(HaveKeyWithValue("id", "2"))
	g.Expect(ls[0]).To(HaveKeyWithValue("field", "total"))
	g.Expect(ls[2]).To(HaveKeyWithValue("id", "6"))
	g.Expect(ls[2]).To(HaveKeyWithValue("detail", "value too long"))
	g.Expect(ls[3]).To(HaveKeyWithValue("msg", "run finished"))
	g.Expect(ls[3]).To(HaveKeyWithValue("phase", "PartiallySucceeded"))
	g.Expect(e.pub.recs).To(HaveLen(1))
	g.Expect(e.pub.recs[0].Failed).To(BeEquivalentTo(3))
	g.Expect(e.pub.cursors[0]).To(Equal(&cursor.Cursor{UpdatedAt: res.Cursor.UpdatedAt, ID: "10"}))
}

func TestConfigIsValidated(t *testing.T) {
	e := newEnv(nil)
	cases := map[string]func(*Config){
		"no source":       func(c *Config) { c.Source = nil },
		"no sink":         func(c *Config) { c.Sink = nil },
		"no mapper":       func(c *Config) { c.Mapper = nil },
		"no store":        func(c *Config) { c.Store = nil },
		"unknown policy":  func(c *Config) { c.ErrorPolicy = "Retry" },
		"negative page":   func(c *Config) { c.PageSize = -1 },
		"no page size":    func(c *Config) { c.PageSize = 0 },
		"no policy":       func(c *Config) { c.ErrorPolicy = "" },
		"empty backfill":  func(c *Config) { c.Range = &Range{From: t0, To: t0, Key: "k"} },
		"backfill no key": func(c *Config) { c.Range = &Range{From: t0, To: t0.Add(1)} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cfg := e.config()
			mutate(&cfg)
			_, err := Run(context.Background(), cfg)
			g.Expect(err).To(MatchError(ContainSubstring("engine config")))
			g.Expect(e.lock.acquired).To(BeZero())
		})
	}
}

func set(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
