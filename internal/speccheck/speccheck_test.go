package speccheck

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// valid is a defaulted SyncJob from an HTTP source to an HTTP sink that passes every check.
func valid() *syncv1.SyncJob {
	sj := &syncv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "billing", Name: "invoices"},
		Spec: syncv1.SyncJobSpec{
			Schedule: "0 2 * * *",
			Source:   syncv1.SourceSpec{Name: "billing", HTTP: &syncv1.HTTPSource{URL: "https://billing.example/v1/invoices", GetByIDURL: "https://billing.example/v1/invoices/{id}"}},
			Sink:     syncv1.SinkSpec{HTTP: &syncv1.HTTPSink{Mode: "Upsert", URL: "https://crm.example/objects/invoices/external_id/{key}"}},
			Key:      syncv1.KeySpec{Field: "billing_invoice_id", Expr: `"inv-" + string(record.id)`},
			Mapping: []syncv1.FieldMapping{
				{To: "status", From: "status"},
				{To: "total_cents", Expr: `int(decimal(record.total) * 100)`},
				{To: "owner", From: "owner_email", Lookup: &syncv1.MappingLookup{URL: "https://crm.example/users?email={value}"}},
			},
			Cursor:    syncv1.CursorSpec{StartAt: "2026-01-01T00:00:00Z"},
			RateLimit: &syncv1.RateLimitSpec{RequestsPerSecond: resource.MustParse("0.5")},
		},
	}
	sj.Default()
	return sj
}

// TestCheck: each spec mistake that would only fail at the first run is found, with the
// field and what is wrong named; a valid spec passes.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*syncv1.SyncJob)
		want   []string // empty: valid
	}{
		{"valid", func(*syncv1.SyncJob) {}, nil},
		{"key expr syntax error", func(sj *syncv1.SyncJob) { sj.Spec.Key.Expr = `record.` },
			[]string{"spec.key.expr", `"record."`, "does not compile", "Syntax error"}},
		{"mapping expr unknown function", func(sj *syncv1.SyncJob) { sj.Spec.Mapping[1].Expr = `cents(record.total)` },
			[]string{"spec.mapping[1].expr", `(to "total_cents")`, "undeclared reference to 'cents'"}},
		{"duplicate mapping target named", func(sj *syncv1.SyncJob) {
			sj.Spec.Mapping = append(sj.Spec.Mapping, syncv1.FieldMapping{To: "status", Expr: "record.state"})
		}, []string{`spec.mapping[3].to "status" is also the target of spec.mapping[0]`}},
		{"malformed source URL", func(sj *syncv1.SyncJob) { sj.Spec.Source.HTTP.URL = "billing.example/v1/invoices" },
			[]string{"spec.source.http.url", "absolute http:// or https:// URL"}},
		{"URL with a bad escape", func(sj *syncv1.SyncJob) { sj.Spec.Source.HTTP.URL = "https://billing.example/%zz" },
			[]string{"spec.source.http.url", "not a valid URL"}},
		{"URL without a host", func(sj *syncv1.SyncJob) { sj.Spec.Source.HTTP.URL = "https:///v1/invoices" },
			[]string{"spec.source.http.url", "has no host"}},
		{"upsert URL template without {key}", func(sj *syncv1.SyncJob) { sj.Spec.Sink.HTTP.URL = "https://crm.example/objects/invoices" },
			[]string{"spec.sink.http.url", "must hold {key}"}},
		{"getByIdUrl without {id}", func(sj *syncv1.SyncJob) { sj.Spec.Source.HTTP.GetByIDURL = "https://billing.example/v1/invoices" },
			[]string{"spec.source.http.getByIdUrl", "must hold {id}"}},
		{"getByIdsUrl without {ids}", func(sj *syncv1.SyncJob) { sj.Spec.Source.HTTP.GetByIDsURL = "https://billing.example/v1/invoices?ids=" },
			[]string{"spec.source.http.getByIdsUrl", "must hold {ids}"}},
		{"getByIdsUrl not absolute", func(sj *syncv1.SyncJob) { sj.Spec.Source.HTTP.GetByIDsURL = "/v1/invoices?ids={ids}" },
			[]string{"spec.source.http.getByIdsUrl", "absolute"}},
		{"search URL without {key}", func(sj *syncv1.SyncJob) {
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "LookupThenWrite", URL: "https://crm.example/invoices", SearchURL: "https://crm.example/search"}
		}, []string{"spec.sink.http.searchUrl", "must hold {key}"}},
		{"batch URL needs no {key}", func(sj *syncv1.SyncJob) {
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "Batch", URL: "https://crm.example/batch/upsert"}
		}, nil},
		{"lookup URL not absolute", func(sj *syncv1.SyncJob) { sj.Spec.Mapping[2].Lookup.URL = "/users?email={value}" },
			[]string{"spec.mapping[2].lookup.url", "absolute"}},
		{"startAt month 13", func(sj *syncv1.SyncJob) { sj.Spec.Cursor.StartAt = "2026-13-01T00:00:00Z" },
			[]string{"spec.cursor.startAt", `"2026-13-01T00:00:00Z"`, "month out of range"}},
		{"requestsPerSecond zero", func(sj *syncv1.SyncJob) { sj.Spec.RateLimit.RequestsPerSecond = resource.MustParse("0") },
			[]string{"spec.rateLimit.requestsPerSecond", `"0"`, "must be positive"}},
		{"requestsPerSecond negative", func(sj *syncv1.SyncJob) { sj.Spec.RateLimit.RequestsPerSecond = resource.MustParse("-1") },
			[]string{"spec.rateLimit.requestsPerSecond", "must be positive"}},
		{"every mistake at once", func(sj *syncv1.SyncJob) {
			sj.Spec.Key.Expr = "("
			sj.Spec.Cursor.StartAt = "2026-02-30T00:00:00Z"
		}, []string{"spec.key.expr", "spec.cursor.startAt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := valid()
			tc.mutate(sj)
			err := Check(sj)
			if len(tc.want) == 0 {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}
