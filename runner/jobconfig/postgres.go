package jobconfig

import (
	"context"
	"fmt"
	"strings"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/postgres"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// postgresSource builds spec.source.postgres. It reads only the columns the mapping reads
// (sourceFields), once mapped has compiled it.
func (w wiring) postgresSource(ctx context.Context, p *syncv1.PostgresSource, mapped func() (*mapping.Mapping, error)) (connector.Source, error) {
	dsn, err := postgresDSN("spec.source.postgres.dsn", p.DSN)
	if err != nil {
		return nil, err
	}
	cfg := postgresSourceConfig(p)
	cfg.DeletedColumn = deletedColumn(w.spec.Deletes)
	if snapshot(w.spec) {
		cfg = snapshotSourceConfig(cfg)
	}
	src, err := postgres.NewSource(ctx, cfg, dsn, postgres.SourceOptions{Logger: w.log.WithName("source"), Fields: sourceFields(mapped)})
	if err != nil {
		return nil, fmt.Errorf("spec.source.postgres (dsn from secret %q key %q): %w", p.DSN.Name, p.DSN.Key, err)
	}
	return src, nil
}

// postgresSink builds spec.sink.postgres for the mapped fields (the key field and the
// mapping's fields, in order).
func (w wiring) postgresSink(ctx context.Context, p *syncv1.PostgresSink, keyField string, fields []string, runID string) (connector.Sink, error) {
	dsn, err := postgresDSN("spec.sink.postgres.dsn", p.DSN)
	if err != nil {
		return nil, err
	}
	cfg, err := postgresSinkConfig(p, w.spec.Deletes, keyField, fields, postgresFieldTypes(w.spec.Mapping))
	if err != nil {
		return nil, err
	}
	if snapshot(w.spec) {
		cfg = snapshotSinkConfig(cfg, p)
	}
	sink, err := postgres.NewSink(ctx, cfg, dsn, postgres.SinkOptions{
		RunID:  runID,
		Logger: w.log.WithName("sink"),
	})
	if err != nil {
		return nil, fmt.Errorf("spec.sink.postgres (dsn from secret %q key %q): %w", p.DSN.Name, p.DSN.Key, err)
	}
	return sink, nil
}

// postgresDSN resolves the DSN secret at field and checks, before any connection, that it
// configures one from the DSN alone (host, dbname and user present and not empty); the
// error names the field and the Secret key, never the DSN.
func postgresDSN(field string, ref syncv1.SecretKeyRef) (string, error) {
	dsn, err := secret(field, ref)
	if err != nil {
		return "", err
	}
	if err := postgres.CheckDSN(dsn); err != nil {
		return "", fmt.Errorf("%s: secret %q key %q: %w", field, ref.Name, ref.Key, err)
	}
	return dsn, nil
}

// sourceFields is SourceOptions.Fields: the record fields the mapping reads, once it has
// compiled (none is named when it failed: its error is reported, nothing is read).
func sourceFields(mapped func() (*mapping.Mapping, error)) func() ([]string, bool) {
	return func() ([]string, bool) {
		m, err := mapped()
		if err != nil {
			return nil, false
		}
		return m.SourceFields()
	}
}

// snapshot reports spec.cursor.mode Snapshot.
func snapshot(s *syncv1.SyncJobSpec) bool { return s.Cursor.Mode == syncv1.CursorSnapshot }

// snapshotSourceConfig makes a source config read only by id (spec.cursor.mode Snapshot):
// the source has no cursor time, so spec.source.postgres.updatedAtColumn (defaulted) is
// not used.
func snapshotSourceConfig(c postgres.SourceConfig) postgres.SourceConfig {
	c.ScanOnly, c.UpdatedAtColumn = true, ""
	return c
}

// snapshotSinkConfig makes a sink config store content hashes in
// spec.sink.postgres.hashColumn and no source version (spec.cursor.mode Snapshot: the
// stale guard is off and spec.sink.postgres.sourceUpdatedAtColumn is not used).
func snapshotSinkConfig(c postgres.SinkConfig, p *syncv1.PostgresSink) postgres.SinkConfig {
	c.Unversioned, c.HashColumn, c.SourceUpdatedAtColumn = true, p.HashColumn, ""
	return c
}

// postgresSourceConfig translates spec.source.postgres, as defaulted.
func postgresSourceConfig(p *syncv1.PostgresSource) postgres.SourceConfig {
	return postgres.SourceConfig{
		Table:           p.Table,
		UpdatedAtColumn: p.UpdatedAtColumn,
		IDColumn:        p.IDColumn,
		TimeZone:        p.TimeZone,
	}
}

// deletedColumn is the source column marking deleted rows, which the drift check's source
// count leaves out: spec.deletes.sourceField when deletions are propagated (SoftDelete,
// Delete: the same condition as the mapping's) and it names a column, not a path into one.
func deletedColumn(d syncv1.DeletesSpec) string {
	if (d.Mode == "SoftDelete" || d.Mode == "Delete") && !strings.Contains(d.SourceField, ".") {
		return d.SourceField
	}
	return ""
}

// postgresSinkConfig translates spec.sink.postgres and spec.deletes, as defaulted, for the
// key column and the mapped fields with their types.
func postgresSinkConfig(p *syncv1.PostgresSink, d syncv1.DeletesSpec, keyField string, fields []string, types map[string]connector.FieldType) (postgres.SinkConfig, error) {
	mode, err := postgresDeleteMode(d.Mode)
	if err != nil {
		return postgres.SinkConfig{}, err
	}
	return postgres.SinkConfig{
		Table:                 p.Table,
		KeyColumn:             keyField,
		Fields:                fields,
		FieldTypes:            types,
		SourceUpdatedAtColumn: p.SourceUpdatedAtColumn,
		SyncedAtColumn:        p.SyncedAtColumn,
		RunIDColumn:           p.RunIDColumn,
		CopyThreshold:         int(p.CopyThreshold),
		DeleteMode:            mode,
		DeleteColumn:          d.SinkField,
	}, nil
}

// postgresDeleteMode translates spec.deletes.mode.
func postgresDeleteMode(mode string) (postgres.DeleteMode, error) {
	switch mode {
	case "Ignore":
		return postgres.DeleteIgnore, nil
	case "SoftDelete":
		return postgres.DeleteSoft, nil
	case "Delete":
		return postgres.DeleteHard, nil
	}
	return "", fmt.Errorf("spec.deletes.mode %q: want Ignore, SoftDelete or Delete", mode)
}

// postgresFieldTypes translates the types of spec.mapping, as defaulted: what each field's
// values are when they reach the sink. An entry with a lookup writes the found object's
// id, a string, whatever its type.
func postgresFieldTypes(entries []syncv1.FieldMapping) map[string]connector.FieldType {
	types := make(map[string]connector.FieldType, len(entries))
	for _, fm := range entries {
		if fm.Lookup != nil {
			types[fm.To] = connector.TypeString
		} else {
			types[fm.To] = connector.FieldType(fm.Type)
		}
	}
	return types
}
