package arrowexec

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// spillSchema has a column of every type a sort key can have, and the
// row's input position (id), which shows the order of equal keys.
var spillSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "dec", Type: &arrow.Decimal128Type{Precision: 20, Scale: 2}, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
}, nil)

// spillBatches returns n rows in batches of 1000, with few distinct
// values per column (so that keys tie), the edges of each type, NULLs,
// NaN and -0, and strings that are prefixes of others or hold 0x00.
func spillBatches(mem memory.Allocator, n int) []arrow.RecordBatch {
	rnd := rand.New(rand.NewPCG(7, 8))
	floats := []float64{math.NaN(), math.Inf(-1), math.Inf(1), math.Copysign(0, -1), 0, -1.5, 2.25, math.MaxFloat64, -math.SmallestNonzeroFloat64}
	strs := []string{"", "a", "a\x00", "a\x00b", "ab", "b", "\x00", "\xff", "zz"}
	ints := []int64{math.MinInt64, -1, 0, 1, 7, math.MaxInt64}
	decs := []decimal128.Num{decimal128.FromI64(-5), decimal128.FromI64(0), decimal128.FromI64(3),
		decimal128.New(1, 0), decimal128.New(-2, 5), decimal128.FromI64(math.MinInt64)}
	b := array.NewRecordBuilder(mem, spillSchema)
	defer b.Release()
	var out []arrow.RecordBatch
	for i := 0; i < n; i++ {
		null := func() bool { return rnd.IntN(9) == 0 }
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		appendOr(b.Field(1), null(), func() { b.Field(1).(*array.Int16Builder).Append(int16(ints[rnd.IntN(len(ints))])) })
		appendOr(b.Field(2), null(), func() { b.Field(2).(*array.Int32Builder).Append(int32(ints[rnd.IntN(len(ints))])) })
		appendOr(b.Field(3), null(), func() { b.Field(3).(*array.Int64Builder).Append(ints[rnd.IntN(len(ints))]) })
		appendOr(b.Field(4), null(), func() { b.Field(4).(*array.Float32Builder).Append(float32(floats[rnd.IntN(len(floats)-2)])) })
		appendOr(b.Field(5), null(), func() { b.Field(5).(*array.Float64Builder).Append(floats[rnd.IntN(len(floats))]) })
		appendOr(b.Field(6), null(), func() { b.Field(6).(*array.Decimal128Builder).Append(decs[rnd.IntN(len(decs))]) })
		appendOr(b.Field(7), null(), func() { b.Field(7).(*array.StringBuilder).Append(strs[rnd.IntN(len(strs))]) })
		appendOr(b.Field(8), null(), func() { b.Field(8).(*array.BooleanBuilder).Append(rnd.IntN(2) == 0) })
		appendOr(b.Field(9), null(), func() { b.Field(9).(*array.Date32Builder).Append(arrow.Date32(ints[rnd.IntN(len(ints))] % 100000)) })
		if (i+1)%1000 == 0 || i == n-1 {
			out = append(out, b.NewRecordBatch())
		}
	}
	return out
}

// retainedAll returns recs, each retained, for an operator that takes them.
func retainedAll(recs []arrow.RecordBatch) []arrow.RecordBatch {
	out := slices.Clone(recs)
	for _, r := range out {
		r.Retain()
	}
	return out
}

func appendOr(b array.Builder, null bool, val func()) {
	if null {
		b.AppendNull()
	} else {
		val()
	}
}

// spillTest returns the context and 30K rows (spillBatches) of an external
// sort test, with runs of any size allowed (minSpillRun 0).
func spillTest(t *testing.T) (context.Context, []arrow.RecordBatch) {
	old := minSpillRun
	minSpillRun = 0
	t.Cleanup(func() { minSpillRun = old })
	ctx, mem := testCtx(t)
	recs := spillBatches(mem, 30_000)
	t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	return ctx, recs
}

// runSort sorts recs (retained for the sort) by keys under ctx, calls each
// for every batch, and returns the closed operator and the runs it wrote,
// merged ones included.
func runSort(ctx context.Context, recs []arrow.RecordBatch, keys []SortKey, each func(arrow.RecordBatch)) (*sortOp, int64, error) {
	var st SpillStats
	op := NewSort(NewValues(spillSchema, retainedAll(recs)), keys).(*sortOp)
	defer op.Close()
	if err := op.Open(WithSpillStats(ctx, &st)); err != nil {
		return op, st.Runs.Load(), err
	}
	for {
		b, err := op.Next()
		if err != nil || b == nil {
			return op, st.Runs.Load(), err
		}
		each(b)
	}
}

// TestExternalSort: a sort that outgrows its share of the budget writes
// sorted runs and merges them; the rows come out exactly as the in-memory
// sort orders them (equal keys in input order), for keys of every type,
// both directions and both NULL placements, and the budget and the
// temporary directory are left empty.
func TestExternalSort(t *testing.T) {
	ctx, recs := spillTest(t)
	dir := t.TempDir()
	var cases [][]SortKey
	for c := 1; c < spillSchema.NumFields(); c++ {
		col := Column(c, spillSchema.Field(c).Type)
		cases = append(cases, []SortKey{{Expr: col}}, []SortKey{{Expr: col, Desc: true, NullsFirst: true}})
	}
	cases = append(cases,
		[]SortKey{{Expr: Column(7, arrow.BinaryTypes.String), NullsFirst: true}, {Expr: Column(5, arrow.PrimitiveTypes.Float64), Desc: true}},
		[]SortKey{{Expr: Column(8, arrow.FixedWidthTypes.Boolean), Desc: true}, {Expr: Column(6, spillSchema.Field(6).Type)}, {Expr: Column(1, arrow.PrimitiveTypes.Int16), Desc: true}})
	for i, keys := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			// The ids of the rows in output order: they name the rows.
			var check uint64
			sorted := func(ctx context.Context) ([]int64, *sortOp, int64) {
				var ids []int64
				op, runs, err := runSort(ctx, recs, keys, func(b arrow.RecordBatch) {
					if !b.Schema().Equal(spillSchema) {
						t.Fatalf("batch schema %s", b.Schema())
					}
					ids = append(ids, b.Column(0).(*array.Int64).Int64Values()...)
					// The other columns travel with their ids: ids
					// times values, summed, must match.
					v, str := b.Column(3).(*array.Int64), b.Column(7).(*array.String)
					for r, id := range b.Column(0).(*array.Int64).Int64Values() {
						if v.IsValid(r) {
							check += uint64(id) * uint64(v.Value(r))
						}
						if str.IsValid(r) {
							check += uint64(id) * uint64(len(str.Value(r))+1)
						}
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				return ids, op, runs
			}
			want, _, _ := sorted(ctx)
			wantCheck := check
			check = 0
			budget := NewBudget(1 << 19) // runs of 128 KiB: merged in two rounds
			got, op, runs := sorted(WithBudget(WithSpillDir(ctx, dir), budget))
			if runs <= spillFanIn+1 {
				t.Errorf("%d runs written, want more than %d", runs, spillFanIn+1)
			}
			if op.merger != nil || op.runs != nil {
				t.Error("the sort kept its runs past Close")
			}
			if len(want) != 30_000 || check != wantCheck {
				t.Fatalf("%d rows; values checksum %d, want %d", len(want), check, wantCheck)
			}
			if !slices.Equal(got, want) {
				t.Errorf("external sort differs from the in-memory one (%d and %d rows)", len(got), len(want))
				for r := range min(len(got), len(want)) {
					if got[r] != want[r] {
						t.Fatalf("first at row %d: id %d, want %d", r, got[r], want[r])
					}
				}
			}
			if budget.Peak() == 0 || budget.Used() != 0 {
				t.Errorf("budget peak %d, left %d", budget.Peak(), budget.Used())
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left in the spill directory", len(ents))
	}
}

// TestExternalSortSpills: the sort writes runs only when it must; without
// a spill directory the same budget fails with 53200; a spill directory
// that cannot be written fails with 58030.
func TestExternalSortSpills(t *testing.T) {
	ctx, recs := spillTest(t)
	keys := []SortKey{{Expr: Column(3, arrow.PrimitiveTypes.Int64)}}
	count := func(ctx context.Context) (int64, error) {
		rows := 0
		_, runs, err := runSort(ctx, recs, keys, func(b arrow.RecordBatch) { rows += int(b.NumRows()) })
		if err == nil && rows != 30_000 {
			err = fmt.Errorf("%d rows", rows)
		}
		return runs, err
	}
	dir := t.TempDir()
	if runs, err := count(WithBudget(WithSpillDir(ctx, dir), NewBudget(1<<30))); err != nil || runs != 0 {
		t.Errorf("a large budget: %d runs, %v", runs, err)
	}
	if runs, err := count(WithBudget(WithSpillDir(ctx, dir), NewBudget(1<<20))); err != nil || runs < 4 {
		t.Errorf("a small budget: %d runs, %v", runs, err)
	}
	if _, err := count(WithBudget(ctx, NewBudget(1<<20))); sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
		t.Errorf("no spill directory: %v, want 53200", err)
	}
	if _, err := count(WithBudget(WithSpillDir(ctx, dir+"/missing"), NewBudget(1<<20))); sqlstate.CodeOf(err) != sqlstate.IOError {
		t.Errorf("a spill directory that does not exist: %v, want 58030", err)
	}
}
