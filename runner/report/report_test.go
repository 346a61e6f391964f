package report

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
)

var t0 = time.Date(2026, 6, 30, 12, 0, 0, 123456000, time.UTC)

func record() audit.Record {
	return audit.Record{
		RunID: "run-1", Trigger: "Manual", StartTime: t0, CompletionTime: t0.Add(time.Minute),
		Phase: audit.PhasePartiallySucceeded, Reason: "", Message: "m",
		CursorStart: &cursor.Cursor{UpdatedAt: t0.Add(-time.Hour)},
		CursorEnd:   &cursor.Cursor{UpdatedAt: t0, ID: "6"},
		Read:        6, Upserted: 1, Unchanged: 1, SameVersion: 4, Skipped: 1, Failed: 1, Deleted: 1,
		ErrorSummary: []audit.ErrorGroup{{Reason: "not a decimal", Count: 1, SampleIDs: []string{"5"}}},
		SampleIDs:    []string{"1"},
		Reconciliation: &audit.Reconciliation{WindowStart: t0.Add(-time.Hour), WindowEnd: t0,
			SourceCount: 11, SinkCount: 10, Uncounted: true, Sampled: 5, Mismatched: 1,
			MismatchedIDs: []string{"3"}, Mismatches: []audit.Mismatch{{Key: "k3", Fields: []string{"total", "paid"}}}, Drift: true},
	}
}

func TestRunRecord(t *testing.T) {
	g := NewWithT(t)
	start, done := metav1.NewTime(t0), metav1.NewTime(t0.Add(time.Minute))
	g.Expect(RunRecord(record())).To(Equal(syncv1.RunRecord{
		RunID: "run-1", Trigger: "Manual", StartTime: &start, CompletionTime: &done,
		Phase: syncv1.RunPhasePartiallySucceeded, Message: "m",
		CursorStart: &syncv1.Cursor{UpdatedAt: "2026-06-30T11:00:00.123456Z"},
		CursorEnd:   &syncv1.Cursor{UpdatedAt: "2026-06-30T12:00:00.123456Z", ID: "6"},
		Read:        6, Upserted: 1, Unchanged: 1, SameVersion: 4, Skipped: 1, Failed: 1, Deleted: 1,
		ErrorSummary: []syncv1.ErrorGroup{{Reason: "not a decimal", Count: 1, SampleIDs: []string{"5"}}},
		SampleIDs:    []string{"1"},
		Reconciliation: &syncv1.Reconciliation{WindowStart: "2026-06-30T11:00:00.123456Z",
			WindowEnd: "2026-06-30T12:00:00.123456Z", SourceCount: 11, SinkCount: 10, Uncounted: true, Sampled: 5, Mismatched: 1,
			MismatchedIDs: []string{"3"}, Mismatches: []syncv1.Mismatch{{Key: "k3", Fields: []string{"total", "paid"}}}, Drift: true},
	}))
}

func TestRunRecordOfAnUnfinishedRunFromTheBeginning(t *testing.T) {
	g := NewWithT(t)
	rec := RunRecord(audit.Record{RunID: "r", StartTime: t0, Phase: audit.PhaseRunning,
		CursorStart: &cursor.Beginning})
	g.Expect(rec.CompletionTime).To(BeNil())
	g.Expect(rec.CursorStart).To(BeNil(), "the beginning is no cursor")
	g.Expect(rec.CursorEnd).To(BeNil())
	g.Expect(rec.ErrorSummary).To(BeNil())
	g.Expect(rec.Reconciliation).To(BeNil())
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseRunning))
}

func TestPhases(t *testing.T) {
	for p, want := range map[audit.Phase]syncv1.RunPhase{
		audit.PhaseRunning:            syncv1.RunPhaseRunning,
		audit.PhaseSucceeded:          syncv1.RunPhaseSucceeded,
		audit.PhasePartiallySucceeded: syncv1.RunPhasePartiallySucceeded,
		audit.PhaseFailed:             syncv1.RunPhaseFailed,
		audit.PhaseInterrupted:        syncv1.RunPhaseInterrupted,
	} {
		NewWithT(t).Expect(Phase(p)).To(Equal(want))
	}
}

// TestAuditLineMatchesTheAPIRecord: the "run finished" log line (the audit record's JSON)
// reads back as the API's record.
func TestAuditLineMatchesTheAPIRecord(t *testing.T) {
	g := NewWithT(t)
	data, err := json.Marshal(record())
	g.Expect(err).NotTo(HaveOccurred())
	var back syncv1.RunRecord
	g.Expect(json.Unmarshal(data, &back)).To(Succeed())
	want := RunRecord(record())
	g.Expect(back.StartTime.Time).To(BeTemporally("~", want.StartTime.Time, time.Second))
	back.StartTime, back.CompletionTime, want.StartTime, want.CompletionTime = nil, nil, nil, nil
	g.Expect(back).To(Equal(want))
}

type fakeWriter struct {
	rec    syncv1.RunRecord
	cursor *syncv1.Cursor
}

func (w *fakeWriter) Publish(_ context.Context, rec syncv1.RunRecord, c *syncv1.Cursor) error {
	w.rec, w.cursor = rec, c
	return nil
}

func TestPublisher(t *testing.T) {
	g := NewWithT(t)
	w := &fakeWriter{}
	stored := cursor.Cursor{UpdatedAt: t0, ID: "9"}
	g.Expect(Publisher(w).Publish(context.Background(), record(), &stored)).To(Succeed())
	g.Expect(w.rec).To(Equal(RunRecord(record())))
	g.Expect(w.cursor).To(Equal(&syncv1.Cursor{UpdatedAt: "2026-06-30T12:00:00.123456Z", ID: "9"}))
	g.Expect(Publisher(w).Publish(context.Background(), record(), nil)).To(Succeed())
	g.Expect(w.cursor).To(BeNil())
}
