package planner

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestKeyIn checks the key filter's predicate against a map, for sets held
// as bitmaps (dense, negative values, the int64 extremes) and as maps
// (sparse), over keys of several integer widths with NULLs.
func TestKeyIn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := exec.WithAllocator(context.Background(), mem)
	r := rand.New(rand.NewSource(1))
	for _, tc := range []struct {
		name   string
		set    []int64
		bitmap bool
	}{
		{"empty", nil, false}, // keyset.Empty: no bitmap, no map
		{"dense", []int64{3, 5, 7, 64, 65, 127, 128, 1000}, true},
		{"negative", []int64{-100, -1, 0, 1, 99}, true},
		{"sparse", []int64{1, 1 << 40, -1 << 40}, false},
		{"extremes", []int64{math.MinInt64, math.MaxInt64, 0}, false},
	} {
		set := &keySet{}
		set.fill(tc.set)
		set.once.Do(func() {})
		if got := set.keys.Bitmap(); got != tc.bitmap {
			t.Errorf("%s: bitmap %v, want %v", tc.name, got, tc.bitmap)
		}
		want := map[int64]bool{}
		for _, v := range tc.set {
			want[v] = true
		}
		for _, typ := range []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int16} {
			b := array.NewBuilder(mem, typ)
			var vals []int64
			var valid []bool
			for i := range 300 {
				v := int64(r.Intn(1200)) - 150
				if i%7 == 0 && len(tc.set) > 0 {
					v = tc.set[r.Intn(len(tc.set))]
				}
				if typ.ID() != arrow.INT64 && (v < math.MinInt16 || v > math.MaxInt16) {
					v = 0
				}
				ok := i%11 != 5
				vals, valid = append(vals, v), append(valid, ok)
				switch b := b.(type) {
				case *array.Int64Builder:
					b.AppendValues([]int64{v}, []bool{ok})
				case *array.Int32Builder:
					b.AppendValues([]int32{int32(v)}, []bool{ok})
				case *array.Int16Builder:
					b.AppendValues([]int16{int16(v)}, []bool{ok})
				}
			}
			col := b.NewArray()
			b.Release()
			rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: typ, Nullable: true}}, nil), []arrow.Array{col}, int64(col.Len()))
			col.Release()
			k := &keyIn{key: arrowexec.Column(0, typ), set: set}
			out, err := k.Eval(ctx, rec)
			rec.Release()
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, typ, err)
			}
			got := out.(*array.Boolean)
			for i, v := range vals {
				if w := valid[i] && want[v]; got.Value(i) != w || got.IsNull(i) {
					t.Errorf("%s %s: row %d (%d, valid %v) = %v, want %v", tc.name, typ, i, v, valid[i], got.Value(i), w)
				}
			}
			out.Release()
		}
	}
}

// countingOp counts the calls of Open and Close of its operator.
type countingOp struct {
	arrowexec.Operator
	opens, closes int
}

func (c *countingOp) Open(ctx context.Context) error { c.opens++; return c.Operator.Open(ctx) }
func (c *countingOp) Close() error                   { c.closes++; return c.Operator.Close() }

// TestKeySetBudget checks that a key set charges its values to the query's
// budget (53200 when they do not fit), returns them when the last key
// filter closes, and closes its plan also when it is never read.
func TestKeySetBudget(t *testing.T) {
	i64 := arrow.PrimitiveTypes.Int64
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: i64}}, nil)
	// ints returns a Values operator of vals in batches of 1000.
	ints := func(mem memory.Allocator, vals []int64) *countingOp {
		var recs []arrow.RecordBatch
		for lo := 0; lo < len(vals); lo += 1000 {
			b := array.NewInt64Builder(mem)
			b.AppendValues(vals[lo:min(lo+1000, len(vals))], nil)
			a := b.NewArray()
			b.Release()
			recs = append(recs, array.NewRecordBatch(sch, []arrow.Array{a}, int64(a.Len())))
			a.Release()
		}
		return &countingOp{Operator: arrowexec.NewValues(sch, recs)}
	}
	seq := func(n int, step int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i) * step
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		probe, set []int64
		limit      int64
		want       int   // rows that pass; -1: 53200
		minPeak    int64 // the budget's peak is at least this
		readsSet   bool
	}{
		{"map fits", seq(3000, 1), seq(20000, 1<<20), 0, 1, 20000 * 16, true}, // 16 bytes per map entry (keyset.Set.Bytes),
		{"map over budget", seq(3000, 1), seq(20000, 1<<20), 64 << 10, -1, 0, true},
		{"bitmap fits", seq(3000, 1), seq(20000, 7), 0, 429, 20000 * 8, true},
		{"bitmap over budget", seq(3000, 1), seq(20000, 7), 64 << 10, -1, 0, true},
		{"never read", nil, seq(20000, 1), 64 << 10, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			budget := arrowexec.NewBudget(tc.limit)
			ctx := arrowexec.WithBudget(exec.WithAllocator(context.Background(), mem), budget)
			setOp := ints(mem, tc.set)
			set := newKeySet(setOp, 0)
			// Two filters share the set, like a parallel aggregate's
			// pipelines; the builder's reference goes first.
			var filters []arrowexec.Operator
			for range 2 {
				set.retain()
				filters = append(filters, &keyFilter{Operator: arrowexec.NewFilter(ints(mem, tc.probe), &keyIn{key: arrowexec.Column(0, i64), set: set}), set: set})
			}
			set.release()
			got, err := 0, error(nil)
			for _, f := range filters {
				if err != nil {
					f.Close() // never opened
					continue
				}
				if err = f.Open(ctx); err == nil {
					for {
						rec, nerr := f.Next()
						if nerr != nil || rec == nil {
							err = nerr
							break
						}
						got += int(rec.NumRows())
					}
				}
				if cerr := f.Close(); cerr != nil {
					t.Fatal(cerr)
				}
			}
			if tc.want < 0 {
				if sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
					t.Fatalf("err = %v, want 53200", err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got != 2*tc.want {
				t.Errorf("%d rows passed, want %d", got, 2*tc.want)
			}
			if p := budget.Peak(); p < tc.minPeak {
				t.Errorf("peak %d, want at least %d", p, tc.minPeak)
			}
			if u := budget.Used(); u != 0 {
				t.Errorf("budget holds %d bytes after Close", u)
			}
			if wantOpens := b2i(tc.readsSet); int64(setOp.opens) != wantOpens || setOp.closes != 1 {
				t.Errorf("set plan opened %d and closed %d times, want %d and 1", setOp.opens, setOp.closes, wantOpens)
			}
		})
	}
}
