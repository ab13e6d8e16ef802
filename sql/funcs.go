package sql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// commonOf unifies the types of values (CASE branches, COALESCE
// arguments): NULLs take the others' type; literals adapt as in
// comparisons.
func (b *binder) commonOf(vals []Expr, what string) ([]Expr, catalog.Type, error) {
	t := catalog.Null
	for _, v := range vals {
		vt := v.Type()
		if vt.Kind == catalog.KindNull {
			continue
		}
		if t.Kind == catalog.KindNull {
			t = vt
			continue
		}
		if t == vt || t.Kind == catalog.KindVarchar && vt.Kind == catalog.KindVarchar {
			if vt.Kind == catalog.KindVarchar {
				t = catalog.Varchar
			}
			continue
		}
		if l, ok := v.(*Literal); ok && exactLiteral(l, t) != nil {
			continue
		}
		nt, ok := CommonType(t, vt)
		if !ok {
			return nil, t, sqlstate.Errorf(sqlstate.DatatypeMismatch, "%s types %s and %s cannot be matched", what, t, vt)
		}
		t = nt
	}
	if t.Kind == catalog.KindNull {
		return vals, t, nil
	}
	out := make([]Expr, len(vals))
	for i, v := range vals {
		var err error
		if v.Type().Kind == catalog.KindNull {
			out[i] = nullOf(v, t)
			continue
		}
		if out[i], err = coerce(v, t); err != nil {
			return nil, t, err
		}
	}
	return out, t, nil
}

func (b *binder) caseExpr(ctx *exprCtx, e *sqlparser.CaseExpr) (Expr, error) {
	var subject Expr
	if e.Expr != nil {
		var err error
		if subject, err = b.expr(ctx, e.Expr); err != nil {
			return nil, err
		}
	}
	c := &Case{}
	vals := make([]Expr, 0, len(e.Whens)+1)
	for _, w := range e.Whens {
		var cond Expr
		var err error
		if subject != nil {
			v, err := b.expr(ctx, w.Cond)
			if err != nil {
				return nil, err
			}
			if cond, err = b.compare(arrowexec.OpEq, subject, v); err != nil {
				return nil, err
			}
		} else if cond, err = b.boolExpr(ctx, w.Cond, "CASE/WHEN"); err != nil {
			return nil, err
		}
		v, err := b.expr(ctx, w.Val)
		if err != nil {
			return nil, err
		}
		c.Whens = append(c.Whens, cond)
		vals = append(vals, v)
	}
	if e.Else != nil {
		v, err := b.expr(ctx, e.Else)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	vals, t, err := b.commonOf(vals, "CASE")
	if err != nil {
		return nil, err
	}
	c.Thens = vals[:len(c.Whens)]
	if e.Else != nil {
		c.Else = vals[len(vals)-1]
	}
	c.Typ = t
	return c, nil
}

func (b *binder) coalesce(ctx *exprCtx, name string, args []Expr) (Expr, error) {
	switch name {
	case "coalesce", "ifnull":
		if len(args) == 0 {
			return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function coalesce() does not exist")
		}
		vals, t, err := b.commonOf(args, "COALESCE")
		if err != nil {
			return nil, err
		}
		if len(vals) == 1 || t.Kind == catalog.KindNull {
			return vals[0], nil
		}
		c := &Case{Typ: t, Else: vals[len(vals)-1]}
		for _, v := range vals[:len(vals)-1] {
			c.Whens = append(c.Whens, &IsNull{Arg: v, Negate: true})
			c.Thens = append(c.Thens, v)
		}
		return c, nil
	case "nullif":
		if len(args) != 2 {
			return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function nullif takes two arguments")
		}
		eq, err := b.compare(arrowexec.OpEq, args[0], args[1])
		if err != nil {
			return nil, err
		}
		t := args[0].Type()
		if t.Kind == catalog.KindNull {
			return args[0], nil
		}
		return &Case{Whens: []Expr{eq}, Thens: []Expr{NewLiteral(t, nil)}, Else: args[0], Typ: t}, nil
	}
	return nil, nil
}

var dateParts = map[string]arrowexec.DatePart{
	"year": arrowexec.PartYear, "month": arrowexec.PartMonth, "day": arrowexec.PartDay,
	"hour": arrowexec.PartHour, "minute": arrowexec.PartMinute, "second": arrowexec.PartSecond,
	"quarter": arrowexec.PartQuarter, "dow": arrowexec.PartDayOfWeek, "doy": arrowexec.PartDayOfYear,
}

func (b *binder) extract(ctx *exprCtx, e *sqlparser.ExtractFuncExpr) (Expr, error) {
	unit := strings.ToLower(e.Unit)
	part, ok := dateParts[unit]
	if !ok {
		return nil, b.unsupported(fmt.Sprintf("EXTRACT(%s …)", strings.ToUpper(unit)))
	}
	a, err := b.expr(ctx, e.Expr)
	if err != nil {
		return nil, err
	}
	switch a.Type().Kind {
	case catalog.KindNull:
		return NewLiteral(catalog.Bigint, nil), nil
	case catalog.KindDate, catalog.KindTimestamp:
	case catalog.KindVarchar:
		if l, ok := a.(*Literal); ok {
			if a, err = CastLiteral(l, catalog.Timestamp); err != nil {
				return nil, err
			}
			break
		}
		fallthrough
	default:
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function extract(%s, %s) does not exist", unit, a.Type())
	}
	return &Extract{Part: part, Name: unit, Arg: a}, nil
}

func (b *binder) substr(ctx *exprCtx, e *sqlparser.SubstrExpr) (Expr, error) {
	var a Expr
	var err error
	if e.Name != nil {
		a, err = b.column(ctx, e.Name)
	} else {
		a, err = b.literal(e.StrVal)
	}
	if err != nil {
		return nil, err
	}
	return b.substring(ctx, a, e.From, e.To)
}

func (b *binder) substring(ctx *exprCtx, a Expr, from, forExpr sqlparser.Expr) (Expr, error) {
	if a.Type().Kind == catalog.KindNull {
		return NewLiteral(catalog.Varchar, nil), nil
	}
	if a.Type().Kind != catalog.KindVarchar {
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function substring(%s) does not exist", a.Type())
	}
	bound := func(x sqlparser.Expr, what string) (int64, bool, error) {
		v, err := b.expr(ctx, x)
		if err != nil {
			return 0, false, err
		}
		l, ok := v.(*Literal)
		if !ok || !(l.Typ.IsInteger() || l.IsNull()) {
			return 0, false, b.unsupported("SUBSTRING with a non-constant " + what)
		}
		if l.IsNull() {
			return 0, true, nil
		}
		lv, _ := literalValue(l)
		return lv.i, false, nil
	}
	start, isNull, err := bound(from, "start")
	if err != nil || isNull {
		return NewLiteral(catalog.Varchar, nil), err
	}
	length := int64(-1)
	if forExpr != nil {
		if length, isNull, err = bound(forExpr, "length"); err != nil || isNull {
			return NewLiteral(catalog.Varchar, nil), err
		}
		if length < 0 {
			return nil, sqlstate.Errorf(sqlstate.InvalidParameterValue, "negative substring length not allowed")
		}
	}
	return &Substring{Arg: a, Start: start, Length: length}, nil
}

// dateInterval folds DATE/TIMESTAMP literal ± INTERVAL 'n' unit.
func (b *binder) dateInterval(ctx *exprCtx, l sqlparser.Expr, iv *sqlparser.IntervalExpr, minus bool) (Expr, error) {
	x, err := b.expr(ctx, l)
	if err != nil {
		return nil, err
	}
	lit, ok := x.(*Literal)
	if ok && lit.Typ.Kind == catalog.KindVarchar && !lit.IsNull() {
		if x, err = CastLiteral(lit, catalog.Date); err != nil {
			return nil, err
		}
		lit = x.(*Literal)
	}
	nv, isVal := iv.Expr.(*sqlparser.SQLVal)
	if !isVal {
		return nil, b.unsupported("INTERVAL with a non-constant amount")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(nv.Val)), 10, 64)
	if err != nil {
		return nil, sqlstate.Errorf(sqlstate.InvalidDatetime, "invalid interval amount %q", nv.Val)
	}
	if minus {
		n = -n
	}
	if !ok {
		// A column or expression: evaluated per row.
		return b.addInterval(x, n, strings.ToLower(iv.Unit))
	}
	if lit.Typ.Kind != catalog.KindDate && lit.Typ.Kind != catalog.KindTimestamp {
		return nil, b.unsupported("INTERVAL arithmetic on a value that is not a DATE or TIMESTAMP")
	}
	if lit.IsNull() {
		return lit, nil
	}
	var t time.Time
	switch v := lit.Value.(type) {
	case *scalar.Date32:
		t = time.Unix(int64(v.Value)*86400, 0).UTC()
	case *scalar.Timestamp:
		t = time.UnixMicro(int64(v.Value)).UTC()
	}
	switch strings.ToLower(iv.Unit) {
	case "day":
		t = t.AddDate(0, 0, int(n))
	case "week":
		t = t.AddDate(0, 0, 7*int(n))
	case "month":
		t = addMonths(t, int(n))
	case "year":
		t = addMonths(t, 12*int(n))
	case "hour", "minute", "second":
		if lit.Typ.Kind == catalog.KindDate {
			return nil, b.unsupported("DATE ± INTERVAL " + strings.ToUpper(iv.Unit))
		}
		t = t.Add(time.Duration(n) * map[string]time.Duration{"hour": time.Hour, "minute": time.Minute, "second": time.Second}[strings.ToLower(iv.Unit)])
	default:
		return nil, b.unsupported("INTERVAL " + strings.ToUpper(iv.Unit))
	}
	if lit.Typ.Kind == catalog.KindDate {
		return &Literal{Value: scalar.NewDate32Scalar(arrow.Date32(t.Unix() / 86400)), Typ: catalog.Date}, nil
	}
	return &Literal{Value: scalar.NewTimestampScalar(arrow.Timestamp(t.UnixMicro()), lit.Typ.ArrowType()), Typ: lit.Typ}, nil
}

// scalarFunc binds the non-aggregate functions; nil, nil when name is not
// one.
func (b *binder) scalarFunc(ctx *exprCtx, name string, e *sqlparser.FuncExpr) (Expr, error) {
	switch name {
	case "coalesce", "ifnull", "nullif", "substring", "substr":
	default:
		if !isBuiltin(name) {
			return nil, nil
		}
	}
	if e.Distinct {
		return nil, sqlstate.Errorf(sqlstate.SyntaxError, "DISTINCT is only valid in aggregates")
	}
	raw := make([]sqlparser.Expr, len(e.Exprs))
	for i, se := range e.Exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			return nil, b.unsupported(fmt.Sprintf("argument of %s", name))
		}
		raw[i] = ae.Expr
	}
	if name == "substring" || name == "substr" {
		if len(raw) < 2 || len(raw) > 3 {
			return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function substring takes two or three arguments")
		}
		a, err := b.expr(ctx, raw[0])
		if err != nil {
			return nil, err
		}
		var forExpr sqlparser.Expr
		if len(raw) == 3 {
			forExpr = raw[2]
		}
		return b.substring(ctx, a, raw[1], forExpr)
	}
	args := make([]Expr, len(raw))
	for i, r := range raw {
		var err error
		if args[i], err = b.expr(ctx, r); err != nil {
			return nil, err
		}
	}
	if isBuiltin(name) {
		return b.builtin(name, args)
	}
	return b.coalesce(ctx, name, args)
}

// addInterval binds x ± INTERVAL 'n' unit of a non-constant DATE or
// TIMESTAMP x (n already negated for -): the result has x's type.
func (b *binder) addInterval(x Expr, n int64, unit string) (Expr, error) {
	k := x.Type().Kind
	if k == catalog.KindNull {
		return x, nil
	}
	if k != catalog.KindDate && k != catalog.KindTimestamp {
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "operator does not exist: %s + INTERVAL", x.Type())
	}
	var part arrowexec.DatePart
	switch unit {
	case "day":
		part = arrowexec.PartDay
	case "week":
		part, n = arrowexec.PartDay, 7*n
	case "month":
		part = arrowexec.PartMonth
	case "year":
		part, n = arrowexec.PartMonth, 12*n
	case "hour", "minute", "second":
		if k == catalog.KindDate {
			return nil, b.unsupported("DATE ± INTERVAL " + strings.ToUpper(unit))
		}
		part = map[string]arrowexec.DatePart{"hour": arrowexec.PartHour, "minute": arrowexec.PartMinute, "second": arrowexec.PartSecond}[unit]
	default:
		return nil, b.unsupported("INTERVAL " + strings.ToUpper(unit))
	}
	amount := &Literal{Value: scalar.NewInt64Scalar(n), Typ: catalog.Bigint}
	return &Func{Fn: arrowexec.FuncAddInterval, Name: "+ interval", Args: []Expr{x, amount}, Typ: x.Type(), Part: part}, nil
}

// addMonths adds n months, clamping the day to the end of the target month
// (2024-01-31 + 1 month = 2024-02-29), as SQL engines do.
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}
