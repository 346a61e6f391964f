package mapping

import (
	"fmt"
	"strconv"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// A mapping that names a field the source does not have would write null into every
// record and succeed. Two checks refuse it: CheckColumns at setup, for a source that knows
// its fields (a table's columns), and CheckPage before each page is written, for a source
// whose fields are only known by reading (an HTTP API).

// CheckColumns refuses a mapping that reads a top-level field the source's records never
// carry: the first segment of each from path, each record.x (record["x"], record.?x,
// has(record.x)) an expression or the key expression reads, and the deletion marker's first
// segment. table names the source and columns are its records' fields (see
// connector.Columns). The top-level "id" is always known: it is the record id when the
// fields have none. The error names the spec field ("mapping[2].from: column "customer_idd"
// does not exist in table "invoices"").
func (m *Mapping) CheckColumns(table string, columns []string) error {
	known := make(map[string]bool, len(columns))
	for _, c := range columns {
		known[c] = true
	}
	// A path's first segment must be a column; a lone "id" is the record id otherwise (a
	// longer path starting with "id" walks the fields). An expression's record has "id".
	pathKnown := func(p []string) bool { return known[p[0]] || p[0] == "id" && len(p) == 1 }
	refKnown := func(ref string) bool { return known[ref] || ref == "id" }
	missing := func(where, name string) error {
		return fmt.Errorf("%s: column %q does not exist in table %q", where, name, table)
	}
	for _, ref := range m.keyRefs {
		if !refKnown(ref) {
			return missing("key.expr", ref)
		}
	}
	for i := range m.fields {
		f := &m.fields[i]
		if f.path != nil && !pathKnown(f.path) {
			return missing(fmt.Sprintf("mapping[%d].from", i), f.path[0])
		}
		for _, ref := range f.refs {
			if !refKnown(ref) {
				return missing(fmt.Sprintf("mapping[%d].expr", i), ref)
			}
		}
	}
	if m.deleted != nil && !pathKnown(m.deleted) {
		return missing("deletes.sourceField", m.deleted[0])
	}
	return nil
}

// CheckPage refuses a page on which a from path is absent from every record, for a source
// whose fields are not known before reading: a typo in the path, or a source that stopped
// sending the field, would otherwise write null into the whole page. A path is absent from
// a record when a key on the way is missing; a null on the way, a short list or a value
// that is not an object are not absences (the record maps to null, or fails on its own).
// Records marked deleted are not considered (tombstones may carry little more than their
// id), nor are expressions (a missing key there is a record error already). A path
// present on some records only is left to the entry's required. The error names the entry
// (`mapping[1] (to: customer) from "customer_idd"`); an empty page passes.
func (m *Mapping) CheckPage(recs []connector.Record) error {
	live := make([]connector.Record, 0, len(recs))
	for _, rec := range recs {
		if m.deleted != nil {
			if v, found, err := lookup(rec, m.deleted); err == nil && found && v != nil && v != false {
				continue
			}
		}
		live = append(live, rec)
	}
	if len(live) == 0 {
		return nil
	}
	for i := range m.fields {
		f := &m.fields[i]
		if f.path == nil || onSomeRecord(live, f.path) {
			continue
		}
		return fmt.Errorf("mapping[%d] (to: %s) from %q: no record of the page has this path (%d records, ids %s to %s)",
			i, f.to, f.from, len(live), live[0].ID, live[len(live)-1].ID)
	}
	return nil
}

// onSomeRecord reports whether path is present on at least one of recs.
func onSomeRecord(recs []connector.Record, path []string) bool {
	for _, rec := range recs {
		if hasPath(rec, path) {
			return true
		}
	}
	return false
}

// hasPath walks path as lookup does and reports false only when a key on the way is
// missing from an object.
func hasPath(rec connector.Record, path []string) bool {
	var cur any = rec.Fields
	for i, seg := range path {
		if raw, ok := cur.(connector.JSON); ok && i > 0 {
			doc, err := decodeJSON(raw)
			if err != nil {
				return true // Map reports the invalid document
			}
			cur = doc
		}
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return i == 0 && seg == "id" && len(path) == 1 && rec.ID != ""
			}
			cur = v
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= len(c) {
				return true // a short list, or a bad index Map reports
			}
			cur = c[idx]
		default:
			return true // null on the way, or a scalar Map reports
		}
	}
	return true
}

// recordRefs lists the top-level record fields an expression reads by name: record.x,
// record["x"], record.?x, record[?"x"] and has(record.x), in order, without repeats. byName
// reports whether every use of `record` is such a read: then the fields listed are all the
// expression depends on.
func recordRefs(ast *cel.Ast) (refs []string, byName bool) {
	seen := map[string]bool{}
	uses, named := 0, 0
	add := func(name string) {
		named++
		if !seen[name] {
			seen[name] = true
			refs = append(refs, name)
		}
	}
	isRecord := func(e celast.Expr) bool {
		return e.Kind() == celast.IdentKind && e.AsIdent() == recordVar
	}
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if isRecord(e) {
				uses++
			}
		case celast.SelectKind:
			if sel := e.AsSelect(); isRecord(sel.Operand()) {
				add(sel.FieldName())
			}
		case celast.CallKind:
			call := e.AsCall()
			switch call.FunctionName() {
			case operators.Index, operators.OptIndex, operators.OptSelect:
			default:
				return
			}
			args := call.Args()
			if len(args) != 2 || !isRecord(args[0]) || args[1].Kind() != celast.LiteralKind {
				return
			}
			if s, ok := args[1].AsLiteral().(types.String); ok {
				add(string(s))
			}
		}
	}))
	return refs, uses == named
}
