package explain

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Diff lists the mapped fields whose value the sink holds differently, by field name. A
// field the sink does not return at all is compared as null. Values are compared by
// meaning across representations: numbers exactly (a Decimal, an int64 and a JSON number
// "12.30" = "12.3"), times as instants (a time.Time and an RFC 3339 string), JSON
// documents by content.
func Diff(mapped, stored map[string]any) []FieldDiff {
	var out []FieldDiff
	for _, f := range slices.Sorted(maps.Keys(mapped)) {
		want, have := mapped[f], stored[f]
		if !SameValue(want, have) {
			out = append(out, FieldDiff{Field: f, Want: want, Have: have})
		}
	}
	return out
}

// SameValue reports whether a mapped value and a stored value mean the same.
func SameValue(want, have any) bool {
	if want == nil || have == nil {
		return want == nil && have == nil
	}
	switch w := want.(type) {
	case time.Time:
		if t, ok := asTime(have); ok {
			return w.Equal(t)
		}
		return false
	case connector.JSON:
		return jsonEqual([]byte(w), have)
	case bool:
		h, ok := have.(bool)
		return ok && h == w
	case map[string]any, []any:
		b, err := json.Marshal(w)
		return err == nil && jsonEqual(b, have)
	}
	if ws, ok := want.(string); ok {
		hs, ok := have.(string)
		return ok && hs == ws
	}
	if a, ok := asRat(want); ok {
		if b, ok := asRat(have); ok {
			return a.Cmp(b) == 0
		}
		return false
	}
	return reflect.DeepEqual(want, have) || fmt.Sprint(want) == fmt.Sprint(have)
}

func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		return t, err == nil
	}
	return time.Time{}, false
}

func asRat(v any) (*big.Rat, bool) {
	var s string
	switch x := v.(type) {
	case connector.Decimal:
		s = string(x)
	case json.Number:
		s = string(x)
	case int64:
		return new(big.Rat).SetInt64(x), true
	case int:
		return new(big.Rat).SetInt64(int64(x)), true
	case int32:
		return new(big.Rat).SetInt64(int64(x)), true
	case float64:
		r := new(big.Rat)
		if r.SetFloat64(x) == nil {
			return nil, false
		}
		return r, true
	case string:
		s = x
		if _, ok := new(big.Rat).SetString(strings.TrimSpace(s)); !ok {
			return nil, false
		}
	default:
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func jsonEqual(want []byte, have any) bool {
	var w any
	if err := json.Unmarshal(want, &w); err != nil {
		return false
	}
	var h any
	switch x := have.(type) {
	case connector.JSON:
		if err := json.Unmarshal(x, &h); err != nil {
			return false
		}
	case string:
		if err := json.Unmarshal([]byte(x), &h); err != nil {
			return false
		}
	default:
		b, err := json.Marshal(x)
		if err != nil || json.Unmarshal(b, &h) != nil {
			return false
		}
	}
	return reflect.DeepEqual(w, h)
}
