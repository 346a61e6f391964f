package jobconfig

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// httpJob is an HTTP to HTTP SyncJob that sets only what the CRD requires (and a rate
// limit without burst), before defaulting.
func httpJob() *syncv1.SyncJob {
	return &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Name: "invoices"}, Spec: syncv1.SyncJobSpec{
		Source: syncv1.SourceSpec{HTTP: &syncv1.HTTPSource{URL: "https://billing.example/v1/invoices",
			Auth: &syncv1.HTTPAuth{Type: "Bearer", Secret: syncv1.SecretKeyRef{Name: "billing-api", Key: "token"}}}},
		Sink: syncv1.SinkSpec{HTTP: &syncv1.HTTPSink{Mode: "Upsert", URL: "https://crm.example/invoices/{key}",
			Auth: &syncv1.HTTPAuth{Type: "APIKey", Secret: syncv1.SecretKeyRef{Name: "crm-api", Key: "key"}}}},
		Key: syncv1.KeySpec{Field: "billing_invoice_id"},
		Mapping: []syncv1.FieldMapping{
			{To: "total", From: "total", Type: syncv1.FieldDecimal},
			{To: "account_id", From: "customer_id", Lookup: &syncv1.MappingLookup{URL: "https://crm.example/accounts?c={value}"}},
		},
		RateLimit: &syncv1.RateLimitSpec{RequestsPerSecond: resource.MustParse("0.5")},
	}}
}

// TestHTTPConfigsFromADefaultedJob: a defaulted SyncJob translates field for field into
// valid connector configs: the API's defaults reach the connectors through the SyncJob
// only.
func TestHTTPConfigsFromADefaultedJob(t *testing.T) {
	g := NewWithT(t)
	sj := httpJob()
	sj.Default()
	s := &sj.Spec

	src := httpSourceConfig(s.Source.HTTP)
	g.Expect(src).To(Equal(httpapi.SourceConfig{
		URL:               "https://billing.example/v1/invoices",
		UpdatedSinceParam: "updated_since",
		TimeFormat:        httpapi.TimeRFC3339,
		PageSizeParam:     "limit",
		Pagination:        httpapi.Pagination{Type: httpapi.PageLinkHeader, TokenPath: "next", TokenParam: "page_token"},
		RecordsPath:       "data",
		IDPath:            "id",
		UpdatedAtPath:     "updated_at",
		Sorted:            ptr.To(true),
		GetByIDsMax:       100,
	}))
	g.Expect(src.Validate()).To(Succeed())

	mspec := mappingSpec(s)
	mspec.Fields = mspec.Fields[:1] // without the lookup, which needs a resolver
	m, err := mapping.New(mspec)
	g.Expect(err).NotTo(HaveOccurred())
	sink := httpSinkConfig(s.Sink.HTTP, m, s.Deletes)
	g.Expect(sink).To(Equal(httpapi.SinkConfig{
		Mode:                 httpapi.ModeUpsert,
		URL:                  "https://crm.example/invoices/{key}",
		Method:               "PUT",
		SourceUpdatedAtField: "source_updated_at",
		BatchSize:            100,
		KeyField:             "billing_invoice_id",
		Fields:               []string{"total"},
		DeleteMode:           httpapi.DeleteIgnore,
		DeleteField:          "deleted_at",
	}))
	g.Expect(sink.Validate()).To(Succeed())

	for _, r := range []syncv1.HTTPRetry{s.Source.HTTP.Retry, s.Sink.HTTP.Retry} {
		p := httpRetry(r)
		g.Expect(p).To(Equal(transport.RetryPolicy{MaxAttempts: 6, MaxBackoff: 30 * time.Second, RequestTimeout: 30 * time.Second, MaxTotalWait: 10 * time.Minute}))
		g.Expect(p.Validate()).To(Succeed())
	}

	lim, err := httpLimiter(s.RateLimit)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lim.Limit()).To(Equal(rate.Limit(0.5)))
	g.Expect(lim.Burst()).To(Equal(1))
	lim, err = httpLimiter(nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lim).To(BeNil())
}

// TestBuildHTTPJob: a defaulted HTTP to HTTP SyncJob, lookups included, becomes a run with
// the HTTP connectors.
func TestBuildHTTPJob(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("BILLING_API_TOKEN", "tok-billing-123")
	t.Setenv("CRM_API_KEY", "key-crm-456")
	sj := httpJob()
	sj.Default()
	cfg, closeAll, err := Build(t.Context(), logr.Discard(), sj, "run-1", "Manual")
	g.Expect(err).NotTo(HaveOccurred())
	defer closeAll()
	g.Expect(cfg.Source).To(BeAssignableToTypeOf(&httpapi.Source{}))
	g.Expect(cfg.Sink).To(BeAssignableToTypeOf(&httpapi.Sink{}))
	g.Expect(cfg.PageSize).To(Equal(2000))
}

// TestBuildRefusesAnUndefaultedHTTPJob: values the API always sets are not filled in by
// the translation or the connectors: missing, they fail the build naming the field.
func TestBuildRefusesAnUndefaultedHTTPJob(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("BILLING_API_TOKEN", "tok-billing-123")
	t.Setenv("CRM_API_KEY", "key-crm-456")

	sj := httpJob()
	_, _, err := Build(t.Context(), logr.Discard(), sj, "run-1", "Manual")
	g.Expect(err).To(MatchError("spec.rateLimit: burst must be at least 1, not 0"))

	sj.Spec.RateLimit.Burst = 1
	_, _, err = Build(t.Context(), logr.Discard(), sj, "run-1", "Manual")
	g.Expect(err).To(MatchError(`spec.sink.http.auth: header is required for APIKey auth`))

	sj.Spec.Sink.HTTP.Auth.Header = "X-API-Key"
	_, _, err = Build(t.Context(), logr.Discard(), sj, "run-1", "Manual")
	g.Expect(err).To(MatchError("spec.sink.http: retry: maxAttempts must be at least 1, not 0"))

	g.Expect(httpRetry(syncv1.HTTPRetry{MaxAttempts: 6}).Validate()).To(MatchError(ContainSubstring("maxBackoff must be positive")))
	g.Expect(httpRetry(syncv1.HTTPRetry{MaxAttempts: 6, MaxBackoff: &metav1.Duration{Duration: time.Second}}).Validate()).
		To(MatchError(ContainSubstring("requestTimeout must be positive")))
	g.Expect(httpSourceConfig(sj.Spec.Source.HTTP).Validate()).To(MatchError(ContainSubstring("timeFormat must be")))
	_, err = httpLimiter(&syncv1.RateLimitSpec{RequestsPerSecond: resource.MustParse("0"), Burst: 1})
	g.Expect(err).To(MatchError(ContainSubstring("requestsPerSecond must be positive")))
}

// TestHTTPAuthFromSecrets: credentials come from the environment variables of their
// secretKeyRefs; errors name the field and never hold a credential.
func TestHTTPAuthFromSecrets(t *testing.T) {
	const token, user = "tok-9f8e7d6c5b4a", "alice"
	t.Setenv("API_TOKEN", token)
	t.Setenv("API_USER", user)
	ref := func(k string) syncv1.SecretKeyRef { return syncv1.SecretKeyRef{Name: "api", Key: k} }
	userRef := ref("user")
	tests := []struct {
		name    string
		auth    *syncv1.HTTPAuth
		want    string
		wantErr string
	}{
		{name: "none", auth: nil, want: "auth(none)"},
		{name: "bearer", auth: &syncv1.HTTPAuth{Type: "Bearer", Secret: ref("token")}, want: "auth(Bearer)"},
		{name: "basic", auth: &syncv1.HTTPAuth{Type: "Basic", Username: &userRef, Secret: ref("token")}, want: "auth(Basic)"},
		{name: "basic without user", auth: &syncv1.HTTPAuth{Type: "Basic", Secret: ref("token")},
			wantErr: "spec.source.http.auth: username is required for Basic auth"},
		{name: "api key", auth: &syncv1.HTTPAuth{Type: "APIKey", Header: "X-K", Secret: ref("token")}, want: "auth(APIKey)"},
		{name: "missing secret", auth: &syncv1.HTTPAuth{Type: "Bearer", Secret: ref("nope")},
			wantErr: `spec.source.http.auth.secret: secret "api" key "nope": environment variable API_NOPE is not set`},
		{name: "missing user", auth: &syncv1.HTTPAuth{Type: "Basic", Username: ptr.To(ref("who")), Secret: ref("token")},
			wantErr: `spec.source.http.auth.username: secret "api" key "who": environment variable API_WHO is not set`},
		{name: "unknown type", auth: &syncv1.HTTPAuth{Type: "Digest", Secret: ref("token")},
			wantErr: `spec.source.http.auth: type must be Bearer, Basic or APIKey, not "Digest"`},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		a, err := httpAuth("spec.source.http.auth", tt.auth)
		if tt.wantErr != "" {
			g.Expect(err).To(MatchError(tt.wantErr), tt.name)
			g.Expect(fmt.Sprintf("%v %+v", err, err)).NotTo(ContainSubstring(token), tt.name)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), tt.name)
		g.Expect(a.String()).To(Equal(tt.want), tt.name)
	}
}
