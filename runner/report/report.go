// Package report is where the runner's own run record (audit.Record, the engine's result)
// becomes the API's (syncv1.RunRecord): for the SyncJob's status, the termination
// message and the local-mode output. It is the one place the two meet; the engine and the
// audit package never import the API.
package report

import (
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runstatus"
	"github.com/checkpointed/checkpointed/runner/audit"
)

// RunRecord renders rec as the API's run record. Zero times are left unset; so are the
// beginning cursors.
func RunRecord(rec audit.Record) syncv1.RunRecord {
	out := syncv1.RunRecord{
		RunID:          rec.RunID,
		Trigger:        rec.Trigger,
		StartTime:      timeOf(rec.StartTime),
		CompletionTime: timeOf(rec.CompletionTime),
		Phase:          Phase(rec.Phase),
		Reason:         rec.Reason,
		Message:        rec.Message,
		CursorStart:    runstatus.CursorOf(rec.CursorStart),
		CursorEnd:      runstatus.CursorOf(rec.CursorEnd),
		Read:           rec.Read,
		Upserted:       rec.Upserted,
		Unchanged:      rec.Unchanged,
		SameVersion:    rec.SameVersion,
		Skipped:        rec.Skipped,
		Failed:         rec.Failed,
		Deleted:        rec.Deleted,
		SampleIDs:      slices.Clone(rec.SampleIDs),
		Reconciliation: reconciliation(rec.Reconciliation),
		MappingChange:  mappingChange(rec.MappingChange),
		Warnings:       slices.Clone(rec.Warnings),
		RecordLog:      recordLog(rec.RecordLog),
		FailedKeys:     cloneInt64(rec.FailedKeys),
	}
	for _, g := range rec.ErrorSummary {
		out.ErrorSummary = append(out.ErrorSummary, syncv1.ErrorGroup{
			Reason: g.Reason, Count: g.Count, SampleIDs: slices.Clone(g.SampleIDs),
		})
	}
	return out
}

// Phase is the API's value of a run phase.
func Phase(p audit.Phase) syncv1.RunPhase {
	switch p {
	case audit.PhaseRunning:
		return syncv1.RunPhaseRunning
	case audit.PhaseSucceeded:
		return syncv1.RunPhaseSucceeded
	case audit.PhasePartiallySucceeded:
		return syncv1.RunPhasePartiallySucceeded
	case audit.PhaseFailed:
		return syncv1.RunPhaseFailed
	case audit.PhaseInterrupted:
		return syncv1.RunPhaseInterrupted
	}
	return syncv1.RunPhase(p)
}

// StatusWriter records an API run record and the stored cursor on a SyncJob's status
// (runstatus.Writer).
type StatusWriter interface {
	Publish(ctx context.Context, rec syncv1.RunRecord, cursor *syncv1.Cursor) error
}

// Publisher returns an audit.Publisher that publishes through w, in the API's terms.
func Publisher(w StatusWriter) audit.Publisher { return publisher{w: w} }

type publisher struct{ w StatusWriter }

// Publish renders rec and stored and hands them to the status writer, whose errors
// already name the run and the SyncJob.
func (p publisher) Publish(ctx context.Context, rec audit.Record, stored *cursor.Cursor) error {
	return p.w.Publish(ctx, RunRecord(rec), runstatus.CursorOf(stored))
}

func timeOf(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC())
	return &mt
}

func reconciliation(rc *audit.Reconciliation) *syncv1.Reconciliation {
	if rc == nil {
		return nil
	}
	out := &syncv1.Reconciliation{
		WindowStart:   rc.WindowStart.UTC().Format(time.RFC3339Nano),
		WindowEnd:     rc.WindowEnd.UTC().Format(time.RFC3339Nano),
		SourceCount:   rc.SourceCount,
		SinkCount:     rc.SinkCount,
		Uncounted:     rc.Uncounted,
		Sampled:       rc.Sampled,
		Mismatched:    rc.Mismatched,
		Drift:         rc.Drift,
		MismatchedIDs: slices.Clone(rc.MismatchedIDs),
	}
	for _, m := range rc.Mismatches {
		out.Mismatches = append(out.Mismatches, syncv1.Mismatch{Key: m.Key, Fields: slices.Clone(m.Fields), Missing: m.Missing})
	}
	return out
}

func mappingChange(mc *audit.MappingChange) *syncv1.MappingChange {
	if mc == nil {
		return nil
	}
	return &syncv1.MappingChange{Previous: mc.Previous, Current: mc.Current, Resync: mc.Resync, Message: mc.Message}
}

func recordLog(st *audit.RecordLogStats) *syncv1.RecordLogStatus {
	if st == nil {
		return nil
	}
	return &syncv1.RecordLogStatus{Entries: int32(st.Entries), Dropped: st.Dropped, Bytes: int64(st.Bytes)}
}

func cloneInt64(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
