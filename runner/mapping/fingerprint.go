package mapping

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Fingerprint identifies what the mapping writes: the key (its field and its expression,
// or the default key's source name) and every entry's to, from, expr, type, required and
// lookup. Anything else (the resolver, the deletion marker, the order of the entries,
// and every setting outside the key and the mapping: schedule, page size, connectors) does
// not change it. Equal specs have equal fingerprints across runs and versions of the
// runner; the value is "m1-" and 16 hex digits.
func (s Spec) Fingerprint() string {
	type lookup struct {
		URL         string `json:"url"`
		ResultsPath string `json:"resultsPath"`
		IDPath      string `json:"idPath"`
	}
	type entry struct {
		To       string  `json:"to"`
		From     string  `json:"from"`
		Expr     string  `json:"expr"`
		Type     string  `json:"type"`
		Required bool    `json:"required"`
		Lookup   *lookup `json:"lookup"`
	}
	type key struct {
		Field string `json:"field"`
		Expr  string `json:"expr"`
		// Prefix of the default key; "" with an expression (the source name is unused).
		Prefix string `json:"prefix"`
	}
	doc := struct {
		Key     key     `json:"key"`
		Entries []entry `json:"entries"`
	}{Key: key{Field: s.Key.Field, Expr: s.Key.Expr}}
	if s.Key.Expr == "" {
		doc.Key.Prefix = s.SourceName + ":"
	}
	for _, f := range s.Fields {
		e := entry{To: f.To, From: f.From, Expr: f.Expr, Type: string(f.Type), Required: f.Required}
		if l := f.Lookup; l != nil {
			e.Lookup = &lookup{URL: l.URL, ResultsPath: l.ResultsPath, IDPath: l.IDPath}
		}
		doc.Entries = append(doc.Entries, e)
	}
	// Targets are unique: sorting by them makes the order of the entries irrelevant.
	slices.SortStableFunc(doc.Entries, func(a, b entry) int { return cmp.Compare(a.To, b.To) })
	data, _ := json.Marshal(doc) // strings, bools and pointers: cannot fail
	sum := sha256.Sum256(data)
	return "m1-" + hex.EncodeToString(sum[:8])
}
