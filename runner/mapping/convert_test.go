package mapping

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func TestConversions(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		typ  connector.FieldType
		in   any
		want any // nil when refused
	}{
		// string
		{"string from string", "string", "héllo", "héllo"},
		{"string from int64", "string", int64(-42), "-42"},
		{"string from int", "string", 7, "7"},
		{"string from decimal", "string", connector.Decimal("12.30"), "12.30"},
		{"string refuses bool", "string", true, nil},
		{"string refuses float", "string", 1.5, nil},
		{"string refuses timestamp", "string", at, nil},
		{"string refuses map", "string", map[string]any{"a": "b"}, nil},
		{"string refuses bad decimal", "string", connector.Decimal("1e3"), nil},

		// int
		{"int from int64", "int", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"int from int", "int", 12, int64(12)},
		{"int from uint64 in range", "int", uint64(5), int64(5)},
		{"int refuses uint64 out of range", "int", uint64(math.MaxUint64), nil},
		{"int from integral float", "int", 3.0, int64(3)},
		{"int from float at 2^53", "int", float64(1 << 53), int64(1 << 53)},
		{"int refuses float beyond 2^53", "int", float64(1<<53) * 2, nil},
		{"int refuses fractional float", "int", 1.5, nil},
		{"int refuses NaN", "int", math.NaN(), nil},
		{"int refuses Inf", "int", math.Inf(1), nil},
		{"int from integral decimal", "int", connector.Decimal("12.00"), int64(12)},
		{"int refuses fractional decimal", "int", connector.Decimal("12.01"), nil},
		{"int refuses decimal out of range", "int", connector.Decimal("9223372036854775808"), nil},
		{"int from numeric string", "int", "-42", int64(-42)},
		{"int refuses word", "int", "abc", nil},
		{"int refuses spaces", "int", " 42", nil},
		{"int refuses bool", "int", true, nil},

		// decimal
		{"decimal from decimal keeps scale", "decimal", connector.Decimal("12.30"), connector.Decimal("12.30")},
		{"decimal from string", "decimal", "12.30", connector.Decimal("12.30")},
		{"decimal canonicalizes", "decimal", "+007.50", connector.Decimal("7.50")},
		{"decimal drops sign of zero", "decimal", "-0.00", connector.Decimal("0.00")},
		{"decimal from int64", "decimal", int64(-5), connector.Decimal("-5")},
		{"decimal from integral float", "decimal", 2.0, connector.Decimal("2")},
		{"decimal refuses fractional float", "decimal", 0.1, nil},
		{"decimal refuses float beyond 2^53", "decimal", 1e300, nil},
		{"decimal refuses word", "decimal", "abc", nil},
		{"decimal refuses exponent", "decimal", "1e3", nil},
		{"decimal refuses empty", "decimal", "", nil},
		{"decimal refuses lone dot forms", "decimal", "5.", nil},
		{"decimal refuses NaN text", "decimal", "NaN", nil},
		{"decimal refuses bool", "decimal", false, nil},

		// bool
		{"bool from bool", "bool", false, false},
		{"bool from true", "bool", "true", true},
		{"bool from false", "bool", "false", false},
		{"bool refuses yes", "bool", "yes", nil},
		{"bool refuses TRUE", "bool", "TRUE", nil},
		{"bool refuses 1", "bool", int64(1), nil},

		// timestamp
		{"timestamp from time in UTC", "timestamp", at, at},
		{"timestamp converts zone to UTC", "timestamp", time.Date(2026, 1, 2, 4, 4, 5, 0, berlin), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"timestamp from RFC3339", "timestamp", "2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"timestamp from RFC3339 nanos with offset", "timestamp", "2026-01-02T04:04:05.123456789+01:00", at},
		{"timestamp refuses date only", "timestamp", "2026-01-02", nil},
		{"timestamp refuses other format", "timestamp", "02/01/2026 03:04", nil},
		{"timestamp refuses epoch", "timestamp", int64(1767323045), nil},

		// json
		{"json from map", "json", map[string]any{"b": int64(1), "a": []any{"x", true, nil}}, connector.JSON(`{"a":["x",true,null],"b":1}`)},
		{"json decimal stays an exact number", "json", map[string]any{"amount": connector.Decimal("123456789012345678901234567890.12")}, connector.JSON(`{"amount":123456789012345678901234567890.12}`)},
		{"json time in UTC", "json", []any{time.Date(2026, 1, 2, 4, 4, 5, 0, berlin)}, connector.JSON(`["2026-01-02T03:04:05Z"]`)},
		{"json from string", "json", "hi", connector.JSON(`"hi"`)},
		{"json from raw JSON", "json", connector.JSON(`{"x": 1}`), connector.JSON(`{"x": 1}`)},
		{"json embeds raw JSON", "json", map[string]any{"x": connector.JSON(`[1]`)}, connector.JSON(`{"x":[1]}`)},
		{"json refuses invalid raw JSON", "json", connector.JSON(`{`), nil},
		{"json refuses NaN", "json", math.NaN(), nil},
		{"json refuses unknown Go types", "json", struct{ A int }{1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := mapValue(t, tt.typ, tt.in)
			if tt.want == nil {
				re := recordErr(g, err)
				g.Expect(re.ID).To(Equal("inv_1"))
				g.Expect(re.Field).To(Equal("out"))
				wantReason := map[connector.FieldType]string{
					"string": ReasonNotString, "int": ReasonNotInt, "decimal": ReasonNotDecimal,
					"bool": ReasonNotBool, "timestamp": ReasonNotTimestamp, "json": ReasonNotJSON,
				}[tt.typ]
				g.Expect(re.Reason).To(Equal(wantReason))
				g.Expect(re.Detail).NotTo(BeEmpty())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
			if ts, ok := got.(time.Time); ok {
				g.Expect(ts.Location()).To(Equal(time.UTC))
			}
		})
	}
}

// The 30-digit decimal survives every path unchanged: as a field, through a numeric
// string, into json, and through CEL arithmetic.
func TestDecimalsAreExact(t *testing.T) {
	g := NewWithT(t)
	const big = "123456789012345678901234567890.123456789"
	m := mustNew(g,
		Field{To: "as_decimal", From: "amount", Type: "decimal"},
		Field{To: "from_string", From: "text", Type: "decimal"},
		Field{To: "as_string", From: "amount", Type: "string"},
		Field{To: "sum", Expr: `decimal("0.1") + decimal("0.2")`, Type: "decimal"},
		Field{To: "is_point3", Expr: `decimal("0.1") + decimal("0.2") == decimal("0.3")`, Type: "bool"},
		Field{To: "plus_one", Expr: `record.amount + 1`, Type: "decimal"},
		Field{To: "doubled", Expr: `record.amount * decimal("2.0")`, Type: "decimal"},
		Field{To: "negated", Expr: `-record.amount`, Type: "decimal"},
		Field{To: "diff", Expr: `record.amount - record.amount`, Type: "decimal"},
		Field{To: "json", Expr: `{"amount": record.amount}`, Type: "json"},
	)
	w, err := m.Map(record(map[string]any{"amount": connector.Decimal(big), "text": big}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Values).To(Equal(map[string]any{
		"as_decimal":  connector.Decimal(big),
		"from_string": connector.Decimal(big),
		"as_string":   big,
		"sum":         connector.Decimal("0.3"),
		"is_point3":   true,
		"plus_one":    connector.Decimal("123456789012345678901234567891.123456789"),
		"doubled":     connector.Decimal("246913578024691357802469135780.2469135780"),
		"negated":     connector.Decimal("-" + big),
		"diff":        connector.Decimal("0.000000000"),
		"json":        connector.JSON(`{"amount":` + big + `}`),
	}))
}

// A float never turns into a decimal or int by rounding: only integral floats within the
// exactly representable range convert; mixing double with decimal in CEL fails.
func TestFloatsNeverLosePrecision(t *testing.T) {
	for _, f := range []float64{0.1, 12.3, 1e-7, 2.5, math.Nextafter(1, 2), 1 << 60} {
		for _, typ := range []connector.FieldType{"int", "decimal", "string"} {
			g := NewWithT(t)
			_, err := mapValue(t, typ, f)
			g.Expect(recordErr(g, err).Detail).To(ContainSubstring("float"), "%v into %s", f, typ)
		}
	}
	g := NewWithT(t)
	m := mustNew(g, Field{To: "x", Expr: `record.amount + record.rate`, Type: "decimal"})
	_, err := m.Map(record(map[string]any{"amount": connector.Decimal("1.10"), "rate": 0.1}))
	re := recordErr(g, err)
	g.Expect(re.Reason).To(Equal(ReasonExpression))
	g.Expect(re.Detail).To(ContainSubstring("no such overload"))

	// A JSON document's numbers reach expressions exactly (int or decimal, never double).
	m = mustNew(g, Field{To: "x", Expr: `record.doc.price * record.doc.qty`, Type: "decimal"})
	w, err := m.Map(record(map[string]any{"doc": connector.JSON(`{"price": 19.99, "qty": 3}`)}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Values["x"]).To(Equal(connector.Decimal("59.97")))
}

func TestJSONOutputIsValid(t *testing.T) {
	g := NewWithT(t)
	got, err := mapValue(t, "json", map[string]any{"n": connector.Decimal("-0.50"), "s": "a\"b"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(json.Valid(got.(connector.JSON))).To(BeTrue())
	g.Expect(string(got.(connector.JSON))).To(Equal(`{"n":-0.50,"s":"a\"b"}`))
}
