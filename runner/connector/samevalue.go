package connector

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// SameValue reports whether the sink holds the mapped value want as got, by the value's
// own equality rather than its Go form: numbers (int64, Decimal, float64,
// json.Number, and a decimal string held for a number) by value, so "120.50" equals 120.5;
// times by instant (a time.Time or an RFC 3339 string); JSON documents (JSON,
// raw bytes, text holding a document, or decoded maps and slices) by value, key order and number spelling aside;
// strings and bools exactly. nil equals only nil (a JSON null).
func SameValue(want, got any) bool {
	if w, ok := want.(JSON); ok && w != nil {
		if g, ok := got.(string); ok {
			got = JSON(g) // a sink that returns a JSON column as text
		}
	}
	want, got = plain(want), plain(got)
	switch w := want.(type) {
	case nil:
		return got == nil
	case *big.Rat:
		g, ok := ratOf(got)
		return ok && w.Cmp(g) == 0
	case time.Time:
		g, ok := timeOf(got)
		return ok && w.Equal(g)
	case string:
		g, ok := got.(string)
		return ok && w == g
	case bool:
		g, ok := got.(bool)
		return ok && w == g
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(w) != len(g) {
			return false
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok || !SameValue(v, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(w) != len(g) {
			return false
		}
		for i := range w {
			if !SameValue(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// plain turns a value into the forms SameValue compares: numbers into *big.Rat, JSON
// documents into decoded values (numbers kept exact), everything else as it is.
func plain(v any) any {
	switch x := v.(type) {
	case JSON:
		if x == nil {
			return nil
		}
		return decodeJSON(x)
	case []byte:
		return decodeJSON(x)
	case json.RawMessage:
		return decodeJSON(x)
	case Decimal, json.Number, int64, int, int32, float64, float32:
		if r, ok := ratOf(x); ok {
			return r
		}
	case time.Time:
		return x.UTC()
	}
	return v
}

// decodeJSON decodes a document with exact numbers; a document that does not decode is
// kept as its text.
func decodeJSON(b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(b)
	}
	return plainTree(v)
}

// plainTree applies plain to every value of a decoded document.
func plainTree(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = plainTree(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = plainTree(e)
		}
		return x
	}
	return plain(v)
}

// ratOf reads a number exactly; a string holding a decimal number counts as one (APIs
// often hold decimals as strings). Floats are read in their shortest decimal form.
func ratOf(v any) (*big.Rat, bool) {
	var s string
	switch x := v.(type) {
	case *big.Rat:
		return x, true
	case int64:
		return new(big.Rat).SetInt64(x), true
	case int:
		return new(big.Rat).SetInt64(int64(x)), true
	case int32:
		return new(big.Rat).SetInt64(int64(x)), true
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case Decimal:
		s = string(x)
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	default:
		return nil, false
	}
	if s == "" || strings.ContainsAny(s, "/") {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// timeOf reads an instant: a time.Time or an RFC 3339 string.
func timeOf(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		return t, err == nil
	}
	return time.Time{}, false
}
