package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Cursor modes (spec.cursor.mode).
const (
	// CursorIncremental reads the records after the stored (updatedAt, id) cursor.
	CursorIncremental = "Incremental"
	// CursorSnapshot scans the whole source by id each run and writes what changed.
	CursorSnapshot = "Snapshot"
)

// CursorSpec tunes where each run starts.
type CursorSpec struct {
	// Mode is how changes are found. Incremental reads the records after the stored (updatedAt, id) cursor. Snapshot is for a source without a reliable updatedAt: every run scans the whole source by id, hashes each mapped record and writes only the records whose hash differs from the one stored in the sink (spec.sink.postgres.hashColumn); it needs a postgres source and a postgres sink, and has no stale-write guard. Defaults to Incremental.
	// +kubebuilder:default=Incremental
	// +kubebuilder:validation:Enum=Incremental;Snapshot
	// +optional
	Mode string `json:"mode,omitempty"`
	// SafetyGap rewinds the stored cursor at the start of each run, so that late commits and late updates in the source are re-read; idempotent upserts make the overlap safe. Records committed with an updatedAt older than the gap behind the cursor are missed. Defaults to 5m.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="spec.cursor.safetyGap must be a positive duration such as 5m"
	// +optional
	SafetyGap *metav1.Duration `json:"safetyGap,omitempty"`
	// StartAt (RFC3339) is where the first run starts when there is no checkpoint yet. Without it the first run reads from the beginning.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$')",message="spec.cursor.startAt must be an RFC3339 time such as 2026-01-01T00:00:00Z"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}') || self.matches('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)')",message="spec.cursor.startAt has a month, day, hour, minute or second out of range"
	// +optional
	StartAt string `json:"startAt,omitempty"`
}

// CheckpointSpec tunes how often progress is stored.
type CheckpointSpec struct {
	// Interval is the least time between two stored cursor advances during a run; the cursor is always stored at the end. 0 stores after every confirmed page. Defaults to 10s.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')",message="spec.checkpoint.interval must be a duration >= 0 such as 10s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// ErrorsSpec decides what a record error does to the run.
type ErrorsSpec struct {
	// Policy: Skip records the failed record (id, field, reason), keeps it for a retry on the next run and goes on; Halt stops the cursor just before it and fails the run. Defaults to Skip.
	// +kubebuilder:validation:Enum=Skip;Halt
	// +kubebuilder:default=Skip
	// +optional
	Policy string `json:"policy,omitempty"`
	// MaxErrors halts the run, whatever the policy, once more record errors than this occurred: 0 halts at the first record error. An explicit 0 is kept, never replaced by the default. Defaults to 100.
	// +kubebuilder:default=100
	// +kubebuilder:validation:XValidation:rule="self >= 0",message="spec.errors.maxErrors must be >= 0"
	// +optional
	MaxErrors *int32 `json:"maxErrors,omitempty"`
}

// DeletesSpec decides what happens to sink records whose source record was deleted.
type DeletesSpec struct {
	// Mode: Ignore leaves them; SoftDelete sets SinkField to the deletion time; Delete removes them. Defaults to Ignore.
	// +kubebuilder:validation:Enum=Ignore;SoftDelete;Delete
	// +kubebuilder:default=Ignore
	// +optional
	Mode string `json:"mode,omitempty"`
	// SourceField is the source field whose non-null value marks a record deleted (a soft-delete column such as "deleted_at"); such records travel with the cursor.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	SourceField string `json:"sourceField,omitempty"`
	// SinkField is set to the deletion time under SoftDelete. Defaults to deleted_at.
	// +kubebuilder:default=deleted_at
	// +kubebuilder:validation:MaxLength=63
	// +optional
	SinkField string `json:"sinkField,omitempty"`
	// FullReconcile turns on full key reconciliation: at the end of a complete run, every key of the source and of the sink are compared in key order (bounded memory), and the sink's keys the source lacks are deleted per Mode. Needs a key that is the default ("<source name>:" + string(record.id)) or of the form record.<field>, string(record.<field>) or "<prefix>" + string(record.<field>), with <field> a top-level source field; a PostgreSQL source and sink. A run can also be asked to reconcile with the sync.checkpointed.io/reconcile-requested-at annotation.
	// +optional
	FullReconcile *FullReconcileSpec `json:"fullReconcile,omitempty"`
	// MaxFractionPercent is the delete valve: a run never deletes (by full reconciliation or tombstones) more than this percentage of the sink's keys unless the token its refusal printed is given (annotation sync.checkpointed.io/confirm-deletes); it deletes nothing then, syncs records and fails with reason DeleteValve. 0 allows no unconfirmed delete; an explicit 0 is kept. Defaults to 5.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxFractionPercent *int32 `json:"maxFractionPercent,omitempty"`
}

// FullReconcileSpec schedules full key reconciliation.
type FullReconcileSpec struct {
	// EveryRuns reconciles at the end of every EveryRuns-th complete run (1: every run); the count is kept in the checkpoint.
	// +kubebuilder:validation:Minimum=1
	EveryRuns int32 `json:"everyRuns"`
}

// ReconcileSpec configures the drift check that follows each run.
type ReconcileSpec struct {
	// Window of source updatedAt, ending at the cursor, whose records are counted on both sides. Defaults to 24h.
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="spec.reconcile.window must be a positive duration such as 24h"
	// +optional
	Window *metav1.Duration `json:"window,omitempty"`
	// Sample is how many records of the window are fetched from both sides and compared field by field; 0 turns the drift check off. An explicit 0 is kept, never replaced by the default. Defaults to 20.
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Sample *int32 `json:"sample,omitempty"`
}

// RateLimitSpec is a client-side token bucket for requests to HTTP APIs.
type RateLimitSpec struct {
	// RequestsPerSecond allowed on average ("50", "0.5"); must be positive.
	// +kubebuilder:validation:XValidation:rule="isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))",message="spec.rateLimit.requestsPerSecond must be a positive quantity such as \"50\" or \"0.5\""
	RequestsPerSecond resource.Quantity `json:"requestsPerSecond"`
	// Burst of requests allowed at once. Defaults to 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	Burst int32 `json:"burst,omitempty"`
}

// PodOverrides are merged into the runner Pod's template.
type PodOverrides struct {
	// Labels added to the runner Pod.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations added to the runner Pod.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// NodeSelector of the runner Pod.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations of the runner Pod.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// PriorityClassName of the runner Pod.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// Env added to the runner container (for example GOMEMLIMIT or proxy settings).
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// RunnerSpec shapes the runner Pod.
type RunnerSpec struct {
	// Image of the runner; defaults to the manager's --runner-image. Another image must be allowed by the manager's --allowed-runner-images (else Stalled, RunnerImageNotAllowed).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`
	// ImagePullPolicy of the runner container. Defaults to IfNotPresent.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +kubebuilder:default=IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// Resources of the runner container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// ActiveDeadlineSeconds bounds one run; the Pod is killed past it. Defaults to 3600.
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=1
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// SuccessfulJobsHistoryLimit of the CronJob. Defaults to 3.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`
	// FailedJobsHistoryLimit of the CronJob. Defaults to 3.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`
	// Pod overrides merged into the runner Pod.
	// +optional
	Pod *PodOverrides `json:"pod,omitempty"`
}
