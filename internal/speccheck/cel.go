package speccheck

import (
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// RecordVar is the one variable of every mapping and key expression.
const RecordVar = "record"

// DecimalTypeName is the name of the exact decimal type in expressions.
const DecimalTypeName = "decimal"

// compileEnv declares what the runner's mapping environment (runner/mapping) declares:
// `record` as map(string, dyn), the standard library, optional types, the strings
// extension and the decimal type with its functions and operators. It declares them
// only: nothing here evaluates. runner/mapping's tests prove that an expression compiles
// here exactly when it compiles there.
var compileEnv = sync.OnceValues(func() (*cel.Env, error) {
	D, I := cel.ObjectType(DecimalTypeName), cel.IntType
	operator := func(name, id string, result *cel.Type) cel.EnvOption {
		return cel.Function(name,
			cel.Overload(id+"_decimal_decimal", []*cel.Type{D, D}, result),
			cel.Overload(id+"_decimal_int", []*cel.Type{D, I}, result))
	}
	return cel.NewEnv(
		cel.Variable(RecordVar, cel.MapType(cel.StringType, cel.DynType)),
		cel.Types(types.NewObjectType(DecimalTypeName)),
		cel.OptionalTypes(),
		ext.Strings(),
		cel.Function("decimal",
			cel.Overload("decimal_string", []*cel.Type{cel.StringType}, D),
			cel.Overload("decimal_int", []*cel.Type{I}, D),
			cel.Overload("decimal_decimal", []*cel.Type{D}, D)),
		cel.Function(overloads.TypeConvertString, cel.Overload("string_decimal", []*cel.Type{D}, cel.StringType)),
		cel.Function(overloads.TypeConvertInt, cel.Overload("int_decimal", []*cel.Type{D}, I)),
		cel.Function(operators.Negate, cel.Overload("negate_decimal", []*cel.Type{D}, D)),
		operator(operators.Add, "add", D),
		operator(operators.Subtract, "subtract", D),
		operator(operators.Multiply, "multiply", D),
		operator(operators.Less, "less", cel.BoolType),
		operator(operators.LessEquals, "less_equals", cel.BoolType),
		operator(operators.Greater, "greater", cel.BoolType),
		operator(operators.GreaterEquals, "greater_equals", cel.BoolType),
	)
})

// CompileExpr parses and type-checks a mapping or key expression as the runner will; the
// error is CEL's, with line and column.
func CompileExpr(expr string) error {
	env, err := compileEnv()
	if err != nil {
		return fmt.Errorf("CEL environment: %w", err)
	}
	if _, iss := env.Compile(expr); iss.Err() != nil {
		return iss.Err()
	}
	return nil
}
