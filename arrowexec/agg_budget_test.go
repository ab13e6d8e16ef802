package arrowexec

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
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

// TestBlockingBudgetCopies checks that a sort and a window charge the
// copies they make of their input (the concatenation, then the sorted
// take), not only the buffered batches, so that the budget's peak covers
// the allocator's, and return everything at Close, also after failing.
func TestBlockingBudgetCopies(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func(in Operator) (Operator, error)
	}{
		{"sort", func(in Operator) (Operator, error) {
			return NewSort(in, []SortKey{{Expr: Column(2, i64), Desc: true}}), nil
		}},
		{"window", func(in Operator) (Operator, error) {
			return NewWindow(in, nil, []SortKey{{Expr: Column(2, i64), Desc: true}}, []WindowCall{{Func: WinRowNumber, Name: "r"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var input int64
			for _, limit := range []int64{0, 1} {
				ctx, checked := testCtx(t)
				mem := &peakAllocator{Allocator: checked}
				ctx = exec.WithAllocator(ctx, mem)
				recs := batches(t, mem, testRows(2000), 100)
				if limit == 0 {
					for _, r := range recs {
						input += recordBytes(r)
					}
				} else {
					limit = input * 3 / 2 // the batches fit, their copies do not
				}
				budget := NewBudget(limit)
				op, err := tc.op(NewValues(testSchema, recs))
				if err != nil {
					t.Fatal(err)
				}
				_, err = drain(t, WithBudget(ctx, budget), op)
				if limit == 0 {
					if err != nil {
						t.Fatal(err)
					}
					if p := budget.Peak(); p < 2*input*9/10 || p < mem.peak*9/10 {
						t.Errorf("peak %d, want about twice the input's %d bytes, and about the allocator's peak %d", p, input, mem.peak)
					}
				} else if sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
					t.Errorf("limit %d: err = %v, want 53200", limit, err)
				}
				if u := budget.Used(); u != 0 {
					t.Errorf("limit %d: budget holds %d bytes after Close", limit, u)
				}
			}
		})
	}
}

// TestHashJoinBuildCopy checks that a hash join charges the concatenated
// copy of its build side while the batches still exist (the budget's peak
// covers the allocator's), and returns everything at Close.
func TestHashJoinBuildCopy(t *testing.T) {
	ctx, checked := testCtx(t)
	mem := &peakAllocator{Allocator: checked}
	ctx = exec.WithAllocator(ctx, mem)
	rows := rowsJSON(randRows(rand.New(rand.NewSource(3)), 4000, 1000))
	bb := jbatches(t, mem, rows, 100)
	var build int64
	for _, b := range bb {
		build += recordBytes(b)
	}
	budget := NewBudget(0)
	op, err := NewHashJoin(NewValues(joinSchema, jbatches(t, mem, rows[:10], 10)), NewValues(joinSchema, bb), HashJoinOptions{
		ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, WithBudget(ctx, budget), op); err != nil {
		t.Fatal(err)
	}
	if p := budget.Peak(); p < 2*build*9/10 || p < mem.peak*9/10 {
		t.Errorf("peak %d, want at least about twice the build side's %d bytes, and about the allocator's peak %d", p, build, mem.peak)
	}
	if u := budget.Used(); u != 0 {
		t.Errorf("budget holds %d bytes after Close", u)
	}
}

// peakAllocator records the most bytes allocated through it at one time.
// It is not safe for concurrent use.
type peakAllocator struct {
	memory.Allocator
	cur, peak int64
}

func (a *peakAllocator) Allocate(n int) []byte {
	a.add(int64(n))
	return a.Allocator.Allocate(n)
}

func (a *peakAllocator) Reallocate(n int, b []byte) []byte {
	a.add(int64(n - len(b)))
	return a.Allocator.Reallocate(n, b)
}

func (a *peakAllocator) Free(b []byte) {
	a.add(-int64(len(b)))
	a.Allocator.Free(b)
}

func (a *peakAllocator) add(n int64) {
	a.cur += n
	a.peak = max(a.peak, a.cur)
}
