package mapping

import (
	"encoding/json"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// JSON numbers (json.Number, as the HTTP source delivers them) convert exactly: a JSON
// number is already decimal text, so no float is involved and large integers keep every
// digit. Refusals name the number and why, in the user's terms.
func TestJSONNumberConversions(t *testing.T) {
	tests := []struct {
		name       string
		typ        connector.FieldType
		in         json.Number
		want       any    // nil when refused
		wantDetail string // the refusal's detail
	}{
		{name: "int from integer", typ: "int", in: "42", want: int64(42)},
		{name: "int beyond 2^53 keeps every digit", typ: "int", in: "9007199254740993", want: int64(9007199254740993)},
		{name: "int from negative", typ: "int", in: "-7", want: int64(-7)},
		{name: "int from integral fraction", typ: "int", in: "12.00", want: int64(12)},
		{name: "int at max", typ: "int", in: "9223372036854775807", want: int64(9223372036854775807)},
		{name: "int refuses a fraction", typ: "int", in: "12.5", wantDetail: "the number 12.5 is not an integer"},
		{name: "int refuses out of range", typ: "int", in: "9223372036854775808",
			wantDetail: "the number 9223372036854775808 is out of the int range (64-bit)"},
		{name: "int refuses an exponent", typ: "int", in: "1e3",
			wantDetail: "the number 1e3 has an exponent; only plain decimal numbers convert exactly"},

		{name: "decimal keeps the text", typ: "decimal", in: "12.345", want: connector.Decimal("12.345")},
		{name: "decimal keeps the scale", typ: "decimal", in: "12.30", want: connector.Decimal("12.30")},
		{name: "decimal from a large integer", typ: "decimal", in: "9007199254740993", want: connector.Decimal("9007199254740993")},
		{name: "decimal canonical negative zero", typ: "decimal", in: "-0.0", want: connector.Decimal("0.0")},
		{name: "decimal refuses an exponent", typ: "decimal", in: "1.5E2",
			wantDetail: "the number 1.5E2 has an exponent; only plain decimal numbers convert exactly"},

		{name: "string from integer", typ: "string", in: "42", want: "42"},
		{name: "string from decimal", typ: "string", in: "12.345", want: "12.345"},
		{name: "string refuses an exponent", typ: "string", in: "1e3",
			wantDetail: "the number 1e3 has an exponent; only plain decimal numbers convert exactly"},

		{name: "bool refuses a number", typ: "bool", in: "1", wantDetail: "the number 1"},
		{name: "timestamp refuses a number", typ: "timestamp", in: "1782863707", wantDetail: "the number 1782863707"},
		{name: "json keeps the number", typ: "json", in: "12.345", want: connector.JSON("12.345")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := mapValue(t, tt.typ, tt.in)
			if tt.want != nil {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal(tt.want))
				return
			}
			re := recordErr(g, err)
			g.Expect(re.Detail).To(Equal(tt.wantDetail))
			g.Expect(re.Detail).NotTo(ContainSubstring("json.Number"))
		})
	}
}
