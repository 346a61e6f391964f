package v1alpha1

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Default fills in the defaults that the CRD schema applies at admission, for SyncJobs
// that never pass through an apiserver (the runner's local mode). The controller never
// calls it: it never writes the spec. A test checks that it agrees with the schema.
func (sj *SyncJob) Default() {
	s := &sj.Spec
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	defDur := func(p **metav1.Duration, d time.Duration) {
		if *p == nil {
			*p = &metav1.Duration{Duration: d}
		}
	}
	defRetry := func(r *HTTPRetry) {
		if r.MaxAttempts == 0 {
			r.MaxAttempts = 6
		}
		defDur(&r.MaxBackoff, 30*time.Second)
		defDur(&r.RequestTimeout, 30*time.Second)
		defDur(&r.MaxTotalWait, 10*time.Minute)
	}
	defAuth := func(a *HTTPAuth) {
		if a != nil {
			def(&a.Header, "X-API-Key")
		}
	}
	if s.Suspend == nil {
		s.Suspend = ptr.To(false)
	}
	if p := s.Source.Postgres; p != nil {
		def(&p.UpdatedAtColumn, "updated_at")
		def(&p.IDColumn, "id")
	}
	if h := s.Source.HTTP; h != nil {
		defAuth(h.Auth)
		def(&h.UpdatedSinceParam, "updated_since")
		def(&h.TimeFormat, "RFC3339")
		def(&h.PageSizeParam, "limit")
		def(&h.Pagination.Type, "LinkHeader")
		def(&h.Pagination.TokenPath, "next")
		def(&h.Pagination.TokenParam, "page_token")
		def(&h.RecordsPath, "data")
		def(&h.IDPath, "id")
		def(&h.UpdatedAtPath, "updated_at")
		def(&h.DeletedAtPath, "deleted_at")
		if h.GetByIDsMax == nil {
			h.GetByIDsMax = ptr.To[int32](100)
		}
		if h.Sorted == nil {
			h.Sorted = ptr.To(true)
		}
		defRetry(&h.Retry)
	}
	if p := s.Sink.Postgres; p != nil {
		def(&p.SourceUpdatedAtColumn, "source_updated_at")
		def(&p.HashColumn, "_checkpointed_hash")
		if p.CopyThreshold == 0 {
			p.CopyThreshold = 1000
		}
	}
	if h := s.Sink.HTTP; h != nil {
		defAuth(h.Auth)
		def(&h.Method, "PUT")
		def(&h.SourceUpdatedAtField, "source_updated_at")
		if h.BatchSize == 0 {
			h.BatchSize = 100
		}
		defRetry(&h.Retry)
	}
	for i := range s.Mapping {
		if s.Mapping[i].Type == "" {
			s.Mapping[i].Type = FieldString
		}
		if l := s.Mapping[i].Lookup; l != nil {
			def(&l.ResultsPath, "results")
			def(&l.IDPath, "id")
		}
	}
	defDur(&s.Cursor.SafetyGap, 5*time.Minute)
	def(&s.Cursor.Mode, CursorIncremental)
	defDur(&s.Checkpoint.Interval, 10*time.Second)
	def(&s.Errors.Policy, "Skip")
	if s.Errors.MaxErrors == nil {
		s.Errors.MaxErrors = ptr.To[int32](100)
	}
	def(&s.Deletes.Mode, "Ignore")
	def(&s.Deletes.SinkField, "deleted_at")
	if s.Deletes.MaxFractionPercent == nil {
		s.Deletes.MaxFractionPercent = ptr.To[int32](5)
	}
	defDur(&s.Reconcile.Window, 24*time.Hour)
	if s.Reconcile.Sample == nil {
		s.Reconcile.Sample = ptr.To[int32](20)
	}
	// PageSize stays unset: the runner chooses it page by page (an adaptive size).
	def(&s.OnMappingChange, OnMappingChangeIgnore)
	if s.RateLimit != nil && s.RateLimit.Burst == 0 {
		s.RateLimit.Burst = 1
	}
	if s.Runner.ImagePullPolicy == "" {
		s.Runner.ImagePullPolicy = "IfNotPresent"
	}
	if s.Runner.ActiveDeadlineSeconds == nil {
		s.Runner.ActiveDeadlineSeconds = ptr.To[int64](3600)
	}
	if s.Runner.SuccessfulJobsHistoryLimit == nil {
		s.Runner.SuccessfulJobsHistoryLimit = ptr.To[int32](3)
	}
	if s.Runner.FailedJobsHistoryLimit == nil {
		s.Runner.FailedJobsHistoryLimit = ptr.To[int32](3)
	}
}

var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// Validate checks, for SyncJobs that never pass admission (local mode), the rules the CRD
// enforces with CEL, with the same field-naming messages. Call it after Default.
func (sj *SyncJob) Validate() error {
	s := &sj.Spec
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(sj.Name) > 52 {
		bad("metadata.name must be at most 52 characters (the CronJob name limit)")
	}
	if s.Schedule == "" {
		bad("spec.schedule is required")
	}
	if (s.Source.Postgres == nil) == (s.Source.HTTP == nil) {
		bad("spec.source must set exactly one of postgres or http")
	}
	if (s.Sink.Postgres == nil) == (s.Sink.HTTP == nil) {
		bad("spec.sink must set exactly one of postgres or http")
	}
	if s.Key.Field == "" {
		bad("spec.key.field is required")
	}
	if len(s.Mapping) == 0 {
		bad("spec.mapping needs at least one entry")
	}
	seen := map[string]bool{}
	for i, m := range s.Mapping {
		if (m.From == "") == (m.Expr == "") {
			bad("spec.mapping[%d] entry must set exactly one of from or expr", i)
		}
		if seen[m.To] {
			bad("spec.mapping targets (to) must be unique: %q appears twice", m.To)
		}
		seen[m.To] = true
		if m.Lookup != nil && !strings.Contains(m.Lookup.URL, "{value}") {
			bad("spec.mapping[].lookup.url must hold {value}")
		}
	}
	if d := s.Cursor.SafetyGap; d != nil && d.Duration <= 0 {
		bad("spec.cursor.safetyGap must be a positive duration such as 5m")
	}
	if d := s.Checkpoint.Interval; d != nil && d.Duration < 0 {
		bad("spec.checkpoint.interval must be a duration >= 0 such as 10s")
	}
	if d := s.Reconcile.Window; d != nil && d.Duration <= 0 {
		bad("spec.reconcile.window must be a positive duration such as 24h")
	}
	if s.Cursor.StartAt != "" {
		if _, err := time.Parse(time.RFC3339Nano, s.Cursor.StartAt); err != nil || !rfc3339.MatchString(s.Cursor.StartAt) {
			bad("spec.cursor.startAt must be an RFC3339 time such as 2026-01-01T00:00:00Z")
		}
	}
	switch s.Cursor.Mode {
	case "", CursorIncremental:
	case CursorSnapshot:
		if s.Source.Postgres == nil || s.Sink.Postgres == nil {
			bad("spec.cursor.mode Snapshot needs a postgres source and a postgres sink (an HTTP source cannot be scanned by id, an HTTP sink cannot store content hashes)")
		}
	default:
		bad("spec.cursor.mode must be Incremental or Snapshot, not %q", s.Cursor.Mode)
	}
	if m := s.Errors.MaxErrors; m != nil && *m < 0 {
		bad("spec.errors.maxErrors must be >= 0")
	}
	if d := s.Deletes; d.Mode != "" && d.Mode != "Ignore" && d.SourceField == "" && d.FullReconcile == nil &&
		s.Cursor.Mode != CursorSnapshot && (s.Source.HTTP == nil || s.Source.HTTP.DeletedURL == "") {
		bad("spec.deletes.mode SoftDelete or Delete needs a way to detect deletes: spec.deletes.sourceField, spec.deletes.fullReconcile, spec.cursor.mode Snapshot or spec.source.http.deletedUrl")
	}
	if f := s.Deletes.FullReconcile; f != nil && f.EveryRuns < 1 {
		bad("spec.deletes.fullReconcile.everyRuns must be >= 1")
	}
	if p := s.Deletes.MaxFractionPercent; p != nil && (*p < 0 || *p > 100) {
		bad("spec.deletes.maxFractionPercent must be in [0, 100]")
	}
	if h := s.Source.HTTP; h != nil && h.DeletedURL != "" && !strings.Contains(h.DeletedURL, "{since}") {
		bad("spec.source.http.deletedUrl must hold {since}")
	}
	if h := s.Source.HTTP; h != nil && h.IDsURL != "" && !strings.Contains(h.IDsURL, "{after}") {
		bad("spec.source.http.idsUrl must hold {after}")
	}
	if h := s.Source.HTTP; h != nil && h.GetByIDsURL != "" && !strings.Contains(h.GetByIDsURL, "{ids}") {
		bad("spec.source.http.getByIdsUrl must hold {ids}")
	}
	if h := s.Source.HTTP; h != nil && h.GetByIDsMax != nil && (*h.GetByIDsMax < 1 || *h.GetByIDsMax > 1000) {
		bad("spec.source.http.getByIdsMax must be in [1, 1000]")
	}
	if h := s.Sink.HTTP; h != nil && h.KeysURL != "" && !strings.Contains(h.KeysURL, "{after}") {
		bad("spec.sink.http.keysUrl must hold {after}")
	}
	if p := s.Errors.Policy; p != "" && p != "Skip" && p != "Halt" {
		bad("spec.errors.policy must be Skip or Halt, not %q", p)
	}
	if p := s.OnMappingChange; p != "" && p != OnMappingChangeIgnore && p != OnMappingChangeBackfill {
		bad("spec.onMappingChange must be Ignore or Backfill, not %q", p)
	}
	return errors.Join(errs...)
}
