package mapping

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestCheckColumnsRefusesUnknownColumns: every field a mapping reads by name must be a
// column of the table; the error names the spec field, the column and the table.
func TestCheckColumnsRefusesUnknownColumns(t *testing.T) {
	cols := []string{"invoice_id", "customer_id", "total", "doc", "updated_at", "deleted_at"}
	key := Key{Field: "ext_id"}
	str := func(to, from string) Field { return Field{To: to, From: from, Type: connector.TypeString} }
	expr := func(to, e string) Field { return Field{To: to, Expr: e, Type: connector.TypeString} }
	tests := []struct {
		name string
		spec Spec
		want string // "" accepts
	}{
		{"known columns, nested path in a JSON column", Spec{Key: key, SourceName: "s", Fields: []Field{
			str("c", "customer_id"), str("sku", "doc.items.0.sku")}}, ""},
		{"a lone id is the record id", Spec{Key: key, SourceName: "s", Fields: []Field{str("i", "id")}}, ""},
		{"from typo", Spec{Key: key, SourceName: "s", Fields: []Field{str("t", "total"), str("c", "customer_idd")}},
			`mapping[1].from: column "customer_idd" does not exist in table "public.invoices"`},
		{"nested path under a missing column", Spec{Key: key, SourceName: "s", Fields: []Field{str("c", "customer.email")}},
			`mapping[0].from: column "customer" does not exist`},
		{"id.x walks the fields", Spec{Key: key, SourceName: "s", Fields: []Field{str("c", "id.x")}},
			`mapping[0].from: column "id" does not exist`},
		{"expressions reading known columns and id", Spec{Key: key, SourceName: "s", Fields: []Field{
			expr("a", `record.customer_id + string(record.id)`), expr("b", `record["total"] == null ? "" : "x"`),
			expr("c", `has(record.doc) ? "y" : "n"`), expr("d", `record.?customer_id.orValue("")`)}}, ""},
		{"expr select typo", Spec{Key: key, SourceName: "s", Fields: []Field{str("t", "total"), expr("c", `"c:" + record.customer_idd`)}},
			`mapping[1].expr: column "customer_idd" does not exist in table "public.invoices"`},
		{"expr index typo", Spec{Key: key, SourceName: "s", Fields: []Field{expr("c", `record["totl"]`)}},
			`mapping[0].expr: column "totl" does not exist`},
		{"expr presence test typo", Spec{Key: key, SourceName: "s", Fields: []Field{expr("c", `has(record.totl) ? "a" : "b"`)}},
			`mapping[0].expr: column "totl" does not exist`},
		{"expr optional select typo", Spec{Key: key, SourceName: "s", Fields: []Field{expr("c", `record.?totl.orValue("")`)}},
			`mapping[0].expr: column "totl" does not exist`},
		{"expr in a macro", Spec{Key: key, SourceName: "s", Fields: []Field{expr("c", `[1].exists(x, x == 1) ? record.nope : ""`)}},
			`mapping[0].expr: column "nope" does not exist`},
		{"key expr typo", Spec{Key: Key{Field: "ext_id", Expr: `"k:" + record.invoice_idd`}, Fields: []Field{str("c", "customer_id")}},
			`key.expr: column "invoice_idd" does not exist`},
		{"deletion marker typo", Spec{Key: key, SourceName: "s", Fields: []Field{str("c", "customer_id")}, DeletedField: "deleted"},
			`deletes.sourceField: column "deleted" does not exist`},
		{"deletion marker known", Spec{Key: key, SourceName: "s", Fields: []Field{str("c", "customer_id")}, DeletedField: "deleted_at"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			m, err := New(tt.spec)
			g.Expect(err).NotTo(HaveOccurred())
			err = m.CheckColumns("public.invoices", cols)
			if tt.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.want)))
		})
	}
}

// TestCheckPagePathMissing: a from path absent from every live record of a page refuses
// the page, naming the entry; present on some records, behind a null, or on an empty page
// it passes (required then decides per record).
func TestCheckPagePathMissing(t *testing.T) {
	rec := func(id string, fields map[string]any) connector.Record {
		return connector.Record{ID: id, UpdatedAt: updated, Fields: fields}
	}
	tests := []struct {
		name    string
		from    string
		deleted string
		recs    []connector.Record
		want    string // "" passes
	}{
		{"typo on every record", "customer_idd", "",
			[]connector.Record{rec("1", map[string]any{"customer_id": "a"}), rec("2", map[string]any{"customer_id": "b"})},
			`mapping[1] (to: c) from "customer_idd": no record of the page has this path (2 records, ids 1 to 2)`},
		{"present on some records only", "customer_id", "",
			[]connector.Record{rec("1", map[string]any{}), rec("2", map[string]any{"customer_id": nil})}, ""},
		{"null value is present", "customer_id", "",
			[]connector.Record{rec("1", map[string]any{"customer_id": nil})}, ""},
		{"nested key missing everywhere", "customer.email", "",
			[]connector.Record{rec("1", map[string]any{"customer": map[string]any{"mail": "x"}})},
			`mapping[1] (to: c) from "customer.email"`},
		{"nested under a null parent is not a missing key", "customer.email", "",
			[]connector.Record{rec("1", map[string]any{"customer": nil})}, ""},
		{"nested in embedded JSON", "doc.a", "",
			[]connector.Record{rec("1", map[string]any{"doc": connector.JSON(`{"b": 1}`)}), rec("2", map[string]any{"doc": connector.JSON(`{"a": 1}`)})}, ""},
		{"missing in embedded JSON", "doc.a", "",
			[]connector.Record{rec("1", map[string]any{"doc": connector.JSON(`{"b": 1}`)})}, `from "doc.a"`},
		{"short list is not a missing key", "items.3.sku", "",
			[]connector.Record{rec("1", map[string]any{"items": []any{}})}, ""},
		{"lone id is the record id", "id", "",
			[]connector.Record{rec("1", map[string]any{})}, ""},
		{"tombstones are not considered", "customer_id", "gone",
			[]connector.Record{rec("1", map[string]any{"gone": true}), rec("2", map[string]any{"gone": true})}, ""},
		{"live records among tombstones are", "customer_id", "gone",
			[]connector.Record{rec("1", map[string]any{"gone": true, "customer_id": "a"}), rec("2", map[string]any{"gone": false})},
			`(1 records, ids 2 to 2)`},
		{"empty page", "customer_idd", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			m, err := New(Spec{SourceName: "s", Key: Key{Field: "ext_id"}, DeletedField: tt.deleted, Fields: []Field{
				{To: "x", Expr: `"x"`, Type: connector.TypeString}, // expressions are not checked
				{To: "c", From: tt.from, Type: connector.TypeString},
			}})
			g.Expect(err).NotTo(HaveOccurred())
			err = m.CheckPage(tt.recs)
			if tt.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.want)))
		})
	}
}
