package mapping

import (
	"maps"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestKeyFields: the fields a key (and the deletion marker) are computed from are named
// exactly, and a record carrying only them gets the key and the deleted flag Map gives the
// whole record; a key expression that uses record other than by a field name names none.
// Only the default key without a deletion marker is the id behind a prefix (IDKeyPrefix).
func TestKeyFields(t *testing.T) {
	full := connector.Record{ID: "7", UpdatedAt: updated, Fields: map[string]any{
		"id": int64(7), "region": "eu", "status": "open", "meta": map[string]any{"gone": true}, "k": "region",
	}}
	for _, tc := range []struct {
		name, expr, deleted string
		want                []string
		ok                  bool
		byID                bool // IDKeyPrefix: the key is "billing:" + the id
	}{
		{name: "default key", want: nil, ok: true, byID: true},
		{name: "id", expr: `string(record.id)`, want: []string{"id"}, ok: true},
		{name: "two fields", expr: `record.region + ":" + string(record["id"])`, want: []string{"region", "id"}, ok: true},
		{name: "optional and has", expr: `has(record.region) ? record.?region.orValue("x") : "none"`, want: []string{"region"}, ok: true},
		{name: "deletion marker", expr: `string(record.id)`, deleted: "meta.gone", want: []string{"id", "meta"}, ok: true},
		{name: "default key, marker", deleted: "meta.gone", want: []string{"meta"}, ok: true},
		{name: "computed index", expr: `string(record[record.k])`, ok: false},
		{name: "whole record", expr: `string(record.size()) + string(record.id)`, ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			m, err := New(Spec{SourceName: "billing", Key: Key{Field: "ext_id", Expr: tc.expr}, DeletedField: tc.deleted,
				Fields: []Field{{To: "status", From: "status", Type: connector.TypeString, Required: true}}})
			g.Expect(err).NotTo(HaveOccurred())
			prefix, byID := m.IDKeyPrefix()
			g.Expect(byID).To(Equal(tc.byID))
			if byID {
				g.Expect(prefix).To(Equal("billing:"))
				w, err := m.Map(full)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(w.Key).To(Equal(prefix + full.ID))
				key, deleted, err := m.KeyOf(connector.Record{ID: "x1"})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(key).To(Equal(prefix + "x1"))
				g.Expect(deleted).To(BeFalse())
			}
			fields, ok := m.KeyFields()
			g.Expect(ok).To(Equal(tc.ok))
			if !ok {
				return
			}
			g.Expect(fields).To(Equal(tc.want))

			w, err := m.Map(full)
			g.Expect(err).NotTo(HaveOccurred())
			part := connector.Record{ID: full.ID, UpdatedAt: full.UpdatedAt, Fields: map[string]any{}}
			for _, f := range fields {
				part.Fields[f] = full.Fields[f]
			}
			key, deleted, err := m.KeyOf(part)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(key).To(Equal(w.Key))
			g.Expect(deleted).To(Equal(w.Deleted))
		})
	}
}

// TestKeyOfFailsAsMap: a key Map cannot compute is an error of KeyOf too (the record is
// then read in full and Map reports it).
func TestKeyOfFailsAsMap(t *testing.T) {
	g := NewWithT(t)
	m, err := New(Spec{Key: Key{Field: "ext_id", Expr: `record.region`}, Fields: []Field{{To: "status", From: "status", Type: connector.TypeString}}})
	g.Expect(err).NotTo(HaveOccurred())
	rec := connector.Record{ID: "7", Fields: map[string]any{"region": ""}}
	_, _, err = m.KeyOf(rec)
	g.Expect(err).To(HaveOccurred())
	_, mapErr := m.Map(connector.Record{ID: "7", Fields: maps.Clone(rec.Fields)})
	g.Expect(mapErr).To(HaveOccurred())
}
