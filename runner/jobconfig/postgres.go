package jobconfig

import (
	"context"
	"fmt"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/postgres"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// postgresSource builds spec.source.postgres.
func (w wiring) postgresSource(ctx context.Context, p *syncv1.PostgresSource) (connector.Source, error) {
	dsn, err := secret("spec.source.postgres.dsn", p.DSN)
	if err != nil {
		return nil, err
	}
	src, err := postgres.NewSource(ctx, *p, dsn, postgres.SourceOptions{Logger: w.log.WithName("source")})
	if err != nil {
		return nil, fmt.Errorf("spec.source.postgres: %w", err)
	}
	return src, nil
}

// postgresSink builds spec.sink.postgres for the mapped fields of m.
func (w wiring) postgresSink(ctx context.Context, p *syncv1.PostgresSink, m *mapping.Mapping, runID string) (connector.Sink, error) {
	dsn, err := secret("spec.sink.postgres.dsn", p.DSN)
	if err != nil {
		return nil, err
	}
	sink, err := postgres.NewSink(ctx, *p, dsn, postgres.SinkOptions{
		KeyField:    m.KeyField(),
		Fields:      m.Fields(),
		RunID:       runID,
		DeleteMode:  w.spec.Deletes.Mode,
		DeleteField: w.spec.Deletes.SinkField,
		Logger:      w.log.WithName("sink"),
	})
	if err != nil {
		return nil, fmt.Errorf("spec.sink.postgres: %w", err)
	}
	return sink, nil
}
