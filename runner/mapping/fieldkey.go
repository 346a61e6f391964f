package mapping

import (
	"regexp"
	"strconv"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// fieldKeyExpr matches a key expression that is exactly string(record.<field>), the
// usual key of a table source (the sample's `string(record.id)`).
var fieldKeyExpr = regexp.MustCompile(`^\s*string\(\s*record\s*\.\s*([_a-zA-Z][_a-zA-Z0-9]*)\s*\)\s*$`)

// fieldKeyOf returns the field of a key expression that is exactly string(record.<field>),
// or "".
func fieldKeyOf(expr string) string {
	if m := fieldKeyExpr.FindStringSubmatch(expr); m != nil {
		return m[1]
	}
	return ""
}

// fieldKey computes string(record.<field>) without CEL where the result is plain: the
// field's value (as `record` holds it: see celRecord) is a string, which string() returns
// as it is, or an int64, which it writes in decimal. ok is false for every other case (a
// missing field, null, other types), which the expression itself evaluates, so that its
// results and errors stay CEL's.
func fieldKey(rec connector.Record, field string) (string, bool) {
	v, found := rec.Fields[field]
	if !found {
		if field == "id" && rec.ID != "" { // celRecord's "id"
			return rec.ID, true
		}
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}
