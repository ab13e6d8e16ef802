package arrowexec

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestSharedSubexpressions: an aggregate evaluates a subexpression that
// several keys and arguments contain once per batch (TPC-H Q1's shape),
// with the results of evaluating each on its own, serially and in
// parallel, and with the errors of the subexpression.
func TestSharedSubexpressions(t *testing.T) {
	ctx, mem := testCtx(t)
	schema, recs := filterAggBatches(t, mem, 0, 500, 64)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	must := func(e Expr, err error) Expr {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	d := Column(3, schema.Field(3).Type)
	z, k := Column(6, i64), Column(0, i64)
	one := Literal(scalar.NewDecimal128Scalar(decimal128.FromI64(100), &arrow.Decimal128Type{Precision: 3, Scale: 2}))
	// Each call builds new expression trees, equal but not the same
	// pointers, as the planner's compile does.
	price := func() Expr { return must(Arith(OpMul, d, must(Arith(OpSub, one, d)))) }
	charge := func() Expr { return must(Arith(OpMul, price(), must(Arith(OpAdd, one, d)))) }
	aggs := func() []Aggregate {
		return []Aggregate{
			{Func: AggSum, Arg: price(), Name: "p"},
			{Func: AggSum, Arg: charge(), Name: "c"},
			{Func: AggMax, Arg: price(), Name: "m"},
			{Func: AggCountStar, Name: "n"},
			{Func: AggSum, Arg: must(Arith(OpMul, z, z)), Name: "zz"},
		}
	}
	groups := func() []Expr {
		return []Expr{must(Arith(OpMod, z, must(Arith(OpAdd, k, Literal(scalar.NewInt64Scalar(3))))))}
	}

	op, err := NewHashAggregate(valuesOf(schema, recs), groups(), nil, aggs())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(op.(*hashAggOp).shared); n != 2 { // 1 - d and d * (1 - d)
		t.Errorf("%d shared subexpressions, want 2", n)
	}
	got, err := drain(t, ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	// The reference evaluates every expression on its own: a projection
	// computes them into columns, which the aggregate reads.
	var ref []Expr
	ref = append(ref, groups()...)
	for _, a := range aggs() {
		if a.Arg != nil {
			ref = append(ref, a.Arg)
		}
	}
	proj := NewProject(valuesOf(schema, recs), ref, nil)
	ps := proj.Schema()
	col := func(i int) Expr { return Column(i, ps.Field(i).Type) }
	refOp, err := NewHashAggregate(proj, []Expr{col(0)}, nil, []Aggregate{
		{Func: AggSum, Arg: col(1), Name: "p"}, {Func: AggSum, Arg: col(2), Name: "c"},
		{Func: AggMax, Arg: col(3), Name: "m"}, {Func: AggCountStar, Name: "n"}, {Func: AggSum, Arg: col(4), Name: "zz"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(refOp.(*hashAggOp).shared) != 0 {
		t.Fatal("columns shared")
	}
	want, err := drain(t, ctx, refOp)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("shared:\n%s\nevaluated each:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// In parallel every partition has its own shared subexpressions.
	par, err := NewParallelHashAggregate([]Operator{valuesOf(schema, recs[:4]), valuesOf(schema, recs[4:])}, groups(), nil, aggs())
	if err != nil {
		t.Fatal(err)
	}
	parts := par.(*parallelAggOp).parts
	if parts[0].shared[0] == parts[1].shared[0] {
		t.Error("partitions share a subexpression's state")
	}
	pgot, err := drain(t, ctx, par)
	if err != nil {
		t.Fatal(err)
	}
	if len(pgot) != len(want) {
		t.Fatalf("parallel: %d groups, want %d", len(pgot), len(want))
	}

	// A shared subexpression's error is the aggregate's.
	quo := func() Expr { return must(Arith(OpDiv, k, z)) }
	op, err = NewHashAggregate(valuesOf(schema, recs), nil, nil, []Aggregate{
		{Func: AggSum, Arg: quo(), Name: "a"}, {Func: AggMax, Arg: quo(), Name: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, ctx, op); sqlstate.CodeOf(err) != sqlstate.DivisionByZero {
		t.Fatalf("got %v, want 22012", err)
	}
}

// TestSameExpr checks the equality that decides what is shared.
func TestSameExpr(t *testing.T) {
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	d, e := Column(0, dec), Column(1, dec)
	lit := func(v int64, scale int32) Expr {
		return Literal(scalar.NewDecimal128Scalar(decimal128.FromI64(v), &arrow.Decimal128Type{Precision: 10, Scale: scale}))
	}
	arith := func(op ArithOp, l, r Expr) Expr {
		x, err := Arith(op, l, r)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cast := func(x Expr, to arrow.DataType) Expr {
		c, err := Cast(x, to)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		a, b Expr
		same bool
	}{
		{"column", d, Column(0, dec), true},
		{"other column", d, e, false},
		{"column of another type", d, Column(0, i64), false},
		{"arith", arith(OpSub, lit(1, 0), d), arith(OpSub, lit(1, 0), Column(0, dec)), true},
		{"operator", arith(OpSub, lit(1, 0), d), arith(OpAdd, lit(1, 0), d), false},
		{"operands swapped", arith(OpSub, d, e), arith(OpSub, e, d), false},
		{"literal value", arith(OpMul, d, lit(1, 0)), arith(OpMul, d, lit(2, 0)), false},
		{"literal scale", arith(OpMul, d, lit(10, 1)), arith(OpMul, d, lit(10, 0)), false},
		{"cast", cast(d, i64), cast(Column(0, dec), i64), true},
		{"cast type", cast(d, i64), cast(d, arrow.PrimitiveTypes.Float64), false},
		{"other kinds", Not(IsNull(d, false)), Not(IsNull(d, false)), false},
	} {
		if got := sameExpr(tc.a, tc.b); got != tc.same {
			t.Errorf("%s: sameExpr(%s, %s) = %v", tc.name, tc.a, tc.b, got)
		}
	}
}
