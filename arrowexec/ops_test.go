package arrowexec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// testSchema: k (int64, group key with NULLs), s (string), v (int64).
var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: i64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "v", Type: i64, Nullable: true},
}, nil)

// testRows returns n rows: k = i%3 (NULL when i%7==6), s = "s"+i%4, v = i (NULL when i%5==4).
func testRows(n int) []string {
	rows := make([]string, n)
	for i := range rows {
		k, v := fmt.Sprint(i%3), fmt.Sprint(i)
		if i%7 == 6 {
			k = "null"
		}
		if i%5 == 4 {
			v = "null"
		}
		rows[i] = fmt.Sprintf(`{"k": %s, "s": "s%d", "v": %s}`, k, i%4, v)
	}
	return rows
}

// batches splits rows into records of batchSize rows.
func batches(t testing.TB, mem memory.Allocator, rows []string, batchSize int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for i := 0; i < len(rows); i += batchSize {
		j := min(i+batchSize, len(rows))
		out = append(out, recFromJSON(t, mem, testSchema, "["+strings.Join(rows[i:j], ",")+"]"))
	}
	return out
}

// drain runs op and renders all rows as "c1|c2|...;" lines.
func drain(t *testing.T, ctx context.Context, op Operator) ([]string, error) {
	out, err := drainRows(ctx, op)
	if errors.Is(err, errBadBatch) {
		t.Fatal(err)
	}
	return out, err
}

var errBadBatch = errors.New("bad batch")

// drainRows is drain for any goroutine: it returns errBadBatch (wrapped)
// for an empty batch or one whose schema is not the operator's.
func drainRows(ctx context.Context, op Operator) ([]string, error) {
	defer op.Close()
	if err := op.Open(ctx); err != nil {
		return nil, err
	}
	var out []string
	for {
		b, err := op.Next()
		if err != nil {
			return out, err
		}
		if b == nil {
			return out, nil
		}
		if b.NumRows() == 0 {
			return out, fmt.Errorf("%w: empty batch", errBadBatch)
		}
		if !b.Schema().Equal(op.Schema()) {
			return out, fmt.Errorf("%w: batch schema %s, operator schema %s", errBadBatch, b.Schema(), op.Schema())
		}
		for r := 0; r < int(b.NumRows()); r++ {
			var cells []string
			for c := 0; c < int(b.NumCols()); c++ {
				sl := array.NewSlice(b.Column(c), int64(r), int64(r+1))
				cells = append(cells, render(sl))
				sl.Release()
			}
			out = append(out, strings.Join(cells, "|"))
		}
	}
}

func TestOperators(t *testing.T) {
	const n = 40
	rows := testRows(n)
	k, s, v := Column(0, i64), Column(1, arrow.BinaryTypes.String), Column(2, i64)
	gt := func(e Expr, x int64) Expr { c, _ := Compare(OpGt, e, lit(x)); return c }
	tests := []struct {
		name  string
		build func(in Operator) (Operator, error)
		check func(t *testing.T, got []string)
	}{
		{"filter", func(in Operator) (Operator, error) { return NewFilter(in, gt(v, 30)), nil }, func(t *testing.T, got []string) {
			want := "31,32,33,35,36,37,38"
			var vs []string
			for _, r := range got {
				vs = append(vs, strings.Split(r, "|")[2])
			}
			if strings.Join(vs, ",") != want {
				t.Fatalf("got %v want %s", vs, want)
			}
		}},
		{"project", func(in Operator) (Operator, error) {
			add, _ := Arith(OpAdd, v, lit(int64(1)))
			return NewProject(in, []Expr{add, s}, []string{"v1", "s"}), nil
		}, func(t *testing.T, got []string) {
			if len(got) != n || got[0] != "1|s0" || got[4] != "NULL|s0" {
				t.Fatalf("got %v", got[:5])
			}
		}},
		{"limit", func(in Operator) (Operator, error) { return NewLimit(in, 5, 3), nil }, func(t *testing.T, got []string) {
			if strings.Join(got, ";") != "2|s1|5;NULL|s2|6;1|s3|7" {
				t.Fatalf("got %v", got)
			}
		}},
		{"limit all", func(in Operator) (Operator, error) { return NewLimit(in, 38, -1), nil }, func(t *testing.T, got []string) {
			if len(got) != 2 {
				t.Fatalf("got %v", got)
			}
		}},
		{"sort", func(in Operator) (Operator, error) {
			return NewSort(in, []SortKey{{Expr: k, Desc: true, NullsFirst: true}, {Expr: v}}), nil
		}, func(t *testing.T, got []string) {
			if len(got) != n || !strings.HasPrefix(got[0], "NULL|") || got[4] != "NULL|s2|NULL" || got[5] != "2|s2|2" || got[6] != "2|s1|5" {
				t.Fatalf("got %v", got[:9])
			}
		}},
		{"topn", func(in Operator) (Operator, error) {
			return NewTopN(in, []SortKey{{Expr: v, Desc: true, NullsFirst: false}}, 1, 3), nil
		}, func(t *testing.T, got []string) {
			if strings.Join(got, ";") != "1|s1|37;0|s0|36;2|s3|35" {
				t.Fatalf("got %v", got)
			}
		}},
		{"agg grouped", func(in Operator) (Operator, error) {
			return NewHashAggregate(in, []Expr{k}, []string{"k"}, []Aggregate{
				{Func: AggCountStar, Name: "n"}, {Func: AggCount, Arg: v, Name: "c"},
				{Func: AggSum, Arg: v, Name: "sum"}, {Func: AggMin, Arg: s, Name: "min"},
				{Func: AggMax, Arg: v, Name: "max"}, {Func: AggAvg, Arg: v, Name: "avg"},
				{Func: AggCount, Arg: s, Distinct: true, Name: "cd"},
			})
		}, func(t *testing.T, got []string) {
			// Reference computed directly.
			type st struct{ n, c, sum, max int64 }
			ref := map[string]*st{}
			for i := 0; i < n; i++ {
				key := fmt.Sprint(i % 3)
				if i%7 == 6 {
					key = "NULL"
				}
				r := ref[key]
				if r == nil {
					r = &st{max: -1}
					ref[key] = r
				}
				r.n++
				if i%5 != 4 {
					r.c++
					r.sum += int64(i)
					r.max = max(r.max, int64(i))
				}
			}
			if len(got) != len(ref) {
				t.Fatalf("groups %v", got)
			}
			for _, row := range got {
				f := strings.Split(row, "|")
				r := ref[f[0]]
				want := fmt.Sprintf("%s|%d|%d|%d|s0|%d|%v|4", f[0], r.n, r.c, r.sum, r.max, float64(r.sum)/float64(r.c))
				if row != want {
					t.Errorf("got %s want %s", row, want)
				}
			}
		}},
		{"agg global", func(in Operator) (Operator, error) {
			f := NewFilter(in, gt(v, 1000))
			return NewHashAggregate(f, nil, nil, []Aggregate{{Func: AggCountStar, Name: "n"}, {Func: AggSum, Arg: v, Name: "s"}})
		}, func(t *testing.T, got []string) {
			if strings.Join(got, ";") != "0|NULL" {
				t.Fatalf("got %v", got)
			}
		}},
	}
	for _, bs := range []int{1, 3, 1024} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/batch=%d", tc.name, bs), func(t *testing.T) {
				ctx, mem := testCtx(t)
				op, err := tc.build(NewValues(testSchema, batches(t, mem, rows, bs)))
				if err != nil {
					t.Fatal(err)
				}
				got, err := drain(t, ctx, op)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, got)
			})
		}
	}
}

func TestAggOverflowAndBudget(t *testing.T) {
	ctx, mem := testCtx(t)
	recs := []arrow.RecordBatch{recFromJSON(t, mem, testSchema, `[{"k":1,"s":"a","v":9223372036854775807},{"k":1,"s":"a","v":1}]`)}
	op, err := NewHashAggregate(NewValues(testSchema, recs), []Expr{Column(0, i64)}, nil, []Aggregate{{Func: AggSum, Arg: Column(2, i64), Name: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, ctx, op); sqlstate.CodeOf(err) != sqlstate.NumericOutOfRange {
		t.Fatalf("err = %v", err)
	}
	recs = batches(t, mem, testRows(2000), 100)
	bctx := WithBudget(ctx, NewBudget(1000))
	if _, err := drain(t, bctx, NewSort(NewValues(testSchema, recs), []SortKey{{Expr: Column(2, i64)}})); sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
		t.Fatalf("err = %v", err)
	}
}

func TestCanceled(t *testing.T) {
	ctx, mem := testCtx(t)
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	op := NewFilter(NewValues(testSchema, batches(t, mem, testRows(10), 3)), Literal(scalar.NewBooleanScalar(true)))
	if _, err := drain(t, ctx, op); sqlstate.CodeOf(err) != sqlstate.QueryCanceled {
		t.Fatalf("err = %v", err)
	}
}

type sliceSource struct {
	recs []arrow.RecordBatch
	i    int
}

func (s *sliceSource) Next() bool                { s.i++; return s.i <= len(s.recs) }
func (s *sliceSource) Record() arrow.RecordBatch { return s.recs[s.i-1] }
func (s *sliceSource) Err() error                { return nil }
func (s *sliceSource) Close() error {
	for _, r := range s.recs {
		r.Release()
	}
	s.recs = nil
	return nil
}

func TestScan(t *testing.T) {
	ctx, mem := testCtx(t)
	src := &sliceSource{recs: batches(t, mem, testRows(10), 4)}
	op := NewScan(testSchema, func(context.Context) (Source, error) { return src, nil })
	got, err := drain(t, ctx, NewLimit(op, 0, 6))
	if err != nil || len(got) != 6 {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestCompareAllocs(t *testing.T) {
	ctx, mem := testCtx(t)
	b := array.NewInt64Builder(mem)
	for i := 0; i < 4096; i++ {
		b.Append(int64(i))
	}
	col := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: i64}}, nil), []arrow.Array{col}, 4096)
	col.Release()
	defer rec.Release()
	e, _ := Compare(OpLt, Column(0, i64), lit(int64(100)))
	allocs := testing.AllocsPerRun(20, func() {
		a, err := e.Eval(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		a.Release()
	})
	// A fixed number per batch (buffers, array headers), none per row.
	if allocs > 40 {
		t.Fatalf("%v allocations per 4096-row batch", allocs)
	}
}
