package mapping

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Reasons of record errors. They are stable: the audit groups failed records by them.
const (
	ReasonRequired     = "required field missing"
	ReasonExpression   = "expression failed"
	ReasonNotObject    = "path not an object"
	ReasonNotString    = "not a string"
	ReasonNotInt       = "not an int"
	ReasonNotDecimal   = "not a decimal"
	ReasonNotBool      = "not a bool"
	ReasonNotTimestamp = "not a timestamp"
	ReasonNotJSON      = "not json"
	ReasonKeyNotString = "key not a string"
	ReasonKeyEmpty     = "key empty"
)

// converter converts a non-nil value to a field type, or reports false.
type converter func(v any) (any, bool)

// converterFor returns the converter of a field type and the reason it reports.
func converterFor(t connector.FieldType) (converter, string, bool) {
	switch t {
	case connector.TypeString:
		return toString, ReasonNotString, true
	case connector.TypeInt:
		return toInt, ReasonNotInt, true
	case connector.TypeDecimal:
		return toDecimal, ReasonNotDecimal, true
	case connector.TypeBool:
		return toBool, ReasonNotBool, true
	case connector.TypeTimestamp:
		return toTimestamp, ReasonNotTimestamp, true
	case connector.TypeJSON:
		return toJSON, ReasonNotJSON, true
	}
	return nil, "", false
}

// intOf reads any Go integer type that fits int64.
func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint64:
		if x <= 1<<63-1 {
			return int64(x), true
		}
	case uint:
		if uint64(x) <= 1<<63-1 {
			return int64(x), true
		}
	}
	return 0, false
}

// The converters return their input unchanged (not re-boxed) when it already has the
// output type and form: that saves an allocation per value.

func toString(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return v, true
	case connector.Decimal:
		return canonicalDecimal(string(x))
	case json.Number:
		return canonicalDecimal(string(x))
	}
	if n, ok := intOf(v); ok {
		return strconv.FormatInt(n, 10), true
	}
	return nil, false
}

func toInt(v any) (any, bool) {
	if _, ok := v.(int64); ok {
		return v, true
	}
	if n, ok := intOf(v); ok {
		return n, true
	}
	switch x := v.(type) {
	case float64:
		return floatToInt64(x)
	case float32:
		return floatToInt64(float64(x))
	case connector.Decimal:
		return stringToInt(string(x))
	case json.Number:
		return stringToInt(string(x))
	case string:
		return stringToInt(x)
	}
	return nil, false
}

func stringToInt(s string) (any, bool) {
	c, ok := canonicalDecimal(s)
	if !ok {
		return nil, false
	}
	return decimalToInt64(c)
}

func toDecimal(v any) (any, bool) {
	switch x := v.(type) {
	case connector.Decimal:
		c, ok := canonicalDecimal(string(x))
		if ok && c == string(x) {
			return v, true
		}
		return connector.Decimal(c), ok
	case string:
		c, ok := canonicalDecimal(x)
		return connector.Decimal(c), ok
	case json.Number:
		c, ok := canonicalDecimal(string(x))
		return connector.Decimal(c), ok
	case float64:
		if n, ok := floatToInt64(x); ok {
			return connector.Decimal(strconv.FormatInt(n, 10)), true
		}
		return nil, false
	case float32:
		if n, ok := floatToInt64(float64(x)); ok {
			return connector.Decimal(strconv.FormatInt(n, 10)), true
		}
		return nil, false
	}
	if n, ok := intOf(v); ok {
		return connector.Decimal(strconv.FormatInt(n, 10)), true
	}
	return nil, false
}

func toBool(v any) (any, bool) {
	switch x := v.(type) {
	case bool:
		return v, true
	case string:
		switch x {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return nil, false
}

func toTimestamp(v any) (any, bool) {
	switch x := v.(type) {
	case time.Time:
		if x.Location() == time.UTC {
			return v, true
		}
		return x.UTC(), true
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return nil, false
		}
		return t.UTC(), true
	}
	return nil, false
}

func toJSON(v any) (any, bool) {
	if raw, ok := v.(connector.JSON); ok {
		if !json.Valid(raw) {
			return nil, false
		}
		return raw, true
	}
	plain, ok := jsonable(v)
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(plain)
	if err != nil {
		return nil, false
	}
	return connector.JSON(b), true
}

// jsonable rewrites a value for encoding/json: decimals become JSON numbers with their
// exact text, times become RFC3339 strings in UTC, embedded JSON stays raw. Maps with
// other than string keys and values encoding/json would guess at are refused.
func jsonable(v any) (any, bool) {
	switch x := v.(type) {
	case nil, string, bool, int64, int, int32, int16, int8, uint64, uint, uint32, uint16, uint8,
		float64, float32, []byte, json.Number:
		return x, true
	case connector.Decimal:
		c, ok := canonicalDecimal(string(x))
		return json.Number(c), ok
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), true
	case time.Duration:
		return x.String(), true
	case connector.JSON:
		if !json.Valid(x) {
			return nil, false
		}
		return json.RawMessage(x), true
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			je, ok := jsonable(e)
			if !ok {
				return nil, false
			}
			out[k] = je
		}
		return out, true
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			je, ok := jsonable(e)
			if !ok {
				return nil, false
			}
			out[i] = je
		}
		return out, true
	}
	return nil, false
}

// maxValue bounds the offending value quoted in a record error, maxDetail the whole
// detail (CEL messages included).
const (
	maxValue  = 80
	maxDetail = 240
)

// truncate shortens a value's text to maxValue bytes on a rune boundary, marking the cut.
func truncate(s string) string { return truncateTo(s, maxValue) }

// truncateTo shortens s to n bytes on a rune boundary, marking the cut.
func truncateTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// refusal is the detail of a value the conversion to t refused: for a JSON number, the
// number and why (a fraction for an int, out of range, an exponent); else describe(v).
func refusal(t connector.FieldType, v any) string {
	n, ok := v.(json.Number)
	if !ok {
		return describe(v)
	}
	what := describe(n)
	if t != connector.TypeInt && t != connector.TypeDecimal && t != connector.TypeString {
		return what
	}
	c, ok := canonicalDecimal(string(n))
	switch {
	case !ok:
		return what + " has an exponent; only plain decimal numbers convert exactly"
	case t != connector.TypeInt:
		return what
	}
	if _, frac, _ := strings.Cut(c, "."); strings.Trim(frac, "0") != "" {
		return what + " is not an integer"
	}
	return what + " is out of the int range (64-bit)"
}

// describe renders an offending value for a record error: strings quoted, JSON numbers as
// "the number …", other values with their Go type, all truncated.
func describe(v any) string {
	switch x := v.(type) {
	case json.Number:
		return "the number " + truncate(string(x))
	case string:
		return strconv.Quote(truncate(x))
	case connector.Decimal:
		return "decimal " + strconv.Quote(truncate(string(x)))
	case connector.JSON:
		return "json " + truncate(string(x))
	case float64:
		return "float " + strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return "timestamp " + x.Format(time.RFC3339Nano)
	}
	return truncate(fmt.Sprintf("%T %v", v, v))
}
