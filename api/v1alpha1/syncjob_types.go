package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations that request an operator action. Each holds an opaque token (for example
// the current time); a token is handled once and recorded in status.
const (
	// RunRequestedAnnotation starts a run now, as a Job from the CronJob's template.
	RunRequestedAnnotation = "sync.checkpointed.io/run-requested-at"
	// ResetRequestedAnnotation rewrites the checkpoint to ResetToAnnotation.
	ResetRequestedAnnotation = "sync.checkpointed.io/reset-requested-at"
	// ResetToAnnotation is an RFC3339 time or "beginning".
	ResetToAnnotation = "sync.checkpointed.io/reset-to"
	// BackfillRequestedAnnotation starts a run over [BackfillFromAnnotation, BackfillToAnnotation)
	// that does not move the main cursor.
	BackfillRequestedAnnotation = "sync.checkpointed.io/backfill-requested-at"
	// BackfillFromAnnotation is the RFC3339 start of a backfill range.
	BackfillFromAnnotation = "sync.checkpointed.io/backfill-from"
	// BackfillToAnnotation is the RFC3339 end of a backfill range.
	BackfillToAnnotation = "sync.checkpointed.io/backfill-to"
)

// Condition types and reasons. The condition types follow kstatus so that Argo CD, Flux
// and `kubectl wait` understand them.
const (
	// ConditionReady is True when the SyncJob is set up and its last run did not fail.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is bringing owned objects in line.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress without a spec change.
	ConditionStalled = "Stalled"

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
	// ReasonProgressing: owned objects are being created or updated.
	ReasonProgressing = "Progressing"
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

// SecretKeyRef names one key of a Secret in the SyncJob's own namespace. Credentials are
// only ever given this way, never inline.
type SecretKeyRef struct {
	// Name of the Secret, in the SyncJob's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// SourceSpec says where records come from. Exactly one kind is set.
// +kubebuilder:validation:XValidation:rule="[has(self.postgres), has(self.http)].exists_one(x, x)",message="spec.source must set exactly one of postgres or http"
type SourceSpec struct {
	// Name of the source system (for example "billing"). It prefixes the default external
	// key, "<name>:<record id>". Defaults to the source kind.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// Postgres reads a table or view with keyset paging on (updatedAt, id).
	// +optional
	Postgres *PostgresSource `json:"postgres,omitempty"`
	// HTTP reads a JSON REST API.
	// +optional
	HTTP *HTTPSource `json:"http,omitempty"`
}

// SinkSpec says where records go. Exactly one kind is set.
// +kubebuilder:validation:XValidation:rule="[has(self.postgres), has(self.http)].exists_one(x, x)",message="spec.sink must set exactly one of postgres or http"
type SinkSpec struct {
	// Postgres upserts into a table by the external key.
	// +optional
	Postgres *PostgresSink `json:"postgres,omitempty"`
	// HTTP upserts through a JSON REST API by the external key.
	// +optional
	HTTP *HTTPSink `json:"http,omitempty"`
}

// PostgresSource reads a table or view in ascending (updatedAt, id) order.
type PostgresSource struct {
	// DSN is the libpq connection string or URL, from a Secret.
	DSN SecretKeyRef `json:"dsn"`
	// Table or view to read, optionally schema-qualified ("billing.invoices").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Table string `json:"table"`
	// UpdatedAtColumn is the cursor's time column: timestamptz, or timestamp with TimeZone set.
	// +kubebuilder:default=updated_at
	// +kubebuilder:validation:MaxLength=63
	// +optional
	UpdatedAtColumn string `json:"updatedAtColumn,omitempty"`
	// IDColumn is the cursor's tie-breaker: a unique column compared in its native order.
	// +kubebuilder:default=id
	// +kubebuilder:validation:MaxLength=63
	// +optional
	IDColumn string `json:"idColumn,omitempty"`
	// TimeZone (IANA) in which a timestamp-without-time-zone cursor column is written.
	// Required for such a column, refused otherwise; never guessed.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// PostgresSink upserts into a table with INSERT ... ON CONFLICT on the key column. The table
// needs a unique index on the key column and a timestamptz column for the source's updatedAt.
type PostgresSink struct {
	// DSN is the libpq connection string or URL, from a Secret.
	DSN SecretKeyRef `json:"dsn"`
	// Table to write, optionally schema-qualified.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Table string `json:"table"`
	// SourceUpdatedAtColumn stores each record's source updatedAt; an upsert carrying an older
	// updatedAt than the stored one is skipped as stale.
	// +kubebuilder:default=source_updated_at
	// +kubebuilder:validation:MaxLength=63
	// +optional
	SourceUpdatedAtColumn string `json:"sourceUpdatedAtColumn,omitempty"`
	// SyncedAtColumn, if set, is set to the write time of each written row.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	SyncedAtColumn string `json:"syncedAtColumn,omitempty"`
	// RunIDColumn, if set, is set to the run ID of each written row.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	RunIDColumn string `json:"runIdColumn,omitempty"`
	// CopyThreshold is the page size from which a page goes through COPY into a temporary
	// table and one merge statement instead of a multi-row INSERT.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	CopyThreshold int32 `json:"copyThreshold,omitempty"`
}

// HTTPAuth authenticates requests with a credential from a Secret.
// +kubebuilder:validation:XValidation:rule="self.type != 'Basic' || has(self.username)",message="spec.*.auth.username is required for Basic auth"
type HTTPAuth struct {
	// Type of authentication.
	// +kubebuilder:validation:Enum=Bearer;Basic;APIKey
	Type string `json:"type"`
	// Header carrying the key for APIKey auth.
	// +kubebuilder:default=X-API-Key
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Header string `json:"header,omitempty"`
	// Username for Basic auth.
	// +optional
	Username *SecretKeyRef `json:"username,omitempty"`
	// Secret is the token, password or API key.
	Secret SecretKeyRef `json:"secret"`
}

// HTTPRetry bounds retries of 429, 5xx and network errors. Other 4xx are never retried.
type HTTPRetry struct {
	// MaxAttempts per request, the first included.
	// +kubebuilder:default=6
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxAttempts int32 `json:"maxAttempts,omitempty"`
	// MaxBackoff caps the exponential backoff between attempts (jitter is added).
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 30s"
	// +optional
	MaxBackoff *metav1.Duration `json:"maxBackoff,omitempty"`
	// RequestTimeout bounds one request.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 30s"
	// +optional
	RequestTimeout *metav1.Duration `json:"requestTimeout,omitempty"`
}

// HTTPPagination says how to get the next page of a list endpoint.
type HTTPPagination struct {
	// Type of pagination: NextToken (a token in the body, sent back as TokenParam),
	// LinkHeader (a `Link: <...>; rel="next"` header), CursorID (the last record's id sent
	// as the source's afterIdParam), or Offset (discouraged: rows that move between pages
	// are missed or repeated).
	// +kubebuilder:validation:Enum=NextToken;LinkHeader;CursorID;Offset
	// +kubebuilder:default=LinkHeader
	// +optional
	Type string `json:"type,omitempty"`
	// TokenPath is the JSON path (dot separated) of the next-page token in the body.
	// +kubebuilder:default=next
	// +optional
	TokenPath string `json:"tokenPath,omitempty"`
	// TokenParam is the query parameter that carries the next-page token or offset.
	// +kubebuilder:default=page_token
	// +optional
	TokenParam string `json:"tokenParam,omitempty"`
}

// HTTPSource reads a JSON REST list endpoint incrementally.
type HTTPSource struct {
	// URL of the list endpoint.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// Auth for every request.
	// +optional
	Auth *HTTPAuth `json:"auth,omitempty"`
	// Headers added to every request (not for credentials: use auth).
	// +optional
	Headers map[string]string `json:"headers,omitempty"`
	// UpdatedSinceParam is the query parameter carrying the cursor time.
	// +kubebuilder:default=updated_since
	// +optional
	UpdatedSinceParam string `json:"updatedSinceParam,omitempty"`
	// TimeFormat of the cursor time parameter and of record times.
	// +kubebuilder:validation:Enum=RFC3339;UnixSeconds;UnixMillis
	// +kubebuilder:default=RFC3339
	// +optional
	TimeFormat string `json:"timeFormat,omitempty"`
	// AfterIDParam, if the API has one, carries the cursor's tie-breaker id.
	// +optional
	AfterIDParam string `json:"afterIdParam,omitempty"`
	// PageSizeParam carries spec.pageSize.
	// +kubebuilder:default=limit
	// +optional
	PageSizeParam string `json:"pageSizeParam,omitempty"`
	// Pagination of the list endpoint.
	// +kubebuilder:default={}
	// +optional
	Pagination HTTPPagination `json:"pagination,omitempty"`
	// RecordsPath is the JSON path of the records array in the body ("" = the body itself).
	// +kubebuilder:default=data
	// +optional
	RecordsPath string `json:"recordsPath,omitempty"`
	// IDPath is the JSON path of a record's id.
	// +kubebuilder:default=id
	// +optional
	IDPath string `json:"idPath,omitempty"`
	// UpdatedAtPath is the JSON path of a record's update time.
	// +kubebuilder:default=updated_at
	// +optional
	UpdatedAtPath string `json:"updatedAtPath,omitempty"`
	// Sorted says the API returns records ascending by (updatedAt, id). When false the
	// cursor only advances at the end of a complete run.
	// +kubebuilder:default=true
	// +optional
	Sorted *bool `json:"sorted,omitempty"`
	// GetByIDURL is a URL template with "{id}" that returns one record; it lets failed
	// records be retried first on the next run.
	// +optional
	GetByIDURL string `json:"getByIdUrl,omitempty"`
	// Retry policy for 429, 5xx and network errors.
	// +kubebuilder:default={}
	// +optional
	Retry HTTPRetry `json:"retry,omitempty"`
}

// HTTPSink upserts records through a JSON REST API by the external key.
type HTTPSink struct {
	// Mode of upsert: Upsert (PUT or PATCH to URL, a template holding "{key}", as with
	// Salesforce's upsert by external ID), Batch (POST a batch to URL, per-record results in
	// the response, as with HubSpot's batch upsert), or LookupThenWrite (search SearchURL
	// by the key, then POST to URL or PATCH UpdateURL).
	// +kubebuilder:validation:Enum=Upsert;Batch;LookupThenWrite
	Mode string `json:"mode"`
	// URL is the upsert template, the batch endpoint, or the collection to create in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// Method for Upsert mode.
	// +kubebuilder:validation:Enum=PUT;PATCH
	// +kubebuilder:default=PUT
	// +optional
	Method string `json:"method,omitempty"`
	// SearchURL is a template with "{key}" that lists the objects holding that key
	// (LookupThenWrite).
	// +optional
	SearchURL string `json:"searchUrl,omitempty"`
	// UpdateURL is a template with "{id}" of the object to PATCH (LookupThenWrite).
	// +optional
	UpdateURL string `json:"updateUrl,omitempty"`
	// SourceUpdatedAtField is the object field that stores the source updatedAt, used to
	// refuse stale writes where the API allows it.
	// +kubebuilder:default=source_updated_at
	// +optional
	SourceUpdatedAtField string `json:"sourceUpdatedAtField,omitempty"`
	// Auth for every request.
	// +optional
	Auth *HTTPAuth `json:"auth,omitempty"`
	// Headers added to every request (not for credentials: use auth).
	// +optional
	Headers map[string]string `json:"headers,omitempty"`
	// BatchSize bounds the records per batch request (Batch mode).
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	BatchSize int32 `json:"batchSize,omitempty"`
	// Retry policy for 429, 5xx and network errors.
	// +kubebuilder:default={}
	// +optional
	Retry HTTPRetry `json:"retry,omitempty"`
}

// KeySpec defines the external key that makes writes idempotent.
type KeySpec struct {
	// Field of the sink that holds the external key (a column with a unique index, or the
	// API's external-ID field), for example "billing_invoice_id".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Field string `json:"field"`
	// Expr is a CEL expression over `record` that yields the key as a string. Defaults to
	// `"<source name>:" + string(record.id)`.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Expr string `json:"expr,omitempty"`
}

// FieldType is the type a mapped value must convert to. Nothing is coerced: a value that
// does not convert is a record error.
// +kubebuilder:validation:Enum=string;int;decimal;bool;timestamp;json
type FieldType string

// Field types.
const (
	FieldString    FieldType = "string"
	FieldInt       FieldType = "int"
	FieldDecimal   FieldType = "decimal"
	FieldBool      FieldType = "bool"
	FieldTimestamp FieldType = "timestamp"
	FieldJSON      FieldType = "json"
)

// FieldMapping maps one sink field from the source record.
// +kubebuilder:validation:XValidation:rule="has(self.from) != has(self.expr)",message="spec.mapping entry must set exactly one of from or expr"
type FieldMapping struct {
	// To is the sink field (column) written.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	To string `json:"to"`
	// From is a dot-separated path into the source record ("customer.id").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	From string `json:"from,omitempty"`
	// Expr is a CEL expression over `record` (for example `record.total * 100`).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Expr string `json:"expr,omitempty"`
	// Type the value must convert to.
	// +kubebuilder:default=string
	// +optional
	Type FieldType `json:"type,omitempty"`
	// Required makes a missing or null value a record error instead of a null write.
	// +optional
	Required bool `json:"required,omitempty"`
	// Lookup writes, instead of the value, the id of the sink object found by it: from or
	// expr (converted to type) gives the value to look up, and the target's id (a string)
	// is written. For example, link an invoice to the CRM account whose
	// billing_customer_id is the invoice's customer_id. A null value writes null without a
	// lookup; a value that finds no object is a record error naming the lookup, never a
	// null link. Results are cached for the run. Only an HTTP sink resolves lookups, with
	// its own credentials and on its own host (a Postgres sink lookup may come later).
	// +optional
	Lookup *MappingLookup `json:"lookup,omitempty"`
}

// MappingLookup finds a sink object by a value, through the sink's API.
type MappingLookup struct {
	// URL is a template holding "{value}" (escaped in place) whose answer lists the
	// objects holding the value, for example
	// "https://crm.example.com/accounts?billing_customer_id={value}". It must be on the
	// scheme and host of the sink's URL. A 404 answer means no object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{value}')",message="spec.mapping[].lookup.url must hold {value}"
	URL string `json:"url"`
	// ResultsPath is the dot-separated JSON path of the objects array in the answer ("" =
	// the body itself; an object there is the one result). More than one object is a record
	// error: the link would be a guess.
	// +kubebuilder:default=results
	// +kubebuilder:validation:MaxLength=256
	// +optional
	ResultsPath string `json:"resultsPath,omitempty"`
	// IDPath is the dot-separated JSON path of an object's id, the value written.
	// +kubebuilder:default=id
	// +kubebuilder:validation:MaxLength=256
	// +optional
	IDPath string `json:"idPath,omitempty"`
}

// CursorSpec tunes where each run starts.
type CursorSpec struct {
	// SafetyGap rewinds the stored cursor at the start of each run, so that late commits and
	// late updates in the source are re-read; idempotent upserts make the overlap safe.
	// Records committed with an updatedAt older than the gap behind the cursor are missed.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="spec.cursor.safetyGap must be a positive duration such as 5m"
	// +optional
	SafetyGap *metav1.Duration `json:"safetyGap,omitempty"`
	// StartAt (RFC3339) is where the first run starts when there is no checkpoint yet.
	// Without it the first run reads from the beginning.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$')",message="spec.cursor.startAt must be an RFC3339 time such as 2026-01-01T00:00:00Z"
	// +optional
	StartAt string `json:"startAt,omitempty"`
}

// CheckpointSpec tunes how often progress is stored.
type CheckpointSpec struct {
	// Interval is the least time between two stored cursor advances during a run; the cursor
	// is always stored at the end. 0 stores after every confirmed page.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')",message="spec.checkpoint.interval must be a duration >= 0 such as 10s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// ErrorsSpec decides what a record error does to the run.
type ErrorsSpec struct {
	// Policy: Skip records the failed record (id, field, reason), keeps it for a retry on
	// the next run and goes on; Halt stops the cursor just before it and fails the run.
	// +kubebuilder:validation:Enum=Skip;Halt
	// +kubebuilder:default=Skip
	// +optional
	Policy string `json:"policy,omitempty"`
	// MaxErrors halts the run, whatever the policy, once more record errors than this occurred.
	// +kubebuilder:default=100
	// +kubebuilder:validation:XValidation:rule="self >= 0",message="spec.errors.maxErrors must be >= 0"
	// +optional
	MaxErrors int32 `json:"maxErrors,omitempty"`
}

// DeletesSpec decides what happens to sink records whose source record was deleted.
type DeletesSpec struct {
	// Mode: Ignore leaves them; SoftDelete sets SinkField to the deletion time; Delete
	// removes them.
	// +kubebuilder:validation:Enum=Ignore;SoftDelete;Delete
	// +kubebuilder:default=Ignore
	// +optional
	Mode string `json:"mode,omitempty"`
	// SourceField is the source field whose non-null value marks a record deleted (a
	// soft-delete column such as "deleted_at"); such records travel with the cursor.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	SourceField string `json:"sourceField,omitempty"`
	// SinkField is set to the deletion time under SoftDelete.
	// +kubebuilder:default=deleted_at
	// +kubebuilder:validation:MaxLength=63
	// +optional
	SinkField string `json:"sinkField,omitempty"`
}

// ReconcileSpec configures the drift check that follows each run.
type ReconcileSpec struct {
	// Window of source updatedAt, ending at the cursor, whose records are counted on both
	// sides.
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="spec.reconcile.window must be a positive duration such as 24h"
	// +optional
	Window *metav1.Duration `json:"window,omitempty"`
	// Sample is how many records of the window are fetched from both sides and compared
	// field by field; 0 turns the drift check off.
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Sample int32 `json:"sample,omitempty"`
}

// RateLimitSpec is a client-side token bucket for requests to HTTP APIs.
type RateLimitSpec struct {
	// RequestsPerSecond allowed on average ("50", "0.5").
	RequestsPerSecond resource.Quantity `json:"requestsPerSecond"`
	// Burst of requests allowed at once.
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
	// Image of the runner; defaults to the manager's --runner-image.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`
	// ImagePullPolicy of the runner container.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +kubebuilder:default=IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// Resources of the runner container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// ActiveDeadlineSeconds bounds one run; the Pod is killed past it.
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=1
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// SuccessfulJobsHistoryLimit of the CronJob.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`
	// FailedJobsHistoryLimit of the CronJob.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`
	// Pod overrides merged into the runner Pod.
	// +optional
	Pod *PodOverrides `json:"pod,omitempty"`
}

// SyncJobSpec declares one scheduled, checkpointed sync.
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
	// Suspend stops scheduled runs; requested runs still happen.
	// +kubebuilder:default=false
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
	// StartingDeadlineSeconds: a scheduled run that could not start within this many
	// seconds is skipped.
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
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(n, n.to == m.to))",message="spec.mapping targets (to) must be unique"
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
	// PageSize is how many records are read, mapped and written at a time.
	// +kubebuilder:default=500
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
}

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
	// WindowStart and WindowEnd bound the source updatedAt compared.
	// +optional
	WindowStart string `json:"windowStart,omitempty"`
	// +optional
	WindowEnd string `json:"windowEnd,omitempty"`
	// SourceCount is the number of source records in the window.
	SourceCount int64 `json:"sourceCount"`
	// SinkCount is the number of sink records in the window.
	SinkCount int64 `json:"sinkCount"`
	// Sampled records compared field by field.
	// +optional
	Sampled int64 `json:"sampled,omitempty"`
	// Mismatched sampled records, with a few of their ids.
	// +optional
	Mismatched int64 `json:"mismatched,omitempty"`
	// +optional
	// +listType=atomic
	MismatchedIDs []string `json:"mismatchedIds,omitempty"`
	// Drift is true when counts or sampled fields differ.
	Drift bool `json:"drift"`
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
	// Read records from the source.
	Read int64 `json:"read"`
	// Upserted records written to the sink.
	Upserted int64 `json:"upserted"`
	// Unchanged records the sink already held as they are.
	Unchanged int64 `json:"unchanged"`
	// Skipped records the sink held in a newer version (stale writes refused).
	Skipped int64 `json:"skipped"`
	// Failed records (record errors).
	Failed int64 `json:"failed"`
	// Deleted or soft-deleted records.
	// +optional
	Deleted int64 `json:"deleted,omitempty"`
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

// SyncJobStatus is written by two owners with server-side apply: the controller
// (observedGeneration, conditions, object names, handled requests) and the runner (cursor,
// lastRun, lastSuccessfulRunTime, history).
type SyncJobStatus struct {
	// ObservedGeneration is the generation the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled (kstatus).
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
	// LastHandledRunRequest is the last run-requested-at token acted on.
	// +optional
	LastHandledRunRequest string `json:"lastHandledRunRequest,omitempty"`
	// LastHandledResetRequest is the last reset-requested-at token acted on.
	// +optional
	LastHandledResetRequest string `json:"lastHandledResetRequest,omitempty"`
	// LastHandledBackfillRequest is the last backfill-requested-at token acted on.
	// +optional
	LastHandledBackfillRequest string `json:"lastHandledBackfillRequest,omitempty"`
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
// +kubebuilder:printcolumn:name="Last Success",type=date,JSONPath=`.status.lastSuccessfulRunTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 52",message="metadata.name must be at most 52 characters (the CronJob name limit)"
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
