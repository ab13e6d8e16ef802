package sql

import (
	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// statsAggs are the variance and standard-deviation aggregates; STDDEV and
// VARIANCE are the sample forms (PostgreSQL).
var statsAggs = map[string]struct{ pop, sqrt bool }{
	"stddev": {sqrt: true}, "stddev_samp": {sqrt: true}, "stddev_pop": {pop: true, sqrt: true},
	"variance": {}, "var_samp": {}, "var_pop": {pop: true},
}

func init() {
	for name := range statsAggs {
		derivedAggs[name] = true
	}
}

// statsAgg binds a variance or standard deviation of arg as an expression
// over SUM(x), SUM(x*x) and COUNT(x) in DOUBLE (so parallel and
// partitioned aggregation need nothing new):
//
//	var_pop  = (Σx² − (Σx)²/n) / n
//	var_samp = (Σx² − (Σx)²/n) / (n − 1), NULL for n < 2
//
// clamped at 0 against rounding. The result is DOUBLE, NULL over no
// non-NULL input.
func (b *binder) statsAgg(name string, arg Expr) (Expr, error) {
	spec := statsAggs[name]
	if arg.Type().Kind == catalog.KindNull {
		arg = nullOf(arg, catalog.Double)
	}
	if !arg.Type().IsNumeric() {
		return nil, b.errAt(name, sqlstate.UndefinedFunction, "function %s(%s) does not exist", name, arg.Type())
	}
	x, err := coerce(arg, catalog.Double)
	if err != nil {
		return nil, err
	}
	dbl := func(op arrowexec.ArithOp, l, r Expr) Expr { return &Arith{Op: op, L: l, R: r, Typ: catalog.Double} }
	s1 := &AggCall{Func: arrowexec.AggSum, Arg: x, Typ: catalog.Double, Null: true}
	s2 := &AggCall{Func: arrowexec.AggSum, Arg: dbl(arrowexec.OpMul, x, x), Typ: catalog.Double, Null: true}
	n := &AggCall{Func: arrowexec.AggCount, Arg: x, Typ: catalog.Bigint}
	nd := &Cast{Arg: n, To: catalog.Double}
	// A NULL slot never raises, so (Σx)²/n with n = 0 is a NULL, not 22012.
	ss := dbl(arrowexec.OpSub, s2, dbl(arrowexec.OpDiv, dbl(arrowexec.OpMul, s1, s1), nd))
	var div Expr = nd
	if !spec.pop {
		div = &Case{
			Whens: []Expr{&Compare{Op: arrowexec.OpGt, L: n, R: NewLiteral(catalog.Bigint, int64(1))}},
			Thens: []Expr{dbl(arrowexec.OpSub, nd, NewLiteral(catalog.Double, 1.0))},
			Typ:   catalog.Double,
		}
	}
	v := dbl(arrowexec.OpDiv, ss, div)
	zero := NewLiteral(catalog.Double, 0.0)
	var out Expr = &Case{
		Whens: []Expr{&Compare{Op: arrowexec.OpLt, L: v, R: zero}},
		Thens: []Expr{zero},
		Else:  v,
		Typ:   catalog.Double,
	}
	if spec.sqrt {
		out = &Func{Fn: arrowexec.FuncSqrt, Name: "sqrt", Args: []Expr{out}, Typ: catalog.Double}
	}
	return out, nil
}
