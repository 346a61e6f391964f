package jobconfig

import (
	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/engine"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// The mapping names its key's fields, so that the engine can check the safety gap's
// overlap by version (engine.KeyMapper).
var _ engine.KeyMapper = (*mapping.Mapping)(nil)

// mappingSpec translates spec.key, spec.mapping, spec.source.name and spec.deletes of a
// defaulted SyncJob into the mapping's own configuration (the caller adds the resolver).
// Field types are taken as defaulted (the schema's default: string); the deletion marker
// is passed only when spec.deletes.mode is SoftDelete or Delete.
func mappingSpec(s *syncv1.SyncJobSpec) mapping.Spec {
	spec := mapping.Spec{
		SourceName: sourceName(s.Source),
		Key:        mapping.Key{Field: s.Key.Field, Expr: s.Key.Expr},
		Fields:     make([]mapping.Field, 0, len(s.Mapping)),
	}
	for _, fm := range s.Mapping {
		f := mapping.Field{To: fm.To, From: fm.From, Expr: fm.Expr, Type: connector.FieldType(fm.Type), Required: fm.Required}
		if l := fm.Lookup; l != nil {
			f.Lookup = &connector.Lookup{URL: l.URL, ResultsPath: l.ResultsPath, IDPath: l.IDPath}
		}
		spec.Fields = append(spec.Fields, f)
	}
	if s.Deletes.Mode == "SoftDelete" || s.Deletes.Mode == "Delete" {
		spec.DeletedField = s.Deletes.SourceField
	}
	return spec
}

// sourceName is the source's name in the default key: spec.source.name, or else the
// source's kind, as spec.source.name documents. This is not a schema default (the CRD
// cannot express it and SyncJob.Default does not set it), so it is decided here.
func sourceName(s syncv1.SourceSpec) string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Postgres != nil:
		return "postgres"
	case s.HTTP != nil:
		return "http"
	}
	return ""
}

// hasLookups reports whether a mapping entry is resolved through the sink.
func hasLookups(fields []mapping.Field) bool {
	for _, f := range fields {
		if f.Lookup != nil {
			return true
		}
	}
	return false
}
