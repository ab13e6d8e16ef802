package sql

import (
	"fmt"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Built-in scalar functions (arrowexec.Func kernels).
//
// Strings: a || b and CONCAT(a, …) (|| is NULL when an operand is NULL,
// CONCAT skips NULLs; operands of other types are cast to VARCHAR),
// UPPER, LOWER, LENGTH = CHAR_LENGTH = CHARACTER_LENGTH (characters,
// BIGINT), TRIM([BOTH|LEADING|TRAILING] [chars] FROM s), LTRIM, RTRIM,
// BTRIM, REPLACE(s, from, to), POSITION(sub IN s) = STRPOS(s, sub) =
// LOCATE(sub, s) (1-based, 0 when absent), STARTS_WITH(s, prefix).
//
// Numbers: ABS keeps the type; ROUND(x [, n]) with a constant n, FLOOR,
// CEIL = CEILING keep integer and float types, and give DECIMAL(p', s')
// for DECIMAL(p,s) with s' = n (ROUND) or 0 and p' = min(38, p-s+s'+1);
// MOD(a, b) is a % b; POWER = POW, SQRT, LN, EXP compute in DOUBLE.
//
// Dates: DATE_TRUNC('unit', x) keeps the DATE or TIMESTAMP type (year,
// quarter, month, week, day, hour, minute, second); CURRENT_DATE (DATE),
// NOW(), CURRENT_TIMESTAMP and LOCALTIMESTAMP (TIMESTAMP, UTC) are the
// time the execution was built, the same for every row and every use in
// a statement.

// Func is a call of a built-in scalar function.
type Func struct {
	Fn   arrowexec.ScalarFunc
	Name string
	Args []Expr
	Typ  catalog.Type
	// Part is the unit of DATE_TRUNC.
	Part arrowexec.DatePart
}

// Now is CURRENT_DATE (Typ DATE) or NOW() (Typ TIMESTAMP), evaluated
// once per execution.
type Now struct{ Typ catalog.Type }

var (
	_ Expr = (*Func)(nil)
	_ Expr = (*Now)(nil)
)

// Type implements Expr.
func (e *Func) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *Func) Nullable() bool {
	if e.Fn == arrowexec.FuncConcatSkipNulls {
		return false
	}
	for _, a := range e.Args {
		if a.Nullable() {
			return true
		}
	}
	return false
}

func (e *Func) String() string {
	if e.Fn == arrowexec.FuncDateTrunc {
		return fmt.Sprintf("%s(%d, %s)", e.Name, e.Part, exprList(e.Args))
	}
	return e.Name + exprList(e.Args)
}

// Type implements Expr.
func (e *Now) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *Now) Nullable() bool { return false }

func (e *Now) String() string {
	if e.Typ.Kind == catalog.KindDate {
		return "current_date"
	}
	return "now()"
}

var truncParts = map[string]arrowexec.DatePart{
	"year": arrowexec.PartYear, "quarter": arrowexec.PartQuarter, "month": arrowexec.PartMonth,
	"week": arrowexec.PartWeek, "day": arrowexec.PartDay, "hour": arrowexec.PartHour,
	"minute": arrowexec.PartMinute, "second": arrowexec.PartSecond,
}

// isBuiltin reports whether name is a function of this file.
func isBuiltin(name string) bool {
	switch name {
	case "concat", "upper", "lower", "length", "char_length", "character_length", "ltrim", "rtrim", "btrim",
		"replace", "strpos", "locate", "starts_with", "abs", "round", "floor", "ceil", "ceiling", "mod",
		"power", "pow", "sqrt", "ln", "exp", "date_trunc", "current_date", "now", "current_timestamp", "localtimestamp":
		return true
	}
	return false
}

// toVarchar returns x as a VARCHAR (untyped parameters and NULLs become
// VARCHAR; other types are cast).
func toVarchar(x Expr) (Expr, error) {
	switch x.Type().Kind {
	case catalog.KindVarchar:
		return x, nil
	case catalog.KindNull:
		return nullOf(x, catalog.Varchar), nil
	}
	return coerce(x, catalog.Varchar)
}

// stringArgs requires VARCHAR arguments (untyped parameters and NULLs
// become VARCHAR).
func stringArgs(name string, args []Expr) ([]Expr, error) {
	out := make([]Expr, len(args))
	for i, a := range args {
		switch a.Type().Kind {
		case catalog.KindVarchar:
			out[i] = a
		case catalog.KindNull:
			out[i] = nullOf(a, catalog.Varchar)
		default:
			return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function %s(%s) does not exist", name, a.Type())
		}
	}
	return out, nil
}

func nargs(name string, args []Expr, lo, hi int) error {
	if len(args) < lo || len(args) > hi {
		if lo == hi {
			return sqlstate.Errorf(sqlstate.UndefinedFunction, "function %s takes %d arguments, not %d", name, lo, len(args))
		}
		return sqlstate.Errorf(sqlstate.UndefinedFunction, "function %s takes %d to %d arguments, not %d", name, lo, hi, len(args))
	}
	return nil
}

// builtin binds a call of the functions of this file.
func (b *binder) builtin(name string, args []Expr) (Expr, error) {
	str := func(fn arrowexec.ScalarFunc, lo, hi int, t catalog.Type) (Expr, error) {
		if err := nargs(name, args, lo, hi); err != nil {
			return nil, err
		}
		as, err := stringArgs(name, args)
		if err != nil {
			return nil, err
		}
		return &Func{Fn: fn, Name: name, Args: as, Typ: t}, nil
	}
	switch name {
	case "concat":
		out := make([]Expr, len(args))
		for i, a := range args {
			var err error
			if out[i], err = toVarchar(a); err != nil {
				return nil, err
			}
		}
		if len(out) == 0 {
			return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function concat() does not exist")
		}
		return &Func{Fn: arrowexec.FuncConcatSkipNulls, Name: name, Args: out, Typ: catalog.Varchar}, nil
	case "upper":
		return str(arrowexec.FuncUpper, 1, 1, catalog.Varchar)
	case "lower":
		return str(arrowexec.FuncLower, 1, 1, catalog.Varchar)
	case "length", "char_length", "character_length":
		return str(arrowexec.FuncLength, 1, 1, catalog.Bigint)
	case "ltrim", "rtrim", "btrim":
		if len(args) == 1 {
			args = append(args, NewLiteral(catalog.Varchar, " "))
		}
		fn := map[string]arrowexec.ScalarFunc{"ltrim": arrowexec.FuncLTrim, "rtrim": arrowexec.FuncRTrim, "btrim": arrowexec.FuncTrim}[name]
		return str(fn, 2, 2, catalog.Varchar)
	case "replace":
		return str(arrowexec.FuncReplace, 3, 3, catalog.Varchar)
	case "strpos":
		if len(args) == 2 {
			args = []Expr{args[1], args[0]}
		}
		return str(arrowexec.FuncPosition, 2, 2, catalog.Bigint)
	case "locate":
		if len(args) == 3 {
			return nil, b.unsupported("LOCATE with a start position")
		}
		return str(arrowexec.FuncPosition, 2, 2, catalog.Bigint)
	case "starts_with":
		return str(arrowexec.FuncStartsWith, 2, 2, catalog.Boolean)
	case "abs", "floor", "ceil", "ceiling", "round":
		return b.roundFunc(name, args)
	case "mod":
		if err := nargs(name, args, 2, 2); err != nil {
			return nil, err
		}
		return b.arith(arrowexec.OpMod, args[0], args[1], "%")
	case "power", "pow", "sqrt", "ln", "exp":
		fn := map[string]arrowexec.ScalarFunc{"power": arrowexec.FuncPower, "pow": arrowexec.FuncPower,
			"sqrt": arrowexec.FuncSqrt, "ln": arrowexec.FuncLn, "exp": arrowexec.FuncExp}[name]
		n := 1
		if fn == arrowexec.FuncPower {
			n = 2
		}
		if err := nargs(name, args, n, n); err != nil {
			return nil, err
		}
		out := make([]Expr, n)
		for i, a := range args {
			if t := a.Type(); !t.IsNumeric() && t.Kind != catalog.KindNull && !(t.Kind == catalog.KindVarchar && isLiteral(a)) {
				return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function %s(%s) does not exist", name, t)
			}
			var err error
			if a.Type().Kind == catalog.KindNull {
				out[i] = nullOf(a, catalog.Double)
			} else if out[i], err = coerce(a, catalog.Double); err != nil {
				return nil, err
			}
		}
		return &Func{Fn: fn, Name: name, Args: out, Typ: catalog.Double}, nil
	case "date_trunc":
		if err := nargs(name, args, 2, 2); err != nil {
			return nil, err
		}
		l, ok := args[0].(*Literal)
		if !ok || l.Typ.Kind != catalog.KindVarchar || l.IsNull() {
			return nil, b.unsupported("DATE_TRUNC with a unit that is not a string constant")
		}
		v, _ := literalValue(l)
		part, ok := truncParts[strings.ToLower(v.s)]
		if !ok {
			return nil, sqlstate.Errorf(sqlstate.InvalidParameterValue, "unit %q not recognized by date_trunc", v.s)
		}
		a := args[1]
		switch a.Type().Kind {
		case catalog.KindDate, catalog.KindTimestamp:
		case catalog.KindNull:
			return nullOf(a, catalog.Timestamp), nil
		case catalog.KindVarchar:
			if lit, ok := a.(*Literal); ok {
				var err error
				if a, err = CastLiteral(lit, catalog.Timestamp); err != nil {
					return nil, err
				}
				break
			}
			fallthrough
		default:
			return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function date_trunc(unknown, %s) does not exist", a.Type())
		}
		if a.Type().Kind == catalog.KindDate && part >= arrowexec.PartHour && part <= arrowexec.PartSecond {
			return a, nil
		}
		return &Func{Fn: arrowexec.FuncDateTrunc, Name: name, Args: []Expr{a}, Typ: a.Type(), Part: part}, nil
	case "current_date":
		if len(args) > 0 {
			return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function current_date takes no arguments")
		}
		return &Now{Typ: catalog.Date}, nil
	case "now", "current_timestamp", "localtimestamp":
		// vitess gives CURRENT_TIMESTAMP a precision argument (0).
		if len(args) > 1 || len(args) == 1 && !isLiteral(args[0]) {
			return nil, b.unsupported(strings.ToUpper(name) + " with a precision")
		}
		return &Now{Typ: catalog.Timestamp}, nil
	}
	return nil, nil
}

func isLiteral(x Expr) bool {
	_, ok := x.(*Literal)
	return ok
}

// roundFunc binds ABS, ROUND, FLOOR and CEIL.
func (b *binder) roundFunc(name string, args []Expr) (Expr, error) {
	hi := 1
	if name == "round" {
		hi = 2
	}
	if err := nargs(name, args, 1, hi); err != nil {
		return nil, err
	}
	a := args[0]
	t := a.Type()
	if t.Kind == catalog.KindNull {
		if isUntypedParam(a) {
			a = nullOf(a, catalog.Double)
			t = catalog.Double
		} else {
			return NewLiteral(catalog.Double, nil), nil
		}
	}
	if t.Kind == catalog.KindVarchar && isLiteral(a) {
		var err error
		if a, err = coerce(a, catalog.Double); err != nil {
			return nil, err
		}
		t = catalog.Double
	}
	if !t.IsNumeric() {
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function %s(%s) does not exist", name, t)
	}
	digits := int64(0)
	if len(args) == 2 {
		l, ok := args[1].(*Literal)
		if !ok || !l.Typ.IsInteger() {
			if ok && l.IsNull() {
				return NewLiteral(t, nil), nil
			}
			return nil, b.unsupported("ROUND with digits that are not an integer constant")
		}
		v, _ := literalValue(l)
		digits = v.i
		if digits < -38 || digits > 38 {
			return nil, sqlstate.Errorf(sqlstate.InvalidParameterValue, "ROUND digits %d out of range", digits)
		}
	}
	fns := map[string]arrowexec.ScalarFunc{"abs": arrowexec.FuncAbs, "floor": arrowexec.FuncFloor,
		"ceil": arrowexec.FuncCeil, "ceiling": arrowexec.FuncCeil, "round": arrowexec.FuncRound}
	fn := fns[name]
	rt := t
	switch {
	case t.IsInteger():
		if fn == arrowexec.FuncAbs {
			break
		}
		if digits >= 0 {
			return a, nil // already integral
		}
		return nil, b.unsupported("ROUND of an integer to negative digits")
	case t.Kind == catalog.KindDecimal:
		if fn != arrowexec.FuncAbs {
			s := int32(0)
			if fn == arrowexec.FuncRound {
				s = int32(max(digits, 0))
			}
			if s >= t.Scale {
				return a, nil
			}
			if digits < 0 {
				return nil, b.unsupported("ROUND of a DECIMAL to negative digits")
			}
			rt = catalog.Decimal(min(catalog.MaxDecimalPrecision, t.Precision-t.Scale+s+1), s)
		}
	}
	out := &Func{Fn: fn, Name: name, Args: []Expr{a}, Typ: rt}
	if fn == arrowexec.FuncRound {
		out.Args = append(out.Args, NewLiteral(catalog.Bigint, digits))
	}
	return out, nil
}

// trimExpr binds TRIM([BOTH|LEADING|TRAILING] [chars] FROM s).
func (b *binder) trimExpr(ctx *exprCtx, e *sqlparser.TrimExpr) (Expr, error) {
	s, err := b.expr(ctx, e.Str)
	if err != nil {
		return nil, err
	}
	pat, err := b.expr(ctx, e.Pattern)
	if err != nil {
		return nil, err
	}
	name := "btrim"
	switch e.Dir {
	case sqlparser.Leading:
		name = "ltrim"
	case sqlparser.Trailing:
		name = "rtrim"
	}
	return b.builtin(name, []Expr{s, pat})
}

// concatOp binds a || b (the rewritten |).
func (b *binder) concatOp(l, r Expr) (Expr, error) {
	if b.p.bitOr {
		return nil, b.unsupported("the bitwise operator |")
	}
	var err error
	if l, err = toVarchar(l); err != nil {
		return nil, err
	}
	if r, err = toVarchar(r); err != nil {
		return nil, err
	}
	var args []Expr
	for _, x := range []Expr{l, r} {
		// Flatten a || b || c into one call.
		if f, ok := x.(*Func); ok && f.Fn == arrowexec.FuncConcat {
			args = append(args, f.Args...)
		} else {
			args = append(args, x)
		}
	}
	return &Func{Fn: arrowexec.FuncConcat, Name: "concat_op", Args: args, Typ: catalog.Varchar}, nil
}

// derivedAggs are aggregates bound as expressions over the executor's
// aggregates: BOOL_AND = EVERY is MIN(CASE WHEN x THEN 1 WHEN NOT x THEN 0
// END) = 1 and BOOL_OR is the same with MAX (NULLs are skipped; no
// non-NULL input gives NULL); APPROX_COUNT_DISTINCT is the exact
// COUNT(DISTINCT x).
var derivedAggs = map[string]bool{"bool_and": true, "every": true, "bool_or": true, "approx_count_distinct": true}

func (b *binder) derivedAgg(ctx *exprCtx, name string, e *sqlparser.FuncExpr) (Expr, error) {
	if !ctx.allowAgg {
		return nil, b.errAt(e.Name.String(), sqlstate.GroupingError, "aggregate functions are not allowed in %s", ctx.clause)
	}
	if ctx.inAgg {
		return nil, b.errAt(e.Name.String(), sqlstate.GroupingError, "aggregate function calls cannot be nested")
	}
	if len(e.Exprs) != 1 {
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function %s takes exactly one argument", name)
	}
	ae, ok := e.Exprs[0].(*sqlparser.AliasedExpr)
	if !ok {
		return nil, b.unsupported(fmt.Sprintf("argument of %s", name))
	}
	inner := *ctx
	inner.inAgg = true
	arg, err := b.expr(&inner, ae.Expr)
	if err != nil {
		return nil, err
	}
	if _, ok := statsAggs[name]; ok {
		return b.statsAgg(name, arg)
	}
	if name == "approx_count_distinct" {
		if arg.Type().Kind == catalog.KindNull {
			arg = nullOf(arg, catalog.Bigint)
		}
		return &AggCall{Func: arrowexec.AggCount, Arg: arg, Distinct: true, Typ: catalog.Bigint}, nil
	}
	if arg, err = b.requireBool(arg, strings.ToUpper(name)); err != nil {
		return nil, err
	}
	one, zero := NewLiteral(catalog.Bigint, int64(1)), NewLiteral(catalog.Bigint, int64(0))
	c := &Case{Whens: []Expr{arg, &Not{Arg: arg}}, Thens: []Expr{one, zero}, Typ: catalog.Bigint}
	fn := arrowexec.AggMin
	if name == "bool_or" {
		fn = arrowexec.AggMax
	}
	return &Compare{Op: arrowexec.OpEq, L: &AggCall{Func: fn, Arg: c, Typ: catalog.Bigint, Null: true}, R: one}, nil
}

// stringAgg binds STRING_AGG([DISTINCT] x, separator): the non-NULL
// strings of x joined by separator (a string constant) in input order,
// NULL when there are none. ORDER BY inside the call is not parsed yet.
func (b *binder) stringAgg(ctx *exprCtx, e *sqlparser.FuncExpr) (Expr, error) {
	if !ctx.allowAgg {
		return nil, b.errAt(e.Name.String(), sqlstate.GroupingError, "aggregate functions are not allowed in %s", ctx.clause)
	}
	if ctx.inAgg {
		return nil, b.errAt(e.Name.String(), sqlstate.GroupingError, "aggregate function calls cannot be nested")
	}
	if len(e.Exprs) != 2 {
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function string_agg takes two arguments")
	}
	inner := *ctx
	inner.inAgg = true
	var args [2]Expr
	for i, se := range e.Exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			return nil, b.unsupported("argument of string_agg")
		}
		x, err := b.expr(&inner, ae.Expr)
		if err != nil {
			return nil, err
		}
		args[i] = x
	}
	arg := args[0]
	switch arg.Type().Kind {
	case catalog.KindVarchar:
	case catalog.KindNull:
		arg = nullOf(arg, catalog.Varchar)
	default:
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function string_agg(%s, VARCHAR) does not exist", arg.Type())
	}
	l, ok := args[1].(*Literal)
	if !ok || (l.Typ.Kind != catalog.KindVarchar && l.Typ.Kind != catalog.KindNull) {
		return nil, b.unsupported("STRING_AGG with a separator that is not a string constant")
	}
	sep := ""
	if !l.IsNull() {
		v, _ := literalValue(l)
		sep = v.s
	}
	return &AggCall{Func: arrowexec.AggStringAgg, Arg: arg, Distinct: e.Distinct, Sep: sep, Typ: catalog.Varchar, Null: true}, nil
}
