package mapping

import (
	"fmt"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// KeyFields names the top-level record fields the external key and the deletion marker
// are computed from, so that a record carrying only those (and its id) gets the key Map
// gives it (KeyOf): none for the default key, the fields a key expression reads by name,
// and the first segment of Spec.DeletedField. ok is false when the key expression uses
// `record` other than by reading a named field (record as a whole, a computed index): its
// fields cannot be named.
func (m *Mapping) KeyFields() (fields []string, ok bool) {
	if m.keyProg != nil && !m.keyNamed {
		return nil, false
	}
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
	}
	for _, f := range m.keyRefs {
		add(f)
	}
	if m.deleted != nil {
		add(m.deleted[0])
	}
	return fields, true
}

// KeyOf returns the external key of rec and whether it is marked deleted, as Map computes
// them; rec needs to carry only the fields KeyFields names. The error is Map's for the
// key or the deletion marker.
func (m *Mapping) KeyOf(rec connector.Record) (key string, deleted bool, err error) {
	if m.deleted != nil {
		v, found, err := lookup(rec, m.deleted)
		if err != nil {
			return "", false, err
		}
		deleted = found && v != nil && v != false
	}
	var act *activation
	if m.keyProg != nil {
		act = &activation{record: celRecord(rec)}
	}
	key, err = m.key(rec, act)
	if err != nil {
		return "", false, err
	}
	return key, deleted, nil
}

// compileKey is compile for the key expression, which also reports whether the expression
// uses `record` only to read fields by name (record.x, record["x"], record.?x, has(record.x)):
// then the fields it lists are all the key depends on.
func compileKey(env *cel.Env, expr string) (cel.Program, *cel.Type, []string, bool, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, nil, nil, false, fmt.Errorf("compile expr %q: %w", expr, iss.Err())
	}
	prog, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("plan expr %q: %w", expr, err)
	}
	return prog, ast.OutputType(), recordRefs(ast), recordOnlyByName(ast), nil
}

// recordOnlyByName reports whether every use of `record` in the expression reads one
// field by a literal name.
func recordOnlyByName(ast *cel.Ast) bool {
	uses, named := 0, 0
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
			if isRecord(e.AsSelect().Operand()) {
				named++
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
			if _, ok := args[1].AsLiteral().(types.String); ok {
				named++
			}
		}
	}))
	return uses == named
}
