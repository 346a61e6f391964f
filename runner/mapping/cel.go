package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// recordVar is the one variable of every expression.
const recordVar = "record"

// decimalType is the CEL type of exact decimals. The operators +, -, * and the
// comparisons dispatch on the left operand's traits, so a decimal must be on the left when
// mixed with an int.
var decimalType = types.NewObjectType("decimal",
	traits.AdderType, traits.SubtractorType, traits.MultiplierType, traits.NegatorType,
	traits.ComparerType)

// decimalVal is a decimal inside CEL.
type decimalVal struct{ d dec }

var (
	decimalGoType = reflect.TypeOf(connector.Decimal(""))
	stringGoType  = reflect.TypeOf("")
)

// ConvertToNative converts to connector.Decimal or string.
func (v decimalVal) ConvertToNative(t reflect.Type) (any, error) {
	switch t {
	case decimalGoType:
		return v.d.Decimal(), nil
	case stringGoType:
		return v.d.String(), nil
	}
	return nil, fmt.Errorf("decimal cannot convert to %v", t)
}

// ConvertToType supports string(), type() and the identity.
func (v decimalVal) ConvertToType(t ref.Type) ref.Val {
	switch t.TypeName() {
	case types.StringType.TypeName():
		return types.String(v.d.String())
	case decimalType.TypeName():
		return v
	case types.TypeType.TypeName():
		return decimalType
	}
	return types.NewErr("type conversion error from decimal to '%s'", t.TypeName())
}

// Equal compares numerically with decimals and ints: decimal("1.50") == decimal("1.5").
func (v decimalVal) Equal(other ref.Val) ref.Val {
	if o, ok := asDec(other); ok {
		return types.Bool(v.d.cmp(o) == 0)
	}
	return types.False
}

// Type is decimal.
func (v decimalVal) Type() ref.Type { return decimalType }

// Value is the connector.Decimal.
func (v decimalVal) Value() any { return v.d.Decimal() }

// asDec reads a decimal or an int operand.
func asDec(v ref.Val) (dec, bool) {
	switch x := v.(type) {
	case decimalVal:
		return x.d, true
	case types.Int:
		return decFromInt(int64(x)), true
	}
	return dec{}, false
}

// Add implements traits.Adder for decimal + decimal|int.
func (v decimalVal) Add(other ref.Val) ref.Val {
	o, ok := asDec(other)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return decimalVal{v.d.add(o)}
}

// Subtract implements traits.Subtractor for decimal - decimal|int.
func (v decimalVal) Subtract(other ref.Val) ref.Val {
	o, ok := asDec(other)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return decimalVal{v.d.sub(o)}
}

// Multiply implements traits.Multiplier for decimal * decimal|int.
func (v decimalVal) Multiply(other ref.Val) ref.Val {
	o, ok := asDec(other)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return decimalVal{v.d.mul(o)}
}

// Negate implements traits.Negater.
func (v decimalVal) Negate() ref.Val { return decimalVal{v.d.neg()} }

// Compare implements traits.Comparer against decimals and ints.
func (v decimalVal) Compare(other ref.Val) ref.Val {
	o, ok := asDec(other)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Int(v.d.cmp(o))
}

// decimalLib declares the decimal type's functions: decimal(string|int), string(decimal),
// int(decimal) (exact only), and +, -, *, unary - and the comparisons with a decimal on
// the left and a decimal or int on the right (the standard library binds these operators
// through the left operand's traits). There is no division and no mixing with double: both
// would round.
func decimalLib() cel.EnvOption {
	D, I := decimalType, cel.IntType
	operator := func(name, id string, result *cel.Type) cel.EnvOption {
		return cel.Function(name,
			cel.Overload(id+"_decimal_decimal", []*cel.Type{D, D}, result),
			cel.Overload(id+"_decimal_int", []*cel.Type{D, I}, result))
	}
	return cel.Lib(libFuncs{
		cel.Function("decimal",
			cel.Overload("decimal_string", []*cel.Type{cel.StringType}, D,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s := string(v.(types.String))
					d, ok := parseDec(s)
					if !ok {
						return types.NewErr("not a decimal: %q", truncate(s))
					}
					return decimalVal{d}
				})),
			cel.Overload("decimal_int", []*cel.Type{I}, D,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return decimalVal{decFromInt(int64(v.(types.Int)))} })),
			cel.Overload("decimal_decimal", []*cel.Type{D}, D,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return v })),
		),
		cel.Function(overloads.TypeConvertString,
			cel.Overload("string_decimal", []*cel.Type{D}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.String(v.(decimalVal).d.String()) }))),
		cel.Function(overloads.TypeConvertInt,
			cel.Overload("int_decimal", []*cel.Type{D}, I,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					d := v.(decimalVal).d
					n, ok := d.int64()
					if !ok {
						return types.NewErr("decimal %s is not an integer in int range", truncate(d.String()))
					}
					return types.Int(n)
				}))),
		cel.Function(operators.Negate, cel.Overload("negate_decimal", []*cel.Type{D}, D)),
		operator(operators.Add, "add", D),
		operator(operators.Subtract, "subtract", D),
		operator(operators.Multiply, "multiply", D),
		operator(operators.Less, "less", cel.BoolType),
		operator(operators.LessEquals, "less_equals", cel.BoolType),
		operator(operators.Greater, "greater", cel.BoolType),
		operator(operators.GreaterEquals, "greater_equals", cel.BoolType),
	})
}

// libFuncs bundles env options as a cel.Library.
type libFuncs []cel.EnvOption

func (l libFuncs) CompileOptions() []cel.EnvOption { return l }
func (l libFuncs) ProgramOptions() []cel.ProgramOption {
	return nil
}

// newEnv builds the CEL environment of mapping expressions: `record` as map(string, dyn),
// the standard library, optional types, the strings extension and decimals.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(recordVar, cel.MapType(cel.StringType, cel.DynType)),
		cel.CustomTypeAdapter(adapter{}),
		cel.OptionalTypes(),
		ext.Strings(),
		decimalLib(),
	)
}

// adapter turns record values into CEL values: connector.Decimal becomes a decimal,
// connector.JSON and json.Number are decoded exactly (integers as int, other numbers as
// decimal), nested maps and lists stay lazy views that use this adapter. Everything else
// is CEL's default (int64 → int, float64 → double, time.Time → timestamp, nil → null).
type adapter struct{}

// NativeToValue implements types.Adapter.
func (a adapter) NativeToValue(v any) ref.Val {
	switch x := v.(type) {
	case connector.Decimal:
		d, ok := parseDec(string(x))
		if !ok {
			return types.NewErr("invalid decimal %q", truncate(string(x)))
		}
		return decimalVal{d}
	case map[string]any:
		return types.NewStringInterfaceMap(a, x)
	case []any:
		return types.NewDynamicList(a, x)
	case json.Number:
		return a.NativeToValue(numberValue(x))
	case connector.JSON:
		doc, err := decodeJSON(x)
		if err != nil {
			return types.NewErr("invalid JSON: %v", err)
		}
		return a.NativeToValue(doc)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

// numberValue turns a JSON number into int64 when it is an integer in range, else into a
// Decimal when it is a plain decimal numeral; exponent forms stay json.Number (refused by
// the conversions).
func numberValue(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	if c, ok := canonicalDecimal(string(n)); ok {
		return connector.Decimal(c)
	}
	return n
}

// decodeJSON decodes a document keeping numbers exact (json.Number).
func decodeJSON(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// activation resolves `record` and nothing else.
type activation struct{ record map[string]any }

func (a *activation) ResolveName(name string) (any, bool) {
	if name == recordVar {
		return a.record, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// fromCEL turns an expression result into a plain Go value for the conversion table:
// string, int64, uint64, float64, bool, nil, time.Time, time.Duration, []byte,
// connector.Decimal, map[string]any, []any. An optional is its value or null.
func fromCEL(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Int:
		return int64(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Null:
		return nil, nil
	case decimalVal:
		return x.d.Decimal(), nil
	case types.Double:
		return float64(x), nil
	case types.Uint:
		return uint64(x), nil
	case types.Timestamp:
		return x.Time, nil
	case types.Duration:
		return x.Duration, nil
	case types.Bytes:
		return []byte(x), nil
	case *types.Optional:
		if !x.HasValue() {
			return nil, nil
		}
		return fromCEL(x.GetValue())
	case *types.Err:
		return nil, x
	case traits.Mapper:
		out := make(map[string]any, int(x.Size().(types.Int)))
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			val, err := fromCEL(x.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = val
		}
		return out, nil
	case traits.Lister:
		n := int(x.Size().(types.Int))
		out := make([]any, 0, n)
		for i := 0; i < n; i++ {
			val, err := fromCEL(x.Get(types.Int(i)))
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported result type %s", v.Type().TypeName())
}

// outputKinds says which target types a statically known expression result type can ever
// convert to; results typed dyn (or null, optional) are checked per record only.
var outputKinds = map[string][]string{
	"bool":                      {"bool", "json"},
	"int":                       {"string", "int", "decimal", "json"},
	"uint":                      {"string", "int", "decimal", "json"},
	"double":                    {"int", "decimal", "json"},
	"string":                    {"string", "int", "decimal", "bool", "timestamp", "json"},
	"google.protobuf.Timestamp": {"timestamp", "json"},
	"google.protobuf.Duration":  {"json"},
	"bytes":                     {"json"},
	"decimal":                   {"string", "int", "decimal", "json"},
	"list":                      {"json"},
	"map":                       {"json"},
}

// staticallyIncompatible reports whether an expression of output type t can never yield
// a value of the target type.
func staticallyIncompatible(t *cel.Type, target string) bool {
	allowed, known := outputKinds[t.TypeName()]
	if !known {
		return false
	}
	for _, a := range allowed {
		if a == target {
			return false
		}
	}
	return true
}
