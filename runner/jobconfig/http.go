package jobconfig

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// httpLimiter builds the run's token bucket from spec.rateLimit; nil is no limit. The
// error names the field under spec.rateLimit.
func httpLimiter(s *syncv1.RateLimitSpec) (*rate.Limiter, error) {
	if s == nil {
		return nil, nil
	}
	return transport.NewLimiter(transport.RateLimit{
		RequestsPerSecond: s.RequestsPerSecond.AsApproximateFloat64(),
		Burst:             int(s.Burst),
	})
}

// httpRetry translates spec.*.retry; an unset duration stays zero, which the client refuses.
func httpRetry(r syncv1.HTTPRetry) transport.RetryPolicy {
	p := transport.RetryPolicy{MaxAttempts: int(r.MaxAttempts)}
	if r.MaxBackoff != nil {
		p.MaxBackoff = r.MaxBackoff.Duration
	}
	if r.RequestTimeout != nil {
		p.RequestTimeout = r.RequestTimeout.Duration
	}
	if r.MaxTotalWait != nil {
		p.MaxTotalWait = r.MaxTotalWait.Duration
	}
	return p
}

// httpWaitBudget builds the run's retry-wait budget, shared by the source's and the sink's
// HTTP clients: the smaller retry.maxTotalWait of spec.source.http and spec.sink.http (the
// one that is HTTP, when only one is); nil when neither is HTTP or sets one (a client then
// refuses its policy, naming the field).
func httpWaitBudget(s *syncv1.SyncJobSpec) (*transport.WaitBudget, error) {
	var max time.Duration
	for _, r := range []*syncv1.HTTPRetry{httpRetrySpec(s.Source.HTTP), sinkRetrySpec(s.Sink.HTTP)} {
		if r == nil || r.MaxTotalWait == nil || r.MaxTotalWait.Duration <= 0 {
			continue
		}
		if d := r.MaxTotalWait.Duration; max == 0 || d < max {
			max = d
		}
	}
	if max == 0 {
		return nil, nil
	}
	return transport.NewWaitBudget(max)
}

func httpRetrySpec(h *syncv1.HTTPSource) *syncv1.HTTPRetry {
	if h == nil {
		return nil
	}
	return &h.Retry
}

func sinkRetrySpec(h *syncv1.HTTPSink) *syncv1.HTTPRetry {
	if h == nil {
		return nil
	}
	return &h.Retry
}

// httpAuth resolves spec.*.auth (at field) with its secrets; nil is no auth. Errors name
// the field, never a secret.
func httpAuth(field string, a *syncv1.HTTPAuth) (*transport.Auth, error) {
	if a == nil {
		return nil, nil
	}
	cfg := transport.AuthConfig{Type: a.Type, Header: a.Header}
	var err error
	if cfg.Secret, err = secret(field+".secret", a.Secret); err != nil {
		return nil, err
	}
	if a.Username != nil {
		if cfg.Username, err = secret(field+".username", *a.Username); err != nil {
			return nil, err
		}
	}
	auth, err := transport.NewAuth(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return auth, nil
}

// httpClient builds an HTTP client for the source or the sink at field.
func (w wiring) httpClient(field string, auth *syncv1.HTTPAuth, headers map[string]string, retry syncv1.HTTPRetry) (*transport.Client, error) {
	a, err := httpAuth(field+".auth", auth)
	if err != nil {
		return nil, err
	}
	c, err := transport.New(transport.Options{
		Auth:    a,
		Headers: headers,
		Retry:   httpRetry(retry),
		Limiter: w.limiter,
		Budget:  w.budget,
		Logger:  w.log.WithName(field),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return c, nil
}

// httpSourceConfig translates spec.source.http (auth, headers and retry go to the client).
func httpSourceConfig(h *syncv1.HTTPSource) httpapi.SourceConfig {
	return httpapi.SourceConfig{
		URL:               h.URL,
		UpdatedSinceParam: h.UpdatedSinceParam,
		TimeFormat:        h.TimeFormat,
		AfterIDParam:      h.AfterIDParam,
		PageSizeParam:     h.PageSizeParam,
		Pagination: httpapi.Pagination{
			Type:       h.Pagination.Type,
			TokenPath:  h.Pagination.TokenPath,
			TokenParam: h.Pagination.TokenParam,
		},
		RecordsPath:   h.RecordsPath,
		IDPath:        h.IDPath,
		UpdatedAtPath: h.UpdatedAtPath,
		Sorted:        h.Sorted,
		GetByIDURL:    h.GetByIDURL,
		GetByIDsURL:   h.GetByIDsURL,
		GetByIDsMax:   int(ptr.Deref(h.GetByIDsMax, 0)),
		IDsURL:        h.IDsURL,
	}
}

// httpSinkConfig translates spec.sink.http with the key and fields of m and spec.deletes
// (auth, headers and retry go to the client).
func httpSinkConfig(h *syncv1.HTTPSink, m *mapping.Mapping, d syncv1.DeletesSpec) httpapi.SinkConfig {
	return httpapi.SinkConfig{
		Mode:                 h.Mode,
		URL:                  h.URL,
		Method:               h.Method,
		SearchURL:            h.SearchURL,
		UpdateURL:            h.UpdateURL,
		KeysURL:              h.KeysURL,
		SourceUpdatedAtField: h.SourceUpdatedAtField,
		BatchSize:            int(h.BatchSize),
		KeyField:             m.KeyField(),
		Fields:               m.Fields(),
		DeleteMode:           d.Mode,
		DeleteField:          d.SinkField,
		StaleWhen:            staleMatch(h.StaleWhen),
		CountURL:             h.CountURL,
	}
}

// staleMatch translates spec.sink.http.staleWhen; nil stays nil (no answer is stale).
func staleMatch(w *syncv1.HTTPStaleWhen) *httpapi.StaleMatch {
	if w == nil {
		return nil
	}
	m := &httpapi.StaleMatch{BodyContains: w.BodyContains}
	for _, st := range w.Status {
		m.Statuses = append(m.Statuses, int(st))
	}
	return m
}

// httpSource builds spec.source.http.
func (w wiring) httpSource(h *syncv1.HTTPSource) (connector.Source, error) {
	c, err := w.httpClient("spec.source.http", h.Auth, h.Headers, h.Retry)
	if err != nil {
		return nil, err
	}
	src, err := httpapi.NewSource(httpSourceConfig(h), c, httpapi.SourceOptions{Logger: w.log.WithName("source")})
	if err != nil {
		return nil, fmt.Errorf("spec.source.http: %w", err)
	}
	return src, nil
}

// httpSink builds spec.sink.http for the mapped fields of m, writing through client.
func (w wiring) httpSink(h *syncv1.HTTPSink, m *mapping.Mapping, client *transport.Client) (connector.Sink, error) {
	sink, err := httpapi.NewSink(httpSinkConfig(h, m, w.spec.Deletes), client, httpapi.SinkOptions{Logger: w.log.WithName("sink")})
	if err != nil {
		return nil, fmt.Errorf("spec.sink.http: %w", err)
	}
	return sink, nil
}
