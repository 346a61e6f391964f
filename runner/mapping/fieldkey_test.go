package mapping

import (
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestFieldKeyExprs: which key expressions take the path without CEL (fieldKey).
func TestFieldKeyExprs(t *testing.T) {
	for expr, want := range map[string]string{
		`string(record.id)`:              "id",
		` string( record . invoice_no )`: "invoice_no",
		`string(record._x9)`:             "_x9",
		`string(record["id"])`:           "",
		`"billing:" + string(record.id)`: "",
		`string(record.id) + ""`:         "",
		`string(record.a.b)`:             "",
		`record.id`:                      "",
		`strings(record.id)`:             "",
	} {
		NewWithT(t).Expect(fieldKeyOf(expr)).To(Equal(want), expr)
	}
}

// TestFieldKeyAgreesWithCEL maps records whose key field holds every kind of value with
// the key string(record.<field>) twice, through fieldKey and through CEL alone, and
// expects the same key or the same record error.
func TestFieldKeyAgreesWithCEL(t *testing.T) {
	values := []any{
		"inv_0001", "", "ünï cødé", " spaced ", int64(0), int64(-42), int64(math.MaxInt64), int64(math.MinInt64),
		nil, true, 1.5, math.NaN(), connector.Decimal("12.50"), connector.Decimal("-0.000"),
		time.Date(2026, 6, 30, 12, 0, 0, 5, time.UTC), map[string]any{"a": int64(1)}, []any{"x"},
		connector.JSON(`{"a":1}`), uint64(7), int(3), []byte("b"),
	}
	type outcome struct {
		Key string
		Err *connector.RecordError
	}
	for _, field := range []string{"id", "code"} {
		spec := Spec{Key: Key{Field: "ext_id", Expr: "string(record." + field + ")"},
			Fields: []Field{{To: "status", From: "status", Type: connector.TypeString}}}
		m, err := New(spec)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		NewWithT(t).Expect(m.keyFrom).To(Equal(field))
		celOnly, err := New(spec)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		celOnly.keyFrom = ""
		var recs []connector.Record
		for _, v := range values {
			for _, id := range []string{"", "rec-7"} {
				recs = append(recs, connector.Record{ID: id, Fields: map[string]any{field: v, "status": "paid"}})
			}
		}
		for _, id := range []string{"", "rec-7"} { // the field absent: record.id is the record id, when it has one
			recs = append(recs, connector.Record{ID: id, Fields: map[string]any{"status": "paid"}})
		}
		for i, rec := range recs {
			g := NewWithT(t)
			run := func(m *Mapping) outcome {
				w, err := m.Map(rec)
				if err != nil {
					return outcome{Err: recordErr(g, err)}
				}
				return outcome{Key: w.Key}
			}
			fast, slow := run(m), run(celOnly)
			g.Expect(fast).To(Equal(slow), "field %s, record %d: %#v", field, i, rec.Fields[field])
		}
		for _, id := range []string{"", "10492"} {
			a, okA := m.KeyForID(id)
			b, okB := celOnly.KeyForID(id)
			NewWithT(t).Expect([]any{a, okA}).To(Equal([]any{b, okB}), "KeyForID(%q)", id)
		}
	}
}
