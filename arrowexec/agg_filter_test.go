package arrowexec

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// valuesOf returns a values operator over new references to recs.
func valuesOf(schema *arrow.Schema, recs []arrow.RecordBatch) Operator {
	cp := make([]arrow.RecordBatch, len(recs))
	for i, r := range recs {
		r.Retain()
		cp[i] = r
	}
	return NewValues(schema, cp)
}

// opaque hides an operator's type, so that an aggregate over it does not
// take over a filter: the reference for the fused path.
type opaque struct{ Operator }

// filterAggBatches returns batches of rows i = lo..hi-1 of
// (k INT64, s STRING, l STRING, d DECIMAL(15,2), f FLOAT64, b BOOL, z INT64):
// k = i%5 (NULL when i%11 == 3), s short, l too long to pack into a key, d
// and f NULL when i%7 == 2, z = i%13 (0 makes a division fail).
func filterAggBatches(t *testing.T, mem memory.Allocator, lo, hi, size int) (*arrow.Schema, []arrow.RecordBatch) {
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: i64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "l", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "d", Type: dec, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "z", Type: i64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	var out []arrow.RecordBatch
	for i := lo; i < hi; i++ {
		if i%11 == 3 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Int64Builder).Append(int64(i % 5))
		}
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("s%d", i%3))
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("a long group key that does not pack %d", i%4))
		if i%7 == 2 {
			b.Field(3).AppendNull()
			b.Field(4).AppendNull()
		} else {
			b.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i*37%1000 - 300)))
			b.Field(4).(*array.Float64Builder).Append(float64(i%16) / 4)
		}
		b.Field(5).(*array.BooleanBuilder).Append(i%3 == 1)
		b.Field(6).(*array.Int64Builder).Append(int64(i % 13))
		if (i-lo)%size == size-1 || i == hi-1 {
			out = append(out, b.NewRecordBatch())
		}
	}
	return schema, out
}

// TestAggregateTakesOverFilter compares an aggregate that evaluates its
// input filter itself (through a selection, or a copy when few rows pass)
// with one over a separate filter, for every aggregate function, every
// group table and filters that let all, most, few and no rows pass.
func TestAggregateTakesOverFilter(t *testing.T) {
	ctx, mem := testCtx(t)
	schema, recs := filterAggBatches(t, mem, 0, 700, 100)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	col := func(i int) Expr { return Column(i, schema.Field(i).Type) }
	cmp := func(op CmpOp, l, r Expr) Expr {
		e, err := Compare(op, l, r)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	var aggs []Aggregate
	aggs = append(aggs, Aggregate{Func: AggCountStar, Name: "n"})
	for _, c := range []int{0, 3, 4, 5, 1} {
		fs := []AggFunc{AggCount, AggMin, AggMax}
		switch schema.Field(c).Type.ID() {
		case arrow.INT64, arrow.DECIMAL128, arrow.FLOAT64:
			fs = append(fs, AggSum, AggAvg)
		case arrow.STRING:
			fs = append(fs, AggStringAgg)
		}
		for _, fn := range fs {
			aggs = append(aggs, Aggregate{Func: fn, Arg: col(c), Sep: ",", Name: fmt.Sprintf("a%d_%d", c, fn)})
		}
	}
	aggs = append(aggs, Aggregate{Func: AggCount, Arg: col(3), Distinct: true, Name: "nd"})
	preds := []struct {
		name string
		pred Expr
	}{
		{"all", cmp(OpGe, col(6), lit(int64(0)))},
		{"most", cmp(OpNe, col(6), lit(int64(5)))}, // 12 of 13 rows: a selection
		{"few", cmp(OpEq, col(6), lit(int64(5)))},  // 1 of 13: a copy
		{"nullable", cmp(OpNe, col(0), lit(int64(2)))},
		{"none", cmp(OpLt, col(6), lit(int64(0)))},
		{"null", Literal(scalar.MakeNullScalar(arrow.FixedWidthTypes.Boolean))},
	}
	groupings := []struct {
		name   string
		groups []Expr
	}{
		{"none", nil},
		{"int", []Expr{col(0)}},
		{"packed", []Expr{col(1), col(5)}},
		{"bytes", []Expr{col(2), col(0)}},
	}
	for _, g := range groupings {
		for _, p := range preds {
			t.Run(g.name+"/"+p.name, func(t *testing.T) {
				run := func(in Operator) []string {
					op, err := NewHashAggregate(in, g.groups, nil, aggs)
					if err != nil {
						t.Fatal(err)
					}
					rows, err := drain(t, ctx, op)
					if err != nil {
						t.Fatal(err)
					}
					return rows
				}
				fused, err := NewHashAggregate(NewFilter(valuesOf(schema, recs), p.pred), g.groups, nil, aggs)
				if err != nil {
					t.Fatal(err)
				}
				taken := fused.(*hashAggOp).pred != nil
				fused.Close()
				if !taken {
					t.Fatal("the aggregate did not take over its input filter")
				}
				got := run(NewFilter(valuesOf(schema, recs), p.pred))
				want := run(opaque{NewFilter(valuesOf(schema, recs), p.pred)})
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("with the filter taken over:\n%s\nwith a separate filter:\n%s",
						strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if empty := len(g.groups) > 0 && (p.name == "none" || p.name == "null"); (len(got) == 0) != empty {
					t.Fatalf("%d groups", len(got))
				}
			})
		}
	}
}

// TestAggregateFilterErrors checks that an aggregate that took over a
// filter reports the errors of the rows that pass it, and only those:
// SUM(d / z) fails on z = 0 only where z = 0 passes the filter.
func TestAggregateFilterErrors(t *testing.T) {
	ctx, mem := testCtx(t)
	schema, recs := filterAggBatches(t, mem, 0, 300, 100)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	z, k := Column(6, i64), Column(0, i64)
	quo, err := Arith(OpDiv, z, z)
	if err != nil {
		t.Fatal(err)
	}
	mustCmp := func(op CmpOp, l, r Expr) Expr {
		e, err := Compare(op, l, r)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	nonZero := mustCmp(OpNe, z, lit(int64(0)))
	tests := []struct {
		name   string
		pred   Expr
		groups []Expr
		want   sqlstate.Code
	}{
		{"argument, zero filtered out", nonZero, nil, ""},
		{"argument, zero passes", Or(nonZero, mustCmp(OpEq, k, lit(int64(0)))), nil, sqlstate.DivisionByZero},
		{"key, zero filtered out", nonZero, []Expr{quo}, ""},
		{"key, zero passes", Or(nonZero, mustCmp(OpEq, k, lit(int64(0)))), []Expr{quo}, sqlstate.DivisionByZero},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			aggs := []Aggregate{{Func: AggSum, Arg: quo, Name: "s"}}
			op, err := NewHashAggregate(NewFilter(valuesOf(schema, recs), tc.pred), tc.groups, nil, aggs)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := drain(t, ctx, op)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.want == "" && len(rows) == 0:
				t.Fatal("no rows")
			case tc.want != "" && sqlstate.CodeOf(err) != tc.want:
				t.Fatalf("error %v, want code %s", err, tc.want)
			}
		})
	}
}

// TestAggregateFilterRejectsNonBoolean keeps the filter's type check.
func TestAggregateFilterRejectsNonBoolean(t *testing.T) {
	ctx, mem := testCtx(t)
	schema, recs := filterAggBatches(t, mem, 0, 10, 10)
	defer recs[0].Release()
	op, err := NewHashAggregate(NewFilter(valuesOf(schema, recs), Column(0, i64)), nil, nil,
		[]Aggregate{{Func: AggCountStar, Name: "n"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, ctx, op); sqlstate.CodeOf(err) != sqlstate.DatatypeMismatch {
		t.Fatalf("got %v, want 42804", err)
	}
}

// TestSumAvgAliases: a SUM or AVG whose argument an earlier SUM or AVG has
// copies its sums instead of folding the rows in again; every result
// equals that of an aggregate computed on its own, serially and in
// parallel.
func TestSumAvgAliases(t *testing.T) {
	ctx, mem := testCtx(t)
	schema, recs := filterAggBatches(t, mem, 0, 600, 128)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	col := func(i int) Expr { return Column(i, schema.Field(i).Type) }
	twice := func() Expr {
		e, err := Arith(OpMul, col(3), col(3))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	aggs := []Aggregate{
		{Func: AggSum, Arg: col(3), Name: "sd"}, {Func: AggAvg, Arg: col(3), Name: "ad"},
		{Func: AggAvg, Arg: col(6), Name: "az"}, {Func: AggSum, Arg: col(6), Name: "sz"},
		{Func: AggSum, Arg: col(4), Name: "sf"}, {Func: AggAvg, Arg: col(4), Name: "af"},
		{Func: AggAvg, Arg: col(3), Name: "ad2"},
		{Func: AggSum, Arg: twice(), Name: "s2"}, {Func: AggAvg, Arg: twice(), Name: "a2"},
		{Func: AggSum, Arg: col(3), Distinct: true, Name: "sdd"},
		{Func: AggCount, Arg: col(3), Name: "cd"},
	}
	wantAliases := []int{-1, 0, -1, 2, -1, 4, 0, -1, 7, -1, -1}
	groups := []Expr{col(0)}
	run := func(op Operator) []string {
		t.Helper()
		rows, err := drain(t, ctx, op)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	op, err := NewHashAggregate(valuesOf(schema, recs), groups, nil, aggs)
	if err != nil {
		t.Fatal(err)
	}
	h := op.(*hashAggOp)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(h.alias) != fmt.Sprint(wantAliases) {
		t.Errorf("aliases %v, want %v", h.alias, wantAliases)
	}
	h.Close()
	// The reference: each aggregate on its own, with the group key.
	keys := []string{}
	cells := make([][]string, len(aggs))
	for i, a := range aggs {
		for _, r := range run(mustAgg(t, valuesOf(schema, recs), groups, []Aggregate{a})) {
			k := strings.IndexByte(r, '|')
			if i == 0 {
				keys = append(keys, r[:k])
			}
			cells[i] = append(cells[i], r[k:])
		}
		if len(cells[i]) != len(keys) {
			t.Fatalf("%s: %d groups, want %d", a.Name, len(cells[i]), len(keys))
		}
	}
	want := func(aggs []Aggregate, skip int) string {
		rows := slices.Clone(keys)
		for i := range aggs {
			if i == skip {
				continue
			}
			for g := range rows {
				rows[g] += cells[i][g]
			}
		}
		return strings.Join(rows, "\n")
	}
	serial := run(mustAgg(t, valuesOf(schema, recs), groups, aggs))
	if got, w := strings.Join(serial, "\n"), want(aggs, -1); got != w {
		t.Fatalf("with aliases:\n%s\neach on its own:\n%s", got, w)
	}
	// DISTINCT does not merge in parallel.
	const distinct = 9
	parAggs := slices.Delete(slices.Clone(aggs), distinct, distinct+1)
	par := run(mustPar(t, []Operator{valuesOf(schema, recs[:2]), valuesOf(schema, recs[2:])}, groups, parAggs))
	slices.Sort(par)
	wp := strings.Split(want(aggs, distinct), "\n")
	slices.Sort(wp)
	if got, w := strings.Join(par, "\n"), strings.Join(wp, "\n"); got != w {
		t.Fatalf("parallel, with aliases:\n%s\neach on its own:\n%s", got, w)
	}
}

func mustAgg(t *testing.T, in Operator, groups []Expr, aggs []Aggregate) Operator {
	t.Helper()
	op, err := NewHashAggregate(in, groups, nil, aggs)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func mustPar(t *testing.T, ins []Operator, groups []Expr, aggs []Aggregate) Operator {
	t.Helper()
	op, err := NewParallelHashAggregate(ins, groups, nil, aggs)
	if err != nil {
		t.Fatal(err)
	}
	return op
}
