package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Spec is what a Mapping is built from: the parts of a SyncJob spec that shape a record,
// already defaulted (see runner/jobconfig): nothing is defaulted here.
type Spec struct {
	// SourceName prefixes the default key ("<SourceName>:<record id>"); it may be empty
	// only when Key.Expr is set.
	SourceName string
	// Key says how the external key is computed.
	Key Key
	// Fields are the mapped sink fields, in order.
	Fields []Field
	// DeletedField is a dot path into the record whose non-null value (other than false)
	// marks the record deleted; empty when deletes are ignored.
	DeletedField string
	// Resolver resolves the entries with a lookup (the HTTP sink's; see
	// connector.Resolver). A mapping with lookups and no resolver fails at New.
	Resolver connector.Resolver
}

// Key says how the external key of a record is computed and where it is written.
type Key struct {
	// Field is the sink field that holds the key. Required.
	Field string
	// Expr is a CEL expression over `record` that yields the key as a non-empty string;
	// empty means the default key, "<Spec.SourceName>:<record id>".
	Expr string
}

// Field is one mapping entry: one sink field and where its value comes from.
type Field struct {
	// To is the sink field written. Required, unique, and not Key.Field.
	To string
	// From is a dot path into the source record; exactly one of From and Expr is set.
	From string
	// Expr is a CEL expression over `record`; exactly one of From and Expr is set.
	Expr string
	// Type is what the value must convert to. Required: the empty Type is refused.
	Type connector.FieldType
	// Required makes a missing or null value a record error instead of a null write.
	Required bool
	// Lookup, when set, writes the id of the sink object the value finds instead of the
	// value (see connector.Lookup and Spec.Resolver).
	Lookup *connector.Lookup
}

// Mapping turns source records into sink records. It is built once per run; Map is safe
// for concurrent use by any number of goroutines (it holds no per-record state but the
// Values maps handed back for reuse: RecycleValues).
type Mapping struct {
	fields    []field
	names     []string
	keyField  string
	keyPrefix string      // default key: keyPrefix + record id
	keyProg   cel.Program // custom key expression, or nil
	keyFrom   string      // the field of a key expression that is exactly string(record.<field>), else "" (fieldKey)
	keyRefs   []string    // record fields the key expression reads
	keyNamed  bool        // the key expression reads record only by field name (keyfields.go)
	deleted   []string    // path of the deletion marker, or nil
	usesCEL   bool
	resolver  connector.Resolver
	lookups   []int // indexes of the fields with a lookup

	freeMu sync.Mutex
	free   []map[string]any // Values maps handed back (RecycleValues), reused by mapRecord
}

// field is one compiled mapping entry.
type field struct {
	to       string
	from     string            // the entry's from, for messages; "" for expressions
	path     []string          // from, pre-split; nil for expressions
	prog     cel.Program       // expr; nil for paths
	refs     []string          // record fields the expr reads (record.x, record["x"])
	named    bool              // the expr reads record only by field name (SourceFields)
	lookup   *connector.Lookup // nil without a lookup
	convert  converter
	typ      connector.FieldType // the target type, for refusal details
	reason   string
	required bool
}

// New compiles a mapping. It fails, naming the entry, on a bad expression, an unknown
// type, an entry without exactly one of from/expr, an empty path segment, a duplicate or
// key-colliding target, or an expression whose result type can never convert to the
// entry's type.
func New(spec Spec) (*Mapping, error) {
	if spec.Key.Field == "" {
		return nil, errors.New("key.field is empty")
	}
	if len(spec.Fields) == 0 {
		return nil, errors.New("mapping is empty")
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	m := &Mapping{keyField: spec.Key.Field, resolver: spec.Resolver}
	if spec.Key.Expr == "" {
		if spec.SourceName == "" {
			return nil, errors.New("key (field: " + spec.Key.Field + "): no expr and no source name for the default key")
		}
		m.keyPrefix = spec.SourceName + ":"
	} else {
		prog, outType, refs, named, err := compile(env, spec.Key.Expr)
		if err != nil {
			return nil, fmt.Errorf("key (field: %s): %w", spec.Key.Field, err)
		}
		m.keyNamed = named
		if n := outType.TypeName(); outputKinds[n] != nil && n != "string" {
			return nil, fmt.Errorf("key (field: %s): expr %q yields %s, not string", spec.Key.Field, spec.Key.Expr, n)
		}
		m.keyProg, m.keyRefs = prog, refs
		m.keyFrom = fieldKeyOf(spec.Key.Expr)
		m.usesCEL = true
	}
	if spec.DeletedField != "" {
		if m.deleted, err = splitPath(spec.DeletedField); err != nil {
			return nil, fmt.Errorf("deletes.sourceField: %w", err)
		}
	}
	seen := make(map[string]int, len(spec.Fields))
	for i, fm := range spec.Fields {
		f, err := newField(env, fm)
		if err == nil && fm.To == spec.Key.Field {
			err = errors.New("target is the key field, which the key fills")
		}
		if j, dup := seen[fm.To]; err == nil && dup {
			err = fmt.Errorf("duplicate target (also mapping[%d])", j)
		}
		if err == nil && fm.Lookup != nil {
			if err = checkLookup(fm, spec.Resolver); err == nil {
				m.lookups = append(m.lookups, i)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("mapping[%d] (to: %s): %w", i, fm.To, err)
		}
		seen[fm.To] = i
		m.usesCEL = m.usesCEL || f.prog != nil
		m.fields = append(m.fields, f)
		m.names = append(m.names, fm.To)
	}
	return m, nil
}

func newField(env *cel.Env, fm Field) (field, error) {
	f := field{to: fm.To, required: fm.Required}
	if fm.Lookup != nil {
		l := *fm.Lookup
		f.lookup = &l
	}
	if fm.To == "" {
		return f, errors.New("target (to) is empty")
	}
	if fm.Type == "" {
		return f, errors.New("type is empty")
	}
	conv, reason, ok := converterFor(fm.Type)
	if !ok {
		return f, fmt.Errorf("unknown type %q", fm.Type)
	}
	f.convert, f.reason, f.typ = conv, reason, fm.Type
	switch {
	case (fm.From == "") == (fm.Expr == ""):
		return f, errors.New("set exactly one of from or expr")
	case fm.From != "":
		path, err := splitPath(fm.From)
		if err != nil {
			return f, err
		}
		f.from, f.path = fm.From, path
	default:
		prog, outType, refs, named, err := compile(env, fm.Expr)
		if err != nil {
			return f, err
		}
		target := string(fm.Type)
		if staticallyIncompatible(outType, target) {
			return f, fmt.Errorf("expr %q yields %s, which never converts to %s", fm.Expr, outType.TypeName(), target)
		}
		f.prog, f.refs, f.named = prog, refs, named
	}
	return f, nil
}

// splitPath splits a dot path, refusing empty segments.
func splitPath(p string) ([]string, error) {
	segs := strings.Split(p, ".")
	for _, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("path %q has an empty segment", p)
		}
	}
	return segs, nil
}

// compile type-checks and plans one expression, lists the record fields it reads and
// reports whether it reads the record only through them (recordRefs).
func compile(env *cel.Env, expr string) (cel.Program, *cel.Type, []string, bool, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, nil, nil, false, fmt.Errorf("compile expr %q: %w", expr, iss.Err())
	}
	prog, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("plan expr %q: %w", expr, err)
	}
	refs, byName := recordRefs(ast)
	return prog, ast.OutputType(), refs, byName, nil
}

// Fields returns the sink field names in mapping order, without the key field. The
// caller must not modify the slice.
func (m *Mapping) Fields() []string { return m.names }

// KeyField returns the sink field that holds the external key.
func (m *Mapping) KeyField() string { return m.keyField }

// Map maps one record. Values holds every field of Fields (nil for null). A record that
// does not map yields a zero WriteRecord and a *connector.RecordError naming the record id
// and the field. Records marked deleted (see Spec.DeletedField) skip the required checks:
// tombstones may carry little more than their id.
//
// Lookups are resolved without a caller's context: each is bounded by the resolver's own
// timeout (httpapi.ResolverOptions.Timeout). Callers with a context use MapContext.
func (m *Mapping) Map(rec connector.Record) (connector.WriteRecord, error) {
	return m.MapContext(context.Background(), rec)
}

// MapContext is Map with a context for the lookups: once ctx is done, a record that
// needs a lookup not in the resolver's cache fails with ReasonLookupFailed.
func (m *Mapping) MapContext(ctx context.Context, rec connector.Record) (connector.WriteRecord, error) {
	out, err := m.mapRecord(rec)
	if err == nil && len(m.lookups) > 0 {
		err = m.resolve(ctx, rec, out.Values)
	}
	if err != nil {
		return connector.WriteRecord{}, err
	}
	return out, nil
}

func (m *Mapping) mapRecord(rec connector.Record) (connector.WriteRecord, error) {
	out := connector.WriteRecord{SourceID: rec.ID, SourceUpdatedAt: rec.UpdatedAt}
	if m.deleted != nil {
		v, found, err := lookup(rec, m.deleted)
		if err != nil {
			return out, m.recordErr(rec, strings.Join(m.deleted, "."), ReasonNotObject, err.Error())
		}
		if found && v != nil && v != false {
			out.Deleted = true
		}
	}
	key, err := m.key(rec, nil)
	if err != nil {
		return out, err
	}
	out.Key = key
	var act *activation
	values := m.valuesMap()
	for i := range m.fields {
		f := &m.fields[i]
		var v any
		if f.prog != nil {
			if act == nil { // built for the first field expression evaluated
				act = &activation{record: celRecord(rec)}
			}
			res, _, err := f.prog.Eval(act)
			if err != nil {
				return out, m.recordErr(rec, f.to, ReasonExpression, err.Error())
			}
			if v, err = fromCEL(res); err != nil {
				return out, m.recordErr(rec, f.to, ReasonExpression, err.Error())
			}
		} else {
			var err error
			if v, _, err = lookup(rec, f.path); err != nil {
				return out, m.recordErr(rec, f.to, ReasonNotObject, err.Error())
			}
		}
		if v == nil {
			if f.required && !out.Deleted {
				return out, m.recordErr(rec, f.to, ReasonRequired, "")
			}
			values[f.to] = nil
			continue
		}
		cv, ok := f.convert(v)
		if !ok {
			return out, m.recordErr(rec, f.to, f.reason, refusal(f.typ, v))
		}
		values[f.to] = cv
	}
	out.Values = values
	return out, nil
}

// key computes the external key; act is the expression activation, built here when nil
// and needed.
func (m *Mapping) key(rec connector.Record, act *activation) (string, error) {
	if m.keyProg == nil {
		if rec.ID == "" {
			return "", m.recordErr(rec, m.keyField, ReasonKeyEmpty, "record has no id")
		}
		return m.keyPrefix + rec.ID, nil
	}
	if m.keyFrom != "" {
		if s, ok := fieldKey(rec, m.keyFrom); ok {
			if s == "" {
				return "", m.recordErr(rec, m.keyField, ReasonKeyEmpty, "")
			}
			return s, nil
		}
	}
	if act == nil {
		act = &activation{record: celRecord(rec)}
	}
	res, _, err := m.keyProg.Eval(act)
	if err != nil {
		return "", m.recordErr(rec, m.keyField, ReasonExpression, err.Error())
	}
	s, ok := res.(types.String)
	if !ok {
		v, err := fromCEL(res)
		if err != nil {
			return "", m.recordErr(rec, m.keyField, ReasonKeyNotString, res.Type().TypeName())
		}
		return "", m.recordErr(rec, m.keyField, ReasonKeyNotString, describe(v))
	}
	if s == "" {
		return "", m.recordErr(rec, m.keyField, ReasonKeyEmpty, "")
	}
	return string(s), nil
}

func (m *Mapping) recordErr(rec connector.Record, fieldName, reason, detail string) *connector.RecordError {
	return &connector.RecordError{ID: rec.ID, Field: fieldName, Reason: reason, Detail: truncateTo(detail, maxDetail)}
}

// celRecord is the value of `record`: the record's fields, plus "id" (the record id as a
// string) when the fields have none. The record's map is never modified.
func celRecord(rec connector.Record) map[string]any {
	if _, ok := rec.Fields["id"]; ok || rec.ID == "" {
		return rec.Fields
	}
	fields := make(map[string]any, len(rec.Fields)+1)
	for k, v := range rec.Fields {
		fields[k] = v
	}
	fields["id"] = rec.ID
	return fields
}

// lookup walks a path. A missing key or a null on the way means "absent" (found false, no
// error); a scalar where an object is needed is an error. Embedded JSON documents are
// walked into, and lists are indexed by a decimal segment ("items.0.sku"). A top-level
// "id" absent from the fields is the record id.
func lookup(rec connector.Record, path []string) (any, bool, error) {
	var cur any = rec.Fields
	for i, seg := range path {
		if raw, ok := cur.(connector.JSON); ok && i > 0 {
			doc, err := decodeJSON(raw)
			if err != nil {
				return nil, false, fmt.Errorf("%s: invalid JSON", strings.Join(path[:i], "."))
			}
			cur = jsonNumbers(doc)
		}
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				if i == 0 && seg == "id" && len(path) == 1 && rec.ID != "" {
					return rec.ID, true, nil
				}
				return nil, false, nil
			}
			cur = v
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 {
				return nil, false, fmt.Errorf("%s is a list, %q is not an index", strings.Join(path[:i], "."), seg)
			}
			if idx >= len(c) {
				return nil, false, nil
			}
			cur = c[idx]
		case nil:
			return nil, false, nil
		default:
			return nil, false, fmt.Errorf("%s is %s, not an object", strings.Join(path[:i], "."), describe(cur))
		}
	}
	return cur, true, nil
}

// jsonNumbers replaces json.Number throughout a decoded document by int64 or Decimal.
func jsonNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonNumbers(e)
		}
	case json.Number:
		return numberValue(x)
	}
	return v
}
