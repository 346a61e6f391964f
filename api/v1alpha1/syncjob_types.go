package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations that request an operator action. Each holds an opaque token (for example the current time); a token is handled once and recorded in status.
const (
	// RunRequestedAnnotation starts a run now, as a Job from the CronJob's template.
	RunRequestedAnnotation = "sync.checkpointed.io/run-requested-at"
	// ResetRequestedAnnotation rewrites the checkpoint to ResetToAnnotation.
	ResetRequestedAnnotation = "sync.checkpointed.io/reset-requested-at"
	// ResetToAnnotation is an RFC3339 time or "beginning".
	ResetToAnnotation = "sync.checkpointed.io/reset-to"
	// ResetFailedKeysAnnotation, "true", makes a reset also forget the failed keys waiting for a retry ("false" or absent keeps them).
	ResetFailedKeysAnnotation = "sync.checkpointed.io/reset-failed-keys"
	// BackfillRequestedAnnotation starts a run over [BackfillFromAnnotation, BackfillToAnnotation) that does not move the main cursor.
	BackfillRequestedAnnotation = "sync.checkpointed.io/backfill-requested-at"
	// BackfillFromAnnotation is the RFC3339 start of a backfill range.
	BackfillFromAnnotation = "sync.checkpointed.io/backfill-from"
	// BackfillToAnnotation is the RFC3339 end of a backfill range.
	BackfillToAnnotation = "sync.checkpointed.io/backfill-to"
	// ReconcileRequestedAnnotation starts a run now that ends with a full key reconciliation (spec.deletes), as a Job from the CronJob's template.
	ReconcileRequestedAnnotation = "sync.checkpointed.io/reconcile-requested-at"
	// ConfirmDeletesAnnotation holds the token a run printed when the delete valve refused its deletes; runs given that token delete them. Unlike the request annotations it is not a request: it is passed to every run until it is removed.
	ConfirmDeletesAnnotation = "sync.checkpointed.io/confirm-deletes"
)

// Stalled reasons of a SyncJob the controller refuses to act on for the cluster's safety.
const (
	// ReasonNameConflict: an object the SyncJob needs (its CronJob, the runner's ServiceAccount, Role or RoleBinding) exists and is not controlled by the SyncJob; the controller never takes it over.
	ReasonNameConflict = "NameConflict"
	// ReasonRunnerImageNotAllowed: spec.runner.image is not in the manager's --allowed-runner-images.
	ReasonRunnerImageNotAllowed = "RunnerImageNotAllowed"
)

// DeleteCheckpointOnDeleteAnnotation, "true", makes deleting the SyncJob delete its checkpoint ConfigMap too (the controller gives the ConfigMap an owner reference once it has seen the annotation). Without it the checkpoint outlives the SyncJob, and a SyncJob created again with the same name and the same source and sink resumes from it.
const DeleteCheckpointOnDeleteAnnotation = "sync.checkpointed.io/delete-checkpoint-on-delete"

// Condition types and reasons. The condition types follow kstatus so that Argo CD, Flux and `kubectl wait` understand them.
const (
	// ConditionReady is True when the SyncJob is set up and its last run did not fail.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is bringing owned objects in line.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress without a spec change.
	ConditionStalled = "Stalled"

	// ConditionDrifted is True when the drift check after the last run found the sink differing from the mapped source (reason ReasonDriftDetected); False when it found none (ReasonNoDrift) or did not run (ReasonDriftNotChecked).
	ConditionDrifted = "Drifted"

	// ReasonSucceeded: set up, and the last run (if any) succeeded.
	ReasonSucceeded = "Succeeded"
	// ReasonRunFailed: the last run failed.
	ReasonRunFailed = "RunFailed"
	// ReasonPartiallyFailed: the last run finished with record errors.
	ReasonPartiallyFailed = "PartiallyFailed"
	// ReasonInvalidSpec: the spec cannot be acted on (schedule, time zone, ...).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonStale: the last success is older than two schedule intervals.
	ReasonStale = "Stale"
	// ReasonDriftDetected: the drift check after the last run found a difference.
	ReasonDriftDetected = "DriftDetected"
	// ReasonNoDrift: the drift check after the last run found the sink in step.
	ReasonNoDrift = "NoDrift"
	// ReasonDriftNotChecked: the last run did not check for drift (reconcile.sample 0, a failed run, nothing committed yet, or neither side can count or be sampled).
	ReasonDriftNotChecked = "DriftNotChecked"
	// ReasonProgressing: owned objects are being created or updated.
	ReasonProgressing = "Progressing"
)

// The MappingChanged condition: True while records in the sink were written under an earlier spec.key/spec.mapping than the current one (the last run's mappingChange), until a full re-sync under the current mapping completes; absent otherwise.
const (
	// ConditionMappingChanged is True while the sink holds records written under an earlier mapping.
	ConditionMappingChanged = "MappingChanged"
	// ReasonResyncNeeded: the mapping changed and nothing re-syncs the older records (onMappingChange Ignore): a reset to the beginning would.
	ReasonResyncNeeded = "ResyncNeeded"
	// ReasonResyncInProgress: a full re-sync under the current mapping is under way.
	ReasonResyncInProgress = "ResyncInProgress"
)

// OnMappingChange values (spec.onMappingChange).
const (
	// OnMappingChangeIgnore reports a mapping change and re-syncs nothing by itself.
	OnMappingChangeIgnore = "Ignore"
	// OnMappingChangeBackfill re-syncs every record under the new mapping, once per change.
	OnMappingChangeBackfill = "Backfill"
)

// RunPhase is how a run ended.
// +kubebuilder:validation:Enum=Running;Succeeded;PartiallySucceeded;Failed;Interrupted
type RunPhase string

// Run phases.
const (
	RunPhaseRunning            RunPhase = "Running"
	RunPhaseSucceeded          RunPhase = "Succeeded"
	RunPhasePartiallySucceeded RunPhase = "PartiallySucceeded"
	RunPhaseFailed             RunPhase = "Failed"
	RunPhaseInterrupted        RunPhase = "Interrupted"
)

// SyncJobSpec declares one scheduled, checkpointed sync.
// +kubebuilder:validation:XValidation:rule="!has(self.deletes) || !has(self.deletes.mode) || self.deletes.mode == 'Ignore' || (has(self.deletes.sourceField) && self.deletes.sourceField.size() > 0) || has(self.deletes.fullReconcile) || (has(self.cursor) && has(self.cursor.mode) && self.cursor.mode == 'Snapshot') || (has(self.source.http) && has(self.source.http.deletedUrl) && self.source.http.deletedUrl.size() > 0)",message="spec.deletes.mode SoftDelete or Delete needs a way to detect deletes: spec.deletes.sourceField, spec.deletes.fullReconcile, spec.cursor.mode Snapshot or spec.source.http.deletedUrl"
// +kubebuilder:validation:XValidation:rule="!has(self.cursor) || !has(self.cursor.mode) || self.cursor.mode != 'Snapshot' || (has(self.source.postgres) && has(self.sink.postgres))",message="spec.cursor.mode Snapshot needs a postgres source and a postgres sink (an HTTP source cannot be scanned by id, an HTTP sink cannot store content hashes)"
type SyncJobSpec struct {
	// Purpose says in one sentence what data moves, for whom, and why.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Purpose string `json:"purpose,omitempty"`
	// Owner is who owns the mapping (a team or a person to ask).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Owner string `json:"owner,omitempty"`
	// Schedule in cron syntax ("0 2 * * *", "@hourly").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule"`
	// TimeZone (IANA name) of the schedule; defaults to the cluster's (usually UTC).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	TimeZone *string `json:"timeZone,omitempty"`
	// Suspend stops scheduled runs; requested runs still happen. Defaults to false.
	// +kubebuilder:default=false
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
	// StartingDeadlineSeconds: a scheduled run that could not start within this many seconds is skipped.
	// +kubebuilder:validation:Minimum=1
	// +optional
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`
	// Source of the records.
	Source SourceSpec `json:"source"`
	// Sink the records are upserted into.
	Sink SinkSpec `json:"sink"`
	// Key is the external key of each record in the sink.
	Key KeySpec `json:"key"`
	// Mapping of sink fields from the source record; each target at most once.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(n, n.to == m.to))",messageExpression="'spec.mapping targets (to) must be unique: duplicate target \"' + self.map(m, m.to).filter(t, self.filter(n, n.to == t).size() > 1)[0] + '\"'"
	// +listType=atomic
	Mapping []FieldMapping `json:"mapping"`
	// Cursor tuning.
	// +kubebuilder:default={}
	// +optional
	Cursor CursorSpec `json:"cursor,omitempty"`
	// Checkpoint tuning.
	// +kubebuilder:default={}
	// +optional
	Checkpoint CheckpointSpec `json:"checkpoint,omitempty"`
	// Errors policy for record errors.
	// +kubebuilder:default={}
	// +optional
	Errors ErrorsSpec `json:"errors,omitempty"`
	// Deletes handling.
	// +kubebuilder:default={}
	// +optional
	Deletes DeletesSpec `json:"deletes,omitempty"`
	// Reconcile is the drift check after each run.
	// +kubebuilder:default={}
	// +optional
	Reconcile ReconcileSpec `json:"reconcile,omitempty"`
	// PageSize is how many records are read, mapped and written at a time: each page is one sink transaction, and the checkpoint moves past a page only after the sink confirmed it. Unset (the default), the runner chooses it page by page: it starts at 2000 and doubles, up to 10000, while a full page is written in under a second and the estimated memory of a page of such rows stays within 6 MiB (two pages are in flight: one written while the next is read and mapped); a page that takes over 10 s halves it again, never below 2000 (the memory budget alone goes lower, for wide rows). Fewer, larger transactions spare most of the per-commit cost on a fast sink, and a slow sink keeps small pages. Snapshot mode (and a set pageSize) keeps a fixed size: 2000 when unset. An HTTP source fills a page with as many API requests as the API's own limit needs; a PostgreSQL source ends a page early once its rows hold 4 MiB, so wide rows stay within the runner's memory.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +optional
	PageSize int32 `json:"pageSize,omitempty"`
	// RateLimit of requests to HTTP APIs (source and sink together).
	// +optional
	RateLimit *RateLimitSpec `json:"rateLimit,omitempty"`
	// Runner Pod settings.
	// +kubebuilder:default={}
	// +optional
	Runner RunnerSpec `json:"runner,omitempty"`
	// OnMappingChange decides what a run does when spec.key or spec.mapping changed since the records already in the sink were written (a fingerprint stored in the checkpoint): Ignore reports it (the run record's mappingChange, the MappingChanged condition) until a full re-sync under the new mapping completes (a reset to the beginning); Backfill starts that full re-sync by itself, once per change. Defaults to Ignore.
	// +kubebuilder:validation:Enum=Ignore;Backfill
	// +kubebuilder:default=Ignore
	// +optional
	OnMappingChange string `json:"onMappingChange,omitempty"`
}

// SyncJob is a scheduled, checkpointed sync from a source to a sink.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sj,categories=sync
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Run",type=string,JSONPath=`.status.lastRun.phase`
// +kubebuilder:printcolumn:name="Cursor",type=string,JSONPath=`.status.cursor.updatedAt`
// +kubebuilder:printcolumn:name="Synced",type=integer,JSONPath=`.status.lastRun.upserted`
// +kubebuilder:printcolumn:name="Errors",type=integer,JSONPath=`.status.lastRun.failed`
// +kubebuilder:printcolumn:name="Drifted",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`,priority=1
// +kubebuilder:printcolumn:name="Last Success",type=date,JSONPath=`.status.lastSuccessfulRunTime`
// +kubebuilder:printcolumn:name="Next Run",type=string,JSONPath=`.status.nextScheduledTime`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 52",message="metadata.name must be at most 52 characters (the CronJob name limit)",fieldPath=".metadata"
type SyncJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec declares the sync.
	Spec SyncJobSpec `json:"spec,omitempty"`
	// Status reports the controller's and the runner's view.
	Status SyncJobStatus `json:"status,omitempty"`
}

// SyncJobList is a list of SyncJobs.
//
// +kubebuilder:object:root=true
type SyncJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items of the list.
	Items []SyncJob `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SyncJob{}, &SyncJobList{})
}

// Preflight: a one-off `runner plan --in-cluster` Job per spec generation (and per PlanRequestedAnnotation token) whose outcome is the Preflight condition.
const (
	// PlanRequestedAnnotation starts a preflight now (connect, check tables, columns and types, map one page, write nothing); its token is recorded in status.lastHandledPlanRequest.
	PlanRequestedAnnotation = "sync.checkpointed.io/plan-requested-at"
	// ConditionPreflight is True when the last preflight passed, False when it failed (the message names the Secret, key, table or column), Unknown while it is pending.
	ConditionPreflight = "Preflight"
	// ReasonPreflightPassed: the preflight connected, checked and mapped one page.
	ReasonPreflightPassed = "PreflightPassed"
	// ReasonPreflightFailed: the preflight found the SyncJob cannot run; also Ready's reason.
	ReasonPreflightFailed = "PreflightFailed"
	// ReasonPreflightPending: the preflight Job has not finished (or cannot start: no image, unschedulable); not a pass.
	ReasonPreflightPending = "PreflightPending"
)

// Preflight results (status.preflight.result).
const (
	PreflightPending = "Pending"
	PreflightPassed  = "Passed"
	PreflightFailed  = "Failed"
)

// PreflightStatus is the outcome of the last preflight, written by the controller from the preflight Job's Pod. A preflight never changes lastRun, history or the cursor.
type PreflightStatus struct {
	// Generation of the spec the preflight checked.
	Generation int64 `json:"generation"`
	// Job is the preflight Job's name.
	Job string `json:"job"`
	// Result is Pending, Passed or Failed.
	Result string `json:"result"`
	// Message is the runner's message (what failed, naming the Secret, key, table or column), or why the preflight is still pending.
	// +optional
	Message string `json:"message,omitempty"`
	// Time the result was observed.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}
