package mapping

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSourceFields: the fields a mapping reads are named exactly (from paths by their
// first segment, expressions and the key expression by the fields they read by name, the
// deletion marker), and a record carrying only them and its id maps exactly as the whole
// record does; an expression that uses record other than by a field name names none.
func TestSourceFields(t *testing.T) {
	full := connector.Record{ID: "7", UpdatedAt: updated, Fields: map[string]any{
		"id": int64(7), "region": "eu", "status": "open", "total": "12.50", "note": "unread",
		"meta": map[string]any{"gone": false, "tier": "gold"}, "k": "region", "blob": "x",
	}}
	status := Field{To: "status", From: "status", Type: connector.TypeString, Required: true}
	for _, tc := range []struct {
		name, key, deleted string
		fields             []Field
		want               []string
		ok                 bool
	}{
		{name: "from paths", fields: []Field{status, {To: "tier", From: "meta.tier", Type: connector.TypeString}},
			want: []string{"status", "meta"}, ok: true},
		{name: "expressions", fields: []Field{status, {To: "label", Expr: `record.region + "/" + record["status"]`, Type: connector.TypeString},
			{To: "paid", Expr: `has(record.total) ? record.?total.orValue("0") : "0"`, Type: connector.TypeDecimal}},
			want: []string{"status", "region", "total"}, ok: true},
		{name: "key expression and marker", key: `string(record.id)`, deleted: "meta.gone", fields: []Field{status},
			want: []string{"status", "id", "meta"}, ok: true},
		{name: "default key", fields: []Field{status}, want: []string{"status"}, ok: true},
		{name: "computed index in an entry", fields: []Field{status, {To: "v", Expr: `string(record[record.k])`, Type: connector.TypeString}}, ok: false},
		{name: "whole record in an entry", fields: []Field{status, {To: "n", Expr: `record.size()`, Type: connector.TypeInt}}, ok: false},
		{name: "whole record in the key", key: `string(record.size())`, fields: []Field{status}, ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			m, err := New(Spec{SourceName: "billing", Key: Key{Field: "ext_id", Expr: tc.key}, DeletedField: tc.deleted, Fields: tc.fields})
			g.Expect(err).NotTo(HaveOccurred())
			fields, ok := m.SourceFields()
			g.Expect(ok).To(Equal(tc.ok))
			if !ok {
				return
			}
			g.Expect(fields).To(Equal(tc.want))
			only := connector.Record{ID: full.ID, UpdatedAt: full.UpdatedAt, Fields: map[string]any{}}
			for _, f := range fields {
				only.Fields[f] = full.Fields[f]
			}
			want, err := m.Map(full)
			g.Expect(err).NotTo(HaveOccurred())
			got, err := m.Map(only)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(want), "a record with only the fields named maps as the whole record")
		})
	}
}
