package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretKeyRef names one key of a Secret in the SyncJob's own namespace. Credentials are only ever given this way, never inline.
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
	// Name of the source system (for example "billing"). It prefixes the default external key, "<name>:<record id>". Defaults to the source kind.
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
	// UpdatedAtColumn is the cursor's time column: timestamptz, or timestamp with TimeZone set. Defaults to updated_at.
	// +kubebuilder:default=updated_at
	// +kubebuilder:validation:MaxLength=63
	// +optional
	UpdatedAtColumn string `json:"updatedAtColumn,omitempty"`
	// IDColumn is the cursor's tie-breaker: a unique column compared in its native order. Defaults to id.
	// +kubebuilder:default=id
	// +kubebuilder:validation:MaxLength=63
	// +optional
	IDColumn string `json:"idColumn,omitempty"`
	// TimeZone (IANA) in which the table's timestamp-without-time-zone columns are written (the cursor column and every other one the source reads). Required when the table has such a column, refused otherwise; never guessed. A wall time that does not exist in the zone (a DST gap) makes its record fail.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// PostgresSink upserts into a table with INSERT ... ON CONFLICT on the key column. The table needs a unique index on the key column and a timestamptz column for the source's updatedAt.
type PostgresSink struct {
	// DSN is the libpq connection string or URL, from a Secret.
	DSN SecretKeyRef `json:"dsn"`
	// Table to write, optionally schema-qualified.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Table string `json:"table"`
	// SourceUpdatedAtColumn stores each record's source updatedAt; an upsert carrying an older updatedAt than the stored one is skipped as stale. Defaults to source_updated_at.
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
	// HashColumn stores each record's content hash in spec.cursor.mode Snapshot (a text column the user creates: ALTER TABLE <table> ADD COLUMN _checkpointed_hash text); unused in Incremental mode. Defaults to _checkpointed_hash.
	// +kubebuilder:default=_checkpointed_hash
	// +kubebuilder:validation:MaxLength=63
	// +optional
	HashColumn string `json:"hashColumn,omitempty"`
	// CopyThreshold is the page size from which a page goes through COPY into a temporary table and one merge statement instead of a multi-row INSERT. Defaults to 1000.
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
	// Header carrying the key for APIKey auth. Defaults to X-API-Key.
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
	// MaxAttempts per request, the first included. Defaults to 6.
	// +kubebuilder:default=6
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxAttempts int32 `json:"maxAttempts,omitempty"`
	// MaxBackoff caps the exponential backoff between attempts (jitter is added). Defaults to 30s.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 30s"
	// +optional
	MaxBackoff *metav1.Duration `json:"maxBackoff,omitempty"`
	// RequestTimeout bounds one request. Defaults to 30s.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 30s"
	// +optional
	RequestTimeout *metav1.Duration `json:"requestTimeout,omitempty"`
	// MaxTotalWait bounds the time one run waits before retries, over every request of the run, source and sink (with its lookups) together: backoff, Retry-After and rate-limit resets; waits at the same time (concurrent requests waiting for the same interval) count once. When both sides are HTTP the smaller of their values applies. When the next wait would pass it the run stops, the cursor at the last confirmed page, with the reason of the last answer (HTTP503, RateLimited, Timeout). Defaults to 10m.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 10m"
	// +optional
	MaxTotalWait *metav1.Duration `json:"maxTotalWait,omitempty"`
}

// HTTPPagination says how to get the next page of a list endpoint.
type HTTPPagination struct {
	// Type of pagination: NextToken (a token in the body, sent back as TokenParam), LinkHeader (a `Link: <...>; rel="next"` header), CursorID (the last record's id sent as the source's afterIdParam), or Offset (discouraged: rows that move between pages are missed or repeated). Defaults to LinkHeader.
	// +kubebuilder:validation:Enum=NextToken;LinkHeader;CursorID;Offset
	// +kubebuilder:default=LinkHeader
	// +optional
	Type string `json:"type,omitempty"`
	// TokenPath is the JSON path (dot separated) of the next-page token in the body. Defaults to next.
	// +kubebuilder:default=next
	// +optional
	TokenPath string `json:"tokenPath,omitempty"`
	// TokenParam is the query parameter that carries the next-page token or offset. Defaults to page_token.
	// +kubebuilder:default=page_token
	// +optional
	TokenParam string `json:"tokenParam,omitempty"`
}

// HTTPSource reads a JSON REST list endpoint incrementally.
type HTTPSource struct {
	// URL of the list endpoint.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHost() != ''",message="spec.source.http.url must be an absolute http:// or https:// URL"
	URL string `json:"url"`
	// Auth for every request.
	// +optional
	Auth *HTTPAuth `json:"auth,omitempty"`
	// Headers added to every request (not for credentials: use auth).
	// +optional
	Headers map[string]string `json:"headers,omitempty"`
	// UpdatedSinceParam is the query parameter carrying the cursor time. Defaults to updated_since.
	// +kubebuilder:default=updated_since
	// +optional
	UpdatedSinceParam string `json:"updatedSinceParam,omitempty"`
	// TimeFormat of the cursor time parameter and of record times. Defaults to RFC3339.
	// +kubebuilder:validation:Enum=RFC3339;UnixSeconds;UnixMillis
	// +kubebuilder:default=RFC3339
	// +optional
	TimeFormat string `json:"timeFormat,omitempty"`
	// AfterIDParam, if the API has one, carries the cursor's tie-breaker id.
	// +optional
	AfterIDParam string `json:"afterIdParam,omitempty"`
	// PageSizeParam carries spec.pageSize. Defaults to limit.
	// +kubebuilder:default=limit
	// +optional
	PageSizeParam string `json:"pageSizeParam,omitempty"`
	// Pagination of the list endpoint.
	// +kubebuilder:default={}
	// +optional
	Pagination HTTPPagination `json:"pagination,omitempty"`
	// RecordsPath is the JSON path of the records array in the body ("" = the body itself). Defaults to data.
	// +kubebuilder:default=data
	// +optional
	RecordsPath string `json:"recordsPath,omitempty"`
	// IDPath is the JSON path of a record's id. Defaults to id.
	// +kubebuilder:default=id
	// +optional
	IDPath string `json:"idPath,omitempty"`
	// UpdatedAtPath is the JSON path of a record's update time. Defaults to updated_at.
	// +kubebuilder:default=updated_at
	// +optional
	UpdatedAtPath string `json:"updatedAtPath,omitempty"`
	// Sorted says the API returns records ascending by (updatedAt, id). When false the cursor only advances at the end of a complete run. Defaults to true.
	// +kubebuilder:default=true
	// +optional
	Sorted *bool `json:"sorted,omitempty"`
	// GetByIDURL is a URL template with "{id}" that returns one record; it lets failed records be retried first on the next run.
	// +optional
	GetByIDURL string `json:"getByIdUrl,omitempty"`
	// GetByIDsURL is a URL template with "{ids}" that returns several records at once, for APIs with a batch read such as `/invoices?ids=1,2,3`: "{ids}" is replaced by up to getByIdsMax ids joined with commas (each escaped), and the answer lists the records at recordsPath like a list page, in any order. An id absent from the answer is a record the API no longer has (like a 404 of getByIdUrl); a record not asked for fails the fetch (the API did not filter by the ids). When set it is used instead of getByIdUrl to retry failed records and for the drift check's sample.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{ids}')",message="spec.source.http.getByIdsUrl must hold {ids}"
	// +optional
	GetByIDsURL string `json:"getByIdsUrl,omitempty"`
	// GetByIDsMax is the most ids one getByIdsUrl request carries (the API's own limit). Defaults to 100.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	GetByIDsMax *int32 `json:"getByIdsMax,omitempty"`
	// DeletedURL is a URL template with "{since}" (the cursor time, in TimeFormat) listing the records deleted since then (tombstones: an id and a deletion time), paged like the list endpoint, records at RecordsPath, ids at IDPath. Each run reads it from its start cursor and deletes the listed records per spec.deletes.mode (within the delete valve).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{since}')",message="spec.source.http.deletedUrl must hold {since}"
	// +optional
	DeletedURL string `json:"deletedUrl,omitempty"`
	// IDsURL is a URL template with "{after}" listing the ids of every record after that id (after="" from the first), ascending in byte order, as a JSON array of strings (or integers); an empty array ends the listing. Full key reconciliation (spec.deletes.fullReconcile) reads it.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{after}')",message="spec.source.http.idsUrl must hold {after}"
	// +optional
	IDsURL string `json:"idsUrl,omitempty"`
	// DeletedAtPath is the JSON path of a tombstone's deletion time. Defaults to deleted_at.
	// +kubebuilder:default=deleted_at
	// +optional
	DeletedAtPath string `json:"deletedAtPath,omitempty"`
	// Retry policy for 429, 5xx and network errors.
	// +kubebuilder:default={}
	// +optional
	Retry HTTPRetry `json:"retry,omitempty"`
}

// HTTPSink upserts records through a JSON REST API by the external key.
// +kubebuilder:validation:XValidation:rule="self.mode != 'Upsert' || self.url.contains('{key}')",message="spec.sink.http.url must hold {key} in Upsert mode (the URL of one record by its external key)",fieldPath=".url"
type HTTPSink struct {
	// Mode of upsert: Upsert (PUT or PATCH to URL, a template holding "{key}", as with Salesforce's upsert by external ID), Batch (POST a batch to URL, per-record results in the response, as with HubSpot's batch upsert), or LookupThenWrite (search SearchURL by the key, then POST to URL or PATCH UpdateURL).
	// +kubebuilder:validation:Enum=Upsert;Batch;LookupThenWrite
	Mode string `json:"mode"`
	// URL is the upsert template, the batch endpoint, or the collection to create in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/?#]+')",message="spec.sink.http.url must be an absolute http:// or https:// URL"
	URL string `json:"url"`
	// Method for Upsert mode. Defaults to PUT.
	// +kubebuilder:validation:Enum=PUT;PATCH
	// +kubebuilder:default=PUT
	// +optional
	Method string `json:"method,omitempty"`
	// SearchURL is a template with "{key}" that lists the objects holding that key (LookupThenWrite).
	// +optional
	SearchURL string `json:"searchUrl,omitempty"`
	// KeysURL is a URL template with "{after}" listing the external keys of every object after that key (after="" from the first), ascending in byte order, as a JSON array of strings; an empty array ends the listing. Full key reconciliation (spec.deletes.fullReconcile) and the delete valve read it.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{after}')",message="spec.sink.http.keysUrl must hold {after}"
	// +optional
	KeysURL string `json:"keysUrl,omitempty"`
	// UpdateURL is a template with "{id}" of the object to PATCH (LookupThenWrite).
	// +optional
	UpdateURL string `json:"updateUrl,omitempty"`
	// SourceUpdatedAtField is the object field that stores the source updatedAt, used to refuse stale writes where the API allows it. Defaults to source_updated_at.
	// +kubebuilder:default=source_updated_at
	// +optional
	SourceUpdatedAtField string `json:"sourceUpdatedAtField,omitempty"`
	// Auth for every request.
	// +optional
	Auth *HTTPAuth `json:"auth,omitempty"`
	// Headers added to every request (not for credentials: use auth).
	// +optional
	Headers map[string]string `json:"headers,omitempty"`
	// BatchSize bounds the records per batch request (Batch mode). Defaults to 100.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	BatchSize int32 `json:"batchSize,omitempty"`
	// Retry policy for 429, 5xx and network errors.
	// +kubebuilder:default={}
	// +optional
	Retry HTTPRetry `json:"retry,omitempty"`
	// CountURL, for the drift check, is a template holding "{from}" and "{to}" (RFC 3339 times, escaped) whose answer, {"count": n} or a number, is how many objects hold a source updatedAt in [from, to], soft-deleted objects left out under SoftDelete. Without it the drift check compares no counts for this sink, only its sample.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{from}') && self.contains('{to}')",message="spec.sink.http.countUrl must hold {from} and {to}"
	// +optional
	CountURL string `json:"countUrl,omitempty"`
	// StaleWhen declares how the API says a write is stale (it holds a newer source version): such a record is skipped, not failed. Without it, and for any 409 or 412 that does not match, the record fails with the API's status and message.
	// +optional
	StaleWhen *HTTPStaleWhen `json:"staleWhen,omitempty"`
}

// HTTPStaleWhen matches the API's answer to a stale write: one of Status, with a body (for Batch mode, the record's error entry: its code or message) containing BodyContains.
type HTTPStaleWhen struct {
	// Status codes the API answers a stale write with.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:Enum=409;412
	// +listType=set
	Status []int32 `json:"status"`
	// BodyContains is the text (case-sensitive) the answer must contain, for example "stale write refused" or a code such as "VERSION_CONFLICT".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	BodyContains string `json:"bodyContains"`
}
