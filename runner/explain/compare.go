package explain

import (
	"maps"
	"slices"

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
		if !connector.SameValue(want, have) {
			out = append(out, FieldDiff{Field: f, Want: want, Have: have})
		}
	}
	return out
}
