package jobconfig

import (
	"fmt"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	httpconn "github.com/checkpointed/checkpointed/runner/connector/http"
	"github.com/checkpointed/checkpointed/runner/connector/http/transport"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// httpClient builds an HTTP client for the source or the sink.
func (w wiring) httpClient(field string, auth *syncv1.HTTPAuth, headers map[string]string, retry syncv1.HTTPRetry) (*transport.Client, error) {
	a, err := transport.AuthFromSpec(field+".auth", auth, secret)
	if err != nil {
		return nil, err
	}
	return transport.New(transport.Options{
		Auth:    a,
		Headers: headers,
		Retry:   transport.RetryFromSpec(retry),
		Limiter: w.limiter,
		Logger:  w.log.WithName(field),
	}), nil
}

// httpSource builds spec.source.http.
func (w wiring) httpSource(h *syncv1.HTTPSource) (connector.Source, error) {
	c, err := w.httpClient("spec.source.http", h.Auth, h.Headers, h.Retry)
	if err != nil {
		return nil, err
	}
	src, err := httpconn.NewSource(*h, c, httpconn.SourceOptions{Logger: w.log.WithName("source")})
	if err != nil {
		return nil, fmt.Errorf("spec.source.http: %w", err)
	}
	return src, nil
}

// httpSink builds spec.sink.http for the mapped fields of m, writing through client.
func (w wiring) httpSink(h *syncv1.HTTPSink, m *mapping.Mapping, client *transport.Client) (connector.Sink, error) {
	sink, err := httpconn.NewSink(*h, client, httpconn.SinkOptions{
		KeyField:    m.KeyField(),
		Fields:      m.Fields(),
		DeleteMode:  w.spec.Deletes.Mode,
		DeleteField: w.spec.Deletes.SinkField,
		Logger:      w.log.WithName("sink"),
	})
	if err != nil {
		return nil, fmt.Errorf("spec.sink.http: %w", err)
	}
	return sink, nil
}
