package arrowexec

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestParallelHashAggregate checks that aggregating partitions in parallel
// and merging gives the serial result, with NULLs, groups present in only
// some partitions and an empty partition.
func TestParallelHashAggregate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := exec.WithAllocator(context.Background(), mem)
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "g", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "d", Type: dec, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	mk := func(lo, hi int) []arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		var out []arrow.RecordBatch
		for i := lo; i < hi; i++ {
			if i%7 == 3 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("g%d", i%(5+lo/100)))
			}
			if i%5 == 0 {
				for j := 1; j < 5; j++ {
					b.Field(j).AppendNull()
				}
			} else {
				b.Field(1).(*array.Int64Builder).Append(int64(i*31%97 - 40))
				b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i * 13)))
				b.Field(3).(*array.Float64Builder).Append(float64(i%8) / 4)
				b.Field(4).(*array.BooleanBuilder).Append(i%3 == 0)
			}
			if (i-lo)%50 == 49 || i == hi-1 {
				out = append(out, b.NewRecordBatch())
			}
		}
		return out
	}
	var aggs []Aggregate
	aggs = append(aggs, Aggregate{Func: AggCountStar, Name: "n"})
	for j, f := range schema.Fields()[1:] {
		col := Column(j+1, f.Type)
		fs := []AggFunc{AggCount, AggMin, AggMax}
		if f.Type.ID() != arrow.BOOL {
			fs = append(fs, AggSum, AggAvg)
		}
		for _, fn := range fs {
			aggs = append(aggs, Aggregate{Func: fn, Arg: col, Name: fmt.Sprintf("%s_%d", f.Name, fn)})
		}
	}
	run := func(op Operator) []string {
		t.Helper()
		defer op.Close()
		if err := op.Open(ctx); err != nil {
			t.Fatal(err)
		}
		var rows []string
		for {
			rec, err := op.Next()
			if err != nil {
				t.Fatal(err)
			}
			if rec == nil {
				break
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				var s string
				for _, c := range rec.Columns() {
					s += c.ValueStr(i) + ","
				}
				rows = append(rows, s)
			}
		}
		sort.Strings(rows)
		return rows
	}
	// By a string (groupTable), by an integer with NULLs (intGroups), none;
	// merged serially and split in three parts.
	for _, c := range []struct {
		grouped string
		parts   int
	}{{"string", 1}, {"int", 1}, {"none", 1}, {"string", 3}, {"int", 3}, {"packed", 3}} {
		grouped := c.grouped
		setMergeParts(t, c.parts)
		var groups []Expr
		switch grouped {
		case "string":
			groups = []Expr{Column(0, arrow.BinaryTypes.String)}
		case "int":
			groups = []Expr{Column(1, arrow.PrimitiveTypes.Int64)}
		case "packed": // a short string and a boolean pack into an int64 (keyPacker)
			groups = []Expr{Column(0, arrow.BinaryTypes.String), Column(4, arrow.FixedWidthTypes.Boolean)}
		}
		parts := [][2]int{{0, 130}, {130, 130}, {200, 420}, {500, 530}}
		var all []arrow.RecordBatch
		var ins []Operator
		for _, p := range parts {
			recs := mk(p[0], p[1])
			for _, r := range recs {
				r.Retain()
			}
			all = append(all, recs...)
			ins = append(ins, NewValues(schema, recs))
		}
		serial, err := NewHashAggregate(NewValues(schema, all), groups, []string{"g"}, aggs)
		if err != nil {
			t.Fatal(err)
		}
		par, err := NewParallelHashAggregate(ins, groups, []string{"g"}, aggs)
		if err != nil {
			t.Fatal(err)
		}
		want, got := run(serial), run(par)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("grouped by %s, %d merge parts:\n got %v\nwant %v", grouped, c.parts, got, want)
		}
	}
}

// TestParallelHashAggregateManyGroups merges partial intGroups tables large
// enough for the blockwise merge, with groups shared by partitions, groups
// of one partition and a NULL key, against a map.
func TestParallelHashAggregateManyGroups(t *testing.T) {
	for _, parts := range []int{1, 2, 3} {
		for _, offset := range []int64{0, 1} {
			t.Run(fmt.Sprintf("parts=%d/offset=%d", parts, offset), func(t *testing.T) {
				setMergeParts(t, parts)
				testManyGroups(t, offset)
			})
		}
	}
}

// testManyGroups is TestParallelHashAggregateManyGroups with keys from
// offset on (with 1, no key is 0, the value a NULL key's slot holds).
func testManyGroups(t *testing.T, offset int64) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := exec.WithAllocator(context.Background(), mem)
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: i64, Nullable: true}, {Name: "v", Type: i64}}, nil)
	type acc struct{ n, sum int64 }
	want := map[string]acc{}
	var ins []Operator
	for p := 0; p < 3; p++ {
		b := array.NewRecordBuilder(mem, schema)
		var recs []arrow.RecordBatch
		for i := 0; i < 30000; i++ {
			k := int64((i*7+p*10000)%25000) + offset
			name := fmt.Sprint(k)
			if i%997 == 0 {
				b.Field(0).AppendNull()
				name = "NULL"
			} else {
				b.Field(0).(*array.Int64Builder).Append(k)
			}
			b.Field(1).(*array.Int64Builder).Append(int64(i))
			a := want[name]
			want[name] = acc{a.n + 1, a.sum + int64(i)}
			if i%4096 == 4095 || i == 29999 {
				recs = append(recs, b.NewRecordBatch())
			}
		}
		b.Release()
		ins = append(ins, NewValues(schema, recs))
	}
	op, err := NewParallelHashAggregate(ins, []Expr{Column(0, i64)}, []string{"k"},
		[]Aggregate{{Func: AggCountStar, Name: "n"}, {Func: AggSum, Arg: Column(1, i64), Name: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d groups, want %d", len(got), len(want))
	}
	for _, row := range got {
		cells := strings.Split(row, "|")
		a := want[cells[0]]
		if cells[1] != fmt.Sprint(a.n) || cells[2] != fmt.Sprint(a.sum) {
			t.Fatalf("group %s: %s, want count %d sum %d", cells[0], row, a.n, a.sum)
		}
	}
}

// setMergeParts makes parallel aggregates merge in n parts (1: serially)
// whatever their number of groups, until the test ends.
func setMergeParts(t *testing.T, n int) {
	oldMin, oldParts := mergeParallelMin, mergePartsOverride
	t.Cleanup(func() { mergeParallelMin, mergePartsOverride = oldMin, oldParts })
	if n <= 1 {
		mergeParallelMin = 1 << 62
		return
	}
	mergeParallelMin, mergePartsOverride = 1, n
}

// TestParallelAggregateMergeErrors checks that a merge split in parts
// fails like the serial one: a SUM that overflows only once two partials'
// sums are added (22003), and a budget too small for the merged groups
// (53200), returning every byte.
func TestParallelAggregateMergeErrors(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: i64}, {Name: "v", Type: i64}}, nil)
	for _, parts := range []int{1, 2, 3} {
		for _, tc := range []struct {
			name   string
			v      int64 // the value of every row
			budget int64
			code   string
		}{
			{"overflow", 1 << 62, 0, "22003"},
			{"budget", 1, 150 << 10, "53200"},
		} {
			t.Run(fmt.Sprintf("%s/parts=%d", tc.name, parts), func(t *testing.T) {
				setMergeParts(t, parts)
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer mem.AssertSize(t, 0)
				budget := NewBudget(tc.budget)
				ctx := WithBudget(exec.WithAllocator(context.Background(), mem), budget)
				var ins []Operator
				for p := 0; p < 2; p++ {
					b := array.NewRecordBuilder(mem, schema)
					var recs []arrow.RecordBatch
					// Each partial has 3000 groups and sums each group's
					// v once: two partials' 2^62 overflow only when merged.
					for i := 0; i < 3000; i++ {
						b.Field(0).(*array.Int64Builder).Append(int64(i))
						b.Field(1).(*array.Int64Builder).Append(tc.v)
						if i%1024 == 1023 || i == 2999 {
							recs = append(recs, b.NewRecordBatch())
						}
					}
					b.Release()
					ins = append(ins, NewValues(schema, recs))
				}
				op, err := NewParallelHashAggregate(ins, []Expr{Column(0, i64)}, []string{"k"},
					[]Aggregate{{Func: AggSum, Arg: Column(1, i64), Name: "s"}, {Func: AggSum, Arg: Column(1, i64), Name: "s2"}})
				if err != nil {
					t.Fatal(err)
				}
				_, err = drainRows(ctx, op)
				if got := string(sqlstate.CodeOf(err)); got != tc.code {
					t.Fatalf("got %v, want %s", err, tc.code)
				}
				if budget.Used() != 0 {
					t.Fatalf("budget used %d after Close", budget.Used())
				}
			})
		}
	}
}

// BenchmarkParallelAggregateMerge aggregates two partitions of 400K rows
// each with 200K distinct BIGINT keys of their own (TPC-H Q18's
// l_orderkey groups, scaled down) and a DECIMAL SUM, merging the partial
// aggregates serially (parts=1) or split by key hash (parts=2).
func BenchmarkParallelAggregateMerge(b *testing.B) {
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: i64}, {Name: "v", Type: dec}}, nil)
	mem := memory.NewGoAllocator()
	var data [2][]arrow.RecordBatch
	for p := range data {
		bld := array.NewRecordBuilder(mem, schema)
		for i := 0; i < 400_000; i++ {
			bld.Field(0).(*array.Int64Builder).Append(int64(p*200_000 + i/2))
			bld.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i % 5000)))
			if i%4096 == 4095 || i == 399_999 {
				data[p] = append(data[p], bld.NewRecordBatch())
			}
		}
		bld.Release()
	}
	ctx := exec.WithAllocator(context.Background(), mem)
	for _, parts := range []int{1, 2} {
		b.Run(fmt.Sprintf("parts=%d", parts), func(b *testing.B) {
			oldMin, oldParts := mergeParallelMin, mergePartsOverride
			defer func() { mergeParallelMin, mergePartsOverride = oldMin, oldParts }()
			mergeParallelMin, mergePartsOverride = 1<<62, 0
			if parts > 1 {
				mergeParallelMin, mergePartsOverride = 1, parts
			}
			for i := 0; i < b.N; i++ {
				var ins []Operator
				for _, recs := range data {
					for _, r := range recs {
						r.Retain()
					}
					// The operator clears the slice it is given.
					ins = append(ins, NewValues(schema, append([]arrow.RecordBatch(nil), recs...)))
				}
				op, err := NewParallelHashAggregate(ins, []Expr{Column(0, i64)}, []string{"k"},
					[]Aggregate{{Func: AggSum, Arg: Column(1, dec), Name: "s"}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := drainCount(ctx, op); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// drainCount runs op to its end and returns its rows.
func drainCount(ctx context.Context, op Operator) (int64, error) {
	defer op.Close()
	if err := op.Open(ctx); err != nil {
		return 0, err
	}
	var n int64
	for {
		rec, err := op.Next()
		if err != nil || rec == nil {
			return n, err
		}
		n += rec.NumRows()
	}
}
