package mapping

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func TestExpressions(t *testing.T) {
	fields := map[string]any{
		"first":    "Ada",
		"last":     "Lovelace",
		"qty":      int64(3),
		"total":    connector.Decimal("12.30"),
		"status":   "paid",
		"rate":     0.5,
		"paid_at":  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		"customer": map[string]any{"email": "ADA@EXAMPLE.COM", "vip": true},
		"tags":     []any{"a", "b"},
		"note":     nil,
	}
	tests := []struct {
		name string
		expr string
		typ  connector.FieldType
		want any
	}{
		{"concatenation", `record.first + " " + record.last`, "string", "Ada Lovelace"},
		{"conditional", `record.status == "paid" ? "closed" : "open"`, "string", "closed"},
		{"has present", `has(record.customer.email)`, "bool", true},
		{"has absent", `has(record.discount)`, "bool", false},
		{"has guards a default", `has(record.discount) ? record.discount : 0`, "int", int64(0)},
		{"optional with default", `record.?discount.orValue("none")`, "string", "none"},
		{"optional present", `record.customer.?email`, "string", "ADA@EXAMPLE.COM"},
		{"optional absent is null", `record.?discount`, "string", nil},
		{"null is null", `record.note`, "string", nil},
		{"strings extension", `record.customer.email.lowerAscii()`, "string", "ada@example.com"},
		{"int arithmetic", `record.qty * 2 + 1`, "int", int64(7)},
		{"decimal times int to cents", `record.total * 100`, "int", int64(1230)},
		{"decimal times decimal keeps scale", `record.total * record.qty`, "decimal", connector.Decimal("36.90")},
		{"decimal comparison", `record.total > 12`, "bool", true},
		{"decimal comparison with decimal", `record.total <= decimal("12.3")`, "bool", true},
		{"decimal equality ignores scale", `record.total == decimal("12.3")`, "bool", true},
		{"decimal to string", `string(record.total)`, "string", "12.30"},
		{"decimal to int when integral", `int(record.total * 10)`, "int", int64(123)},
		{"double arithmetic into int when integral", `record.rate * 4.0`, "int", int64(2)},
		{"timestamp passes through", `record.paid_at`, "timestamp", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"timestamp from string", `timestamp("2026-01-02T03:04:05Z")`, "timestamp", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"timestamp formatting", `string(record.paid_at)`, "string", "2026-01-02T03:04:05Z"},
		{"record.id falls back to the record id", `record.id`, "string", "inv_1"},
		{"list size", `size(record.tags)`, "int", int64(2)},
		{"comprehension", `record.tags.exists(t, t == "b")`, "bool", true},
		{"map to json", `{"name": record.first, "total": record.total, "tags": record.tags}`, "json",
			connector.JSON(`{"name":"Ada","tags":["a","b"],"total":12.30}`)},
		{"nested map to json", `record.customer`, "json", connector.JSON(`{"email":"ADA@EXAMPLE.COM","vip":true}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			m := mustNew(g, Field{To: "out", Expr: tt.expr, Type: tt.typ})
			w, err := m.Map(record(fields))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(w.Values["out"]).To(equalOrNil(tt.want))
		})
	}
}

// record.id is the field "id" when the record has one, the record id otherwise.
func TestRecordIDPrefersField(t *testing.T) {
	g := NewWithT(t)
	m := mustNew(g, Field{To: "out", Expr: `string(record.id)`, Type: connector.TypeString})
	w, err := m.Map(connector.Record{ID: "7", Fields: map[string]any{"id": int64(7)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Values["out"]).To(Equal("7"))
}

func TestExpressionErrors(t *testing.T) {
	fields := map[string]any{"total": connector.Decimal("12.34"), "qty": int64(2), "name": "x", "rate": 0.5}
	tests := []struct {
		name       string
		expr       string
		typ        connector.FieldType
		wantReason string
		wantDetail string
	}{
		{"missing key", `record.discount * 2`, "int", ReasonExpression, "no such key: discount"},
		{"division by zero", `record.qty / 0`, "int", ReasonExpression, "division by zero"},
		{"int on the left of a decimal", `100 * record.total`, "int", ReasonExpression, "no such overload"},
		{"decimal with double", `record.total * 1.5`, "decimal", ReasonExpression, "no such overload"},
		{"inexact int of decimal", `int(record.total)`, "int", ReasonExpression, "12.34 is not an integer"},
		{"bad decimal text", `decimal(record.name)`, "decimal", ReasonExpression, `not a decimal: "x"`},
		{"fractional result into int", `record.total * 10`, "int", ReasonNotInt, "decimal \"123.40\""},
		{"double result into decimal", `record.rate`, "decimal", ReasonNotDecimal, "float 0.5"},
		{"dyn string into int", `record.name`, "int", ReasonNotInt, `"x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			m := mustNew(g, Field{To: "out", Expr: tt.expr, Type: tt.typ})
			_, err := m.Map(record(fields))
			re := recordErr(g, err)
			g.Expect(re.ID).To(Equal("inv_1"))
			g.Expect(re.Field).To(Equal("out"))
			g.Expect(re.Reason).To(Equal(tt.wantReason))
			g.Expect(re.Detail).To(ContainSubstring(tt.wantDetail))
			g.Expect(err.Error()).To(HavePrefix("record inv_1 field out: " + tt.wantReason))
		})
	}
}

func TestDetailIsTruncated(t *testing.T) {
	g := NewWithT(t)
	long := ""
	for len(long) < 500 {
		long += "ünïcødé "
	}
	_, err := mapValue(t, "int", long)
	re := recordErr(g, err)
	g.Expect(len(re.Detail)).To(BeNumerically("<", 100))
	g.Expect(re.Detail).To(HaveSuffix(`…"`))
}
