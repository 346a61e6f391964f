package audit

import (
	"slices"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// Phase is how a run ended, or Running while it goes on.
type Phase string

// Phases of a run.
const (
	// PhaseRunning: the run has not finished (a checkpoint saved mid-run says so).
	PhaseRunning Phase = "Running"
	// PhaseSucceeded: the run read to its end and every record was written.
	PhaseSucceeded Phase = "Succeeded"
	// PhasePartiallySucceeded: the run read to its end, some records failed under policy
	// Skip.
	PhasePartiallySucceeded Phase = "PartiallySucceeded"
	// PhaseFailed: the run stopped on an error; the Reason says which.
	PhaseFailed Phase = "Failed"
	// PhaseInterrupted: the run was cancelled (a signal, a lost run lock).
	PhaseInterrupted Phase = "Interrupted"
)

// Record is the audit record of one run: did it run, how far did it get, what failed. Its
// JSON form is the "run finished" log line's body.
type Record struct {
	// RunID is unique per run.
	RunID string `json:"runId"`
	// Trigger: Scheduled, Manual, Backfill, Local or Plan.
	Trigger string `json:"trigger,omitempty"`
	// StartTime of the run, UTC.
	StartTime time.Time `json:"startTime"`
	// CompletionTime of the run, UTC; zero until it finished.
	CompletionTime time.Time `json:"completionTime"`
	// Phase the run ended in.
	Phase Phase `json:"phase"`
	// Reason is a runcontract reason for a failed or interrupted run.
	Reason string `json:"reason,omitempty"`
	// Message explains a failure.
	Message string `json:"message,omitempty"`
	// CursorStart is where the run started reading (after the safety gap); nil: the
	// beginning.
	CursorStart *cursor.Cursor `json:"cursorStart,omitempty"`
	// CursorEnd is the committed cursor at the end; nil: nothing committed.
	CursorEnd *cursor.Cursor `json:"cursorEnd,omitempty"`
	// Read records from the source.
	Read int64 `json:"read"`
	// Upserted records written to the sink.
	Upserted int64 `json:"upserted"`
	// Unchanged records the sink already held as they are.
	Unchanged int64 `json:"unchanged"`
	// SameVersion records re-read inside the safety gap whose source version the sink
	// already held: not written (the overlap's version check; their values were not
	// compared, see the drift check).
	SameVersion int64 `json:"sameVersion,omitempty"`
	// Skipped records the sink held in a newer version (stale writes refused).
	Skipped int64 `json:"skipped"`
	// Failed records (record errors).
	Failed int64 `json:"failed"`
	// Deleted or soft-deleted records.
	Deleted int64 `json:"deleted,omitempty"`
	// ErrorSummary groups record errors by reason, at most MaxErrorGroups.
	ErrorSummary []ErrorGroup `json:"errorSummary,omitempty"`
	// SampleIDs are a few source ids the run wrote, at most MaxSampleIDs.
	SampleIDs []string `json:"sampleIds,omitempty"`
	// Reconciliation is the drift check's result; nil when it did not run.
	Reconciliation *Reconciliation `json:"reconciliation,omitempty"`
	// MappingChange is set when the mapping differs from the one the records synced
	// before were written with; nil otherwise.
	MappingChange *MappingChange `json:"mappingChange,omitempty"`
	// Warnings are things the run could not guarantee (a source whose paging can miss
	// records), in the order first met, each once.
	Warnings []string `json:"warnings,omitempty"`
	// RecordLog is the size of the record log stored with the checkpoint at the end of
	// the run; nil when the store keeps none.
	RecordLog *RecordLogStats `json:"recordLog,omitempty"`
	// FailedKeys is the number of failed keys pending retry in the stored checkpoint at
	// the end of the run; nil when no checkpoint was loaded.
	FailedKeys *int64 `json:"failedKeys,omitempty"`
}

// Resync states of a MappingChange.
const (
	// ResyncNone: nothing re-syncs the records written under the previous mapping.
	ResyncNone = "None"
	// ResyncInProgress: a full re-sync under the current mapping is under way.
	ResyncInProgress = "InProgress"
	// ResyncCompleted: this run completed the full re-sync; every record carries the
	// current mapping.
	ResyncCompleted = "Completed"
)

// MappingChange says that the records synced before were written under another mapping
// (fingerprints of key + mapping, runcontract.Checkpoint.MappingFingerprint).
type MappingChange struct {
	// Previous is the stored fingerprint: the mapping the records synced before carry.
	Previous string `json:"previous"`
	// Current is the fingerprint of the run's mapping.
	Current string `json:"current"`
	// Resync is ResyncNone, ResyncInProgress or ResyncCompleted.
	Resync string `json:"resync"`
	// Message says what this means and what to do.
	Message string `json:"message,omitempty"`
}

// RecordLogStats is the size of the durable record log (runcontract.RecordLog).
type RecordLogStats struct {
	// Entries held.
	Entries int `json:"entries"`
	// Dropped entries so far (oldest first) to keep the log bounded.
	Dropped int64 `json:"dropped"`
	// Bytes of the encoded log.
	Bytes int `json:"bytes"`
}

// ErrorGroup counts record errors with one reason.
type ErrorGroup struct {
	// Reason shared by the records.
	Reason string `json:"reason"`
	// Count of records.
	Count int64 `json:"count"`
	// SampleIDs are a few source ids of such records, at most MaxGroupSamples.
	SampleIDs []string `json:"sampleIds,omitempty"`
}

// Reconciliation is the drift check's result: how many records with UpdatedAt in
// [WindowStart, WindowEnd] each side holds.
type Reconciliation struct {
	// WindowStart and WindowEnd bound the source UpdatedAt counted, UTC.
	WindowStart time.Time `json:"windowStart"`
	WindowEnd   time.Time `json:"windowEnd"`
	// SourceCount is the number of source records in the window.
	SourceCount int64 `json:"sourceCount"`
	// SinkCount is the number of sink records in the window.
	SinkCount int64 `json:"sinkCount"`
	// Uncounted is true when a side cannot count (no connector.Counter, or counting
	// failed): the counts are zero and not compared.
	Uncounted bool `json:"uncounted,omitempty"`
	// Sampled is how many records were compared field by field.
	Sampled int64 `json:"sampled,omitempty"`
	// Mismatched is how many sampled records differ between the mapped source and the sink.
	Mismatched int64 `json:"mismatched,omitempty"`
	// MismatchedIDs are the source ids of Mismatches, in the same order.
	MismatchedIDs []string `json:"mismatchedIds,omitempty"`
	// Mismatches are the first MaxMismatches mismatched records.
	Mismatches []Mismatch `json:"mismatches,omitempty"`
	// Drift is true when the counts differ or a sampled record mismatched.
	Drift bool `json:"drift"`
}

// MaxMismatches bounds Reconciliation.Mismatches.
const MaxMismatches = 10

// Mismatch is one sampled record whose sink copy differs from its mapped source record.
type Mismatch struct {
	// Key is the record's external key.
	Key string `json:"key"`
	// Fields are the sink fields whose values differ, in mapping order.
	Fields []string `json:"fields,omitempty"`
	// Missing is true when the sink holds no record for Key.
	Missing bool `json:"missing,omitempty"`
}

// clone returns a copy of r that shares no memory with it.
func (r Record) clone() Record {
	c := r
	if r.CursorStart != nil {
		s := *r.CursorStart
		c.CursorStart = &s
	}
	if r.CursorEnd != nil {
		e := *r.CursorEnd
		c.CursorEnd = &e
	}
	if r.ErrorSummary != nil {
		c.ErrorSummary = make([]ErrorGroup, len(r.ErrorSummary))
		for i, g := range r.ErrorSummary {
			g.SampleIDs = slices.Clone(g.SampleIDs)
			c.ErrorSummary[i] = g
		}
	}
	c.SampleIDs = slices.Clone(r.SampleIDs)
	if r.Reconciliation != nil {
		rc := *r.Reconciliation
		rc.Mismatches = nil
		rc.MismatchedIDs = slices.Clone(r.Reconciliation.MismatchedIDs)
		for _, m := range r.Reconciliation.Mismatches {
			m.Fields = slices.Clone(m.Fields)
			rc.Mismatches = append(rc.Mismatches, m)
		}
		c.Reconciliation = &rc
	}
	if r.MappingChange != nil {
		mc := *r.MappingChange
		c.MappingChange = &mc
	}
	c.Warnings = slices.Clone(r.Warnings)
	if r.RecordLog != nil {
		rl := *r.RecordLog
		c.RecordLog = &rl
	}
	return c
}
