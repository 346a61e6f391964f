package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Cursor is a position in the source's ascending (updatedAt, id) order.
type Cursor struct {
	// UpdatedAt in UTC at the source's full precision (RFC3339 with fraction).
	UpdatedAt string `json:"updatedAt"`
	// ID of the last record at UpdatedAt ("" = before every record at UpdatedAt).
	// +optional
	ID string `json:"id,omitempty"`
}

// ErrorGroup counts record errors with one reason.
type ErrorGroup struct {
	// Reason shared by the records.
	Reason string `json:"reason"`
	// Count of records.
	Count int64 `json:"count"`
	// SampleIDs are a few source ids of such records.
	// +optional
	// +listType=atomic
	SampleIDs []string `json:"sampleIds,omitempty"`
}

// Reconciliation is the drift check's result.
type Reconciliation struct {
	// WindowStart is the first source updatedAt of the window the drift check counted and sampled (RFC3339, UTC): the window is [windowStart, windowEnd].
	// +optional
	WindowStart string `json:"windowStart,omitempty"`
	// WindowEnd is the last source updatedAt of the window the drift check counted and sampled (RFC3339, UTC): the cursor when the check ran.
	// +optional
	WindowEnd string `json:"windowEnd,omitempty"`
	// SourceCount is the number of source records in the window.
	SourceCount int64 `json:"sourceCount"`
	// SinkCount is the number of sink records in the window.
	SinkCount int64 `json:"sinkCount"`
	// Uncounted is true when the source or the sink cannot count the window (no count endpoint): the counts are zero and not compared.
	// +optional
	Uncounted bool `json:"uncounted,omitempty"`
	// Sampled records compared field by field.
	// +optional
	Sampled int64 `json:"sampled,omitempty"`
	// Mismatched sampled records, with a few of their ids.
	// +optional
	Mismatched int64 `json:"mismatched,omitempty"`
	// MismatchedIDs are the source ids of the records in mismatches, in the same order.
	// +optional
	// +listType=atomic
	MismatchedIDs []string `json:"mismatchedIds,omitempty"`
	// Mismatches are the first mismatched records (at most 10): their external key and the sink fields that differ.
	// +optional
	// +listType=atomic
	Mismatches []Mismatch `json:"mismatches,omitempty"`
	// Drift is true when counts or sampled fields differ.
	Drift bool `json:"drift"`
}

// Mismatch is one sampled record whose sink copy differs from its mapped source record.
type Mismatch struct {
	// Key is the record's external key in the sink.
	Key string `json:"key"`
	// Fields are the sink fields whose values differ.
	// +optional
	// +listType=atomic
	Fields []string `json:"fields,omitempty"`
	// Missing is true when the sink holds no record for the key.
	// +optional
	Missing bool `json:"missing,omitempty"`
}

// RunRecord is the audit record of one run: did it run, how far did it get, what failed.
type RunRecord struct {
	// RunID is unique per run.
	RunID string `json:"runId"`
	// Trigger: Scheduled, Manual, Backfill or Local.
	// +optional
	Trigger string `json:"trigger,omitempty"`
	// StartTime of the run.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime of the run.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Phase the run ended in.
	Phase RunPhase `json:"phase"`
	// Reason is a CamelCase word for a failure (RateLimited, OOMKilled, SinkError, ...).
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
	// CursorStart is where the run started reading (after the safety gap).
	// +optional
	CursorStart *Cursor `json:"cursorStart,omitempty"`
	// CursorEnd is the committed cursor at the end.
	// +optional
	CursorEnd *Cursor `json:"cursorEnd,omitempty"`
	// Read records from the source. Absent when countsUnknown is true.
	// +optional
	Read int64 `json:"read"`
	// Upserted records written to the sink. Absent when countsUnknown is true.
	// +optional
	Upserted int64 `json:"upserted"`
	// Unchanged records the sink already held as they are. Absent when countsUnknown is true.
	// +optional
	Unchanged int64 `json:"unchanged"`
	// SameVersion records were re-read inside the safety gap and not written: the sink already held their source version (a version check by key, not a re-upsert). Their values were not compared; a sink row edited by hand is the drift check's to report. Absent when countsUnknown is true.
	// +optional
	SameVersion int64 `json:"sameVersion,omitempty"`
	// Skipped records the sink held in a newer version (stale writes refused). Absent when countsUnknown is true.
	// +optional
	Skipped int64 `json:"skipped"`
	// Failed records (record errors). Absent when countsUnknown is true.
	// +optional
	Failed int64 `json:"failed"`
	// Deleted or soft-deleted records.
	// +optional
	Deleted int64 `json:"deleted,omitempty"`
	// CountsUnknown is true for a run recorded by the controller on behalf of a runner that died or never started (OOMKilled, DeadlineExceeded, RunnerCrashed, a missing Secret): how many records it read, wrote or failed is not known, so the counts are absent (not zero). Its history line and Event say "counts unknown".
	// +optional
	CountsUnknown bool `json:"countsUnknown,omitempty"`
	// ErrorSummary groups record errors by reason.
	// +optional
	// +listType=atomic
	ErrorSummary []ErrorGroup `json:"errorSummary,omitempty"`
	// SampleIDs are a few source ids the run wrote.
	// +optional
	// +listType=atomic
	SampleIDs []string `json:"sampleIds,omitempty"`
	// Reconciliation is the drift check's result.
	// +optional
	Reconciliation *Reconciliation `json:"reconciliation,omitempty"`
	// MappingChange is set when spec.key or spec.mapping differ from the mapping the records already synced were written with.
	// +optional
	MappingChange *MappingChange `json:"mappingChange,omitempty"`
	// Warnings are things the run could not guarantee (for example offset pagination, which can miss a record inserted while the run pages).
	// +optional
	// +listType=atomic
	Warnings []string `json:"warnings,omitempty"`
	// RecordLog is the size of the durable record log (the checkpoint ConfigMap's key record-log.json, read by `runner explain`) after the run.
	// +optional
	RecordLog *RecordLogStatus `json:"recordLog,omitempty"`
	// FailedKeys is the number of failed keys pending retry in the checkpoint after the run (records that failed under policy Skip and are retried by later runs).
	// +optional
	FailedKeys *int64 `json:"failedKeys,omitempty"`
}

// MappingChange says that the records synced before were written under another mapping.
type MappingChange struct {
	// Previous is the fingerprint of the mapping the records already synced were written with.
	Previous string `json:"previous"`
	// Current is the fingerprint of the current spec.key and spec.mapping.
	Current string `json:"current"`
	// Resync is None (nothing re-syncs the older records: reset the checkpoint to the beginning), InProgress (a full re-sync under the current mapping is under way) or Completed (this run completed it: every record now carries the current mapping).
	Resync string `json:"resync"`
	// Message says what this means and what to do.
	// +optional
	Message string `json:"message,omitempty"`
}

// RecordLogStatus is the size of the record log: the most recent record-level events (failed records, stale skips, deletions) and run cursor ranges, bounded in entries and bytes, the oldest dropped first.
type RecordLogStatus struct {
	// Entries held.
	Entries int32 `json:"entries"`
	// Dropped entries so far, oldest first, to keep the log within its bounds.
	Dropped int64 `json:"dropped"`
	// Bytes of the encoded log.
	Bytes int64 `json:"bytes"`
}

// ActiveRun is a Job of the SyncJob that has not ended.
type ActiveRun struct {
	// Name of the Job.
	Name string `json:"name"`
	// Trigger of the run: Scheduled, Manual, Backfill or Reset.
	// +optional
	Trigger string `json:"trigger,omitempty"`
	// StartTime of the Job (its creation while it has not started).
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// PodPhase of the Job's newest Pod ("" while it has none).
	// +optional
	PodPhase string `json:"podPhase,omitempty"`
	// PendingReason says why a Pending Pod does not run (Unschedulable, ImagePullBackOff, ContainerCreating, ...), with its message.
	// +optional
	PendingReason string `json:"pendingReason,omitempty"`
}

// RunSummary is one line of run history.
type RunSummary struct {
	// RunID of the run.
	RunID string `json:"runId"`
	// Phase it ended in.
	Phase RunPhase `json:"phase"`
	// StartTime of the run.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// Summary in one line: counts and cursor.
	// +optional
	Summary string `json:"summary,omitempty"`
}

// SyncJobStatus is written by two owners with server-side apply: the controller (observedGeneration, conditions, object names, handled requests) and the runner (cursor, lastRun, lastSuccessfulRunTime, history).
type SyncJobStatus struct {
	// ObservedGeneration is the generation the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled (kstatus), and Drifted (the last run's drift check).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// CronJobName is the CronJob that runs the syncs.
	// +optional
	CronJobName string `json:"cronJobName,omitempty"`
	// CheckpointConfigMap holds the durable checkpoint.
	// +optional
	CheckpointConfigMap string `json:"checkpointConfigMap,omitempty"`
	// CheckpointArchived is set when this SyncJob, created under the name of a deleted one, found that SyncJob's checkpoint but with another source or sink: that checkpoint was not adopted but kept aside under this ConfigMap name, and this SyncJob started from an empty checkpoint.
	// +optional
	CheckpointArchived string `json:"checkpointArchived,omitempty"`
	// LastHandledRunRequest is the last run-requested-at token acted on.
	// +optional
	LastHandledRunRequest string `json:"lastHandledRunRequest,omitempty"`
	// LastHandledResetRequest is the last reset-requested-at token acted on.
	// +optional
	LastHandledResetRequest string `json:"lastHandledResetRequest,omitempty"`
	// LastHandledBackfillRequest is the last backfill-requested-at token acted on.
	// +optional
	LastHandledBackfillRequest string `json:"lastHandledBackfillRequest,omitempty"`
	// LastHandledReconcileRequest is the last reconcile-requested-at token acted on.
	// +optional
	LastHandledReconcileRequest string `json:"lastHandledReconcileRequest,omitempty"`
	// LastHandledPlanRequest is the last plan-requested-at token acted on.
	// +optional
	LastHandledPlanRequest string `json:"lastHandledPlanRequest,omitempty"`
	// Preflight is the outcome of the last preflight (`runner plan --in-cluster`), run on every spec generation and on plan-requested-at.
	// +optional
	Preflight *PreflightStatus `json:"preflight,omitempty"`
	// LastFinishedRunRequest is the last run-requested-at token whose run has ended (succeeded or failed; see lastRun for how): wait for a requested run with kubectl wait --for=jsonpath='{.status.lastFinishedRunRequest}'=<token>.
	// +optional
	LastFinishedRunRequest string `json:"lastFinishedRunRequest,omitempty"`
	// ActiveRun is the run (or reset) Job running now, if any. Written by the controller.
	// +optional
	ActiveRun *ActiveRun `json:"activeRun,omitempty"`
	// NextScheduledTime is when the CronJob next starts a run (from spec.schedule in spec.timeZone); absent while the SyncJob is suspended. Written by the controller.
	// +optional
	NextScheduledTime *metav1.Time `json:"nextScheduledTime,omitempty"`
	// Cursor is the stored checkpoint cursor.
	// +optional
	Cursor *Cursor `json:"cursor,omitempty"`
	// LastRun is the audit record of the last run.
	// +optional
	LastRun *RunRecord `json:"lastRun,omitempty"`
	// LastSuccessfulRunTime is when the last Succeeded or PartiallySucceeded run completed.
	// +optional
	LastSuccessfulRunTime *metav1.Time `json:"lastSuccessfulRunTime,omitempty"`
	// History of recent runs, newest first (at most 10).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	History []RunSummary `json:"history,omitempty"`
}
