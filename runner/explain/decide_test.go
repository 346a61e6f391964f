package explain

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestDecide: every verdict from its evidence, with the next action it names.
func TestDecide(t *testing.T) {
	ua := time.Date(2026, 6, 30, 23, 40, 0, 500_000_000, time.UTC)
	now := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	cur := &cursor.Cursor{UpdatedAt: ua.Add(20 * time.Minute), ID: "inv_20000"}
	found := SourceEvidence{Checked: true, Found: true, UpdatedAt: ua, Key: "inv_10492",
		Values: map[string]any{"total": "12.30"}}
	passed := CheckpointEvidence{Cursor: cur, SafetyGap: 5 * time.Minute, Passed: true, Rewound: true, Lead: 20 * time.Minute,
		CoveredBy: &runcontract.RunRange{RunID: "run-7"}}
	notReached := CheckpointEvidence{Cursor: cur, SafetyGap: 5 * time.Minute}
	inGap := CheckpointEvidence{Cursor: cur, SafetyGap: 5 * time.Minute, Passed: true, Lead: 3 * time.Minute}
	sinkEqual := SinkEvidence{Checked: true, Key: "inv_10492", Found: true, SourceUpdatedAt: ua}
	sinkMissing := SinkEvidence{Checked: true, Key: "inv_10492"}
	base := func(s SourceEvidence, c CheckpointEvidence, k SinkEvidence) Evidence {
		return Evidence{Job: "invoices-to-crm", Namespace: "billing", ID: "inv_10492", Now: now, Schedule: "0 2 * * *",
			NextRun: time.Date(2026, 7, 2, 2, 0, 0, 0, time.UTC), DeletesMode: "Ignore", Source: s, Checkpoint: c, Sink: k}
	}
	failure := &runcontract.RecordEvent{Kind: runcontract.RecordFailed, RunID: "run-7", Time: now.Add(-time.Hour), ID: "inv_10492",
		Field: "total", Reason: "not a decimal"}

	for _, tc := range []struct {
		name     string
		ev       Evidence
		verdict  Verdict
		line     []string
		next     []string
		nextNone bool
	}{
		{name: "synced and equal", ev: base(found, passed, sinkEqual), verdict: Synced,
			line: []string{"synced", "equal values"}, nextNone: true},
		{name: "not yet synced: cursor not reached", ev: base(found, notReached, sinkMissing), verdict: NotYetSynced,
			line: []string{"has not reached it", "next scheduled run at 2026-07-02T02:00:00Z"},
			next: []string{"kubectl annotate syncjob invoices-to-crm -n billing sync.checkpointed.io/run-requested-at="}},
		{name: "not yet synced: within the safety gap", ev: base(found, inGap, sinkMissing), verdict: NotYetSynced,
			line: []string{"within the safety gap 5m0s"}},
		{name: "not yet synced: no cursor", ev: base(found, CheckpointEvidence{}, sinkMissing), verdict: NotYetSynced,
			line: []string{"no run has stored a cursor yet"}},
		{name: "failed in the sink, on the retry list", ev: func() Evidence {
			e := base(found, passed, sinkMissing)
			e.Checkpoint.FailedKey = true
			e.Log.Failure = failure
			return e
		}(), verdict: Failed, line: []string{"failed in run run-7", "field total: not a decimal", "retries it first"},
			next: []string{"fix the cause", "run-requested-at="}},
		{name: "fails to map now", ev: func() Evidence {
			s := found
			s.MapError = &RecordError{Field: "total", Reason: "not a decimal", Detail: `"12,30"`}
			return base(s, notReached, sinkMissing)
		}(), verdict: Failed, line: []string{"fails to map", "field total: not a decimal"}, next: []string{"fix the source value or the mapping"}},
		{name: "missed late commit", ev: base(found, passed, sinkMissing), verdict: MissedLateCommit,
			line: []string{"20m0s behind the cursor", "more than the safety gap 5m0s", "run run-7", "is not in the sink"},
			next: []string{"kubectl annotate syncjob invoices-to-crm -n billing sync.checkpointed.io/backfill-from=2026-06-30T23:40:00Z sync.checkpointed.io/backfill-to=2026-06-30T23:40:01Z sync.checkpointed.io/backfill-requested-at=20260701T090000Z --overwrite"}},
		{name: "missed: the sink holds an older version", ev: base(found, passed, SinkEvidence{Checked: true, Key: "inv_10492", Found: true,
			SourceUpdatedAt: ua.Add(-time.Hour), Diffs: []FieldDiff{{Field: "total", Want: "12.30", Have: "11.00"}}}),
			verdict: MissedLateCommit, line: []string{"only in an older version (2026-06-30T22:40:00.5Z)"}, next: []string{"backfill-from="}},
		{name: "different: edited in the destination", ev: base(found, passed, SinkEvidence{Checked: true, Key: "inv_10492", Found: true,
			SourceUpdatedAt: ua, Diffs: []FieldDiff{{Field: "total", Want: "12.30", Have: "99.00"}}}),
			verdict: Different, line: []string{"differs in the sink in total", "edited in the destination"},
			next: []string{"write the source's values again: kubectl annotate", "backfill-from=2026-06-30T23:40:00Z"}},
		{name: "different: the sink holds a newer version", ev: base(found, passed, SinkEvidence{Checked: true, Key: "inv_10492", Found: true,
			SourceUpdatedAt: ua.Add(time.Hour)}), verdict: Different, line: []string{"newer source version", "refused as stale"}},
		{name: "synced: a sink that stores no source version, equal values", ev: base(found, passed,
			SinkEvidence{Checked: true, Key: "inv_10492", Found: true}), verdict: Synced, nextNone: true},
		{name: "not yet synced: a sink that stores no source version, other values", ev: base(found, notReached,
			SinkEvidence{Checked: true, Key: "inv_10492", Found: true, Diffs: []FieldDiff{{Field: "total"}}}), verdict: NotYetSynced},
		{name: "not in the source, never existed", ev: base(SourceEvidence{Checked: true}, passed, sinkMissing), verdict: NotInSource,
			line: []string{"never existed in the source", "spec.deletes.mode Ignore"}, nextNone: true},
		{name: "not in the source, deleted", ev: func() Evidence {
			e := base(SourceEvidence{Checked: true}, passed, sinkEqual)
			e.DeletesMode = "SoftDelete"
			return e
		}(), verdict: NotInSource, line: []string{"deleted there", "spec.deletes.mode SoftDelete", "the sink holds key inv_10492"},
			next: []string{"delete key inv_10492 from the sink by hand"}},
		{name: "deleted by the source's marker, SoftDelete, synced", ev: func() Evidence {
			s := found
			s.Deleted = true
			e := base(s, passed, sinkMissing) // a KeyReader reads live records only
			e.DeletesMode = "SoftDelete"
			return e
		}(), verdict: DeletedInSource, line: []string{"marked deleted in the source", "delete marker set"}, nextNone: true},
		{name: "deleted by the source's marker, SoftDelete, still live in the sink past the gap", ev: func() Evidence {
			s := found
			s.Deleted = true
			e := base(s, passed, sinkEqual)
			e.DeletesMode = "SoftDelete"
			return e
		}(), verdict: DeletedInSource, line: []string{"the cursor passed it without the deletion reaching the sink"}},
		{name: "deleted by the source's marker, Delete, still in the sink past the gap", ev: func() Evidence {
			s := found
			s.Deleted = true
			e := base(s, passed, sinkEqual)
			e.DeletesMode = "Delete"
			return e
		}(), verdict: DeletedInSource, line: []string{"deleted from the sink", "without the deletion reaching the sink"}, next: []string{"backfill-from="}},
		{name: "deleted by the source's marker, Ignore", ev: func() Evidence {
			s := found
			s.Deleted = true
			return base(s, passed, sinkMissing)
		}(), verdict: DeletedInSource, line: []string{"the deletion is not written"}, nextNone: true},
		{name: "source cannot be asked", ev: base(SourceEvidence{Err: "the source cannot fetch records by id"}, passed, sinkEqual),
			verdict: Unknown, line: []string{"cannot be asked by id", "the sink holds key inv_10492"}},
		{name: "local mode: not yet synced", ev: func() Evidence {
			e := base(found, notReached, sinkMissing)
			e.Local = &Local{JobFile: "job.yaml", StateDir: "state"}
			return e
		}(), verdict: NotYetSynced, line: []string{"when you run runner sync; in a cluster, next scheduled run at 2026-07-02T02:00:00Z"},
			next: []string{"runner sync -f job.yaml --state-dir state"}},
		{name: "local mode commands", ev: func() Evidence {
			e := base(found, passed, sinkMissing)
			e.Local = &Local{JobFile: "job.yaml", StateDir: "state"}
			return e
		}(), verdict: MissedLateCommit, next: []string{"runner sync -f job.yaml --state-dir state --backfill-from 2026-06-30T23:40:00Z --backfill-to 2026-06-30T23:40:01Z",
			"in a cluster: kubectl annotate syncjob invoices-to-crm -n billing sync.checkpointed.io/backfill-from="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			res := Decide(tc.ev)
			g.Expect(res.Verdict).To(Equal(tc.verdict), res.Line)
			for _, s := range tc.line {
				g.Expect(res.Line).To(ContainSubstring(s))
			}
			for _, s := range tc.next {
				g.Expect(strings.Join(res.Next, "\n")).To(ContainSubstring(s))
			}
			if tc.ev.Local != nil && tc.verdict == MissedLateCommit {
				g.Expect(res.Next[0]).To(HavePrefix("runner sync"), "local mode: the local command first")
			}
			if tc.nextNone {
				g.Expect(res.Next).To(Equal([]string{"nothing to do"}))
			}
		})
	}
}

// TestEqualAcrossRepresentations: a mapped value and the sink's stored one compare by
// meaning, never loosely for strings.
func TestEqualAcrossRepresentations(t *testing.T) {
	g := NewWithT(t)
	at := time.Date(2026, 6, 30, 23, 40, 0, 500_000_000, time.UTC)
	g.Expect(connector.SameValue(connectorDecimal("12.30"), jsonNumber("12.3"))).To(BeTrue())
	g.Expect(connector.SameValue(connectorDecimal("12.30"), "12.30")).To(BeTrue())
	g.Expect(connector.SameValue(connectorDecimal("12.30"), jsonNumber("12.31"))).To(BeFalse())
	g.Expect(connector.SameValue(int64(7), jsonNumber("7"))).To(BeTrue())
	g.Expect(connector.SameValue(at, "2026-06-30T23:40:00.5Z")).To(BeTrue())
	g.Expect(connector.SameValue(at, at.Add(time.Microsecond))).To(BeFalse())
	g.Expect(connector.SameValue("007", "7")).To(BeFalse())
	g.Expect(connector.SameValue(nil, "x")).To(BeFalse())
	g.Expect(connector.SameValue(nil, nil)).To(BeTrue())
	g.Expect(connector.SameValue(connectorJSON(`{"a": 1}`), `{"a":1}`)).To(BeTrue())
	g.Expect(Diff(map[string]any{"a": "x", "b": int64(1)}, map[string]any{"a": "x"})).To(Equal([]FieldDiff{{Field: "b", Want: int64(1)}}))
}
