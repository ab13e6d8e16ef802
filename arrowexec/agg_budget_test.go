package arrowexec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// bigStateRows returns n rows of testSchema in batches of 1000: k = i%3,
// s = i as 100 digits (distinct and increasing), v = i.
func bigStateRows(mem memory.Allocator, n int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for lo := 0; lo < n; lo += 1000 {
		b := array.NewRecordBuilder(mem, testSchema)
		for i := lo; i < min(lo+1000, n); i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i % 3))
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("%0100d", i))
			b.Field(2).(*array.Int64Builder).Append(int64(i))
		}
		out = append(out, b.NewRecordBatch())
		b.Release()
	}
	return out
}

// TestAggStateBudget checks that an aggregate charges its per-group states,
// not only its group table, to the query's budget: over three groups
// (a table of a few KiB) whose states grow with the input, a small budget
// fails with 53200 and every reservation is returned; a big one answers.
func TestAggStateBudget(t *testing.T) {
	const rows = 20000
	s, v := Column(1, arrow.BinaryTypes.String), Column(2, i64)
	// want returns the answer's row of group k.
	cases := []struct {
		name string
		agg  Aggregate
		want func(k int) string
		fits bool // the states stay small: the small budget suffices
	}{
		{"string_agg", Aggregate{Func: AggStringAgg, Arg: s, Sep: ",", Name: "a"}, func(k int) string {
			var parts []string
			for i := k; i < rows; i += 3 {
				parts = append(parts, fmt.Sprintf("%0100d", i))
			}
			return strings.Join(parts, ",")
		}, false},
		{"count_distinct", Aggregate{Func: AggCount, Arg: v, Distinct: true, Name: "a"}, func(k int) string {
			return fmt.Sprint((rows - k + 2) / 3)
		}, false},
		{"max_string", Aggregate{Func: AggMax, Arg: s, Name: "a"}, func(k int) string {
			return fmt.Sprintf("%0100d", rows-1-(rows-1-k)%3) // the last i with i%3 == k
		}, true}, // equally long values reuse their slot in the arena
		{"sum", Aggregate{Func: AggSum, Arg: v, Name: "a"}, func(k int) string {
			n := 0
			for i := k; i < rows; i += 3 {
				n += i
			}
			return fmt.Sprint(n)
		}, true},
	}
	for _, tc := range cases {
		for _, limit := range []int64{64 << 10, 0} {
			t.Run(fmt.Sprintf("%s/limit=%d", tc.name, limit), func(t *testing.T) {
				ctx, mem := testCtx(t)
				budget := NewBudget(limit)
				op, err := NewHashAggregate(NewValues(testSchema, bigStateRows(mem, rows)), []Expr{Column(0, i64)}, nil, []Aggregate{tc.agg})
				if err != nil {
					t.Fatal(err)
				}
				got, err := drain(t, WithBudget(ctx, budget), op)
				if used := budget.Used(); used != 0 {
					t.Errorf("budget holds %d bytes after Close", used)
				}
				if limit > 0 && !tc.fits {
					if sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
						t.Fatalf("err = %v, want 53200", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 3 {
					t.Fatalf("got %d groups, want 3", len(got))
				}
				for k, row := range got {
					if want := fmt.Sprintf("%d|%s", k, tc.want(k)); row != want {
						t.Errorf("group %d: got %.80q…, want %.80q…", k, row, want)
					}
				}
			})
		}
	}
}
