package controllers

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestAdmissionRejectsInvalidSpecs checks each CEL rule of the CRD against the real
// apiserver: the object is refused and the message names the field.
func TestAdmissionRejectsInvalidSpecs(t *testing.T) {
	ns := newNamespace(t)
	for _, tc := range []struct {
		name   string
		mutate func(*syncv1.SyncJob)
		want   []string
	}{
		{"no source kind", func(sj *syncv1.SyncJob) { sj.Spec.Source.Postgres = nil },
			[]string{"spec.source", "exactly one of postgres or http"}},
		{"two source kinds", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "http://billing.example/invoices"}
		}, []string{"spec.source", "exactly one of postgres or http"}},
		{"no sink kind", func(sj *syncv1.SyncJob) { sj.Spec.Sink.Postgres = nil },
			[]string{"spec.sink", "exactly one of postgres or http"}},
		{"two sink kinds", func(sj *syncv1.SyncJob) {
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "Upsert", URL: "http://crm.example/invoices/{key}"}
		}, []string{"spec.sink", "exactly one of postgres or http"}},
		{"zero safety gap", func(sj *syncv1.SyncJob) { sj.Spec.Cursor.SafetyGap = &metav1.Duration{} },
			[]string{"spec.cursor.safetyGap", "positive duration"}},
		{"negative checkpoint interval", func(sj *syncv1.SyncJob) { sj.Spec.Checkpoint.Interval = &metav1.Duration{Duration: -1e9} },
			[]string{"spec.checkpoint.interval", "duration >= 0"}},
		{"zero reconcile window", func(sj *syncv1.SyncJob) { sj.Spec.Reconcile.Window = &metav1.Duration{} },
			[]string{"spec.reconcile.window", "positive duration"}},
		{"count URL without {to}", func(sj *syncv1.SyncJob) {
			sj.Spec.Sink.Postgres = nil
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "Upsert", URL: "http://crm.example/invoices/{key}", CountURL: "http://crm.example/count?from={from}"}
		}, []string{"spec.sink.http.countUrl", "{from} and {to}"}},
		{"negative retry backoff", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.Postgres = nil
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "http://billing.example/invoices",
				Retry: syncv1.HTTPRetry{MaxBackoff: &metav1.Duration{Duration: -1e9}}}
		}, []string{"spec.source.http.retry.maxBackoff", "positive duration"}},
		{"duplicate mapping targets", func(sj *syncv1.SyncJob) {
			sj.Spec.Mapping = append(sj.Spec.Mapping, syncv1.FieldMapping{To: "status", Expr: "record.status"})
		}, []string{"spec.mapping", "targets (to) must be unique", `duplicate target "status"`}},
		{"mapping with from and expr", func(sj *syncv1.SyncJob) { sj.Spec.Mapping[0].Expr = "record.status" },
			[]string{"spec.mapping[0]", "exactly one of from or expr"}},
		{"mapping with neither from nor expr", func(sj *syncv1.SyncJob) { sj.Spec.Mapping[1].From = "" },
			[]string{"spec.mapping[1]", "exactly one of from or expr"}},
		{"malformed startAt", func(sj *syncv1.SyncJob) { sj.Spec.Cursor.StartAt = "2026-13-01 00:00" },
			[]string{"spec.cursor.startAt", "RFC3339"}},
		{"negative maxErrors", func(sj *syncv1.SyncJob) { sj.Spec.Errors.MaxErrors = ptr.To[int32](-1) },
			[]string{"spec.errors.maxErrors", ">= 0"}},
		{"name too long", func(sj *syncv1.SyncJob) { sj.Name = strings.Repeat("a", 53) },
			[]string{"metadata.name", "at most 52 characters"}},
		{"key field missing", func(sj *syncv1.SyncJob) { sj.Spec.Key.Field = "" },
			[]string{"spec.key.field"}},
		{"inline credentials are impossible: dsn needs a secret name", func(sj *syncv1.SyncJob) { sj.Spec.Source.Postgres.DSN.Name = "" },
			[]string{"spec.source.postgres.dsn.name"}},
		{"unknown error policy", func(sj *syncv1.SyncJob) { sj.Spec.Errors.Policy = "Ignore" },
			[]string{"spec.errors.policy", "Skip", "Halt"}},
		{"startAt month 13", func(sj *syncv1.SyncJob) { sj.Spec.Cursor.StartAt = "2026-13-01T00:00:00Z" },
			[]string{"spec.cursor.startAt", "out of range"}},
		{"startAt hour 24", func(sj *syncv1.SyncJob) { sj.Spec.Cursor.StartAt = "2026-01-01T24:00:00Z" },
			[]string{"spec.cursor.startAt", "out of range"}},
		{"zero requestsPerSecond", func(sj *syncv1.SyncJob) {
			sj.Spec.RateLimit = &syncv1.RateLimitSpec{RequestsPerSecond: resource.MustParse("0"), Burst: 1}
		}, []string{"spec.rateLimit.requestsPerSecond", "positive quantity"}},
		{"negative requestsPerSecond", func(sj *syncv1.SyncJob) {
			sj.Spec.RateLimit = &syncv1.RateLimitSpec{RequestsPerSecond: resource.MustParse("-2"), Burst: 1}
		}, []string{"spec.rateLimit.requestsPerSecond", "positive quantity"}},
		{"source URL not absolute", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.Postgres = nil
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "billing.example/invoices"}
		}, []string{"spec.source.http.url", "absolute http:// or https:// URL"}},
		{"source URL with another scheme", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.Postgres = nil
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "ftp://billing.example/invoices"}
		}, []string{"spec.source.http.url", "absolute http:// or https:// URL"}},
		{"sink URL not absolute", func(sj *syncv1.SyncJob) {
			sj.Spec.Sink.Postgres = nil
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "Batch", URL: "/batch/upsert"}
		}, []string{"spec.sink.http.url", "absolute http:// or https:// URL"}},
		{"upsert URL template without {key}", func(sj *syncv1.SyncJob) {
			sj.Spec.Sink.Postgres = nil
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "Upsert", URL: "http://crm.example/invoices"}
		}, []string{"spec.sink.http.url", "must hold {key} in Upsert mode"}},
		{"snapshot mode with an HTTP source", func(sj *syncv1.SyncJob) {
			sj.Spec.Cursor.Mode = syncv1.CursorSnapshot
			sj.Spec.Source.Postgres = nil
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "http://billing.example/invoices"}
		}, []string{"spec.cursor.mode Snapshot", "postgres source and a postgres sink"}},
		{"snapshot mode with an HTTP sink", func(sj *syncv1.SyncJob) {
			sj.Spec.Cursor.Mode = syncv1.CursorSnapshot
			sj.Spec.Sink.Postgres = nil
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "Upsert", URL: "http://crm.example/invoices/{key}"}
		}, []string{"spec.cursor.mode Snapshot", "postgres source and a postgres sink"}},
		{"unknown cursor mode", func(sj *syncv1.SyncJob) { sj.Spec.Cursor.Mode = "Full" },
			[]string{"spec.cursor.mode", "Incremental", "Snapshot"}},
		{"zero rate limit burst", func(sj *syncv1.SyncJob) {
			sj.Spec.RateLimit = &syncv1.RateLimitSpec{RequestsPerSecond: resource.MustParse("5"), Burst: -1}
		}, []string{"spec.rateLimit.burst"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := sampleSyncJob(ns, "valid")
			tc.mutate(sj)
			err := k8sClient.Create(context.Background(), sj)
			g.Expect(err).To(HaveOccurred(), "the apiserver accepted an invalid SyncJob")
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
			// The apiserver's own note after a schema error (enum, required, maxLength) names
			// no field; every message of ours does.
			const apiserverNote = "<nil>: Invalid value: null: some validation rules were not checked"
			g.Expect(strings.ReplaceAll(err.Error(), apiserverNote, "")).NotTo(ContainSubstring("<nil>"), "a message names no field")
		})
	}

	t.Run("a valid SyncJob is accepted and defaulted by the schema", func(t *testing.T) {
		g := NewWithT(t)
		sj := sampleSyncJob(ns, "defaults")
		g.Expect(k8sClient.Create(context.Background(), sj)).To(Succeed())
		g.Expect(sj.Spec.Cursor.SafetyGap.Duration.String()).To(Equal("5m0s"))
		g.Expect(sj.Spec.Checkpoint.Interval.Duration.String()).To(Equal("10s"))
		g.Expect(sj.Spec.Errors.Policy).To(Equal("Skip"))
		g.Expect(sj.Spec.Errors.MaxErrors).To(HaveValue(Equal(int32(100))))
		g.Expect(sj.Spec.PageSize).To(BeZero(), "pageSize stays unset: the runner adapts it (no schema default)")
		g.Expect(sj.Spec.Source.Postgres.UpdatedAtColumn).To(Equal("updated_at"))
		g.Expect(sj.Spec.Sink.Postgres.SourceUpdatedAtColumn).To(Equal("source_updated_at"))
		g.Expect(sj.Spec.Mapping[0].Type).To(Equal(syncv1.FieldString))
		g.Expect(sj.Spec.Deletes.Mode).To(Equal("Ignore"))
		g.Expect(*sj.Spec.Suspend).To(BeFalse())
		g.Expect(*sj.Spec.Runner.ActiveDeadlineSeconds).To(Equal(int64(3600)))
	})
}
