package mapping

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// updated is the UpdatedAt of test records.
var updated = time.Date(2026, 6, 30, 23, 55, 0, 123456000, time.UTC)

// mustNew builds a mapping with source "billing" and key field "ext_id".
func mustNew(g Gomega, fields ...Field) *Mapping {
	m, err := New(Spec{SourceName: "billing", Key: Key{Field: "ext_id"}, Fields: fields})
	g.Expect(err).NotTo(HaveOccurred())
	return m
}

// record builds a record with id "inv_1".
func record(fields map[string]any) connector.Record {
	return connector.Record{ID: "inv_1", UpdatedAt: updated, Fields: fields}
}

// recordErr asserts err is a *connector.RecordError and returns it.
func recordErr(g Gomega, err error) *connector.RecordError {
	var re *connector.RecordError
	g.Expect(errors.As(err, &re)).To(BeTrue(), "want a *connector.RecordError, got %v", err)
	return re
}

// mapValue maps one value with a single `from: v` entry of the given type.
func mapValue(t *testing.T, typ connector.FieldType, v any) (any, error) {
	t.Helper()
	g := NewWithT(t)
	m := mustNew(g, Field{To: "out", From: "v", Type: typ})
	w, err := m.Map(record(map[string]any{"v": v}))
	if err != nil {
		return nil, err
	}
	return w.Values["out"], nil
}

// equalOrNil matches want, or nil when want is nil.
func equalOrNil(want any) OmegaMatcher {
	if want == nil {
		return BeNil()
	}
	return Equal(want)
}
