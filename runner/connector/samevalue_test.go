package connector_test

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSameValue: the drift check and explain compare a mapped value with the sink's by the type's own
// equality.
func TestSameValue(t *testing.T) {
	at := time.Date(2026, 6, 30, 12, 0, 0, 123456000, time.UTC)
	berlin := at.In(time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		name      string
		want, got any
		same      bool
	}{
		{"nil and nil", nil, nil, true},
		{"nil and a value", nil, "x", false},
		{"a value and nil", "x", nil, false},
		{"strings", "open", "open", true},
		{"strings differ", "open", "paid", false},
		{"a string is not a number", "12", json.Number("12"), false},
		{"ints", int64(7), int64(7), true},
		{"ints differ", int64(7), int64(8), false},
		{"int and a JSON number", int64(7), json.Number("7"), true},
		{"int and a float", int64(7), float64(7), true},
		{"decimals by value", connector.Decimal("120.50"), connector.Decimal("120.5"), true},
		{"decimals differ", connector.Decimal("120.50"), connector.Decimal("120.51"), false},
		{"decimal and a JSON number", connector.Decimal("120.50"), json.Number("120.5"), true},
		{"decimal and a float in shortest form", connector.Decimal("0.10"), 0.1, true},
		{"decimal and a decimal string", connector.Decimal("120.50"), "120.500", true},
		{"decimal and a text that is no number", connector.Decimal("1"), "one", false},
		{"decimal and a fraction text", connector.Decimal("0.5"), "1/2", false},
		{"bools", true, true, true},
		{"bools differ", true, false, false},
		{"bool and a string", true, "true", false},
		{"times by instant", at, berlin, true},
		{"time and an RFC 3339 string", at, "2026-06-30T14:00:00.123456+02:00", true},
		{"times differ by a microsecond", at, at.Add(time.Microsecond), false},
		{"time and a text that is no time", at, "yesterday", false},
		{"JSON by value: key order and spaces", connector.JSON(`{"a":1,"b":[true,"x"]}`), connector.JSON(`{ "b": [true, "x"], "a": 1 }`), true},
		{"JSON by value: number spelling", connector.JSON(`{"a":1.50}`), connector.JSON(`{"a":1.5}`), true},
		{"JSON and a decoded document", connector.JSON(`{"a":1,"b":null}`), map[string]any{"a": float64(1), "b": nil}, true},
		{"JSON differs in a nested value", connector.JSON(`{"a":{"b":1}}`), connector.JSON(`{"a":{"b":2}}`), false},
		{"JSON differs in a key", connector.JSON(`{"a":1}`), connector.JSON(`{"a":1,"c":1}`), false},
		{"JSON arrays in order", connector.JSON(`[1,2]`), connector.JSON(`[2,1]`), false},
		{"JSON null and nil", connector.JSON(`null`), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(connector.SameValue(tc.want, tc.got)).To(Equal(tc.same))
		})
	}
}
